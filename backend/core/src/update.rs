//! Changing emails for an account: keywords, the mailboxes they are in, destruction.
//! Each item is checked here (the account's own email, the account's own mailboxes, valid
//! keywords, at least one mailbox); the valid ones are applied together, in one transaction.

use std::collections::BTreeSet;

use mailroom_store::update::EmailPatch;

use crate::notify::StateChange;
use crate::{Core, Error, Result};

/// What to change on one email; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EmailUpdate {
    pub email_id: i64,
    /// The complete new set of keywords.
    pub keywords: Option<Vec<String>>,
    /// The complete new set of mailboxes.
    pub mailbox_ids: Option<Vec<i64>>,
    /// Keywords to add and to remove, applied to the email as it is when the write has it
    /// (so concurrent additions of different keywords both stay).
    pub add_keywords: Vec<String>,
    pub remove_keywords: Vec<String>,
    /// Mailboxes to add and to remove, likewise.
    pub add_mailboxes: Vec<i64>,
    pub remove_mailboxes: Vec<i64>,
    /// When the removals leave the email in no mailbox, destroy it (IMAP EXPUNGE);
    /// otherwise such an update leaves its mailboxes as they are.
    pub destroy_if_unfiled: bool,
    /// Apply only if the email has not changed after this modseq (its last change's seq);
    /// otherwise the result is `Error::Modified`.
    pub unchanged_since: Option<i64>,
}

impl Core {
    /// Applies the updates that pass the checks; returns one result per update, in order.
    pub async fn update_emails(
        &self,
        account_id: i64,
        updates: Vec<EmailUpdate>,
    ) -> Result<Vec<Result<()>>> {
        let ids: Vec<i64> = updates.iter().map(|u| u.email_id).collect();
        let existing: BTreeSet<i64> = self
            .store()
            .account_email_ids(account_id, &ids)
            .await?
            .into_iter()
            .collect();
        // The account's mailboxes, read only when an update names some (not for a STORE of
        // flags).
        let names_boxes = updates
            .iter()
            .any(|u| u.mailbox_ids.is_some() || !u.add_mailboxes.is_empty());
        let own_boxes: BTreeSet<i64> = if names_boxes {
            self.store()
                .mailbox_list(account_id)
                .await?
                .iter()
                .map(|m| m.id)
                .collect()
        } else {
            BTreeSet::new()
        };
        let mut results = Vec::with_capacity(updates.len());
        let mut patches = Vec::new();
        for u in updates {
            let checked = (|| {
                if !existing.contains(&u.email_id) {
                    return Err(Error::NotFound(format!("email {}", u.email_id)));
                }
                let keywords = u
                    .keywords
                    .as_deref()
                    .map(crate::delivery::normalise_keywords)
                    .transpose()?;
                let mailboxes = match u.mailbox_ids {
                    None => None,
                    Some(m) if m.is_empty() => {
                        return Err(Error::Invalid(
                            "an email must be in at least one mailbox".into(),
                        ));
                    }
                    Some(m) => {
                        if let Some(bad) = m.iter().find(|x| !own_boxes.contains(x)) {
                            return Err(Error::Invalid(format!("mailbox {bad} does not exist")));
                        }
                        Some(m.into_iter().collect())
                    }
                };
                let list = |k: &[String]| -> Result<Vec<String>> {
                    Ok(crate::delivery::normalise_keywords(k)?
                        .split_whitespace()
                        .map(str::to_string)
                        .collect())
                };
                if let Some(bad) = u.add_mailboxes.iter().find(|x| !own_boxes.contains(x)) {
                    return Err(Error::Invalid(format!("mailbox {bad} does not exist")));
                }
                Ok(EmailPatch {
                    email_id: u.email_id,
                    keywords,
                    add_keywords: list(&u.add_keywords)?,
                    remove_keywords: list(&u.remove_keywords)?,
                    mailboxes,
                    add_mailboxes: u.add_mailboxes,
                    remove_mailboxes: u.remove_mailboxes,
                    destroy_if_unfiled: u.destroy_if_unfiled,
                    unchanged_since: u.unchanged_since,
                })
            })();
            match checked {
                Ok(p) => {
                    patches.push(p);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if !patches.is_empty() {
            let (seq, skipped) = self.store().update_emails(account_id, &patches).await?;
            if let Some(seq) = seq {
                self.inner.notifier.publish(StateChange { account_id, seq });
            }
            if !skipped.is_empty() {
                for (u, r) in ids.iter().zip(results.iter_mut()) {
                    if r.is_ok() && skipped.contains(u) {
                        *r = Err(Error::Modified(format!("email {u}")));
                    }
                }
            }
        }
        Ok(results)
    }

    /// Destroys the account's emails among `ids`; one result per id, in order.
    pub async fn destroy_emails(&self, account_id: i64, ids: &[i64]) -> Result<Vec<Result<()>>> {
        let existing: BTreeSet<i64> = self
            .store()
            .account_email_ids(account_id, ids)
            .await?
            .into_iter()
            .collect();
        let mut go = Vec::new();
        let results = ids
            .iter()
            .map(|id| {
                if existing.contains(id) && !go.contains(id) {
                    go.push(*id);
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("email {id}")))
                }
            })
            .collect();
        if !go.is_empty() {
            let seq = self.store().destroy_emails(account_id, &go).await?;
            self.inner.notifier.publish(StateChange { account_id, seq });
        }
        Ok(results)
    }
}
