//! Storage quotas: each account's limit (none by default) and the bytes its emails use, kept
//! up to date by the transactions that add and delete emails (IMAP GETQUOTAROOT, JMAP and
//! SMTP refusals read one row instead of summing every email).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_quota"
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    QuotaBytes,
    UsedBytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds one at a time.
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(big_integer_null(Accounts::QuotaBytes))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Accounts::Table)
                .add_column(big_integer(Accounts::UsedBytes).default(0))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE accounts SET used_bytes = \
                 (SELECT COALESCE(SUM(size), 0) FROM emails WHERE emails.account_id = accounts.id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for c in [Accounts::UsedBytes, Accounts::QuotaBytes] {
            m.alter_table(
                Table::alter()
                    .table(Accounts::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
