//! The blob journal: the bytes of small new messages, committed in the same transaction as
//! their rows, until the blob files they were also written to are known to be on disk. It
//! lets a delivery wait for one sync (the database commit) instead of three (see
//! `mailroom_store::journal`). Rows live for a fraction of a second.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_blob_journal"
    }
}

#[derive(DeriveIden)]
enum BlobJournal {
    Table,
    Id,
    BlobId,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BlobJournal::Table)
                .col(big_pk_auto(BlobJournal::Id))
                .col(string(BlobJournal::BlobId))
                .col(blob(BlobJournal::Data))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BlobJournal::Table).to_owned())
            .await
    }
}
