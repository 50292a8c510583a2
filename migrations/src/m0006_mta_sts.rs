//! MTA-STS policies of the domains mail is sent to (RFC 8461 §5): kept across restarts, so
//! an attacker who strips a domain's `_mta-sts` record after a restart does not switch the
//! protection off.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_mta_sts"
    }
}

#[derive(DeriveIden)]
enum MtaStsPolicies {
    Table,
    Domain,
    PolicyId,
    Mode,
    /// The MX patterns, one per line.
    Mx,
    /// Seconds since the epoch after which the policy no longer applies.
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MtaStsPolicies::Table)
                .col(string(MtaStsPolicies::Domain).primary_key())
                .col(string(MtaStsPolicies::PolicyId))
                .col(string(MtaStsPolicies::Mode))
                .col(text(MtaStsPolicies::Mx))
                .col(big_integer(MtaStsPolicies::ExpiresAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MtaStsPolicies::Table).to_owned())
            .await
    }
}
