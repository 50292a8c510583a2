//! A queued recipient's claim gets a column of its own. It used to be written into
//! `next_attempt_at`, so `queue retry` (which makes recipients due now) could hand a recipient
//! that a worker was sending at that moment to a second worker.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_queue_leases"
    }
}

#[derive(DeriveIden)]
enum QueueRecipients {
    Table,
    /// Seconds since the epoch until which a worker holds the recipient (0: nobody).
    LeasedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(QueueRecipients::Table)
                .add_column(big_integer(QueueRecipients::LeasedUntil).default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(QueueRecipients::Table)
                .drop_column(QueueRecipients::LeasedUntil)
                .to_owned(),
        )
        .await
    }
}
