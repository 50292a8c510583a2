//! The outbound delivery queue: a message waiting to go to other domains (its bytes in the
//! blob store, DKIM-signed when sent), and one row per recipient with its own status, attempts and next attempt time, so one
//! recipient's failure never holds back the others.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_queue"
    }
}

#[derive(DeriveIden)]
enum QueueMessages {
    Table,
    Id,
    BlobId,
    MailFrom,
    AccountId,
    SubmissionId,
    Size,
    CreatedAt,
}

#[derive(DeriveIden)]
enum QueueRecipients {
    Table,
    Id,
    MessageId,
    Address,
    Domain,
    Status,
    Attempts,
    NextAttemptAt,
    LastReply,
    DelayNotified,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(QueueMessages::Table)
                .col(big_pk_auto(QueueMessages::Id))
                .col(string(QueueMessages::BlobId))
                // "" is the null reverse-path (a bounce or auto-reply): never bounced.
                .col(string(QueueMessages::MailFrom))
                // The local sender, who gets bounces and delay notices.
                .col(big_integer_null(QueueMessages::AccountId))
                .col(big_integer_null(QueueMessages::SubmissionId))
                .col(big_integer(QueueMessages::Size))
                .col(big_integer(QueueMessages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(QueueRecipients::Table)
                .col(big_pk_auto(QueueRecipients::Id))
                .col(big_integer(QueueRecipients::MessageId))
                .col(string(QueueRecipients::Address))
                .col(string(QueueRecipients::Domain))
                // "queued", "sent" or "failed".
                .col(string(QueueRecipients::Status))
                .col(integer(QueueRecipients::Attempts).default(0))
                .col(big_integer(QueueRecipients::NextAttemptAt))
                .col(text_null(QueueRecipients::LastReply))
                .col(boolean(QueueRecipients::DelayNotified).default(false))
                .col(big_integer(QueueRecipients::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(QueueRecipients::Table, QueueRecipients::MessageId)
                        .to(QueueMessages::Table, QueueMessages::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("queue_recipients_due")
                .table(QueueRecipients::Table)
                .col(QueueRecipients::Status)
                .col(QueueRecipients::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("queue_recipients_message")
                .table(QueueRecipients::Table)
                .col(QueueRecipients::MessageId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(QueueRecipients::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(QueueMessages::Table).to_owned())
            .await
    }
}
