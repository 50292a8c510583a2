//! Change notifications: after a commit, every subscriber hears which account changed and its
//! new change sequence number. In one process this is a broadcast channel.

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
}

impl Notifier {
    pub(crate) fn new() -> Notifier {
        // A slow subscriber that falls this far behind gets `Lagged` and re-reads the log.
        Notifier {
            tx: broadcast::channel(4096).0,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.tx.subscribe()
    }

    pub(crate) fn publish(&self, change: StateChange) {
        // No subscribers is fine.
        let _ = self.tx.send(change);
    }
}
