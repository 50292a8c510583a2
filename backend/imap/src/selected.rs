//! The selected mailbox: a shared snapshot of its members (core's mailbox index; message
//! sequence number n is the n-th member), and following the mailbox's changes made by anyone
//! — this session, other sessions, JMAP, SMTP delivery — into untagged EXPUNGE, EXISTS and
//! FETCH responses, at the points where the session may send them.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mailroom_core::mailbox_index::Snapshot;
use mailroom_core::{Core, Result};

pub(crate) struct Selected {
    pub mailbox_id: i64,
    pub read_only: bool,
    pub uid_validity: u32,
    /// UIDNEXT as SELECT announced it: UIDs below it may have existed (QRESYNC's VANISHED).
    pub uid_next: u32,
    /// What the client has been told: its sequence numbers are this snapshot's.
    pub view: Arc<Snapshot>,
    /// Flags this session stored since `view` (uid → keywords): shown by FETCH, and not
    /// reported again as a change from elsewhere when the view catches up.
    pub own_flags: HashMap<u32, String>,
    /// The modseqs those changes got.
    pub own_modseqs: HashMap<u32, i64>,
    /// UID ranges `[from, to)` this session was the first to see (IMAP4rev1 \Recent).
    pub recent: Vec<(u32, u32)>,
    /// New arrivals become \Recent to this session (SELECT under IMAP4rev1, not EXAMINE).
    pub claims_recent: bool,
    /// The UIDs SEARCH RETURN (SAVE) kept, ascending (`$`, RFC 5182).
    pub saved: Vec<u32>,
}

/// What changed since the last look, for the session to report.
#[derive(Default)]
pub(crate) struct Delta {
    /// Sequence numbers to report as EXPUNGE, in the order to send them.
    pub expunged: Vec<u32>,
    /// The same messages' UIDs, ascending (VANISHED under QRESYNC).
    pub vanished: Vec<u32>,
    /// The new message count, when messages were added.
    pub exists: Option<u32>,
    /// The new \Recent count, sent with `exists`.
    pub recent: Option<u32>,
    /// `(seq, uid, keywords, modseq)` of messages whose flags may have changed.
    pub changed: Vec<(u32, u32, String, i64)>,
}

impl Selected {
    pub fn new(mailbox: &mailroom_core::Mailbox, read_only: bool, view: Arc<Snapshot>) -> Selected {
        Selected {
            mailbox_id: mailbox.id,
            read_only,
            uid_validity: mailbox.uid_validity,
            uid_next: mailbox.uid_next,
            view,
            own_flags: HashMap::new(),
            own_modseqs: HashMap::new(),
            recent: Vec::new(),
            claims_recent: !read_only,
            saved: Vec::new(),
        }
    }

    pub fn exists(&self) -> u32 {
        self.view.len() as u32
    }

    /// The keywords of the message at index `i`, as this session knows them.
    pub fn keywords(&self, i: usize) -> &str {
        // Most sessions have changed no flags: no hash of the UID for every line of a listing.
        if self.own_flags.is_empty() {
            return &self.view.keywords[i];
        }
        self.own_flags
            .get(&self.view.uids[i])
            .map(String::as_str)
            .unwrap_or(&self.view.keywords[i])
    }

    /// Whether the message with `uid` is \Recent in this session.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.iter().any(|&(a, b)| a <= uid && uid < b)
    }

    /// How many of the view's messages are \Recent in this session.
    pub fn recent_count(&self) -> u32 {
        self.recent
            .iter()
            .map(|&(a, b)| {
                let uids = &self.view.uids;
                (uids.partition_point(|&u| u < b) - uids.partition_point(|&u| u < a)) as u32
            })
            .sum()
    }

    /// The modseq of the message at index `i`, as this session knows it.
    pub fn modseq(&self, i: usize) -> i64 {
        if self.own_modseqs.is_empty() {
            return self.view.modseqs[i];
        }
        self.own_modseqs
            .get(&self.view.uids[i])
            .copied()
            .unwrap_or(self.view.modseqs[i])
    }

    /// Brings the view up to date. `expunge_allowed` is false while answering a FETCH,
    /// STORE or SEARCH by sequence number (RFC 9051 §7.5.1): then nothing moves. `seq`: a
    /// change seq the caller was told of (saves reading the account's state).
    pub async fn sync(
        &mut self,
        core: &Core,
        account_id: i64,
        expunge_allowed: bool,
        seq: Option<i64>,
    ) -> Result<Delta> {
        let mut delta = Delta::default();
        if !expunge_allowed {
            return Ok(delta);
        }
        let old = self.view.clone();
        let (new, deltas) = core
            .mailbox_catch_up(account_id, self.mailbox_id, old.seq, seq)
            .await?;
        if new.seq <= old.seq {
            return Ok(delta);
        }
        if Arc::ptr_eq(&new.members, &old.members) {
            // Only the account's state moved (other mailboxes changed).
            self.view = new;
            return Ok(delta);
        }
        let (mut removed, changed): (Vec<u32>, Vec<u32>) = match deltas {
            Some(ds) => {
                let mut r: Vec<u32> = ds.iter().flat_map(|d| d.removed.iter().copied()).collect();
                let mut c: Vec<u32> = ds.iter().flat_map(|d| d.changed.iter().copied()).collect();
                r.sort_unstable();
                r.dedup();
                c.sort_unstable();
                c.dedup();
                (r, c)
            }
            None => {
                // Too far behind for the kept deltas: compare the snapshots whole.
                let r = old
                    .uids
                    .iter()
                    .copied()
                    .filter(|u| new.index_of(*u).is_none())
                    .collect();
                let max_old = old.uids.last().copied().unwrap_or(0);
                let c = (0..new.len())
                    .filter(|&i| new.modseqs[i] > old.seq || new.uids[i] > max_old)
                    .map(|i| new.uids[i])
                    .collect();
                (r, c)
            }
        };
        // Only what this client was shown can be expunged; highest first, so no number
        // shifts before it is sent.
        removed.retain(|u| old.index_of(*u).is_some());
        delta.vanished = removed.clone();
        for uid in removed.iter().rev() {
            delta
                .expunged
                .push(old.index_of(*uid).expect("checked") as u32 + 1);
        }
        let remaining = old.len() - removed.len();
        if new.len() > remaining {
            delta.exists = Some(new.len() as u32);
            // New arrivals nobody has seen are this session's \Recent ones.
            let upto = new.uids.last().map_or(0, |u| u + 1);
            if self.claims_recent
                && let Some(r) = core.claim_recent(account_id, self.mailbox_id, upto).await?
            {
                self.recent.push(r);
            }
        }
        let max_old = old.uids.last().copied().unwrap_or(0);
        let own = std::mem::take(&mut self.own_flags);
        self.own_modseqs.clear();
        for uid in changed {
            if uid > max_old {
                continue; // new: announced by EXISTS, fetched by the client
            }
            let Some(i) = new.index_of(uid) else { continue };
            let told = match own.get(&uid) {
                Some(k) => k.as_str() == &*new.keywords[i],
                None => old
                    .index_of(uid)
                    .is_some_and(|j| old.keywords[j] == new.keywords[i]),
            };
            if told {
                continue; // nothing the client sees changed
            }
            delta.changed.push((
                i as u32 + 1,
                uid,
                new.keywords[i].to_string(),
                new.modseqs[i],
            ));
        }
        self.view = new;
        if delta.exists.is_some() {
            delta.recent = Some(self.recent_count());
        }
        Ok(delta)
    }

    /// The 0-based indexes a set names: UIDs (only those present; `*` is the highest) or
    /// sequence numbers (each must exist: `None` otherwise). Ranges are merged before they
    /// are expanded, so a set repeating `1:*` costs no more than one `1:*`.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<usize>> {
        let uids = &self.view.uids;
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        if uid {
            let Some(&largest) = uids.last() else {
                return Some(vec![]);
            };
            for s in set.0.as_ref() {
                let (a, b) = bounds(s, largest);
                let start = uids.partition_point(|&u| u < a);
                let end = uids.partition_point(|&u| u <= b);
                if start < end {
                    ranges.push((start, end));
                }
            }
        } else {
            let n = self.exists();
            for s in set.0.as_ref() {
                if n == 0 {
                    return None;
                }
                let (a, b) = bounds(s, n);
                if a == 0 || b > n {
                    return None;
                }
                ranges.push((a as usize - 1, b as usize));
            }
        }
        ranges.sort_unstable();
        let mut out: Vec<usize> = Vec::new();
        let mut covered = 0;
        for (a, b) in ranges {
            let a = a.max(covered);
            if a < b {
                out.extend(a..b);
                covered = b;
            }
        }
        Some(out)
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

/// A UID set (ascending, no duplicates) as ranges, for VANISHED and MODIFIED.
pub(crate) fn uid_ranges(uids: &[u32]) -> Option<SequenceSet> {
    let mut seqs: Vec<Sequence> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        seqs.push(if start == end {
            Sequence::Single(SeqOrUid::Value(nz(start)))
        } else {
            Sequence::Range(SeqOrUid::Value(nz(start)), SeqOrUid::Value(nz(end)))
        });
        i += 1;
    }
    Some(SequenceSet(seqs.try_into().ok()?))
}

/// The UIDs in `set` (each range at most up to `max`) that are not in `present` (sorted),
/// as ranges: what a QRESYNC client is told has vanished.
pub(crate) fn missing(set: &SequenceSet, present: &[u32], max: u32) -> Option<SequenceSet> {
    let mut ranges: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|s| bounds(s, max))
        .map(|(a, b)| (a, b.min(max)))
        .filter(|(a, b)| a <= b)
        .collect();
    ranges.sort_unstable();
    let mut seqs: Vec<Sequence> = Vec::new();
    let mut push = |a: u32, b: u32| {
        seqs.push(if a == b {
            Sequence::Single(SeqOrUid::Value(nz(a)))
        } else {
            Sequence::Range(SeqOrUid::Value(nz(a)), SeqOrUid::Value(nz(b)))
        })
    };
    let mut covered = 0u32;
    for (a, b) in ranges {
        let a = a.max(covered.saturating_add(1));
        if a > b {
            continue;
        }
        covered = b;
        // Walk the present UIDs inside [a, b]; the gaps between them are missing.
        let mut at = a;
        let start = present.partition_point(|&u| u < a);
        for &u in present[start..].iter().take_while(|&&u| u <= b) {
            if u > at {
                push(at, u - 1);
            }
            at = u + 1;
        }
        if at <= b {
            push(at, b);
        }
    }
    Some(SequenceSet(seqs.try_into().ok()?))
}

pub(crate) fn nz64(n: i64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(n.max(1) as u64).expect("at least one")
}

pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl crate::extended::Saved for Selected {
    /// The saved messages still here (RFC 5182 §2.1: expunged ones leave the set).
    fn text(&self, uid: bool) -> Option<String> {
        let mut nums: Vec<u32> = Vec::with_capacity(self.saved.len());
        for &u in &self.saved {
            if let Some(i) = self.view.index_of(u) {
                nums.push(if uid { u } else { i as u32 + 1 });
            }
        }
        crate::extended::set_text(&nums)
    }
}
