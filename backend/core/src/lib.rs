//! The mailroom service layer.
//!
//! Brief overview:
//! - [`Core`] is the handle every gateway holds: cheap to clone, it owns the store, the group
//!   committer and the change notifier.
//! - [`Error`] is the one error type gateways map to their protocol's replies at their edge.
//! - Administration ([`admin`]): domains, users, aliases, catch-alls, passwords.
//! - Delivery ([`delivery`]): resolve a recipient address to accounts, then file a message
//!   durably into their INBOXes; SMTP, mbox import and (later) IMAP APPEND and JMAP import all
//!   come through here, so UIDs, threads and the change log are the same whoever delivers.
//! - Sending ([`submit`], [`compose`]): a user's message to local recipients and Sent, with
//!   a submission record; [`auth`]: refresh and API tokens, invites, the admin role.
//! - [`notify`]: after each commit, who changed and up to which sequence number.

pub mod address;
pub mod admin;
pub mod auth;
mod batch;
pub mod body;
pub mod build;
mod cache;
pub mod compose;
pub mod delivery;
pub mod dkim;
pub mod dns;
mod error;
pub mod filter;
pub mod gc;
mod group_commit;
pub mod identity;
pub mod import;
pub mod limiter;
pub mod mail;
pub mod mailbox_index;
pub mod mailboxes;
pub mod members;
pub mod mime;
pub mod notify;
mod parse;
mod passwords;
pub mod query_changes;
pub mod queue;
pub mod quota;
pub mod submit;
pub mod update;
pub mod vacation;

use std::sync::Arc;

pub use error::{Error, Result};
pub use mailroom_store::delivery::Delivered;
pub use mailroom_store::model::{
    Account, Alias, Change, ChangeOp, Domain, Mailbox, MailboxEntry, ObjectType,
};
pub use mailroom_store::submission::Submission;
pub use mailroom_store::{BlobConfig, BlobId, BlobSync, DbKind};

use mailroom_store::Store;

/// Settings the service layer needs.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub database_url: String,
    pub blobs: BlobConfig,
    /// Messages a user may send per hour (0: no limit).
    pub max_messages_per_hour: u32,
    /// Whether mail for other domains is accepted for the outbound queue: true only in a
    /// process that runs the queue worker (`mailroom serve`), so nothing waits unsent.
    pub remote_delivery: bool,
}

/// The service layer handle.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    committer: group_commit::GroupCommit,
    notifier: notify::Notifier,
    caches: cache::Caches,
    login_failures: limiter::FailureLimiter,
    passwords: passwords::Passwords,
    mailbox_index: mailbox_index::MailboxIndex,
    sends: limiter::SendLimiter,
    remote_delivery: bool,
    queue_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Submission records (with their queued recipients and the bytes those need).
    submissions: batch::Batcher<submit::PendingSubmission, (Submission, i64)>,
    /// The outbound queue's outcome records.
    queue_records: batch::Batcher<queue::Record, ()>,
}

impl Core {
    /// Opens storage (applying migrations) and starts the group committer.
    pub async fn open(config: &CoreConfig) -> Result<Core> {
        let store = Store::open(&config.database_url, &config.blobs).await?;
        let notifier = notify::Notifier::new();
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let committer =
            group_commit::GroupCommit::start(store.clone(), notifier.clone(), wake.clone());
        let submissions = submit::submission_batcher(store.clone(), notifier.clone(), wake.clone());
        let queue_records = queue::record_batcher(store.clone(), notifier.clone());
        tokio::spawn(notify::watch_other_writers(store.clone(), notifier.clone()));
        let blobs = store.blobs().clone();
        tokio::task::spawn_blocking(move || match blobs.sweep_temporary() {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed temporary blob files left by a crash"),
            Err(e) => tracing::warn!(error = %e, "could not sweep temporary blob files"),
        });
        Ok(Core {
            inner: Arc::new(Inner {
                store,
                committer,
                notifier,
                caches: cache::Caches::default(),
                login_failures: limiter::FailureLimiter::default(),
                passwords: passwords::Passwords::new(),
                mailbox_index: Default::default(),
                sends: limiter::SendLimiter::new(config.max_messages_per_hour),
                remote_delivery: config.remote_delivery,
                submissions,
                queue_records,
                queue_wake: wake,
            }),
        })
    }

    pub(crate) fn caches(&self) -> &cache::Caches {
        &self.inner.caches
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Failed logins, counted across every protocol.
    pub fn login_failures(&self) -> &limiter::FailureLimiter {
        &self.inner.login_failures
    }

    pub(crate) fn sends(&self) -> &limiter::SendLimiter {
        &self.inner.sends
    }

    /// Subscribes to change notifications.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<notify::StateChange> {
        self.inner.notifier.subscribe()
    }

    /// Database and blob store reachable.
    pub async fn ready(&self) -> Result<()> {
        self.inner.store.ping().await?;
        self.inner.store.blobs().ping().await?;
        Ok(())
    }

    /// Finishes the background work a stop would otherwise leave to the next start: journaled
    /// message files synced and their rows forgotten, waiting index text indexed.
    pub async fn flush(&self) -> Result<()> {
        let store = &self.inner.store;
        while store.flush_journal().await? >= mailroom_store::journal::FLUSH_ROWS {}
        while store.index_pending_text().await? >= mailroom_store::INDEX_MOVE {}
        Ok(())
    }
}
