//! Vacation responses (JMAP VacationResponse, one per account) and the senders each was
//! sent to, so a sender gets one auto-reply per period (RFC 3834 §2).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_vacation"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum VacationResponses {
    Table,
    AccountId,
    IsEnabled,
    FromDate,
    ToDate,
    Subject,
    TextBody,
    HtmlBody,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum VacationReplies {
    Table,
    AccountId,
    Sender,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VacationResponses::Table)
                .col(big_integer(VacationResponses::AccountId).primary_key())
                .col(boolean(VacationResponses::IsEnabled).default(false))
                .col(big_integer_null(VacationResponses::FromDate))
                .col(big_integer_null(VacationResponses::ToDate))
                .col(text_null(VacationResponses::Subject))
                .col(text_null(VacationResponses::TextBody))
                .col(text_null(VacationResponses::HtmlBody))
                .col(big_integer(VacationResponses::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(VacationResponses::Table, VacationResponses::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VacationReplies::Table)
                .col(big_integer(VacationReplies::AccountId))
                .col(string(VacationReplies::Sender))
                .col(big_integer(VacationReplies::SentAt))
                .primary_key(
                    Index::create()
                        .col(VacationReplies::AccountId)
                        .col(VacationReplies::Sender),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(VacationReplies::Table, VacationReplies::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(VacationReplies::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(VacationResponses::Table).to_owned())
            .await
    }
}
