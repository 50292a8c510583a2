//! FETCH and UID FETCH: flags, dates and sizes from the email's row; sections, ENVELOPE and
//! BODYSTRUCTURE from the message bytes. A non-PEEK body fetch sets \Seen (stored, so
//! JMAP sees it) and reports the new flags.

use std::collections::HashMap;
use std::io::Write as _;

use chrono::TimeZone;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::{IString, Literal, NString, NString8, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;

use crate::flags;
use crate::message;
use crate::reply::{Handled, Reply};
use crate::selected::{nz, nz64};
use crate::session::Session;

/// Items the selected view answers (no message row or bytes needed).
fn from_view(n: &MessageDataItemName<'_>) -> bool {
    matches!(
        n,
        MessageDataItemName::Uid
            | MessageDataItemName::Flags
            | MessageDataItemName::InternalDate
            | MessageDataItemName::Rfc822Size
            | MessageDataItemName::ModSeq
    )
}

/// Messages read per round trip to the database, and bytes of messages read at once.
const CHUNK: usize = 256;
const CHUNK_BYTES: usize = 8 << 20;

/// Consecutive ranges of messages (given their sizes) of at most [`CHUNK`] messages and
/// (beyond the first message) [`CHUNK_BYTES`].
fn batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (k, &s) in sizes.iter().enumerate() {
        if k > start && (k - start >= CHUNK || bytes + s > CHUNK_BYTES) {
            out.push(start..k);
            (start, bytes) = (k, 0);
        }
        bytes += s;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

impl Session {
    pub(crate) async fn fetch(
        &mut self,
        set: SequenceSet,
        items: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Handled {
        let mut changed_since = None;
        let mut vanished = false;
        for m in &modifiers {
            match m {
                FetchModifier::ChangedSince(n) => changed_since = Some(n.get() as i64),
                FetchModifier::Vanished => vanished = true,
            }
        }
        let mut names: Vec<MessageDataItemName<'static>> = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(imap_codec::imap_types::IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        // RFC 7162 §3.1: MODSEQ or CHANGEDSINCE turn CONDSTORE on.
        if changed_since.is_some() || names.contains(&MessageDataItemName::ModSeq) {
            self.condstore = true;
        }
        if changed_since.is_some() && !names.contains(&MessageDataItemName::ModSeq) {
            names.push(MessageDataItemName::ModSeq);
        }
        if uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }
        let account = self.user.as_ref().expect("authenticated").id;
        let sel = self.selected.as_ref().expect("selected");
        let read_only = sel.read_only;
        let Some(mut indexes) = sel.resolve(&set, uid) else {
            return Err(Reply::Bad(None, "no such message sequence number".into()));
        };
        if vanished {
            // RFC 7162 §3.2.6: UID FETCH … (CHANGEDSINCE n VANISHED) with QRESYNC enabled.
            if !uid || changed_since.is_none() || !self.qresync {
                return Err(Reply::Bad(
                    None,
                    "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC".into(),
                ));
            }
            let max = sel
                .uid_next
                .saturating_sub(1)
                .max(sel.view.uids.last().copied().unwrap_or(0));
            if max > 0
                && let Some(gone) = crate::selected::missing(&set, &sel.view.uids, max)
            {
                self.data(Data::Vanished {
                    earlier: true,
                    known_uids: gone,
                });
            }
        }
        let sel = self.selected.as_ref().expect("selected");
        if let Some(since) = changed_since {
            indexes.retain(|&i| sel.modseq(i) > since);
        }
        let needs_parse = names.iter().any(|n| {
            matches!(
                n,
                MessageDataItemName::Envelope
                    | MessageDataItemName::BodyStructure
                    | MessageDataItemName::Body
                    | MessageDataItemName::Rfc822Header
                    | MessageDataItemName::Rfc822Text
                    | MessageDataItemName::BodyExt {
                        section: Some(_),
                        ..
                    }
                    | MessageDataItemName::Binary { .. }
                    | MessageDataItemName::BinarySize { .. }
            )
        });
        let sets_seen = !read_only
            && names.iter().any(|n| {
                matches!(
                    n,
                    MessageDataItemName::BodyExt { peek: false, .. }
                        | MessageDataItemName::Binary { peek: false, .. }
                        | MessageDataItemName::Rfc822
                        | MessageDataItemName::Rfc822Text
                )
            });
        // Items from the view and from the message's structure only (what clients ask when
        // listing a mailbox, and `UID FETCH 1:* (UID FLAGS)` when syncing): lines written
        // around encoded items, those of the structure from the encoded-item cache.
        let structural = names.iter().all(|n| {
            from_view(n)
                || matches!(
                    n,
                    MessageDataItemName::Envelope
                        | MessageDataItemName::BodyStructure
                        | MessageDataItemName::Body
                )
        });
        if structural {
            self.fetch_structure(&indexes, &names).await?;
            return Ok(Reply::Ok(None, "FETCH completed".into()));
        }
        // Whole messages (what sync tools ask: BODY.PEEK[] with view items): the bytes go
        // from the blob store to the socket without being copied into responses.
        let whole = names.iter().all(|n| {
            from_view(n)
                || matches!(
                    n,
                    MessageDataItemName::BodyExt {
                        section: None,
                        partial: None,
                        peek: true,
                    }
                )
        });
        if whole {
            self.fetch_whole(&indexes, &names).await?;
            return Ok(Reply::Ok(None, "FETCH completed".into()));
        }
        let core = self.shared.core.clone();
        let chunk_sizes: Vec<usize> = {
            let sizes = &self.selected.as_ref().expect("selected").view.sizes;
            indexes.iter().map(|&i| sizes[i] as usize).collect()
        };
        let chunks = batches(&chunk_sizes);
        for chunk in chunks {
            let chunk = &indexes[chunk];
            let sel = self.selected.as_ref().expect("selected");
            let wanted: Vec<(usize, i64, u32)> = chunk
                .iter()
                .map(|&i| (i, sel.view.ids[i], sel.view.uids[i]))
                .collect();
            let ids: Vec<i64> = wanted.iter().map(|w| w.1).collect();
            // Rows are read only to set \Seen; the bytes' ids are in the view.
            let mut states: HashMap<i64, mailroom_core::members::EmailState> = if sets_seen {
                core.email_states(account, &ids)
                    .await?
                    .into_iter()
                    .map(|(e, _)| (e.id, e))
                    .collect()
            } else {
                HashMap::new()
            };
            if sets_seen {
                let unseen: Vec<(i64, Vec<String>)> = states
                    .values()
                    .filter(|e| !flags::has(&e.keywords, "$seen"))
                    .map(|e| {
                        let mut k: std::collections::BTreeSet<String> =
                            e.keywords.split_whitespace().map(str::to_string).collect();
                        k.insert("$seen".into());
                        (e.id, k.into_iter().collect())
                    })
                    .collect();
                if !unseen.is_empty() {
                    // Added to the keywords as the write finds them (not a complete set
                    // read earlier, which could undo a concurrent change).
                    let ids: Vec<i64> = unseen.iter().map(|u| u.0).collect();
                    core.change_keywords(account, &ids, &["$seen".to_string()], &[], None)
                        .await?;
                    // Under CONDSTORE the FETCH shows the modseq the change got.
                    let modseqs = if self.condstore {
                        let ids: Vec<i64> = unseen.iter().map(|u| u.0).collect();
                        core.email_modseqs(account, &ids).await?
                    } else {
                        HashMap::new()
                    };
                    let uid_of: HashMap<i64, u32> =
                        wanted.iter().map(|(_, id, uid)| (*id, *uid)).collect();
                    let sel = self.selected.as_mut().expect("selected");
                    for (id, k) in unseen {
                        if let Some(e) = states.get_mut(&id) {
                            e.keywords = k.join(" ");
                            // Reported with this FETCH: not again as a change from elsewhere.
                            if let Some(uid) = uid_of.get(&id) {
                                sel.own_flags.insert(*uid, e.keywords.clone());
                                if let Some(m) = modseqs.get(&id) {
                                    sel.own_modseqs.insert(*uid, *m);
                                }
                            }
                        }
                    }
                }
            }
            // The chunk's bytes in one read. A message expunged elsewhere may have had its
            // bytes collected: only those still there are shown.
            let view = self.selected.as_ref().expect("selected").view.clone();
            let (ids, blobs): (Vec<i64>, Vec<String>) = wanted
                .iter()
                .map(|&(i, id, _)| (id, view.blob_id(i)))
                .unzip();
            let got = core.emails_bytes(blobs).await?;
            let mut bytes: HashMap<i64, bytes::Bytes> = ids
                .into_iter()
                .zip(got)
                .filter_map(|(id, b)| Some((id, b?)))
                .collect();
            for (i, id, uid) in wanted {
                // Gone meanwhile (expunged elsewhere, not yet reported): nothing to show.
                if (sets_seen && !states.contains_key(&id)) || !bytes.contains_key(&id) {
                    continue;
                }
                let raw = bytes.remove(&id);
                let sel = self.selected.as_ref().expect("selected");
                let keywords = sel.keywords(i).to_string();
                let recent = sel.is_recent(uid);
                let (received_at, size) = (sel.view.received_at[i], sel.view.sizes[i]);
                let modseq = sel.modseq(i);
                // Parsed only when an item needs the structure (not for BODY[] alone).
                let parsed = if needs_parse {
                    raw.as_deref().map(message::parse)
                } else {
                    None
                };
                let mut out: Vec<MessageDataItem<'_>> = Vec::with_capacity(names.len());
                // Partial BINARY items, written here: imap-codec has no `BINARY[…]<origin>`.
                let mut extra: Vec<u8> = Vec::new();
                let mut flags_sent = false;
                for n in &names {
                    if let MessageDataItemName::Binary {
                        section,
                        partial: Some(partial),
                        ..
                    } = n
                    {
                        let p = parsed.as_ref().expect("parsed");
                        let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                        let Ok(b) = p.binary(&path) else {
                            return Err(unknown_cte());
                        };
                        let b = b.unwrap_or_default();
                        let (origin, data) = cut(&b, Some(*partial));
                        let section: Vec<String> = path.iter().map(u32::to_string).collect();
                        extra.extend_from_slice(
                            format!(
                                " BINARY[{}]<{}> ~{{{}}}\r\n",
                                section.join("."),
                                origin.unwrap_or(0),
                                data.len()
                            )
                            .as_bytes(),
                        );
                        extra.extend_from_slice(data);
                        continue;
                    }
                    out.push(match n {
                        MessageDataItemName::Uid => MessageDataItem::Uid(nz(uid)),
                        MessageDataItemName::Flags => {
                            flags_sent = true;
                            MessageDataItem::Flags(flags::flags_of(&keywords, recent))
                        }
                        MessageDataItemName::InternalDate => {
                            MessageDataItem::InternalDate(internal_date(received_at))
                        }
                        MessageDataItemName::Rfc822Size => MessageDataItem::Rfc822Size(size),
                        MessageDataItemName::ModSeq => MessageDataItem::ModSeq(nz64(modseq)),
                        MessageDataItemName::Envelope => {
                            MessageDataItem::Envelope(parsed.as_ref().expect("read").envelope())
                        }
                        MessageDataItemName::BodyStructure => MessageDataItem::BodyStructure(
                            parsed.as_ref().expect("read").body_structure(true),
                        ),
                        MessageDataItemName::Body => MessageDataItem::Body(
                            parsed.as_ref().expect("read").body_structure(false),
                        ),
                        MessageDataItemName::Rfc822 => {
                            MessageDataItem::Rfc822(literal_ref(raw.as_deref().expect("read")))
                        }
                        MessageDataItemName::Rfc822Header => {
                            let p = parsed.as_ref().expect("read");
                            let h = p
                                .section(Some(&imap_codec::imap_types::fetch::Section::Header(
                                    None,
                                )))
                                .unwrap_or_default();
                            MessageDataItem::Rfc822Header(literal(&h))
                        }
                        MessageDataItemName::Rfc822Text => {
                            let p = parsed.as_ref().expect("read");
                            let t = p
                                .section(Some(&imap_codec::imap_types::fetch::Section::Text(None)))
                                .unwrap_or_default();
                            MessageDataItem::Rfc822Text(literal(&t))
                        }
                        MessageDataItemName::BodyExt {
                            section, partial, ..
                        } => {
                            let whole = raw.as_deref().expect("read");
                            // A part that does not exist is empty (as Dovecot answers).
                            let part: Option<Vec<u8>> = section.as_ref().map(|s| {
                                parsed
                                    .as_ref()
                                    .expect("parsed")
                                    .section(Some(s))
                                    .unwrap_or_default()
                            });
                            let (origin, data) = match &part {
                                Some(p) => {
                                    let (origin, b) = cut(p, *partial);
                                    (origin, literal(b))
                                }
                                None => {
                                    let (origin, b) = cut(whole, *partial);
                                    (origin, literal_ref(b))
                                }
                            };
                            MessageDataItem::BodyExt {
                                section: section.clone(),
                                origin,
                                data,
                            }
                        }
                        MessageDataItemName::Binary { section, .. } => {
                            let p = parsed.as_ref().expect("parsed");
                            let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                            match p.binary(&path) {
                                Ok(b) => MessageDataItem::Binary {
                                    section: section.clone(),
                                    value: NString8::Literal8(Literal8 {
                                        data: std::borrow::Cow::Owned(b.unwrap_or_default()),
                                        mode: imap_codec::imap_types::core::LiteralMode::Sync,
                                    }),
                                },
                                Err(()) => return Err(unknown_cte()),
                            }
                        }
                        MessageDataItemName::BinarySize { section } => {
                            let p = parsed.as_ref().expect("parsed");
                            let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
                            match p.binary(&path) {
                                Ok(b) => MessageDataItem::BinarySize {
                                    section: section.clone(),
                                    size: b.map_or(0, |b| b.len() as u32),
                                },
                                Err(()) => return Err(unknown_cte()),
                            }
                        }
                    });
                }
                if sets_seen && !flags_sent {
                    out.push(MessageDataItem::Flags(flags::flags_of(&keywords, recent)));
                }
                if sets_seen && self.condstore && !names.contains(&MessageDataItemName::ModSeq) {
                    out.push(MessageDataItem::ModSeq(nz64(modseq)));
                }
                match Vec1::try_from(out) {
                    Ok(items) => {
                        self.data(Data::Fetch {
                            seq: nz(i as u32 + 1),
                            items,
                        });
                        if !extra.is_empty() && self.out.ends_with(b")\r\n") {
                            let end = self.out.len() - 3;
                            self.out.truncate(end);
                            self.out.extend_from_slice(&extra);
                            self.out.extend_from_slice(b")\r\n");
                        }
                    }
                    Err(_) if !extra.is_empty() => {
                        let head = format!("* {} FETCH (", i + 1);
                        self.out.extend_from_slice(head.as_bytes());
                        self.out.extend_from_slice(&extra[1..]);
                        self.out.extend_from_slice(b")\r\n");
                    }
                    Err(_) => {}
                }
                self.flush_if_large().await;
            }
        }
        Ok(Reply::Ok(None, "FETCH completed".into()))
    }

    /// `* n FETCH (UID u FLAGS (…) [MODSEQ (m)])`, for flag changes made elsewhere or by
    /// STORE.
    pub(crate) fn fetch_flags(&mut self, seq: u32, uid: u32, keywords: &str, modseq: i64) {
        let mut items = vec![
            MessageDataItem::Uid(nz(uid)),
            MessageDataItem::Flags(flags::flags_of(
                keywords,
                self.selected.as_ref().is_some_and(|s| s.is_recent(uid)),
            )),
        ];
        if self.condstore {
            items.push(MessageDataItem::ModSeq(nz64(modseq)));
        }
        let items = Vec1::try_from(items).expect("two items");
        self.data(Data::Fetch {
            seq: nz(seq),
            items,
        });
    }
}

impl Session {
    /// FETCH of view items and ENVELOPE / BODYSTRUCTURE / BODY: the structural items come
    /// from the cache by blob id; only messages missing there are read (in batches) and
    /// parsed, and their items kept.
    async fn fetch_structure(
        &mut self,
        indexes: &[usize],
        names: &[MessageDataItemName<'static>],
    ) -> Result<(), Reply> {
        use crate::items::{self, Kind};
        let kinds: Vec<Kind> = names
            .iter()
            .filter_map(|n| match n {
                MessageDataItemName::Envelope => Some(Kind::Envelope),
                MessageDataItemName::BodyStructure => Some(Kind::BodyStructure),
                MessageDataItemName::Body => Some(Kind::Body),
                _ => None,
            })
            .collect();
        let core = self.shared.core.clone();
        // FLAGS encoded once per distinct keyword set (a mailbox has few), without and with
        // \Recent.
        let mut flag_items: [HashMap<String, Vec<u8>>; 2] = Default::default();
        // One line's bytes, reused: a listing of 100,000 messages allocates nothing per line.
        let mut line: Vec<u8> = Vec::with_capacity(512);
        for chunk in indexes.chunks(CHUNK) {
            let view = self.selected.as_ref().expect("selected").view.clone();
            // Misses: first from the database (kept by an earlier FETCH, maybe by another
            // process), then read and parsed once each, and kept there too.
            let missing = |kinds: &[Kind]| -> Vec<usize> {
                chunk
                    .iter()
                    .copied()
                    .filter(|&i| {
                        kinds
                            .iter()
                            .any(|k| items::get(&view.blobs[i], *k).is_none())
                    })
                    .collect()
            };
            let first = missing(&kinds);
            if !first.is_empty() {
                let blobs: Vec<String> = first.iter().map(|&i| view.blob_id(i)).collect();
                let index: HashMap<&str, usize> = blobs
                    .iter()
                    .map(String::as_str)
                    .zip(first.iter().copied())
                    .collect();
                for k in &kinds {
                    for (blob, data) in core.derived_get(k.stored(), &blobs).await? {
                        if let Some(&i) = index.get(blob.as_str()) {
                            items::put(&view.blobs[i], *k, data.into());
                        }
                    }
                }
            }
            let missing = missing(&kinds);
            let mut keep: HashMap<i16, Vec<(String, Vec<u8>)>> = HashMap::new();
            if !missing.is_empty() {
                let blobs: Vec<String> = missing.iter().map(|&i| view.blob_id(i)).collect();
                // `None`: gone meanwhile (garbage-collected after an expunge elsewhere);
                // that message is skipped below, as a vanished row is on the other path.
                let bytes = core.emails_bytes(blobs).await?;
                // Parsing is CPU work: off the runtime's threads, so one client's first
                // listing of a large mailbox does not stall every other session.
                let kinds_owned = kinds.clone();
                let made: Vec<Vec<(Kind, Vec<u8>)>> = tokio::task::spawn_blocking(move || {
                    bytes
                        .iter()
                        .map(|raw| {
                            // Gone: no items, so its line is left out below.
                            let Some(raw) = raw else { return Vec::new() };
                            let p = message::parse(raw);
                            kinds_owned
                                .iter()
                                .map(|&k| (k, items::make(&p, k)))
                                .collect()
                        })
                        .collect()
                })
                .await
                .map_err(|e| Reply::from(mailroom_core::Error::Internal(e.to_string())))?;
                for (&i, encoded) in missing.iter().zip(made) {
                    for (k, encoded) in encoded {
                        keep.entry(k.stored())
                            .or_default()
                            .push((view.blob_id(i), encoded.clone()));
                        items::put(&view.blobs[i], k, encoded.into());
                    }
                }
            }
            for (kind, rows) in keep {
                // Only a cache: a failure to keep costs the parse again next time.
                if let Err(e) = core.derived_put(kind, rows).await {
                    tracing::debug!(error = %e, "imap items not kept");
                }
            }
            for &i in chunk {
                let sel = self.selected.as_ref().expect("selected");
                line.clear();
                let _ = write!(line, "* {} FETCH (", i + 1);
                let mut complete = true;
                for (n, name) in names.iter().enumerate() {
                    if n > 0 {
                        line.push(b' ');
                    }
                    match name {
                        // Numbers need no codec.
                        MessageDataItemName::Uid => {
                            let _ = write!(line, "UID {}", view.uids[i]);
                        }
                        MessageDataItemName::Rfc822Size => {
                            let _ = write!(line, "RFC822.SIZE {}", view.sizes[i]);
                        }
                        MessageDataItemName::ModSeq => {
                            let _ = write!(line, "MODSEQ ({})", sel.modseq(i).max(1));
                        }
                        MessageDataItemName::Flags => {
                            let (keywords, recent) = (sel.keywords(i), sel.is_recent(view.uids[i]));
                            let known = &mut flag_items[usize::from(recent)];
                            match known.get(keywords) {
                                Some(b) => line.extend_from_slice(b),
                                None => {
                                    let b = items::encode(MessageDataItem::Flags(flags::flags_of(
                                        keywords, recent,
                                    )));
                                    line.extend_from_slice(&b);
                                    known.insert(keywords.to_string(), b);
                                }
                            }
                        }
                        MessageDataItemName::InternalDate => {
                            line.extend_from_slice(&items::encode(MessageDataItem::InternalDate(
                                internal_date(view.received_at[i]),
                            )))
                        }
                        other => {
                            let kind = match other {
                                MessageDataItemName::Envelope => Kind::Envelope,
                                MessageDataItemName::BodyStructure => Kind::BodyStructure,
                                _ => Kind::Body,
                            };
                            match items::get(&view.blobs[i], kind) {
                                Some(b) => line.extend_from_slice(&b),
                                None => {
                                    complete = false;
                                    break;
                                }
                            }
                        }
                    }
                }
                if complete {
                    line.extend_from_slice(b")\r\n");
                    self.push_raw(&line);
                }
            }
            self.flush_if_large().await;
        }
        Ok(())
    }

    /// FETCH of view items and BODY.PEEK[]: each response is its view items (encoded by the
    /// codec) and the message as a literal written straight from the bytes read.
    async fn fetch_whole(
        &mut self,
        indexes: &[usize],
        names: &[MessageDataItemName<'static>],
    ) -> Result<(), Reply> {
        let core = self.shared.core.clone();
        let sizes: Vec<usize> = {
            let v = &self.selected.as_ref().expect("selected").view;
            indexes.iter().map(|&i| v.sizes[i] as usize).collect()
        };
        // The next batch is read (on a blocking thread) while this one is written: reading
        // and sending each cost about half of a large FETCH, and the two overlap on two cores.
        let view = self.selected.as_ref().expect("selected").view.clone();
        let read = |range: &std::ops::Range<usize>| {
            let blobs: Vec<String> = indexes[range.clone()]
                .iter()
                .map(|&i| view.blob_id(i))
                .collect();
            let core = core.clone();
            tokio::spawn(async move { core.emails_bytes(blobs).await })
        };
        let ranges = batches(&sizes);
        let mut next = ranges.first().map(read);
        for (k, range) in ranges.iter().enumerate() {
            let chunk = &indexes[range.clone()];
            let reading = next.take().expect("one read per batch");
            next = ranges.get(k + 1).map(read);
            // `None`: collected after an expunge elsewhere; the others are shown.
            let bytes = reading
                .await
                .map_err(|e| mailroom_core::Error::Internal(format!("reading messages: {e}")))??;
            // Response text and message bytes, in order, for vectored writes.
            let mut segments: Vec<bytes::Bytes> = Vec::with_capacity(chunk.len() * 2 + 1);
            let mut text: Vec<u8> = Vec::new();
            for (&i, raw) in chunk.iter().zip(bytes) {
                let Some(raw) = raw else { continue };
                let sel = self.selected.as_ref().expect("selected");
                let mut head: Vec<u8> = format!("* {} FETCH (", i + 1).into_bytes();
                let mut body_at = None;
                for (n, name) in names.iter().enumerate() {
                    if n > 0 {
                        head.push(b' ');
                    }
                    let part = match name {
                        MessageDataItemName::Uid => format!("UID {}", view.uids[i]).into_bytes(),
                        MessageDataItemName::Rfc822Size => {
                            format!("RFC822.SIZE {}", view.sizes[i]).into_bytes()
                        }
                        MessageDataItemName::ModSeq => {
                            format!("MODSEQ ({})", sel.modseq(i).max(1)).into_bytes()
                        }
                        MessageDataItemName::Flags => crate::items::encode(MessageDataItem::Flags(
                            flags::flags_of(sel.keywords(i), sel.is_recent(view.uids[i])),
                        )),
                        MessageDataItemName::InternalDate => crate::items::encode(
                            MessageDataItem::InternalDate(internal_date(view.received_at[i])),
                        ),
                        _ => {
                            body_at = Some(head.len());
                            Vec::new()
                        }
                    };
                    head.extend_from_slice(&part);
                }
                let Some(at) = body_at else { continue };
                // A NUL cannot be in a literal: such a rare message takes the general path's
                // replacement.
                let data: bytes::Bytes = if memchr::memchr(0, &raw).is_some() {
                    raw.iter()
                        .map(|&b| if b == 0 { b' ' } else { b })
                        .collect::<Vec<u8>>()
                        .into()
                } else {
                    raw
                };
                let tail = head.split_off(at);
                text.extend_from_slice(&head);
                text.extend_from_slice(format!("BODY[] {{{}}}\r\n", data.len()).as_bytes());
                segments.push(std::mem::take(&mut text).into());
                segments.push(data);
                text.extend_from_slice(&tail);
                text.extend_from_slice(b")\r\n");
            }
            segments.push(text.into());
            self.push_segments(&segments).await;
        }
        Ok(())
    }

    /// `* n FETCH (UID u MODSEQ (m))`: a .SILENT STORE's new modseq under CONDSTORE.
    pub(crate) fn fetch_modseq(&mut self, seq: u32, uid: u32, modseq: i64) {
        let items = Vec1::try_from(vec![
            MessageDataItem::Uid(nz(uid)),
            MessageDataItem::ModSeq(nz64(modseq)),
        ])
        .expect("two items");
        self.data(Data::Fetch {
            seq: nz(seq),
            items,
        });
    }
}

pub(crate) fn internal_date(secs: i64) -> DateTime {
    let utc = chrono::FixedOffset::east_opt(0).expect("zero offset");
    let t = utc
        .timestamp_opt(secs, 0)
        .single()
        .unwrap_or_else(|| utc.timestamp_opt(0, 0).single().expect("epoch"));
    DateTime::try_from(t).unwrap_or_else(|_| {
        DateTime::try_from(utc.timestamp_opt(0, 0).single().expect("epoch")).expect("epoch")
    })
}

/// RFC 3516 §4.3: a part whose transfer encoding cannot be undone.
fn unknown_cte() -> Reply {
    Reply::No(
        Some(imap_codec::imap_types::response::Code::UnknownCte),
        "unknown Content-Transfer-Encoding".into(),
    )
}

/// The `<start.length>` slice of a section (RFC 9051 §6.4.5), and the origin to report.
fn cut(bytes: &[u8], partial: Option<(u32, std::num::NonZeroU32)>) -> (Option<u32>, &[u8]) {
    match partial {
        Some((start, len)) => {
            let s = (start as usize).min(bytes.len());
            let e = s.saturating_add(len.get() as usize).min(bytes.len());
            (Some(start), &bytes[s..e])
        }
        None => (None, bytes),
    }
}

/// [`literal`] without copying the bytes when they need no change.
fn literal_ref(bytes: &[u8]) -> NString<'_> {
    // A literal's only rule is "no NUL" (RFC 9051 CHAR8); std's memchr checks that far
    // faster than the codec's byte-by-byte validation, which was a fifth of BODY[]'s time.
    if memchr::memchr(0, bytes).is_some() {
        return literal(bytes);
    }
    NString(Some(IString::Literal(Literal::unvalidated(bytes))))
}

/// Bytes as a literal (never quoted: message data may hold anything). NUL cannot be in an
/// IMAP literal; the rare message holding one has it shown as a space.
fn literal(bytes: &[u8]) -> NString<'static> {
    let lit = match Literal::try_from(bytes.to_vec()) {
        Ok(l) => l,
        Err(_) => Literal::try_from(
            bytes
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b })
                .collect::<Vec<u8>>(),
        )
        .expect("no NUL"),
    };
    NString(Some(IString::Literal(lit)))
}
