//! DKIM signing keys, per domain (RFC 6376; Ed25519 by RFC 8463 and RSA-2048): the private
//! key as PKCS#8 DER (base64), the public key as published in the `p=` tag, and when a
//! rotated-out key stops being published.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_dkim_keys"
    }
}

#[derive(DeriveIden)]
enum Domains {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DkimKeys {
    Table,
    Id,
    DomainId,
    Selector,
    Algorithm,
    PrivateKey,
    PublicKey,
    CreatedAt,
    RetireAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DkimKeys::Table)
                .col(big_pk_auto(DkimKeys::Id))
                .col(big_integer(DkimKeys::DomainId))
                .col(string(DkimKeys::Selector))
                .col(string(DkimKeys::Algorithm))
                .col(text(DkimKeys::PrivateKey))
                .col(text(DkimKeys::PublicKey))
                .col(big_integer(DkimKeys::CreatedAt))
                .col(big_integer_null(DkimKeys::RetireAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(DkimKeys::Table, DkimKeys::DomainId)
                        .to(Domains::Table, Domains::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("dkim_keys_domain_selector")
                .table(DkimKeys::Table)
                .col(DkimKeys::DomainId)
                .col(DkimKeys::Selector)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(DkimKeys::Table).to_owned())
            .await
    }
}
