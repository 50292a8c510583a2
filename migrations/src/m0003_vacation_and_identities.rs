//! Vacation responses (JMAP VacationResponse, one per account) and the senders each was
//! sent to, so a sender gets one auto-reply per period (RFC 3834 §2); identities (JMAP
//! Identity: a name, signatures, Reply-To and Bcc for an address the user may send as).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_vacation_and_identities"
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
enum Identities {
    Table,
    Id,
    AccountId,
    Email,
    IsDefault,
    Name,
    ReplyTo,
    Bcc,
    TextSignature,
    HtmlSignature,
    CreatedAt,
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
        .await?;
        m.create_table(
            Table::create()
                .table(Identities::Table)
                .col(big_pk_auto(Identities::Id))
                .col(big_integer(Identities::AccountId))
                .col(string(Identities::Email))
                .col(boolean(Identities::IsDefault).default(false))
                .col(string(Identities::Name).default(""))
                .col(text_null(Identities::ReplyTo))
                .col(text_null(Identities::Bcc))
                .col(text(Identities::TextSignature).default(""))
                .col(text(Identities::HtmlSignature).default(""))
                .col(big_integer(Identities::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Identities::Table, Identities::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("identities_account")
                .table(Identities::Table)
                .col(Identities::AccountId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Identities::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(VacationReplies::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(VacationResponses::Table).to_owned())
            .await
    }
}
