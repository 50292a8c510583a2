//! Subscribed names that name no mailbox (RFC 9051 §6.3.9: a deleted mailbox's name stays
//! subscribed, and a client may subscribe to a name before it exists). A mailbox's own
//! subscription stays its `subscribed` column, shared with JMAP's `isSubscribed`; a name moves
//! here when its mailbox is deleted and back when one is created under it. IMAP's LSUB and
//! LIST (SUBSCRIBED) show these names as \NonExistent.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_subscriptions"
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    AccountId,
    Name,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Subscriptions::Table)
                .col(big_integer(Subscriptions::AccountId))
                .col(string(Subscriptions::Name))
                .primary_key(
                    Index::create()
                        .col(Subscriptions::AccountId)
                        .col(Subscriptions::Name),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Subscriptions::Table, Subscriptions::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
