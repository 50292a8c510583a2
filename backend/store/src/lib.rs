//! Persistence for mailroom.
//!
//! Brief overview:
//! - [`Store`] opens the database (SQLite or Postgres, chosen by URL), applies migrations and
//!   owns the [`BlobStore`] (local disk or S3, through object_store).
//! - [`model`] holds the plain records the rest of mailroom sees; the sea-orm entities in
//!   `entity` stay private to this crate.
//! - [`delivery`] is the one write path for new mail: a batch of deliveries goes into one
//!   transaction, which is what group commit (in `mailroom-core`) hands it.
//! - The other modules are the queries, grouped by the table they mostly touch.

mod account;
pub mod auth;
mod blob;
mod blob_gc;
mod change;
mod connect;
pub mod delivery;
mod derived;
pub mod dkim;
mod domain;
mod email_text;
mod entity;
mod error;
pub mod gc;
pub mod identity;
mod ids;
pub mod journal;
mod lite;
mod mailbox;
pub mod mailbox_set;
pub mod members;
pub mod model;
pub mod mta_sts;
mod multi;
mod page_cache;
pub mod query;
pub mod queue;
pub mod search;
pub mod submission;
mod subscription;
mod tx;
pub mod update;
pub mod vacation;
mod wal_vfs;

pub use account::DefaultMailbox;
pub use blob::{BlobConfig, BlobId, BlobStore, BlobSync};
pub use blob_gc::Listed;
pub use connect::DbKind;
pub use email_text::INDEX_MOVE;
pub use error::{Result, StoreError};

use sea_orm::DatabaseConnection;

/// The database and the blob store, opened and migrated.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    kind: DbKind,
    blobs: BlobStore,
    /// Turns for SQLite writers (see `tx.rs`, `write_turn`).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// On SQLite, the thread write transactions run on (see `lite.rs`).
    lite: Option<lite::Writer>,
}

impl Store {
    /// Connects to `db_url`, applies pending migrations and opens the blob store.
    pub async fn open(db_url: &str, blobs: &BlobConfig) -> Result<Store> {
        let (db, kind) = connect::connect(db_url).await?;
        connect::migrate(&db, kind).await?;
        let lite = match kind {
            DbKind::Sqlite => {
                let path = connect::sqlite_file(db_url).ok_or_else(|| {
                    StoreError::Config(
                        "database.url: SQLite needs a file (an in-memory database cannot be \
                         shared by the writer thread)"
                            .into(),
                    )
                })?;
                Some(lite::Writer::open(&path)?)
            }
            DbKind::Postgres => None,
        };
        let blobs = BlobStore::open(blobs)?;
        let store = Store {
            db,
            kind,
            blobs,
            writer: Default::default(),
            lite,
        };
        let restored = store.recover_journal().await?;
        if restored > 0 {
            // Either a crash left them, or a server running on the same data has not flushed
            // them yet (a CLI command beside `serve`): the files are rewritten either way.
            tracing::warn!(
                blobs = restored,
                "rewrote journaled message files (left by an unclean stop, or not yet flushed \
                 by a server running on this data)"
            );
        }
        Ok(store)
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// A cheap query, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(StoreError::from)
    }
}

/// Seconds since the Unix epoch, the one time unit stored in the database.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
