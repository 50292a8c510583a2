//! New emails' index text waits in a plain table before it enters the SQLite substring index
//! (`m0013_email_text`). FTS5 writes a new segment, its structure record and its merges in
//! every transaction that adds a row, about a fifth of the pages a one-message delivery
//! wrote; a row appended here is one page, and a background task moves the waiting rows into
//! the index in batches. Searches treat every waiting email as a candidate (the exact check
//! follows), so nothing is missed meanwhile. Postgres indexes in the delivery transaction
//! still: nothing to add there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_email_text_pending"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared(
                "CREATE TABLE email_text_pending (email_id INTEGER PRIMARY KEY \
                 REFERENCES emails(id) ON DELETE CASCADE, from_text TEXT NOT NULL, \
                 to_text TEXT NOT NULL, cc_text TEXT NOT NULL, subject_text TEXT NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = m.get_connection();
        // Whatever waits goes into the index first.
        db.execute_unprepared(
            "INSERT INTO email_text (rowid, from_text, to_text, cc_text, subject_text) \
             SELECT email_id, from_text, to_text, cc_text, subject_text FROM email_text_pending",
        )
        .await?;
        db.execute_unprepared("DROP TABLE email_text_pending")
            .await?;
        Ok(())
    }
}
