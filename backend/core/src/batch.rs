//! Batching for writes that each need a durable commit: concurrent callers' items are taken
//! together (up to a limit) and committed in one transaction, so the cost of a sync is paid
//! once per batch. Alone, an item waits for nothing but its own commit. Used for submission
//! records and the outbound queue's outcome records (deliveries have their own two-stage
//! group commit, `group_commit.rs`).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result};

pub(crate) struct Batcher<T, R> {
    tx: mpsc::Sender<(T, oneshot::Sender<Result<R>>)>,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the task that runs `commit` on each batch; it returns one result per item, in
    /// order.
    pub(crate) fn start<F, Fut>(max: usize, commit: F) -> Batcher<T, R>
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<R>>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(T, oneshot::Sender<Result<R>>)>(4096);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(max);
            while rx.recv_many(&mut buf, max).await > 0 {
                let (items, replies): (Vec<T>, Vec<_>) = buf.drain(..).unzip();
                let results = commit(items).await;
                for (r, reply) in results.into_iter().zip(replies) {
                    let _ = reply.send(r);
                }
            }
        });
        Batcher { tx }
    }

    /// Commits `item` (with whatever else is waiting) and returns its result.
    pub(crate) async fn call(&self, item: T) -> Result<R> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| Error::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("shutting down".into()))?
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Commits several items, normally in one batch; one result each, in order.
    pub(crate) async fn call_many(&self, items: Vec<T>) -> Vec<Result<R>> {
        let mut waiting = Vec::with_capacity(items.len());
        for item in items {
            let (reply, rx) = oneshot::channel();
            let sent = self.tx.send((item, reply)).await.is_ok();
            waiting.push(sent.then_some(rx));
        }
        let mut out = Vec::with_capacity(waiting.len());
        for w in waiting {
            out.push(match w {
                Some(rx) => rx
                    .await
                    .unwrap_or_else(|_| Err(Error::Unavailable("shutting down".into()))),
                None => Err(Error::Unavailable("shutting down".into())),
            });
        }
        out
    }
}

/// Runs `f` on the whole batch; if that fails for a reason that is not transient, on each
/// item alone, so one bad item cannot fail its neighbours. `f` hands the items back with its
/// result (it owns them while it runs).
pub(crate) async fn each_on_failure<T, R, F, Fut>(items: Vec<T>, f: F) -> Vec<Result<R>>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<
        Output = (
            Vec<T>,
            std::result::Result<Vec<R>, mailroom_store::StoreError>,
        ),
    >,
{
    let n = items.len();
    let (items, r) = f(items).await;
    match r {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) if n == 1 || e.is_transient() => {
            let msg = Error::from(e).to_string();
            (0..n)
                .map(|_| Err(Error::Unavailable(msg.clone())))
                .collect()
        }
        Err(_) => {
            let mut out = Vec::with_capacity(n);
            for i in items {
                out.push(match f(vec![i]).await.1 {
                    Ok(mut v) => v.pop().ok_or_else(|| Error::Internal("no result".into())),
                    Err(e) => Err(e.into()),
                });
            }
            out
        }
    }
}
