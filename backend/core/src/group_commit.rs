//! Group commit: concurrent deliveries share one blob sync and one database transaction.
//!
//! Two stages, each a task that takes whatever is waiting (up to [`MAX_BATCH`] jobs):
//!
//! ```text
//! deliver ─> [blobs: write all, sync once] ─> [database: one transaction] ─> reply, notify
//! ```
//!
//! While one batch commits to the database the next one's blobs are being synced, and under
//! load batches grow, so the cost of durability is paid once per batch; alone, a delivery waits
//! for nothing but its own syncs. If a database batch fails, each job in it is retried alone,
//! so one bad message cannot fail its neighbours.
//!
//! On local disk, small messages skip the first stage: their files are written unsynced just
//! before the database transaction, which journals their bytes (`mailroom_store::journal`),
//! so a delivery waits for one sync, the commit's; a flusher task syncs the files twice a
//! second.

use bytes::Bytes;
use mailroom_store::delivery::{Filed, NewDelivery, SentSubmission};
use mailroom_store::{BlobId, Store, StoreError};
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::notify::{Notifier, StateChange};
use crate::{Error, Result};

/// Jobs per batch (a job is usually one message; an import sends many at once).
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// One caller's deliveries: committed together, in order, all or none.
struct Job {
    deliveries: Vec<NewDelivery>,
    /// Bytes the blob stage stores and syncs before the commit.
    blobs: Vec<(BlobId, Bytes)>,
    /// Bytes written without a sync, to commit in the journal with the deliveries.
    journal: Vec<(BlobId, Bytes)>,
    /// Submissions recorded with the deliveries (`of` counts this job's deliveries).
    submissions: Vec<SentSubmission>,
    reply: oneshot::Sender<Result<Filed>>,
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Job>,
    /// Straight to the database stage: jobs with no blob to sync first.
    db: mpsc::Sender<Job>,
    store: Store,
}

impl GroupCommit {
    /// `queue_wake` is told when a batch queued mail for other domains.
    pub(crate) fn start(store: Store, notifier: Notifier, queue_wake: Arc<Notify>) -> GroupCommit {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (db_tx, db_rx) = mpsc::channel(QUEUE);
        let journaled = Arc::new(Notify::new());
        let delivered = Arc::new(Notify::new());
        tokio::spawn(write_blobs(store.clone(), rx, db_tx.clone()));
        tokio::spawn(flush_journal(store.clone(), journaled.clone()));
        tokio::spawn(index_text(store.clone(), delivered.clone()));
        let after = After {
            journaled,
            delivered,
            queue_wake,
        };
        tokio::spawn(commit(store.clone(), notifier, db_rx, after));
        GroupCommit {
            tx,
            db: db_tx,
            store,
        }
    }

    /// Stores the blobs (the deliveries' and the `extra` bytes that `submissions` name),
    /// commits the deliveries and records the submissions, and waits for both: all or none.
    pub(crate) async fn commit(
        &self,
        deliveries: Vec<NewDelivery>,
        raw: Vec<Bytes>,
        extra: Vec<(BlobId, Bytes)>,
        submissions: Vec<SentSubmission>,
    ) -> Result<Filed> {
        let (reply, rx) = oneshot::channel();
        let (blobs, journal) = split(&self.store, &deliveries, raw, extra);
        // Small messages on local disk are journaled: their files are written by the
        // database stage, before its transaction (`Store::deliver_batch`); only jobs with
        // other bytes pass through the blob stage first.
        let stage = if blobs.is_empty() { &self.db } else { &self.tx };
        let job = Job {
            deliveries,
            blobs,
            journal,
            submissions,
            reply,
        };
        stage
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("shutting down".into()))?
    }
}

/// The bytes a job names, each once (a sent message's local and remote copies are the same
/// bytes): those to store and sync first, and those to journal (`Store::journals`).
type Split = (Vec<(BlobId, Bytes)>, Vec<(BlobId, Bytes)>);

/// `raw` holds each delivery's bytes; `extra` other bytes the commit names (a sent message's
/// copy for its recipients, when it differs from the Sent copy).
fn split(
    store: &Store,
    deliveries: &[NewDelivery],
    raw: Vec<Bytes>,
    extra: Vec<(BlobId, Bytes)>,
) -> Split {
    let (mut blobs, mut journal) = (Vec::new(), Vec::new());
    let ids = deliveries.iter().map(|d| d.blob_id.clone());
    let mut seen = std::collections::HashSet::new();
    for (id, bytes) in ids.zip(raw).chain(extra) {
        if !seen.insert(id.clone()) {
            continue;
        }
        if store.journals(bytes.len()) {
            journal.push((id, bytes));
        } else {
            blobs.push((id, bytes));
        }
    }
    (blobs, journal)
}

/// Blob batches written at once. One batch's syncs leave the disk and CPU idle; a few in
/// flight keep both busy (measured: a single writer was the bottleneck at ~1,600 msgs/s).
const BLOB_WRITERS: usize = 2;

async fn write_blobs(store: Store, mut rx: mpsc::Receiver<Job>, next: mpsc::Sender<Job>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(BLOB_WRITERS));
    loop {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
            break;
        }
        let (store, next) = (store.clone(), next.clone());
        tokio::spawn(async move {
            write_batch(&store, jobs, &next).await;
            drop(permit);
        });
    }
}

/// Stores a batch's blobs that are not journaled, synced, before their jobs go on to the
/// database stage (the journaled ones are written there).
async fn write_batch(store: &Store, mut jobs: Vec<Job>, next: &mpsc::Sender<Job>) {
    let blobs: Vec<(BlobId, Bytes)> = jobs
        .iter_mut()
        .flat_map(|j| std::mem::take(&mut j.blobs))
        .collect();
    let (n, started) = (blobs.len(), std::time::Instant::now());
    let r = if blobs.is_empty() {
        Ok(())
    } else {
        store.blobs().put_many(blobs).await
    };
    tracing::debug!(
        blobs = n,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "blob batch"
    );
    match r {
        Ok(()) => {
            for job in jobs {
                if let Err(mpsc::error::SendError(job)) = next.send(job).await {
                    let _ = job
                        .reply
                        .send(Err(Error::Unavailable("shutting down".into())));
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "storing message bytes failed");
            let e = Error::from(e);
            for job in jobs {
                let _ = job.reply.send(Err(Error::Unavailable(e.to_string())));
            }
        }
    }
}

/// Who is told after a database batch.
struct After {
    /// The journal flusher, when the batch journaled bytes.
    journaled: Arc<Notify>,
    /// The text indexer, when it filed emails.
    delivered: Arc<Notify>,
    /// The outbound queue, when it queued mail.
    queue_wake: Arc<Notify>,
}

async fn commit(store: Store, notifier: Notifier, mut rx: mpsc::Receiver<Job>, after: After) {
    let After {
        journaled,
        delivered,
        queue_wake,
    } = after;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch: Vec<NewDelivery> = jobs
            .iter()
            .flat_map(|j| j.deliveries.iter().cloned())
            .collect();
        let journal: Vec<(BlobId, Bytes)> = jobs
            .iter()
            .flat_map(|j| j.journal.iter().cloned())
            .collect();
        let mut submissions = Vec::new();
        let mut offset = 0;
        for j in &jobs {
            submissions.extend(j.submissions.iter().map(|s| SentSubmission {
                of: s.of + offset,
                submission: s.submission.clone(),
            }));
            offset += j.deliveries.len();
        }
        let (started, deliveries, journaled_any) =
            (std::time::Instant::now(), batch.len(), !journal.is_empty());
        let queued = submissions.iter().any(|s| s.submission.queue.is_some());
        let r = store.deliver_batch(batch, journal, submissions).await;
        if journaled_any {
            journaled.notify_one();
        }
        if deliveries > 0 {
            delivered.notify_one();
        }
        tracing::debug!(
            deliveries,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "commit batch"
        );
        match r {
            Ok(filed) => {
                published(&notifier, &queue_wake, &filed, queued);
                let mut delivered = filed.delivered.into_iter();
                let mut submitted = filed.submissions.into_iter();
                for job in jobs.drain(..) {
                    let mine = Filed {
                        delivered: delivered.by_ref().take(job.deliveries.len()).collect(),
                        submissions: submitted.by_ref().take(job.submissions.len()).collect(),
                    };
                    let _ = job.reply.send(Ok(mine));
                }
            }
            // A refusal, not a failure: the caller says so (IMAP [OVERQUOTA], JMAP overQuota).
            Err(StoreError::OverQuota(why)) if jobs.len() == 1 => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(Error::OverQuota(why.clone())));
                }
            }
            // The mailbox went (deleted by another session since the caller found it).
            Err(StoreError::NotFound(what)) if jobs.len() == 1 => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(Error::NotFound(what.clone())));
                }
            }
            Err(e) if jobs.len() == 1 || e.is_transient() => {
                tracing::error!(error = %e, jobs = jobs.len(), "delivery commit failed");
                let e = Error::from(e);
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(Error::Unavailable(e.to_string())));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "batch commit failed; retrying job by job");
                for job in jobs.drain(..) {
                    let r = match store
                        .deliver_batch(
                            job.deliveries.clone(),
                            job.journal.clone(),
                            job.submissions.clone(),
                        )
                        .await
                    {
                        Ok(filed) => {
                            let queued =
                                job.submissions.iter().any(|s| s.submission.queue.is_some());
                            published(&notifier, &queue_wake, &filed, queued);
                            Ok(filed)
                        }
                        Err(StoreError::OverQuota(why)) => Err(Error::OverQuota(why)),
                        Err(StoreError::NotFound(what)) => Err(Error::NotFound(what)),
                        Err(e) => {
                            tracing::error!(error = %e, "delivery commit failed");
                            Err(e.into())
                        }
                    };
                    let _ = job.reply.send(r);
                }
            }
        }
    }
}

/// How long the flusher and the text indexer wait after a commit gave them work, so that
/// the commits meanwhile share their transaction (and the flusher's sync): 500 ms, or the
/// milliseconds in the variable `var` (tests hold the work back: `MAILROOM_JOURNAL_FLUSH_MS`
/// to leave files unsynced while they simulate a power cut, `MAILROOM_INDEX_DELAY_MS` to
/// search text while it waits).
fn delay(var: &str) -> std::time::Duration {
    let ms = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    std::time::Duration::from_millis(ms)
}

/// Syncs journaled blob files and forgets their rows, a moment after commits add some.
async fn flush_journal(store: Store, journaled: Arc<Notify>) {
    let delay = delay("MAILROOM_JOURNAL_FLUSH_MS");
    loop {
        journaled.notified().await;
        tokio::time::sleep(delay).await;
        loop {
            match store.flush_journal().await {
                // A full read: more are waiting.
                Ok(n) if n >= mailroom_store::journal::FLUSH_ROWS => continue,
                Ok(_) => break,
                Err(e) => {
                    // The rows stay; the next flush (or a restart's recovery) retries.
                    tracing::error!(error = %e, "flushing the blob journal failed");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    journaled.notify_one();
                    break;
                }
            }
        }
    }
}

/// Moves waiting index text into the search index (`Store::index_pending_text`): whatever
/// waits from before at once (a crash, a CLI import), then a moment after deliveries.
async fn index_text(store: Store, delivered: Arc<Notify>) {
    let delay = delay("MAILROOM_INDEX_DELAY_MS");
    loop {
        loop {
            match store.index_pending_text().await {
                Ok(n) if n >= mailroom_store::INDEX_MOVE => continue,
                Ok(_) => break,
                Err(e) => {
                    // The rows wait (searches still find them); the next delivery retries.
                    tracing::error!(error = %e, "indexing new emails' text failed");
                    break;
                }
            }
        }
        delivered.notified().await;
        tokio::time::sleep(delay).await;
    }
}

/// One notification per account, with the highest sequence number the batch reached; the
/// outbound queue woken when the batch `queued` mail for it.
fn published(notifier: &Notifier, queue_wake: &Notify, filed: &Filed, queued: bool) {
    let mut top = std::collections::BTreeMap::new();
    let delivered = filed
        .delivered
        .iter()
        .flatten()
        .map(|d| (d.account_id, d.modseq));
    let submitted = filed
        .submissions
        .iter()
        .map(|(s, seq)| (s.account_id, *seq));
    for (account_id, seq) in delivered.chain(submitted) {
        let e = top.entry(account_id).or_insert(seq);
        *e = (*e).max(seq);
    }
    for (account_id, seq) in top {
        notifier.publish(StateChange { account_id, seq });
    }
    if queued {
        queue_wake.notify_one();
    }
}
