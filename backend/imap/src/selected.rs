//! The selected mailbox: its messages in UID order (message sequence number n is the n-th),
//! and following the mailbox's changes made by anyone — other sessions, JMAP, SMTP delivery —
//! into untagged EXPUNGE, EXISTS and FETCH responses.

use std::num::NonZeroU32;

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mailroom_core::{Core, Result};

pub(crate) struct Selected {
    pub mailbox_id: i64,
    pub read_only: bool,
    pub uid_validity: u32,
    /// Message n (1-based) has UID `uids[n-1]` and is the email `ids[n-1]`.
    pub uids: Vec<u32>,
    pub ids: Vec<i64>,
    /// The account's change seq this view is up to date with.
    pub seen: i64,
    /// Flags this session stored and reported itself (uid → keywords), so the change is
    /// not reported again when the view catches up.
    pub own_flags: std::collections::HashMap<u32, String>,
}

/// What changed since the last look, for the session to report.
#[derive(Default)]
pub(crate) struct Delta {
    /// Sequence numbers to report as EXPUNGE, in the order to send them.
    pub expunged: Vec<u32>,
    /// The new message count, when messages were added.
    pub exists: Option<u32>,
    /// `(seq, uid, keywords, modseq)` of messages whose flags may have changed.
    pub changed: Vec<(u32, u32, String, i64)>,
}

impl Selected {
    /// Opens a mailbox: every member, as of one change seq.
    pub async fn open(
        core: &Core,
        account_id: i64,
        mailbox: &mailroom_core::Mailbox,
        read_only: bool,
    ) -> Result<(Selected, Vec<mailroom_core::members::Member>)> {
        let seen = core.state(account_id).await?;
        let members = core.members_since(account_id, mailbox.id, -1).await?;
        let s = Selected {
            mailbox_id: mailbox.id,
            read_only,
            uid_validity: mailbox.uid_validity,
            uids: members.iter().map(|m| m.uid as u32).collect(),
            ids: members.iter().map(|m| m.email_id).collect(),
            seen,
            own_flags: Default::default(),
        };
        Ok((s, members))
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// The next UID at least: one past the highest this view knows.
    pub fn seq_of_uid(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// Brings the view up to date. `expunge_allowed` is false while answering a FETCH,
    /// STORE or SEARCH by sequence number (RFC 9051 §7.5.1): then nothing is looked at.
    pub async fn sync(
        &mut self,
        core: &Core,
        account_id: i64,
        expunge_allowed: bool,
    ) -> Result<Delta> {
        let mut delta = Delta::default();
        if !expunge_allowed {
            return Ok(delta);
        }
        let seq = core.state(account_id).await?;
        if seq == self.seen {
            return Ok(delta);
        }
        let members = core
            .members_since(account_id, self.mailbox_id, self.seen)
            .await?;
        let max_known = self.uids.last().copied().unwrap_or(0);
        let (new, changed): (Vec<_>, Vec<_>) =
            members.into_iter().partition(|m| m.uid as u32 > max_known);
        let count = core.mailbox_count(account_id, self.mailbox_id).await?;
        if count as usize != self.uids.len() + new.len() {
            // Some left (or arrived after the read above: those are picked up next time,
            // their modseq being above `seq`). Find which of ours are gone.
            let present = core.member_uids(account_id, self.mailbox_id).await?;
            let mut i = self.uids.len();
            while i > 0 {
                i -= 1;
                if present.binary_search(&self.uids[i]).is_err() {
                    // Sent from the highest down, so no earlier number shifts.
                    delta.expunged.push(i as u32 + 1);
                    self.uids.remove(i);
                    self.ids.remove(i);
                }
            }
        }
        let own = std::mem::take(&mut self.own_flags);
        for m in changed {
            if own.get(&(m.uid as u32)) == Some(&m.keywords) {
                continue;
            }
            if let Some(n) = self.seq_of_uid(m.uid as u32) {
                delta.changed.push((n, m.uid as u32, m.keywords, m.modseq));
            }
        }
        if !new.is_empty() {
            for m in new {
                self.uids.push(m.uid as u32);
                self.ids.push(m.email_id);
            }
            delta.exists = Some(self.exists());
        }
        self.seen = seq;
        Ok(delta)
    }

    /// Removes messages this session expunged itself; returns their sequence numbers,
    /// highest first (the order to report them in).
    pub fn remove_uids(&mut self, gone: &[u32]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = self.uids.len();
        while i > 0 {
            i -= 1;
            if gone.binary_search(&self.uids[i]).is_ok() {
                out.push(i as u32 + 1);
                self.uids.remove(i);
                self.ids.remove(i);
            }
        }
        out
    }

    /// The 0-based indexes a set names: UIDs (only those present; `*` is the highest) or
    /// sequence numbers (each must exist: `None` otherwise).
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<usize>> {
        if uid {
            let Some(&largest) = self.uids.last() else {
                return Some(vec![]);
            };
            let mut out: Vec<usize> = Vec::new();
            for s in set.0.as_ref() {
                let (a, b) = bounds(s, largest);
                let start = self.uids.partition_point(|&u| u < a);
                let end = self.uids.partition_point(|&u| u <= b);
                out.extend(start..end);
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        } else {
            let n = self.exists();
            let mut out: Vec<usize> = Vec::new();
            for s in set.0.as_ref() {
                if n == 0 {
                    return None;
                }
                let (a, b) = bounds(s, n);
                if a == 0 || b > n {
                    return None;
                }
                out.extend((a as usize - 1)..(b as usize));
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
    }
}

/// A sequence's low and high ends, `*` being `largest`.
fn bounds(s: &Sequence, largest: u32) -> (u32, u32) {
    let v = |x: &SeqOrUid| match x {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    match s {
        Sequence::Single(x) => (v(x), v(x)),
        Sequence::Range(x, y) => (v(x).min(v(y)), v(x).max(v(y))),
    }
}

pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}
