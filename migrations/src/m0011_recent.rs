//! IMAP4rev1 \Recent across restarts: per mailbox, the UID from which messages have been
//! shown to no session yet (the first session to see a message claims it). Mailboxes that
//! exist when this runs start with nothing recent.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_recent"
    }
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    RecentUid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Mailboxes::Table)
                .add_column(big_integer(Mailboxes::RecentUid).default(1))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared("UPDATE mailboxes SET recent_uid = uid_next")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Mailboxes::Table)
                .drop_column(Mailboxes::RecentUid)
                .to_owned(),
        )
        .await
    }
}
