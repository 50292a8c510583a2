//! The mailroom schema, written once with sea-query builders so it is the same on SQLite and
//! Postgres. Each migration is a file named for what it adds; never edit one that has shipped.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_auth_and_sending;
mod m0003_vacation_and_identities;
mod m0004_dkim_keys;
mod m0005_queue;
mod m0006_mta_sts;
mod m0007_queue_leases;
mod m0008_member_modseq;
mod m0009_derived;
mod m0010_quota;
mod m0011_recent;
mod m0012_blob_journal;
mod m0013_email_text;
mod m0014_email_text_pending;
mod m0015_subscriptions;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_auth_and_sending::Migration),
            Box::new(m0003_vacation_and_identities::Migration),
            Box::new(m0004_dkim_keys::Migration),
            Box::new(m0005_queue::Migration),
            Box::new(m0006_mta_sts::Migration),
            Box::new(m0007_queue_leases::Migration),
            Box::new(m0008_member_modseq::Migration),
            Box::new(m0009_derived::Migration),
            Box::new(m0010_quota::Migration),
            Box::new(m0011_recent::Migration),
            Box::new(m0012_blob_journal::Migration),
            Box::new(m0013_email_text::Migration),
            Box::new(m0014_email_text_pending::Migration),
            Box::new(m0015_subscriptions::Migration),
        ]
    }
}
