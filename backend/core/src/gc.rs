//! Garbage collection: the bytes and facts of messages nothing refers to any more.
//!
//! Blobs are content-addressed and shared: one blob serves every copy of a message, in any
//! account, plus uploads and the outbound queue. A collection:
//! 1. forgets uploads older than a day and message facts no email uses;
//! 2. lists the blobs shard by shard, skipping those written within the grace period (their
//!    rows may not be committed yet), asks the database which of them something still
//!    names, and moves the rest into the blob store's trash;
//! 3. goes through the trash: a blob named again is put back (see `mailroom_store::blob_gc`
//!    for how that can happen), one unused for the grace period is deleted.
//!
//! So a blob goes at the earliest one grace period after it became unused, and never while
//! a row names it.

use std::time::{Duration, SystemTime};

use crate::{Core, Result};

/// Uploads are kept this long (RFC 8620 §6.1 asks for at least an hour).
pub const UPLOAD_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What one collection did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub uploads_expired: u64,
    pub messages_forgotten: u64,
    /// Unused blobs moved into the trash.
    pub trashed: u64,
    /// Trashed blobs named again, put back.
    pub restored: u64,
    pub deleted: u64,
    pub bytes_freed: u64,
}

impl Core {
    /// Runs one collection; `grace` is how long a blob must have been written, and then
    /// unused in the trash, before it goes.
    pub async fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        let store = self.store();
        let blobs = store.blobs();
        let mut report = GcReport::default();
        let now = SystemTime::now();
        let upload_cutoff = mailroom_store::now() - UPLOAD_LIFETIME.as_secs() as i64;
        report.uploads_expired = store.expire_uploads(upload_cutoff).await?;
        report.messages_forgotten = store.forget_unused_messages().await?.len() as u64;

        let cutoff = now.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        for shard in 0..=255u8 {
            let listed = blobs.list_shard(shard, cutoff).await?;
            if listed.is_empty() {
                continue;
            }
            let names: Vec<String> = listed.iter().map(|b| b.as_str().to_string()).collect();
            let used = store.referenced_blobs(&names).await?;
            for id in listed.iter().filter(|b| !used.contains(b.as_str())) {
                blobs.trash(id).await?;
                report.trashed += 1;
            }
        }

        let trashed = blobs.trashed().await?;
        let names: Vec<String> = trashed.iter().map(|t| t.id.as_str().to_string()).collect();
        let used = store.referenced_blobs(&names).await?;
        let expired_before = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for t in trashed {
            if used.contains(t.id.as_str()) {
                blobs.restore(&t.id).await?;
                report.restored += 1;
            } else if t.modified <= expired_before {
                blobs.purge(&t.id).await?;
                report.deleted += 1;
                report.bytes_freed += t.size;
            }
        }
        if report != GcReport::default() {
            tracing::info!(?report, "garbage collected");
        }
        Ok(report)
    }

    /// Collects garbage every `interval` until the process ends; a failed run is logged and
    /// the next one tries again.
    pub fn spawn_garbage_collector(&self, interval: Duration, grace: Duration) {
        let core = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = core.collect_garbage(grace).await {
                    tracing::warn!(error = %e, "garbage collection failed");
                }
            }
        });
    }
}
