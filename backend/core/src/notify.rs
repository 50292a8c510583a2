//! Change notifications: after a commit, every subscriber hears which account changed and its
//! new change sequence number. In one process this is a broadcast channel; changes another
//! process commits (a CLI import beside the server) are found by [`watch_other_writers`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mailroom_store::Store;
use tokio::sync::broadcast;

/// An account's state moved to `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub account_id: i64,
    pub seq: i64,
}

#[derive(Clone)]
pub(crate) struct Notifier {
    tx: broadcast::Sender<StateChange>,
    /// The highest seq published per account.
    published: Arc<Mutex<HashMap<i64, i64>>>,
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        // A slow subscriber that falls this far behind gets `Lagged` and re-reads the log.
        Notifier {
            tx: broadcast::channel(4096).0,
            published: Default::default(),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.tx.subscribe()
    }

    pub(crate) fn publish(&self, change: StateChange) {
        {
            let mut p = self.published.lock().unwrap_or_else(|e| e.into_inner());
            let seq = p.entry(change.account_id).or_insert(change.seq);
            *seq = (*seq).max(change.seq);
        }
        // No subscribers is fine.
        let _ = self.tx.send(change);
    }
}

/// How often the database is asked whether another process changed an account.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes the changes other processes commit (a CLI command beside the server writes to
/// the same database), one query every [`WATCH_EVERY`] while anyone listens, for every
/// subscriber at once: IMAP IDLE and JMAP EventSource hear of them like of their own.
pub(crate) async fn watch_other_writers(store: Store, notifier: Notifier) {
    // Where every account stands when the process starts; later looks publish what moved.
    let mut seen: HashMap<i64, i64> = store
        .account_states()
        .await
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        if notifier.tx.receiver_count() == 0 {
            continue;
        }
        let now: HashMap<i64, i64> = match store.account_states().await {
            Ok(s) => s.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading the accounts' states failed");
                continue;
            }
        };
        let moved: Vec<StateChange> = {
            let published = notifier.published.lock().unwrap_or_else(|e| e.into_inner());
            now.iter()
                .filter(|(id, seq)| {
                    let known = seen
                        .get(id)
                        .copied()
                        .max(published.get(id).copied())
                        .unwrap_or(0);
                    **seq > known
                })
                .map(|(&account_id, &seq)| StateChange { account_id, seq })
                .collect()
        };
        for change in moved {
            notifier.publish(change);
        }
        seen = now;
    }
}
