//! FETCH items that depend only on a message's bytes (ENVELOPE, BODYSTRUCTURE, BODY), kept
//! encoded by blob id: the bytes never change, so neither does the item. A warm
//! `FETCH 1:* (ENVELOPE BODYSTRUCTURE)` then reads no message and parses nothing.
//!
//! Items are also kept in the database (core's derived data, by blob id), so the first
//! listing after a restart reads them instead of every message.
//!
//! Each item is encoded by imap-codec (as the one item of a FETCH response, from which the
//! item's own bytes are cut); a response made of cached items is the FETCH line around them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

/// Which item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Envelope,
    BodyStructure,
    Body,
}

impl Kind {
    /// Its number among the derived data core keeps (the IMAP gateway's are 1–3).
    pub fn stored(self) -> i16 {
        match self {
            Kind::Envelope => 1,
            Kind::BodyStructure => 2,
            Kind::Body => 3,
        }
    }
}

type Key = ([u8; 32], Kind);

/// Encoded items kept, in bytes (about 1 KB a message for all three).
const BUDGET: usize = 192 << 20;

#[derive(Default)]
struct Cache {
    map: HashMap<Key, Arc<[u8]>>,
    order: VecDeque<Key>,
    bytes: usize,
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

pub(crate) fn get(blob: &[u8; 32], kind: Kind) -> Option<Arc<[u8]>> {
    CACHE
        .lock()
        .expect("item cache")
        .map
        .get(&(*blob, kind))
        .cloned()
}

pub(crate) fn put(blob: &[u8; 32], kind: Kind, item: Arc<[u8]>) {
    let mut c = CACHE.lock().expect("item cache");
    if c.map.insert((*blob, kind), item.clone()).is_none() {
        c.order.push_back((*blob, kind));
        c.bytes += item.len();
    }
    // Oldest first out.
    while c.bytes > BUDGET {
        let Some(k) = c.order.pop_front() else { break };
        if let Some(v) = c.map.remove(&k) {
            c.bytes -= v.len();
        }
    }
}

/// `kind`'s item for a parsed message, encoded as [`encode`] does.
pub(crate) fn make(p: &crate::message::Parsed<'_>, kind: Kind) -> Vec<u8> {
    encode(match kind {
        Kind::Envelope => MessageDataItem::Envelope(p.envelope()),
        Kind::BodyStructure => MessageDataItem::BodyStructure(p.body_structure(true)),
        Kind::Body => MessageDataItem::Body(p.body_structure(false)),
    })
}

/// The items nearly every client fetches for every message (ENVELOPE, BODYSTRUCTURE), as
/// core keeps them (`(kind, data)`): a bulk import files them with the messages, so the
/// first listing of an imported mailbox reads no message.
pub fn derive(raw: &[u8]) -> Vec<(i16, Vec<u8>)> {
    let p = crate::message::parse(raw);
    [Kind::Envelope, Kind::BodyStructure]
        .into_iter()
        .map(|k| (k.stored(), make(&p, k)))
        .collect()
}

/// One item as it appears inside a FETCH response (e.g. `ENVELOPE (…)`), literals included.
pub(crate) fn encode(item: MessageDataItem<'_>) -> Vec<u8> {
    let r = Response::Data(Data::Fetch {
        seq: std::num::NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    let mut bytes = Vec::new();
    for f in ResponseCodec::new().encode(&r) {
        match f {
            imap_codec::encode::Fragment::Line { data }
            | imap_codec::encode::Fragment::Literal { data, .. } => bytes.extend_from_slice(&data),
        }
    }
    let head = b"* 1 FETCH (".len();
    let tail = b")\r\n".len();
    bytes[head..bytes.len() - tail].to_vec()
}

#[cfg(test)]
mod tests {
    use imap_codec::imap_types::fetch::MessageDataItem;

    #[test]
    fn items_are_cut_from_a_response() {
        let got = super::encode(MessageDataItem::Rfc822Size(42));
        assert_eq!(got, b"RFC822.SIZE 42");
    }
}
