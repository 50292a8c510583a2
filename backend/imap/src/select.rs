//! SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE.

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::sequence::SequenceSet;
use mailroom_core::filter::{Cond, Filter, Query, SortKey, Window};

use crate::flags;
use crate::reply::{Handled, Reply, code};
use crate::selected::{Selected, missing, nz, nz64};
use crate::session::Session;

impl Session {
    pub(crate) async fn select(
        &mut self,
        mailbox: ImapMailbox<'static>,
        parameters: Vec<SelectParameter>,
        read_only: bool,
    ) -> Handled {
        if self.selected.take().is_some() {
            self.untagged_ok(Some(code("CLOSED")), "previous mailbox closed");
        }
        // RFC 7162 §3.2.5: what the client knew (UIDVALIDITY, modseq, its UIDs).
        let resync = parameters.iter().find_map(|p| match p {
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                ..
            } => Some((
                uid_validity.get(),
                mod_sequence_value.get() as i64,
                known_uids.clone(),
            )),
            _ => None,
        });
        if resync.is_some() && !self.qresync {
            return Err(Reply::Bad(None, "ENABLE QRESYNC first".into()));
        }
        if parameters
            .iter()
            .any(|p| matches!(p, SelectParameter::CondStore))
        {
            self.condstore = true;
        }
        let f = self.folder(&mailbox).await?;
        let account = self.user.as_ref().expect("authenticated").id;
        let view = self
            .shared
            .core
            .mailbox_snapshot(account, f.mailbox.id, None)
            .await?;
        let first_unseen = view
            .keywords
            .iter()
            .position(|k| !flags::has(k, "$seen"))
            .map(|i| i as u32 + 1);
        let uid_next = f
            .mailbox
            .uid_next
            .max(view.uids.last().map_or(1, |u| u + 1));
        let mut sel = Selected::new(&f.mailbox, read_only, view);
        sel.uid_next = uid_next;
        // IMAP4rev1 \Recent: what no session has seen yet is this one's (not EXAMINE's);
        // IMAP4rev2 has no \Recent.
        sel.claims_recent = !read_only && !self.rev2;
        if sel.claims_recent
            && let Some(r) = self
                .shared
                .core
                .claim_recent(account, f.mailbox.id, uid_next)
                .await?
        {
            sel.recent.push(r);
        }
        self.data(Data::Flags(flags::defined()));
        self.data(Data::Exists(sel.exists()));
        if self.rev2 {
            // RFC 9051 §6.3.2: the mailbox's LIST response, in place of RECENT and UNSEEN.
            self.list_one(&f);
        } else {
            self.data(Data::Recent(sel.recent_count()));
            if let Some(n) = first_unseen {
                self.untagged_ok(Some(Code::Unseen(nz(n))), "first unseen");
            }
        }
        let permanent = if read_only {
            vec![]
        } else {
            flags::permanent()
        };
        self.untagged_ok(Some(Code::PermanentFlags(permanent)), "flags allowed");
        self.untagged_ok(Some(Code::UidValidity(nz(sel.uid_validity))), "UIDs valid");
        self.untagged_ok(Some(Code::UidNext(nz(uid_next))), "predicted next UID");
        // RFC 7162 §3.1.2.1: every SELECT names the highest modseq: the view's seq, or a
        // member's when the members were read after a change newer than that seq.
        let highest = sel
            .view
            .modseqs
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(sel.view.seq);
        self.untagged_ok(Some(Code::HighestModSeq(nz64(highest))), "highest modseq");
        self.selected = Some(sel);
        if let Some((uid_validity, since, known)) = resync {
            self.resync(uid_validity, since, known);
        }
        Ok(if read_only {
            Reply::Ok(Some(Code::ReadOnly), "EXAMINE completed".into())
        } else {
            Reply::Ok(Some(Code::ReadWrite), "SELECT completed".into())
        })
    }

    /// QRESYNC's part of SELECT: what vanished among the client's UIDs (all UIDs below
    /// UIDNEXT when it names none: no expunged UIDs are kept, and RFC 7162 §3.2.5.2 lets
    /// the list name UIDs the client never had), then every message changed after its modseq.
    fn resync(&mut self, uid_validity: u32, since: i64, known: Option<SequenceSet>) {
        let sel = self.selected.as_ref().expect("selected");
        if uid_validity != sel.uid_validity {
            return; // a different mailbox than the client's: a full sync follows
        }
        let all = SequenceSet::try_from("1:*").expect("valid set");
        let max = sel.uid_next.saturating_sub(1);
        if max > 0
            && let Some(set) = missing(known.as_ref().unwrap_or(&all), &sel.view.uids, max)
        {
            self.data(Data::Vanished {
                earlier: true,
                known_uids: set,
            });
        }
        let sel = self.selected.as_ref().expect("selected");
        let changed: Vec<(u32, u32, String, i64)> = (0..sel.view.len())
            .filter(|&i| sel.modseq(i) > since)
            .map(|i| {
                (
                    i as u32 + 1,
                    sel.view.uids[i],
                    sel.keywords(i).to_string(),
                    sel.modseq(i),
                )
            })
            .collect();
        for (seq, uid, keywords, modseq) in changed {
            self.fetch_flags(seq, uid, &keywords, modseq);
        }
    }

    /// CLOSE (`expunge`: messages marked \Deleted go, silently) or UNSELECT.
    pub(crate) async fn close(&mut self, expunge: bool) -> Handled {
        if expunge && !self.selected.as_ref().expect("selected").read_only {
            self.expunge_marked(None).await?;
        }
        self.selected = None;
        Ok(Reply::Ok(None, "mailbox closed".into()))
    }

    pub(crate) async fn expunge(&mut self, uids: Option<SequenceSet>) -> Handled {
        if self.selected.as_ref().expect("selected").read_only {
            return Err(Reply::No(
                Some(code("READ-ONLY")),
                "the mailbox is read-only".into(),
            ));
        }
        self.expunge_marked(uids.as_ref()).await?;
        // The EXPUNGE responses come from catching up, before the tagged OK.
        Ok(Reply::Ok(None, "EXPUNGE completed".into()))
    }

    /// Takes the messages marked \Deleted (among `uids`, when given) out of the selected
    /// mailbox; the caller reports them (EXPUNGE) by catching up, or not at all (CLOSE).
    async fn expunge_marked(&mut self, uids: Option<&SequenceSet>) -> Result<(), Reply> {
        let account = self.user.as_ref().expect("authenticated").id;
        let mailbox = self.selected.as_ref().expect("selected").mailbox_id;
        let mut ids = self
            .search_ids(Filter::Cond(Cond::HasKeyword("$deleted".into())))
            .await?;
        let sel = self.selected.as_ref().expect("selected");
        if let Some(set) = uids {
            let wanted: std::collections::HashSet<i64> = sel
                .resolve(set, true)
                .unwrap_or_default()
                .into_iter()
                .map(|i| sel.view.ids[i])
                .collect();
            ids.retain(|id| wanted.contains(id));
        }
        if !ids.is_empty() {
            self.shared.core.expunge(account, mailbox, &ids).await?;
        }
        Ok(())
    }

    /// The ids of the selected mailbox's emails matching `filter`, oldest first.
    pub(crate) async fn search_ids(&self, filter: Filter) -> Result<Vec<i64>, Reply> {
        let account = self.user.as_ref().expect("authenticated").id;
        let mailbox = self.selected.as_ref().expect("selected").mailbox_id;
        let q = Query {
            filter: Filter::And(vec![Filter::Cond(Cond::InMailbox(mailbox)), filter]),
            sort: vec![(
                SortKey::Stored(mailroom_core::filter::SqlSort::ReceivedAt),
                true,
            )],
            collapse_threads: false,
        };
        let page = self
            .shared
            .core
            .email_search(
                account,
                &q,
                Window::Position {
                    position: 0,
                    limit: u32::MAX as u64,
                },
                false,
            )
            .await?;
        Ok(page.ids)
    }
}
