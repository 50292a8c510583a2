//! A mailbox's members held in memory and shared: every session that keeps a mailbox open
//! (IMAP's selected state; thousands of IDLE connections on one INBOX) reads the same
//! snapshot instead of each reading the mailbox from the database, and follows changes
//! through small deltas instead of comparing whole mailboxes.
//!
//! A snapshot is the mailbox as of an account change seq: UIDs ascending with each member's
//! email, modseq, keywords, received time and size. It is brought up to date from the
//! members changed since its seq (one query), plus the UID list when the count shows that
//! members left. Each update records a [`Delta`]; the last [`MAX_DELTAS`] are kept, so a
//! session a few changes behind catches up by reading them. One update at a time per
//! mailbox: the sessions woken by one change wait for the first one's answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::{Core, Result};

/// Deltas kept per mailbox.
pub const MAX_DELTAS: usize = 256;
/// Members held over all cached mailboxes (about 90 bytes each); past this the least
/// recently used mailboxes are dropped.
const MAX_MEMBERS: usize = 4_000_000;

/// A mailbox as of `seq`; its members (shared between snapshots of states that did not
/// change the mailbox) are reached through `Deref`.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The account the mailbox belongs to (checked when the snapshot was made): another
    /// account's caller never gets it.
    pub account_id: i64,
    pub mailbox_id: i64,
    pub seq: i64,
    pub members: Arc<Members>,
}

impl std::ops::Deref for Snapshot {
    type Target = Members;
    fn deref(&self) -> &Members {
        &self.members
    }
}

/// A mailbox's members in UID order: index i is message sequence number i + 1.
#[derive(Debug, Default)]
pub struct Members {
    pub uids: Vec<u32>,
    pub ids: Vec<i64>,
    pub modseqs: Vec<i64>,
    /// Space-separated keywords (shared between members with the same set).
    pub keywords: Vec<Arc<str>>,
    pub received_at: Vec<i64>,
    pub sizes: Vec<u32>,
    /// The message bytes' ids (SHA-256), so readers need not ask the database for them.
    pub blobs: Vec<[u8; 32]>,
    /// Each member's index by email id: built by the first search that needs it, then
    /// shared by every session viewing these members (they never change once built).
    positions: std::sync::OnceLock<HashMap<i64, usize>>,
}

impl Members {
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// The index (message sequence number − 1) of the member with this email id.
    pub fn position(&self, email_id: i64) -> Option<usize> {
        self.positions
            .get_or_init(|| {
                self.ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| (*id, i))
                    .collect()
            })
            .get(&email_id)
            .copied()
    }

    /// Appends a member read from the store (its keywords interned in `kw`).
    fn push(&mut self, m: crate::members::Member, kw: &mut HashMap<String, Arc<str>>) {
        self.uids.push(m.uid as u32);
        self.ids.push(m.email_id);
        self.modseqs.push(m.modseq);
        self.received_at.push(m.received_at);
        self.sizes.push(m.size as u32);
        self.blobs.push(blob_bytes(&m.blob_id));
        self.keywords.push(intern(kw, m.keywords));
    }

    /// Replaces member `i` with one read from the store (the same UID).
    fn set(&mut self, i: usize, m: crate::members::Member, kw: &mut HashMap<String, Arc<str>>) {
        self.ids[i] = m.email_id;
        self.modseqs[i] = m.modseq;
        self.received_at[i] = m.received_at;
        self.sizes[i] = m.size as u32;
        self.blobs[i] = blob_bytes(&m.blob_id);
        self.keywords[i] = intern(kw, m.keywords);
    }

    /// A copy of `old`, with room for `more` members (copied whole: a snapshot of a large
    /// mailbox is remade at every change to it, while thousands of IDLE sessions wait).
    fn copy_of(old: &Members, more: usize) -> Members {
        fn copy<T: Clone>(v: &[T], more: usize) -> Vec<T> {
            let mut c = Vec::with_capacity(v.len() + more);
            c.extend_from_slice(v);
            c
        }
        Members {
            uids: copy(&old.uids, more),
            ids: copy(&old.ids, more),
            modseqs: copy(&old.modseqs, more),
            keywords: copy(&old.keywords, more),
            received_at: copy(&old.received_at, more),
            sizes: copy(&old.sizes, more),
            blobs: copy(&old.blobs, more),
            positions: Default::default(),
        }
    }

    /// Room for `n` members.
    fn with_capacity(n: usize) -> Members {
        Members {
            uids: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            modseqs: Vec::with_capacity(n),
            keywords: Vec::with_capacity(n),
            received_at: Vec::with_capacity(n),
            sizes: Vec::with_capacity(n),
            blobs: Vec::with_capacity(n),
            positions: Default::default(),
        }
    }

    /// Appends member `i` of `old` unchanged.
    fn push_from(&mut self, old: &Members, i: usize) {
        self.uids.push(old.uids[i]);
        self.ids.push(old.ids[i]);
        self.modseqs.push(old.modseqs[i]);
        self.keywords.push(old.keywords[i].clone());
        self.received_at.push(old.received_at[i]);
        self.sizes.push(old.sizes[i]);
        self.blobs.push(old.blobs[i]);
    }

    /// The blob id of the member at `i`, as the blob store names it.
    pub fn blob_id(&self, i: usize) -> String {
        hex::encode(self.blobs[i])
    }

    /// The index of a UID.
    pub fn index_of(&self, uid: u32) -> Option<usize> {
        self.uids.binary_search(&uid).ok()
    }
}

/// What changed between two snapshots.
#[derive(Debug, Default)]
pub struct Delta {
    pub from: i64,
    pub to: i64,
    /// UIDs that left.
    pub removed: Vec<u32>,
    /// UIDs whose member changed (keywords, or the email's other mailboxes), new ones too.
    pub changed: Vec<u32>,
}

struct Entry {
    snapshot: Arc<Snapshot>,
    deltas: VecDeque<Arc<Delta>>,
    used: Instant,
}

#[derive(Default)]
pub(crate) struct MailboxIndex {
    entries: Mutex<HashMap<i64, Entry>>,
    updating: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// IMAP \Recent: per mailbox, how far this process has claimed (the database holds the
    /// mark; this only saves asking it again).
    recent: Mutex<HashMap<i64, u32>>,
}

impl MailboxIndex {
    fn cached(&self, mailbox_id: i64) -> Option<Arc<Snapshot>> {
        let mut map = self.entries.lock().expect("index lock");
        let e = map.get_mut(&mailbox_id)?;
        e.used = Instant::now();
        Some(e.snapshot.clone())
    }

    /// The cached snapshot (at least as new as `newest`) with the deltas from `seq` to it,
    /// read together so they agree.
    fn since(
        &self,
        mailbox_id: i64,
        seq: i64,
        newest: Arc<Snapshot>,
    ) -> (Arc<Snapshot>, Option<Vec<Arc<Delta>>>) {
        let map = self.entries.lock().expect("index lock");
        let Some(e) = map
            .get(&mailbox_id)
            .filter(|e| e.snapshot.seq >= newest.seq)
        else {
            return (newest, None);
        };
        let deltas = e
            .deltas
            .iter()
            .position(|d| d.from == seq)
            .map(|start| e.deltas.iter().skip(start).cloned().collect::<Vec<_>>())
            .filter(|d| d.last().is_some_and(|l| l.to == e.snapshot.seq));
        (e.snapshot.clone(), deltas)
    }

    fn put(&self, snapshot: Arc<Snapshot>, delta: Option<Delta>) {
        let mut map = self.entries.lock().expect("index lock");
        let id = snapshot.mailbox_id;
        let e = map.entry(id).or_insert_with(|| Entry {
            snapshot: snapshot.clone(),
            deltas: VecDeque::new(),
            used: Instant::now(),
        });
        e.snapshot = snapshot;
        e.used = Instant::now();
        match delta {
            Some(d) => {
                if e.deltas.len() >= MAX_DELTAS {
                    e.deltas.pop_front();
                }
                e.deltas.push_back(Arc::new(d));
            }
            None => e.deltas.clear(),
        }
        let total: usize = map.values().map(|e| e.snapshot.len()).sum();
        if total > MAX_MEMBERS {
            let mut by_use: Vec<(Instant, i64, usize)> = map
                .iter()
                .map(|(k, e)| (e.used, *k, e.snapshot.len()))
                .collect();
            by_use.sort();
            let mut over = total - MAX_MEMBERS;
            let mut dropped = Vec::new();
            for (_, k, n) in by_use {
                if over == 0 || k == id {
                    break;
                }
                map.remove(&k);
                dropped.push(k);
                over = over.saturating_sub(n);
            }
            drop(map);
            // Their update locks go too, unless someone is waiting on one.
            let mut turns = self.updating.lock().expect("index lock");
            for k in dropped {
                if turns.get(&k).is_some_and(|t| Arc::strong_count(t) == 1) {
                    turns.remove(&k);
                }
            }
        }
    }

    fn turn(&self, mailbox_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.updating
            .lock()
            .expect("index lock")
            .entry(mailbox_id)
            .or_default()
            .clone()
    }
}

/// A blob id (64 hex digits) as its 32 bytes.
fn blob_bytes(hex_id: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let _ = hex::decode_to_slice(hex_id, &mut out);
    out
}

fn intern(cache: &mut HashMap<String, Arc<str>>, k: String) -> Arc<str> {
    if let Some(a) = cache.get(&k) {
        return a.clone();
    }
    let a: Arc<str> = Arc::from(k.as_str());
    cache.insert(k, a.clone());
    a
}

impl Core {
    /// The mailbox as of the account's current state (or, with `seq`, any state at least as
    /// new: a caller told of a change need not read the state itself).
    pub async fn mailbox_snapshot(
        &self,
        account_id: i64,
        mailbox_id: i64,
        seq: Option<i64>,
    ) -> Result<Arc<Snapshot>> {
        let index = &self.inner.mailbox_index;
        let fresh = |s: &Snapshot, want: i64| s.account_id == account_id && s.seq >= want;
        if let (Some(s), Some(want)) = (index.cached(mailbox_id), seq)
            && fresh(&s, want)
        {
            return Ok(s);
        }
        // One at a time per mailbox; those told of the same change (thousands of IDLE
        // sessions) wait here for the first one's update and then find it, without a query.
        let turn = index.turn(mailbox_id);
        let _turn = turn.lock().await;
        if let (Some(s), Some(want)) = (index.cached(mailbox_id), seq)
            && fresh(&s, want)
        {
            return Ok(s);
        }
        self.own_mailbox(account_id, mailbox_id).await?;
        let want = match seq {
            Some(s) => s,
            None => self.state(account_id).await?,
        };
        // Someone may have brought it up to date meanwhile.
        let old = index
            .cached(mailbox_id)
            .filter(|s| s.account_id == account_id);
        if let Some(s) = &old
            && s.seq >= want
        {
            return Ok(s.clone());
        }
        // Read the state before the members: a change landing in between is read again next
        // time (its modseq is above the state recorded), never missed. (Just read above
        // when no seq was given.)
        let now = match seq {
            None => want,
            Some(_) => self.state(account_id).await?,
        };
        let since = old.as_ref().map_or(-1, |s| s.seq);
        // Most changes of an account are not to this mailbox: then only the seq moves.
        if let Some(old) = &old
            && !self
                .store()
                .mailbox_changed_since(account_id, mailbox_id, since)
                .await?
        {
            let s = Arc::new(Snapshot {
                account_id,
                mailbox_id,
                seq: now,
                members: old.members.clone(),
            });
            index.put(
                s.clone(),
                Some(Delta {
                    from: old.seq,
                    to: now,
                    ..Delta::default()
                }),
            );
            return Ok(s);
        }
        let changed = self.store().members_since(mailbox_id, since).await?;
        let mut kw: HashMap<String, Arc<str>> = HashMap::new();
        let (snapshot, delta) = match old {
            None => {
                let mut s = Members::default();
                for m in changed {
                    s.push(m, &mut kw);
                }
                (s, None)
            }
            Some(old) => {
                let max_known = old.uids.last().copied().unwrap_or(0);
                let count = self.store().mailbox_count(mailbox_id).await? as usize;
                let new_count = changed.iter().filter(|m| m.uid as u32 > max_known).count();
                let present: Option<Vec<u32>> = if count != old.len() + new_count {
                    Some(self.store().member_uids(mailbox_id).await?)
                } else {
                    None
                };
                let mut by_uid: HashMap<u32, crate::members::Member> =
                    changed.into_iter().map(|m| (m.uid as u32, m)).collect();
                let mut delta = Delta {
                    from: old.seq,
                    to: now,
                    ..Delta::default()
                };
                // The old members' keyword sets, to share with the new ones (members of a
                // set are mostly neighbours: one look-up per run, no copy of known ones).
                let mut last: Option<&Arc<str>> = None;
                for k in old.keywords.iter() {
                    if last.is_some_and(|l| Arc::ptr_eq(l, k)) {
                        continue;
                    }
                    last = Some(k);
                    if !kw.contains_key(&**k) {
                        kw.insert(k.to_string(), k.clone());
                    }
                }
                let mut s = match &present {
                    // None left: the old members whole, the changed ones replaced.
                    None => {
                        let mut s = Members::copy_of(&old, new_count);
                        let mut known: Vec<u32> =
                            by_uid.keys().copied().filter(|&u| u <= max_known).collect();
                        known.sort_unstable();
                        for uid in known {
                            let m = by_uid.remove(&uid).expect("a key");
                            if let Ok(i) = s.uids.binary_search(&uid) {
                                delta.changed.push(uid);
                                s.set(i, m, &mut kw);
                            }
                        }
                        s
                    }
                    Some(p) => {
                        let mut s = Members::with_capacity(old.len() + new_count);
                        for i in 0..old.len() {
                            let uid = old.uids[i];
                            if p.binary_search(&uid).is_err() {
                                delta.removed.push(uid);
                                by_uid.remove(&uid);
                                continue;
                            }
                            match by_uid.remove(&uid) {
                                Some(m) => {
                                    delta.changed.push(uid);
                                    s.push(m, &mut kw);
                                }
                                None => s.push_from(&old, i),
                            }
                        }
                        s
                    }
                };
                let mut added: Vec<crate::members::Member> = by_uid
                    .into_values()
                    .filter(|m| m.uid as u32 > max_known)
                    .collect();
                added.sort_by_key(|m| m.uid);
                for m in added {
                    // Arrived after the UID list was read: next time.
                    if let Some(p) = &present
                        && p.binary_search(&(m.uid as u32)).is_err()
                    {
                        continue;
                    }
                    delta.changed.push(m.uid as u32);
                    s.push(m, &mut kw);
                }
                (s, Some(delta))
            }
        };
        let snapshot = Arc::new(Snapshot {
            account_id,
            mailbox_id,
            seq: now,
            members: Arc::new(snapshot),
        });
        index.put(snapshot.clone(), delta);
        Ok(snapshot)
    }

    /// Claims the messages of a mailbox below `upto` that no session has been shown as
    /// recent yet (IMAP4rev1 \Recent: the first session to see a message gets it). Returns
    /// the UID range `[from, upto)` now this caller's. The mark is kept in the database, so
    /// a restart or a second process does not make old mail recent again.
    pub async fn claim_recent(
        &self,
        account_id: i64,
        mailbox_id: i64,
        upto: u32,
    ) -> Result<Option<(u32, u32)>> {
        let known = self
            .inner
            .mailbox_index
            .cached(mailbox_id)
            .is_some_and(|s| s.account_id == account_id);
        if !known {
            self.own_mailbox(account_id, mailbox_id).await?;
        }
        // This process claimed up to here already: nothing to ask the database.
        if self.recent_known(mailbox_id).is_some_and(|m| m >= upto) {
            return Ok(None);
        }
        // One claim at a time per mailbox: the thousands of IDLE sessions told of the same
        // arrival wait here for the first one's, then find it made, without a query each.
        let turn = self.inner.mailbox_index.turn(mailbox_id);
        let _turn = turn.lock().await;
        if self.recent_known(mailbox_id).is_some_and(|m| m >= upto) {
            return Ok(None);
        }
        let claimed = self.store().mailbox_claim_recent(mailbox_id, upto).await?;
        let mut map = self.inner.mailbox_index.recent.lock().expect("recent lock");
        let mark = map.entry(mailbox_id).or_insert(upto);
        *mark = (*mark).max(upto);
        Ok(claimed.map(|from| (from, upto)))
    }

    fn recent_known(&self, mailbox_id: i64) -> Option<u32> {
        self.inner
            .mailbox_index
            .recent
            .lock()
            .expect("recent lock")
            .get(&mailbox_id)
            .copied()
    }

    /// The UID from which a mailbox's messages are still recent to nobody (kept in the
    /// database, so across restarts and processes).
    pub async fn recent_mark(&self, mailbox_id: i64) -> Result<u32> {
        Ok(self.store().mailbox_recent_mark(mailbox_id).await?)
    }

    /// Catching up from the snapshot of `seq`: the newest snapshot (see
    /// [`mailbox_snapshot`](Self::mailbox_snapshot)) and the deltas leading to it when they
    /// are still kept (`None`: compare the two snapshots whole).
    pub async fn mailbox_catch_up(
        &self,
        account_id: i64,
        mailbox_id: i64,
        from: i64,
        seq: Option<i64>,
    ) -> Result<(Arc<Snapshot>, Option<Vec<Arc<Delta>>>)> {
        let newest = self.mailbox_snapshot(account_id, mailbox_id, seq).await?;
        if newest.seq <= from {
            return Ok((newest, Some(vec![])));
        }
        Ok(self.inner.mailbox_index.since(mailbox_id, from, newest))
    }
}
