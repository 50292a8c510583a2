//! Group commit: concurrent deliveries share one database transaction (one fsync).
//!
//! Each delivery's blob is already durable when it is queued here. One task takes whatever is
//! waiting, up to [`MAX_BATCH`], and writes it in one transaction; while that commits, the next
//! batch gathers. Under load batches grow and the cost of durability is paid once per batch;
//! alone, a delivery waits for nothing but its own commit. If a batch fails, each delivery in
//! it is retried alone, so one bad message cannot fail its neighbours.

use mailroom_store::Store;
use mailroom_store::delivery::{Delivered, NewDelivery};
use tokio::sync::{mpsc, oneshot};

use crate::notify::{Notifier, StateChange};
use crate::{Error, Result};

/// Jobs per transaction (a job is usually one message; an import sends many at once).
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// One caller's deliveries: committed together, in order, in one batch.
struct Job {
    deliveries: Vec<NewDelivery>,
    reply: oneshot::Sender<Result<Vec<Vec<Delivered>>>>,
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    tx: mpsc::Sender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(store: Store, notifier: Notifier) -> GroupCommit {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, notifier, rx));
        GroupCommit { tx }
    }

    /// Queues deliveries and waits until they are committed (or failed), all or none.
    pub(crate) async fn commit(&self, deliveries: Vec<NewDelivery>) -> Result<Vec<Vec<Delivered>>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { deliveries, reply })
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("shutting down".into()))?
    }
}

async fn run(store: Store, notifier: Notifier, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch: Vec<NewDelivery> = jobs
            .iter()
            .flat_map(|j| j.deliveries.iter().cloned())
            .collect();
        match store.deliver_batch(&batch).await {
            Ok(results) => {
                publish(&notifier, &results);
                let mut results = results.into_iter();
                for job in jobs.drain(..) {
                    let mine: Vec<_> = results.by_ref().take(job.deliveries.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) if jobs.len() == 1 => {
                tracing::error!(error = %e, "delivery commit failed");
                let job = jobs.pop().expect("one job");
                let _ = job.reply.send(Err(e.into()));
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "batch commit failed; retrying job by job");
                for job in jobs.drain(..) {
                    let r = match store.deliver_batch(&job.deliveries).await {
                        Ok(v) => {
                            publish(&notifier, &v);
                            Ok(v)
                        }
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
