//! Small in-process caches for the delivery and list-view hot paths.
//!
//! Every inbound message resolves its recipients and looks up their INBOX; on a busy MX that
//! is most of its database reads. Positive answers are cached, for a short time: an
//! address that did not resolve is asked again next time (so a user added from another
//! process receives mail at once; a domain not ours is the one negative answer kept, for
//! [`REMOTE_TTL`]), and a user removed from another process stops receiving
//! within [`TTL`] (until then a delivery to it fails its commit and is refused temporarily).
//! Changes made through this process's `Core` clear the caches at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Mailbox counts shared between the cache and its readers.
type SharedCounts = std::sync::Arc<Vec<mailroom_store::query::MailboxCounts>>;

/// An account's mailboxes as read at a time.
type Tree = (Instant, std::sync::Arc<Vec<crate::Mailbox>>);

/// How long a resolved address is trusted.
pub(crate) const TTL: Duration = Duration::from_secs(10);

/// How long a domain found not to be ours is believed: a remote recipient is looked up
/// twice per submitted message (RCPT, then the submission), and a domain added from another
/// process must be ours within moments.
pub(crate) const REMOTE_TTL: Duration = Duration::from_secs(2);

/// Bounded so a flood of distinct addresses cannot grow memory: past this, start over.
const MAX_ENTRIES: usize = 100_000;

/// Message metadata kept (1–3 KB each with its parsed addresses, so tens of MB at most):
/// past this, start over. A list view needs a page of them at a time.
const MAX_MESSAGES: usize = 20_000;

#[derive(Default)]
pub(crate) struct Caches {
    recipients: Mutex<HashMap<String, (Instant, Vec<i64>)>>,
    /// Domains that are not ours, and when that was read (the one negative answer kept).
    remote: Mutex<HashMap<String, Instant>>,
    inboxes: Mutex<HashMap<i64, i64>>,
    /// Mailbox counts of an account at a state.
    counts: Mutex<HashMap<i64, (i64, SharedCounts)>>,
    /// One counting at a time per account: the clients that all ask right after a change
    /// wait for the first one's answer instead of each walking the mailbox.
    counting: Mutex<HashMap<i64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Message metadata by blob id: immutable, so never stale.
    message_meta: Mutex<HashMap<String, std::sync::Arc<mailroom_store::query::MessageMeta>>>,
    /// The addresses each account may send as (its own and its aliases').
    senders: Mutex<HashMap<i64, (Instant, Vec<String>)>>,
    /// Each account's Sent mailbox, and when that was read: a role can move (every mailbox
    /// change here forgets it, and one made by another process is seen within [`TTL`]).
    sent: Mutex<HashMap<i64, (Instant, i64)>>,
    /// Each account's mailboxes as last read, for resolving names (forgotten like `sent`,
    /// kept for [`REMOTE_TTL`]; their counters such as `uid_next` are not kept current).
    tree: Mutex<HashMap<i64, Tree>>,
    /// Moved by every mailbox change here: a tree read before one is not kept after it.
    tree_generation: std::sync::atomic::AtomicU64,
    /// The account a mailbox belongs to: never changes while the mailbox exists.
    owners: Mutex<HashMap<i64, i64>>,
    /// Accounts with a vacation response on, and when that was read.
    vacation: Mutex<Option<(Instant, std::collections::HashSet<i64>)>>,
}

impl Caches {
    pub(crate) fn recipient(&self, address: &str) -> Option<Vec<i64>> {
        let map = self.recipients.lock().expect("cache lock");
        map.get(address)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put_recipient(&self, address: &str, accounts: Vec<i64>) {
        let mut map = self.recipients.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(address.to_string(), (Instant::now(), accounts));
    }

    pub(crate) fn is_remote(&self, domain: &str) -> bool {
        let map = self.remote.lock().expect("cache lock");
        map.get(domain).is_some_and(|at| at.elapsed() < REMOTE_TTL)
    }

    pub(crate) fn put_remote(&self, domain: &str) {
        let mut map = self.remote.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(domain.to_string(), Instant::now());
    }

    pub(crate) fn inbox(&self, account_id: i64) -> Option<i64> {
        self.inboxes
            .lock()
            .expect("cache lock")
            .get(&account_id)
            .copied()
    }

    pub(crate) fn put_inbox(&self, account_id: i64, mailbox_id: i64) {
        let mut map = self.inboxes.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(account_id, mailbox_id);
    }

    pub(crate) fn counts(
        &self,
        account_id: i64,
        state: i64,
    ) -> Option<std::sync::Arc<Vec<mailroom_store::query::MailboxCounts>>> {
        self.counts
            .lock()
            .expect("cache lock")
            .get(&account_id)
            .filter(|(s, _)| *s == state)
            .map(|(_, c)| c.clone())
    }

    pub(crate) fn put_counts(
        &self,
        account_id: i64,
        state: i64,
        counts: std::sync::Arc<Vec<mailroom_store::query::MailboxCounts>>,
    ) {
        let mut map = self.counts.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(account_id, (state, counts));
    }

    /// The lock to hold while counting the account's mailboxes.
    pub(crate) fn counting(&self, account_id: i64) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut map = self.counting.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            // Only unheld locks may go: a held one is someone's counting in progress.
            map.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
        }
        map.entry(account_id).or_default().clone()
    }

    pub(crate) fn message_meta(
        &self,
        blob_id: &str,
    ) -> Option<std::sync::Arc<mailroom_store::query::MessageMeta>> {
        self.message_meta
            .lock()
            .expect("cache lock")
            .get(blob_id)
            .cloned()
    }

    pub(crate) fn put_message_meta(
        &self,
        meta: std::sync::Arc<mailroom_store::query::MessageMeta>,
    ) {
        let mut map = self.message_meta.lock().expect("cache lock");
        if map.len() >= MAX_MESSAGES {
            map.clear();
        }
        map.insert(meta.blob_id.clone(), meta);
    }

    pub(crate) fn vacation(&self) -> Option<std::collections::HashSet<i64>> {
        self.vacation
            .lock()
            .expect("cache lock")
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put_vacation(&self, accounts: Option<std::collections::HashSet<i64>>) {
        *self.vacation.lock().expect("cache lock") = accounts.map(|a| (Instant::now(), a));
    }

    pub(crate) fn senders(&self, account_id: i64) -> Option<Vec<String>> {
        let map = self.senders.lock().expect("cache lock");
        map.get(&account_id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put_senders(&self, account_id: i64, addresses: Vec<String>) {
        let mut map = self.senders.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(account_id, (Instant::now(), addresses));
    }

    pub(crate) fn sent(&self, account_id: i64) -> Option<i64> {
        self.sent
            .lock()
            .expect("cache lock")
            .get(&account_id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|&(_, id)| id)
    }

    pub(crate) fn put_sent(&self, account_id: i64, mailbox_id: i64) {
        let mut map = self.sent.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(account_id, (Instant::now(), mailbox_id));
    }

    pub(crate) fn tree(&self, account_id: i64) -> Option<std::sync::Arc<Vec<crate::Mailbox>>> {
        self.tree
            .lock()
            .expect("cache lock")
            .get(&account_id)
            .filter(|(at, _)| at.elapsed() < REMOTE_TTL)
            .map(|(_, t)| t.clone())
    }

    /// Where mailbox changes stand, to give [`put_tree`](Self::put_tree) for a tree read
    /// after this.
    pub(crate) fn tree_generation(&self) -> u64 {
        self.tree_generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps a tree read after `generation`, unless a mailbox changed since.
    pub(crate) fn put_tree(
        &self,
        account_id: i64,
        tree: std::sync::Arc<Vec<crate::Mailbox>>,
        generation: u64,
    ) {
        let mut map = self.tree.lock().expect("cache lock");
        if self.tree_generation() != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(account_id, (Instant::now(), tree));
    }

    /// After a change to the account's mailboxes.
    pub(crate) fn mailboxes_changed(&self, account_id: i64) {
        self.sent.lock().expect("cache lock").remove(&account_id);
        let mut tree = self.tree.lock().expect("cache lock");
        self.tree_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tree.remove(&account_id);
    }

    pub(crate) fn owner(&self, mailbox_id: i64) -> Option<i64> {
        self.owners
            .lock()
            .expect("cache lock")
            .get(&mailbox_id)
            .copied()
    }

    pub(crate) fn put_owner(&self, mailbox_id: i64, account_id: i64) {
        let mut map = self.owners.lock().expect("cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(mailbox_id, account_id);
    }

    pub(crate) fn owners_forget(&self, mailbox_id: i64) {
        self.owners.lock().expect("cache lock").remove(&mailbox_id);
    }

    /// After any change to users, aliases or domains.
    pub(crate) fn clear(&self) {
        self.sent.lock().expect("cache lock").clear();
        let mut tree = self.tree.lock().expect("cache lock");
        self.tree_generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tree.clear();
        drop(tree);
        self.owners.lock().expect("cache lock").clear();
        self.recipients.lock().expect("cache lock").clear();
        self.remote.lock().expect("cache lock").clear();
        self.inboxes.lock().expect("cache lock").clear();
        self.senders.lock().expect("cache lock").clear();
    }
}
