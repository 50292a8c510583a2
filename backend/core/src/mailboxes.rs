//! Creating, renaming, moving and destroying mailboxes: the naming rules here, the rules that
//! need the database in the store's transaction. Every gateway (JMAP Mailbox/set, IMAP
//! CREATE / RENAME / DELETE) goes through these.

pub use mailroom_store::mailbox_set::{MailboxPatch, MailboxRefusal};

use crate::notify::StateChange;
use crate::{Core, Mailbox, Result};

/// The longest mailbox name, in characters (RFC 8621 maxSizeMailboxName is in octets; 255
/// characters of UTF-8 may be more, so octets are checked too).
pub const MAX_NAME_OCTETS: usize = 255;

/// Why a name is not acceptable, or `None`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        Some("a mailbox name cannot be empty")
    } else if name.len() > MAX_NAME_OCTETS {
        Some("a mailbox name is at most 255 octets")
    } else if name.chars().any(char::is_control) {
        Some("a mailbox name cannot contain control characters")
    } else if name.contains('/') {
        // The IMAP gateway's hierarchy separator.
        Some("a mailbox name cannot contain \"/\" (it separates levels over IMAP)")
    } else if name != name.trim() {
        Some("a mailbox name cannot begin or end with spaces")
    } else {
        None
    }
}

impl Core {
    pub async fn mailbox_create(
        &self,
        account_id: i64,
        name: &str,
        parent_id: Option<i64>,
        sort_order: i32,
        subscribed: bool,
    ) -> Result<std::result::Result<Mailbox, MailboxRefusal>> {
        let r = self
            .store()
            .mailbox_create(account_id, name, parent_id, sort_order, subscribed)
            .await?;
        self.caches().mailboxes_changed(account_id);
        Ok(r.map(|(m, seq)| {
            self.inner.notifier.publish(StateChange { account_id, seq });
            m
        }))
    }

    pub async fn mailbox_update(
        &self,
        account_id: i64,
        id: i64,
        patch: &MailboxPatch,
    ) -> Result<std::result::Result<(), MailboxRefusal>> {
        let r = self.store().mailbox_update(account_id, id, patch).await?;
        self.caches().mailboxes_changed(account_id);
        Ok(r.map(|seq| self.inner.notifier.publish(StateChange { account_id, seq })))
    }

    pub async fn mailbox_destroy(
        &self,
        account_id: i64,
        id: i64,
        remove_emails: bool,
    ) -> Result<std::result::Result<(), MailboxRefusal>> {
        let r = self
            .store()
            .mailbox_destroy(account_id, id, remove_emails)
            .await?;
        self.caches().mailboxes_changed(account_id);
        self.caches().owners_forget(id);
        Ok(r.map(|seq| self.inner.notifier.publish(StateChange { account_id, seq })))
    }

    /// The account's subscribed names that name no mailbox (IMAP keeps a deleted mailbox's
    /// subscription, and lets a client subscribe to a name before it exists).
    pub async fn subscribed_names(&self, account_id: i64) -> Result<Vec<String>> {
        Ok(self.store().subscribed_names(account_id).await?)
    }

    /// Adds (`on`) or removes a subscribed name that names no mailbox; whether the list
    /// changed.
    pub async fn subscribe_name(&self, account_id: i64, name: &str, on: bool) -> Result<bool> {
        Ok(self.store().subscribe_name(account_id, name, on).await?)
    }
}
