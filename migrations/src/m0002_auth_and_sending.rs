//! Administrators, refresh and personal API tokens, registration invites, submissions (sent
//! mail, as JMAP EmailSubmission and the REST send endpoint report it), idempotency keys, and
//! uploads (JMAP blobs an account uploaded, readable by it before any email uses them).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_auth_and_sending"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    IsAdmin,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Id,
    AccountId,
    Kind,
    Name,
    Scopes,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Invites {
    Table,
    Id,
    CodeHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedBy,
    UsedAt,
}

#[derive(DeriveIden)]
enum Submissions {
    Table,
    Id,
    AccountId,
    EmailId,
    MailFrom,
    RcptTo,
    SendAt,
    UndoStatus,
    DeliveryStatus,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    AccountId,
    Key,
    RequestHash,
    Response,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    AccountId,
    BlobId,
    ContentType,
    Size,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(boolean(Accounts::IsAdmin).default(false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Credentials::Table)
                .col(big_pk_auto(Credentials::Id))
                .col(big_integer(Credentials::AccountId))
                .col(small_integer(Credentials::Kind))
                .col(string(Credentials::Name).default(""))
                .col(string(Credentials::Scopes).default(""))
                .col(string_uniq(Credentials::TokenHash))
                .col(big_integer(Credentials::CreatedAt))
                .col(big_integer_null(Credentials::ExpiresAt))
                .col(big_integer_null(Credentials::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Credentials::Table, Credentials::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("credentials_account")
                .table(Credentials::Table)
                .col(Credentials::AccountId)
                .col(Credentials::Kind)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Invites::Table)
                .col(big_pk_auto(Invites::Id))
                .col(string_uniq(Invites::CodeHash))
                .col(big_integer_null(Invites::CreatedBy))
                .col(big_integer(Invites::CreatedAt))
                .col(big_integer_null(Invites::ExpiresAt))
                .col(big_integer_null(Invites::UsedBy))
                .col(big_integer_null(Invites::UsedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Submissions::Table)
                .col(big_pk_auto(Submissions::Id))
                .col(big_integer(Submissions::AccountId))
                .col(big_integer_null(Submissions::EmailId))
                .col(text(Submissions::MailFrom))
                .col(text(Submissions::RcptTo))
                .col(big_integer(Submissions::SendAt))
                .col(string(Submissions::UndoStatus))
                .col(text(Submissions::DeliveryStatus))
                .col(big_integer(Submissions::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Submissions::Table, Submissions::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("submissions_account")
                .table(Submissions::Table)
                .col(Submissions::AccountId)
                .col(Submissions::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .col(big_integer(IdempotencyKeys::AccountId))
                .col(string(IdempotencyKeys::Key))
                .col(string(IdempotencyKeys::RequestHash))
                .col(text_null(IdempotencyKeys::Response))
                .col(big_integer(IdempotencyKeys::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(IdempotencyKeys::AccountId)
                        .col(IdempotencyKeys::Key),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(IdempotencyKeys::Table, IdempotencyKeys::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Uploads::Table)
                .col(big_integer(Uploads::AccountId))
                .col(string(Uploads::BlobId))
                .col(string(Uploads::ContentType))
                .col(big_integer(Uploads::Size))
                .col(big_integer(Uploads::CreatedAt))
                .primary_key(Index::create().col(Uploads::AccountId).col(Uploads::BlobId))
                .foreign_key(
                    ForeignKey::create()
                        .from(Uploads::Table, Uploads::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Uploads::Table.into_iden(),
            IdempotencyKeys::Table.into_iden(),
            Submissions::Table.into_iden(),
            Invites::Table.into_iden(),
            Credentials::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .drop_column(Accounts::IsAdmin)
                .to_owned(),
        )
        .await
    }
}
