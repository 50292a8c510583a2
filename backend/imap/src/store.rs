//! STORE (flags: replace, add, remove; .SILENT), COPY and MOVE with their UID forms.
//! Flags are the email's keywords, so a flag stored here is what JMAP and the webmail see;
//! COPY files the same email into one more mailbox (RFC 8621's model: one email, several
//! mailboxes, shared keywords), MOVE from this mailbox into another.

use std::collections::{BTreeSet, HashMap};

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::flags;
use crate::reply::{Handled, Reply, code};
use crate::selected::nz;
use crate::session::Session;

impl Session {
    pub(crate) async fn store(
        &mut self,
        set: SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags_given: Vec<Flag<'static>>,
        uid: bool,
        modifiers: Vec<StoreModifier>,
    ) -> Handled {
        // RFC 7162 §3.1.3: UNCHANGEDSINCE stores only where nothing changed after it (checked
        // in the store's transaction); the others are named in [MODIFIED].
        let unchanged_since = modifiers
            .iter()
            .map(|StoreModifier::UnchangedSince(u)| *u as i64)
            .next();
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let account = self.user.as_ref().expect("authenticated").id;
        let sel = self.selected.as_ref().expect("selected");
        if sel.read_only {
            return Err(Reply::No(
                Some(code("READ-ONLY")),
                "the mailbox is read-only".into(),
            ));
        }
        let Some(indexes) = sel.resolve(&set, uid) else {
            return Err(Reply::Bad(None, "no such message sequence number".into()));
        };
        let given: BTreeSet<String> = flags_given.iter().filter_map(flags::keyword).collect();
        let core = self.shared.core.clone();
        let mut modified: Vec<u32> = Vec::new();
        let given: Vec<String> = given.into_iter().collect();
        for chunk in indexes.chunks(1000) {
            let sel = self.selected.as_ref().expect("selected");
            let wanted: Vec<(usize, i64, u32)> = chunk
                .iter()
                .map(|&i| (i, sel.view.ids[i], sel.view.uids[i]))
                .collect();
            let ids: Vec<i64> = wanted.iter().map(|w| w.1).collect();
            // +FLAGS / -FLAGS are applied to each email as the write finds it, so another
            // client's concurrent change to other flags is kept.
            let results = match kind {
                StoreType::Replace => {
                    let all = ids.iter().map(|id| (*id, given.clone())).collect();
                    core.set_keywords(account, all, unchanged_since).await?
                }
                StoreType::Add => {
                    core.change_keywords(account, &ids, &given, &[], unchanged_since)
                        .await?
                }
                StoreType::Remove => {
                    core.change_keywords(account, &ids, &[], &given, unchanged_since)
                        .await?
                }
            };
            let mut refused: BTreeSet<i64> = BTreeSet::new();
            for (id, r) in ids.iter().zip(results) {
                match r {
                    // Expunged meanwhile: reported when the view catches up.
                    Ok(()) | Err(mailroom_core::Error::NotFound(_)) => {}
                    Err(mailroom_core::Error::Modified(_)) => {
                        refused.insert(*id);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let after: HashMap<i64, String> = core
                .email_states(account, &ids)
                .await?
                .into_iter()
                .map(|(e, _)| (e.id, e.keywords))
                .collect();
            let modseqs = if self.condstore {
                core.email_modseqs(account, &ids).await?
            } else {
                HashMap::new()
            };
            let sel = self.selected.as_mut().expect("selected");
            for (i, id, uid_of) in &wanted {
                if refused.contains(id) {
                    modified.push(if uid { *uid_of } else { *i as u32 + 1 });
                    continue;
                }
                if let Some(k) = after.get(id) {
                    // Reported here (or asked not to be): not again as a change from elsewhere.
                    sel.own_flags.insert(*uid_of, k.clone());
                    if let Some(m) = modseqs.get(id) {
                        sel.own_modseqs.insert(*uid_of, *m);
                    }
                }
            }
            // RFC 7162 §3.1.3: with CONDSTORE the new MODSEQ goes out even with .SILENT.
            if response == StoreResponse::Answer || self.condstore {
                for (i, id, uid_of) in wanted {
                    if refused.contains(&id) {
                        continue;
                    }
                    if let Some(k) = after.get(&id) {
                        let k = k.clone();
                        let m = modseqs.get(&id).copied().unwrap_or(0);
                        if response == StoreResponse::Answer {
                            self.fetch_flags(i as u32 + 1, uid_of, &k, m);
                        } else {
                            self.fetch_modseq(i as u32 + 1, uid_of, m);
                        }
                    }
                }
            }
        }
        if modified.is_empty() {
            return Ok(Reply::Ok(None, "STORE completed".into()));
        }
        modified.sort_unstable();
        let set = SequenceSet::try_from(
            modified
                .iter()
                .map(|n| nz(*n))
                .collect::<Vec<std::num::NonZeroU32>>(),
        )
        .expect("not empty");
        Ok(Reply::Ok(
            Some(Code::Modified(set)),
            "conditional STORE failed for some".into(),
        ))
    }

    pub(crate) async fn copy(
        &mut self,
        set: SequenceSet,
        mailbox: ImapMailbox<'static>,
        uid: bool,
        moving: bool,
    ) -> Handled {
        let what = if moving { "MOVE" } else { "COPY" };
        let account = self.user.as_ref().expect("authenticated").id;
        let dest = match self.folder(&mailbox).await {
            Ok(f) => f,
            Err(_) => {
                return Err(Reply::No(Some(Code::TryCreate), "no such mailbox".into()));
            }
        };
        let sel = self.selected.as_ref().expect("selected");
        if moving && sel.read_only {
            return Err(Reply::No(
                Some(code("READ-ONLY")),
                "the mailbox is read-only".into(),
            ));
        }
        if dest.mailbox.id == sel.mailbox_id {
            return Err(Reply::No(
                Some(code("CANNOT")),
                "the messages are in that mailbox already".into(),
            ));
        }
        let Some(indexes) = sel.resolve(&set, uid) else {
            return Err(Reply::Bad(None, "no such message sequence number".into()));
        };
        if indexes.is_empty() {
            return Ok(Reply::Ok(None, format!("{what} completed: nothing to do")));
        }
        let source: HashMap<i64, u32> = indexes
            .iter()
            .map(|&i| (sel.view.ids[i], sel.view.uids[i]))
            .collect();
        let ids: Vec<i64> = indexes.iter().map(|&i| sel.view.ids[i]).collect();
        let from = sel.mailbox_id;
        let core = self.shared.core.clone();
        let placed = if moving {
            core.move_emails(account, &ids, from, dest.mailbox.id)
                .await?
        } else {
            core.copy_emails(account, &ids, dest.mailbox.id).await?
        };
        let pairs: Vec<(u32, u32)> = placed
            .iter()
            .filter_map(|(id, to_uid)| Some((*source.get(id)?, *to_uid)))
            .collect();
        let copyuid = uid_sets(&pairs).map(|(s, d)| Code::CopyUid {
            uid_validity: nz(dest.mailbox.uid_validity),
            source: s,
            destination: d,
        });
        if !moving {
            return Ok(Reply::Ok(copyuid, "COPY completed".into()));
        }
        // RFC 6851 §4.3: COPYUID first, untagged; the EXPUNGEs follow from catching up.
        if let Some(c) = copyuid {
            self.untagged_ok(Some(c), "moved");
        }
        Ok(Reply::Ok(None, "MOVE completed".into()))
    }
}

/// COPYUID's two sets, in the same order.
fn uid_sets(pairs: &[(u32, u32)]) -> Option<(UidSet, UidSet)> {
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable();
    let s: Vec<UidElement> = pairs
        .iter()
        .map(|(s, _)| UidElement::Single(nz(*s)))
        .collect();
    let d: Vec<UidElement> = pairs
        .iter()
        .map(|(_, d)| UidElement::Single(nz(*d)))
        .collect();
    Some((
        UidSet(Vec1::try_from(s).ok()?),
        UidSet(Vec1::try_from(d).ok()?),
    ))
}
