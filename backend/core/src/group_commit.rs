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

use bytes::Bytes;
use mailroom_store::delivery::{Delivered, NewDelivery};
use mailroom_store::{BlobId, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::notify::{Notifier, StateChange};
use crate::{Error, Result};

/// Jobs per batch (a job is usually one message; an import sends many at once).
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// One caller's deliveries: committed together, in order, all or none.
struct Job {
    deliveries: Vec<NewDelivery>,
    /// The raw bytes of each delivery, until they are on disk.
    raw: Vec<Bytes>,
    reply: oneshot::Sender<Result<Vec<Vec<Delivered>>>>,
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(store: Store, notifier: Notifier) -> GroupCommit {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (db_tx, db_rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_blobs(store.clone(), rx, db_tx));
        tokio::spawn(commit(store, notifier, db_rx));
        GroupCommit { tx }
    }

    /// Stores the blobs, commits the deliveries and waits for both, all or none.
    pub(crate) async fn commit(
        &self,
        deliveries: Vec<NewDelivery>,
        raw: Vec<Bytes>,
    ) -> Result<Vec<Vec<Delivered>>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                deliveries,
                raw,
                reply,
            })
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("shutting down".into()))?
    }
}

/// Blob batches written at once. One batch's syncs leave the disk and CPU idle; a few in
/// flight keep both busy (measured: a single writer was the bottleneck at ~1,600 msgs/s).
const BLOB_WRITERS: usize = 2;

async fn write_blobs(store: Store, mut rx: mpsc::Receiver<Job>, next: mpsc::Sender<Job>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(BLOB_WRITERS));
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

async fn write_batch(store: &Store, mut jobs: Vec<Job>, next: &mpsc::Sender<Job>) {
    let blobs: Vec<(BlobId, Bytes)> = jobs
        .iter_mut()
        .flat_map(|j| {
            let raw = std::mem::take(&mut j.raw);
            j.deliveries
                .iter()
                .map(|d| d.blob_id.clone())
                .zip(raw)
                .collect::<Vec<_>>()
        })
        .collect();
    let (n, started) = (blobs.len(), std::time::Instant::now());
    let r = store.blobs().put_many(blobs).await;
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

async fn commit(store: Store, notifier: Notifier, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch: Vec<NewDelivery> = jobs
            .iter()
            .flat_map(|j| j.deliveries.iter().cloned())
            .collect();
        let started = std::time::Instant::now();
        let r = store.deliver_batch(&batch).await;
        tracing::debug!(
            deliveries = batch.len(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "commit batch"
        );
        match r {
            Ok(results) => {
                publish(&notifier, &results);
                let mut results = results.into_iter();
                for job in jobs.drain(..) {
                    let mine: Vec<_> = results.by_ref().take(job.deliveries.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            // A refusal, not a failure: the caller says so (IMAP [OVERQUOTA], JMAP overQuota).
            Err(StoreError::OverQuota(why)) if jobs.len() == 1 => {
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(Error::OverQuota(why.clone())));
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
                    let r = match store.deliver_batch(&job.deliveries).await {
                        Ok(v) => {
                            publish(&notifier, &v);
                            Ok(v)
                        }
                        Err(StoreError::OverQuota(why)) => Err(Error::OverQuota(why)),
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

/// One notification per account, with the highest sequence number the batch reached.
fn publish(notifier: &Notifier, results: &[Vec<Delivered>]) {
    let mut top = std::collections::BTreeMap::new();
    for d in results.iter().flatten() {
        let e = top.entry(d.account_id).or_insert(d.modseq);
        *e = (*e).max(d.modseq);
    }
    for (account_id, seq) in top {
        notifier.publish(StateChange { account_id, seq });
    }
}
