//! Data a gateway derives from message bytes and keeps (IMAP's encoded ENVELOPE and
//! BODYSTRUCTURE): by blob id and kind, rebuildable at any time, dropped with the message row.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_derived"
    }
}

#[derive(DeriveIden)]
enum Derived {
    Table,
    BlobId,
    Kind,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Derived::Table)
                .col(string(Derived::BlobId))
                .col(small_integer(Derived::Kind))
                .col(blob(Derived::Data))
                .primary_key(Index::create().col(Derived::BlobId).col(Derived::Kind))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Derived::Table).to_owned())
            .await
    }
}
