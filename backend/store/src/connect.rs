//! Opening the database with the settings durability depends on.

use std::str::FromStr;
use std::time::Duration;

use mailroom_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::{Result, StoreError};

/// Which SQL dialect is behind the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub(crate) fn backend(self) -> sea_orm::DbBackend {
        match self {
            DbKind::Sqlite => sea_orm::DbBackend::Sqlite,
            DbKind::Postgres => sea_orm::DbBackend::Postgres,
        }
    }
}

pub(crate) async fn connect(url: &str) -> Result<(DatabaseConnection, DbKind)> {
    let kind = if url.starts_with("sqlite:") {
        DbKind::Sqlite
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        DbKind::Postgres
    } else {
        return Err(StoreError::Config(format!(
            "database.url must start with sqlite: or postgres:, got {:?}",
            redact(url)
        )));
    };
    let mut opts = ConnectOptions::new(url);
    // MAILROOM_SQL_LOG=1 logs every statement (target sqlx::query, level info): for counting
    // what a request costs, never on by default.
    let log_sql = std::env::var_os("MAILROOM_SQL_LOG").is_some_and(|v| v == "1");
    opts.sqlx_logging(log_sql)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    match kind {
        DbKind::Sqlite => {
            // Before the first connection initialises SQLite.
            crate::page_cache::install();
            // Validate early so a bad path gives a config error, not a pool time-out.
            SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("database.url: {e}")))?;
            // WAL lets readers run beside the one writer; synchronous=FULL makes every commit
            // durable (NORMAL in WAL mode may lose the last commits on power loss, and SMTP's
            // 250 promises they are not lost).
            // A file cannot drop a connection: no ping before each use (by default every
            // acquire costs one more round trip to the connection's thread).
            opts.max_connections(8)
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(30))
                        .foreign_keys(true)
                        .pragma("cache_size", "-16000")
                        // Pages read through a mapping, not a pread each (tens per write
                        // transaction on a large mailbox). Writes still go through the WAL.
                        .pragma("mmap_size", "1073741824")
                        // A page of rows arrives without the worker thread waiting on the reader.
                        .row_buffer_size(256)
                });
        }
        DbKind::Postgres => {
            // Ping only connections idle long enough for a server, proxy or firewall to
            // have dropped them; a ping before every use doubled the round trips.
            opts.max_connections(16)
                .test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
    }
    // A new SQLite file switched to WAL by several processes at once (replicas, a CLI command
    // beside `serve`): one of them can be told "database is locked" by the switch itself,
    // which does not wait on the busy timeout. It tries again, for up to ten seconds.
    let mut tries = 0;
    let db = loop {
        match Database::connect(opts.clone()).await {
            Ok(db) => break db,
            Err(e)
                if kind == DbKind::Sqlite
                    && tries < 100
                    && e.to_string().contains("database is locked") =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(StoreError::Config(format!(
                    "cannot open database {}: {e}",
                    redact(url)
                )));
            }
        }
    };
    Ok((db, kind))
}

/// The file behind a SQLite URL (none for an in-memory database or another kind).
pub(crate) fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    let name = path.to_string_lossy();
    (url.starts_with("sqlite:") && !name.is_empty() && !name.contains(":memory:"))
        .then(|| path.to_path_buf())
}

/// Applies pending migrations in one transaction. Several processes may start at once
/// (replicas on one Postgres, a CLI command beside `serve`): the first takes the lock
/// (Postgres: an advisory lock; SQLite: the write lock of `BEGIN IMMEDIATE`), the others wait
/// for it and then find nothing left to do.
pub(crate) async fn migrate(db: &DatabaseConnection, kind: DbKind) -> Result<()> {
    let opts = TransactionOptions {
        sqlite_transaction_mode: (kind == DbKind::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let tx = db.begin_with_options(opts).await?;
    if kind == DbKind::Postgres {
        tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
    }
    Migrator::up(&tx, None).await?;
    tx.commit().await?;
    Ok(())
}

/// The advisory lock key migrations hold ("mailroom" in ASCII, truncated to fit an i64).
const MIGRATION_LOCK: i64 = 0x6d61_696c_726f_6f6d;

/// The URL without a password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl crate::Store {
    /// After a bulk load: on Postgres, statistics for the planner and the visibility map for
    /// index-only scans, which autovacuum would otherwise bring only a minute or more later
    /// (until then list queries run measurably slower). Nothing to do on SQLite, whose plans
    /// here do not depend on statistics.
    pub async fn after_bulk_load(&self) -> crate::Result<()> {
        if self.kind == DbKind::Postgres {
            self.db
                .execute_unprepared("VACUUM (ANALYZE) emails, mailbox_emails, messages, changes")
                .await?;
        }
        Ok(())
    }
}
