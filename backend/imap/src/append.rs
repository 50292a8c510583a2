//! APPEND (with APPENDUID, RFC 4315): the message is filed through the same durable path as
//! an SMTP delivery; OK is sent only once it is stored.

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::Code;

use crate::flags;
use crate::reply::{Handled, Reply, code};
use crate::selected::nz;
use crate::session::Session;

impl Session {
    pub(crate) async fn append(
        &mut self,
        mailbox: ImapMailbox<'static>,
        flags_given: Vec<Flag<'static>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'static>,
    ) -> Handled {
        let no_mailbox = || Reply::No(Some(Code::TryCreate), "no such mailbox".into());
        let mut dest = self
            .destination(&mailbox, false)
            .await?
            .ok_or_else(no_mailbox)?;
        let bytes: Vec<u8> = match message {
            LiteralOrLiteral8::Literal(l) => l.into_inner().into_owned(),
            LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
        };
        if bytes.is_empty() {
            return Err(Reply::No(Some(code("CANNOT")), "an empty message".into()));
        }
        let bytes = bytes::Bytes::from(bytes);
        let mut keywords: Vec<String> = flags_given.iter().filter_map(flags::keyword).collect();
        keywords.sort();
        keywords.dedup();
        let received_at = date.map(|d| d.as_ref().timestamp());
        let account = self.user.as_ref().expect("authenticated").id;
        let core = self.shared.core.clone();
        let file = |mailbox_id: i64| {
            core.file_message(
                account,
                bytes.clone(),
                vec![mailbox_id],
                keywords.clone(),
                received_at,
            )
        };
        let d = match file(dest.mailbox.id).await {
            // The mailbox kept went meanwhile (deleted, perhaps made again, by another
            // session): look again, once.
            Err(mailroom_core::Error::NotFound(_)) => {
                dest = self
                    .destination(&mailbox, true)
                    .await?
                    .ok_or_else(no_mailbox)?;
                file(dest.mailbox.id).await.map_err(|e| match e {
                    mailroom_core::Error::NotFound(_) => no_mailbox(),
                    e => Reply::from(e),
                })?
            }
            r => r?,
        };
        // Into another mailbox: nothing the client sees changed (RFC 9051 §7 lets updates
        // wait for the next command), so no catch-up costs this APPEND its reply time.
        self.no_report = self.selected.as_ref().map(|s| s.mailbox_id) != Some(dest.mailbox.id);
        Ok(Reply::Ok(
            Some(Code::AppendUid {
                uid_validity: nz(dest.mailbox.uid_validity),
                uid: nz(d.uid),
            }),
            "APPEND completed".into(),
        ))
    }
}
