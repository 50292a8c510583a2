//! Importing a stored blob as an email (JMAP Email/import, and later IMAP APPEND of an
//! uploaded message): the same delivery path as SMTP, into mailboxes the caller names.

use crate::delivery::{Folder, Incoming};
use crate::{Core, Delivered, Error, Result};

/// One email to import from a blob the account may read.
pub struct Import {
    pub blob_id: String,
    /// The account's mailboxes to file it in (at least one).
    pub mailbox_ids: Vec<i64>,
    pub keywords: Vec<String>,
    /// Unix seconds; now if `None`.
    pub received_at: Option<i64>,
}

impl Core {
    /// Files the blob as a new email; `NotFound` names the blob when the account cannot read
    /// it, `Invalid` a bad mailbox or keyword.
    pub async fn import_email(&self, account_id: i64, i: Import) -> Result<Delivered> {
        let raw = self
            .blob_for(account_id, &i.blob_id)
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!("blob {}", i.blob_id)),
                e => e,
            })?;
        self.file_message(account_id, raw, i.mailbox_ids, i.keywords, i.received_at)
            .await
    }

    /// Files message bytes as a new email of the account (Email/import, Email/set create):
    /// stored durably, in the mailboxes named (at least one, the account's own).
    pub async fn file_message(
        &self,
        account_id: i64,
        raw: bytes::Bytes,
        mailbox_ids: Vec<i64>,
        keywords: Vec<String>,
        received_at: Option<i64>,
    ) -> Result<Delivered> {
        let mut boxes = mailbox_ids;
        boxes.sort_unstable();
        boxes.dedup();
        let Some(&first) = boxes.first() else {
            return Err(Error::Invalid("an email needs at least one mailbox".into()));
        };
        for &b in &boxes {
            self.own_mailbox(account_id, b)
                .await
                .map_err(|_| Error::Invalid(format!("mailbox {b} does not exist")))?;
        }
        crate::delivery::normalise_keywords(&keywords)?;
        // The delivery transaction enforces the quota; this early look only spares writing
        // the bytes of a message that will be refused, which for one the journal takes (a
        // small file, no sync) costs less than the look.
        if !self.store().journals(raw.len()) {
            self.check_quota(account_id, raw.len() as i64).await?;
        }
        if !starts_with_header_field(&raw) {
            return Err(Error::Invalid("the blob is not an RFC 5322 message".into()));
        }
        let d = self
            .deliver_many_with(
                vec![Incoming {
                    raw,
                    accounts: vec![account_id],
                    folder: Folder::Mailbox(first),
                    keywords,
                    received_at,
                    derived: Vec::new(),
                }],
                true,
            )
            .await
            .inspect_err(|e| {
                // A mailbox found in a tree kept by the caller was deleted meanwhile.
                if matches!(e, Error::NotFound(_)) {
                    self.caches().mailboxes_changed(account_id);
                }
            })?
            .pop()
            .and_then(|mut v| v.pop())
            .ok_or_else(|| Error::Internal("import filed nothing".into()))?;
        if boxes.len() > 1 {
            self.update_emails(
                account_id,
                vec![crate::update::EmailUpdate {
                    email_id: d.email_id,
                    keywords: None,
                    mailbox_ids: Some(boxes),
                    ..Default::default()
                }],
            )
            .await?
            .pop()
            .expect("one result")?;
        }
        Ok(d)
    }
}

/// Whether the bytes begin with an RFC 5322 header field (`name:`, the name printable ASCII
/// without spaces): mail parsers accept anything, so this is the check that a blob is mail.
pub(crate) fn starts_with_header_field(raw: &[u8]) -> bool {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    match line.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

impl Core {
    /// Tells the database a bulk import just ended (see `Store::after_bulk_load`).
    pub async fn after_bulk_import(&self) -> Result<()> {
        Ok(self.store().after_bulk_load().await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_field_check() {
        assert!(super::starts_with_header_field(b"From: a@b\r\n\r\nx"));
        assert!(super::starts_with_header_field(b"X-Thing:x\n"));
        assert!(!super::starts_with_header_field(b"not a message at all"));
        assert!(!super::starts_with_header_field(
            b"From a@b Sat Jan  1\nSubject: x"
        ));
        assert!(!super::starts_with_header_field(b": nothing"));
        assert!(!super::starts_with_header_field(b""));
    }
}
