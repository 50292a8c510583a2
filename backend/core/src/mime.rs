//! A message's MIME structure, its header fields in every parsed form, and the decoded
//! content of one part — protocol-neutral, so JMAP's bodyStructure and IMAP's BODYSTRUCTURE
//! read the same tree.
//!
//! Part ids are IMAP section numbers ("1", "2.1"): leaves and attached messages have one,
//! multipart containers do not. An attached message is a leaf (RFC 8621 §4.1.4: its own
//! parts are not part of the outer message's structure).

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders, PartType};

/// One header field as it is in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHeader {
    /// As written, e.g. `Content-Type`.
    pub name: String,
    /// Everything after the colon, folding kept, without the final line break.
    pub value: String,
}

/// One node of the MIME tree.
#[derive(Clone, Debug, Default)]
pub struct MimePart {
    /// The section number; `None` for a multipart container.
    pub part_id: Option<String>,
    pub headers: Vec<RawHeader>,
    /// `type/subtype`, lower case; `text/plain` when absent (RFC 2045 §5.2).
    pub media_type: String,
    /// The charset parameter; `us-ascii` for text without one; `None` for other types.
    pub charset: Option<String>,
    /// The file name (RFC 2231 / RFC 2047 decoded), from Content-Disposition or Content-Type.
    pub name: Option<String>,
    /// `inline` or `attachment` (lower case), when given.
    pub disposition: Option<String>,
    /// Content-ID without its angle brackets.
    pub cid: Option<String>,
    pub language: Option<Vec<String>>,
    pub location: Option<String>,
    /// Octets after transfer decoding (for an attached message, its raw size).
    pub size: u64,
    /// For text parts: the content decoded to UTF-8, and whether that needed guessing.
    pub text: Option<String>,
    pub encoding_problem: bool,
    pub sub_parts: Vec<MimePart>,
}

impl MimePart {
    pub fn is_multipart(&self) -> bool {
        self.media_type.starts_with("multipart/")
    }

    /// Every field named `name` (case-insensitive), in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RawHeader> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
    }

    /// The part with this section number, at any depth.
    pub fn find(&self, part_id: &str) -> Option<&MimePart> {
        if self.part_id.as_deref() == Some(part_id) {
            return Some(self);
        }
        self.sub_parts.iter().find_map(|p| p.find(part_id))
    }
}

/// The MIME tree of a raw message. A message mail-parser cannot read at all is one empty
/// text part, so a stored message always has a structure.
pub fn structure(raw: &[u8]) -> MimePart {
    match MessageParser::default().parse(raw) {
        Some(msg) => part(&msg, raw, 0, "", false),
        None => unreadable(),
    }
}

fn unreadable() -> MimePart {
    MimePart {
        part_id: Some("1".into()),
        media_type: "text/plain".into(),
        charset: Some("us-ascii".into()),
        text: Some(String::new()),
        ..MimePart::default()
    }
}

/// MIME nesting kept in the tree; a multipart deeper than this is one opaque part. Every
/// walk of the tree (JMAP bodyStructure, textBody, serialisation) recurses once per level,
/// and a crafted message thousands of levels deep must not exhaust a thread's stack.
pub const MAX_DEPTH: usize = 32;

fn part(msg: &Message<'_>, raw: &[u8], index: u32, prefix: &str, in_digest: bool) -> MimePart {
    part_at(msg, raw, index, prefix, in_digest, 0)
}

fn part_at(
    msg: &Message<'_>,
    raw: &[u8],
    index: u32,
    prefix: &str,
    in_digest: bool,
    depth: usize,
) -> MimePart {
    let Some(p) = msg.part(index) else {
        return MimePart::default();
    };
    let headers = p
        .headers
        .iter()
        .map(|h| {
            let name_end = (h.offset_start as usize).saturating_sub(1);
            RawHeader {
                name: bytes_str(raw, h.offset_field as usize, name_end)
                    .trim()
                    .to_string(),
                value: bytes_str(raw, h.offset_start as usize, h.offset_end as usize)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            }
        })
        .collect();
    // RFC 2045 §5.2: a missing or unreadable type (no subtype) is the default type.
    let media_type = match p
        .content_type()
        .and_then(|ct| Some((ct.ctype(), ct.subtype()?)))
    {
        Some((t, st)) => format!("{t}/{st}").to_ascii_lowercase(),
        None if in_digest => "message/rfc822".into(),
        None => "text/plain".into(),
    };
    let charset = p
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.to_string())
        .or_else(|| media_type.starts_with("text/").then(|| "us-ascii".into()));
    let language = match p.content_language() {
        HeaderValue::Text(t) => Some(vec![t.to_string()]),
        HeaderValue::TextList(l) => Some(l.iter().map(|t| t.to_string()).collect()),
        _ => None,
    };
    let mut out = MimePart {
        part_id: None,
        headers,
        charset,
        name: p.attachment_name().map(str::to_string),
        disposition: p
            .content_disposition()
            .map(|d| d.ctype().to_ascii_lowercase()),
        cid: p
            .content_id()
            .map(|c| c.trim_matches(['<', '>']).to_string()),
        language,
        location: p.content_location().map(str::to_string),
        encoding_problem: p.is_encoding_problem,
        media_type,
        ..MimePart::default()
    };
    match &p.body {
        PartType::Multipart(_) if depth >= MAX_DEPTH => {
            out.media_type = "application/octet-stream".into();
            out.charset = None;
            out.size = (p.offset_end.saturating_sub(p.offset_body)) as u64;
        }
        PartType::Multipart(children) => {
            let digest = out.media_type == "multipart/digest";
            out.size = (p.offset_end.saturating_sub(p.offset_body)) as u64;
            out.sub_parts = children
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let id = if prefix.is_empty() {
                        (i + 1).to_string()
                    } else {
                        format!("{prefix}.{}", i + 1)
                    };
                    part_at(msg, raw, *c, &id, digest, depth + 1)
                })
                .collect();
            // A multipart container has no number of its own.
            return out;
        }
        PartType::Text(t) | PartType::Html(t) => {
            out.text = Some(t.to_string());
            out.size = t.len() as u64;
        }
        PartType::Binary(b) | PartType::InlineBinary(b) => out.size = b.len() as u64,
        PartType::Message(m) => out.size = m.raw_message().len() as u64,
    }
    out.part_id = Some(if prefix.is_empty() {
        "1".into()
    } else {
        prefix.to_string()
    });
    out
}

fn bytes_str(raw: &[u8], start: usize, end: usize) -> String {
    let end = end.min(raw.len());
    let start = start.min(end);
    String::from_utf8_lossy(&raw[start..end]).into_owned()
}

/// The structure of a raw message and those of the messages attached to it (message/rfc822
/// parts, and theirs in turn, `depth` levels down; at most [`MAX_ATTACHED`]), for searches
/// that look into them. One parse: mail-parser has read the attached messages already.
pub fn structure_with_attached(raw: &[u8], depth: u32) -> (MimePart, Vec<MimePart>) {
    fn attached(msg: &Message<'_>, depth: u32, out: &mut Vec<MimePart>) {
        for p in &msg.parts {
            if out.len() >= MAX_ATTACHED {
                return;
            }
            if let PartType::Message(m) = &p.body {
                // Offsets are into `raw_message` (the outer bytes, or decoded ones).
                out.push(part(m, &m.raw_message, 0, "", false));
                if depth > 1 {
                    attached(m, depth - 1, out);
                }
            }
        }
    }
    match MessageParser::default().parse(raw) {
        Some(msg) => {
            let root = part(&msg, raw, 0, "", false);
            let mut out = Vec::new();
            attached(&msg, depth, &mut out);
            (root, out)
        }
        None => (unreadable(), Vec::new()),
    }
}

/// Attached messages searched per message: a digest of thousands costs no more than this.
pub const MAX_ATTACHED: usize = 64;

/// The decoded content of the part with this section number (an attached message whole),
/// with its media type and name.
pub fn part_content(raw: &[u8], part_id: &str) -> Option<(MimePart, Vec<u8>)> {
    let msg = MessageParser::default().parse(raw)?;
    let root = part(&msg, raw, 0, "", false);
    let found = root.find(part_id)?.clone();
    // Walk mail-parser's tree by the same numbering to reach the bytes.
    let mut index = 0u32;
    let mut steps = part_id.split('.').map(|s| s.parse::<usize>().ok());
    if !root.is_multipart() {
        return Some((found, content(msg.part(0)?)));
    }
    for step in steps.by_ref() {
        let n = step?.checked_sub(1)?;
        match &msg.part(index)?.body {
            PartType::Multipart(children) => index = *children.get(n)?,
            _ => return None,
        }
    }
    Some((found, content(msg.part(index)?)))
}

fn content(p: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    match &p.body {
        PartType::Message(m) => m.raw_message().to_vec(),
        _ => p.contents().to_vec(),
    }
}

/// An address in a header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub email: String,
}

/// A named group of addresses, or (name `None`) addresses outside any group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressGroup {
    pub name: Option<String>,
    pub addresses: Vec<EmailAddress>,
}

/// A header field's raw value (as in [`RawHeader::value`]) read as unstructured text:
/// encoded words decoded, folding removed, surrounding white space trimmed.
pub fn as_text(value: &str) -> String {
    let v = format!("{value}\r\n");
    match MessageStream::new(v.as_bytes()).parse_unstructured() {
        HeaderValue::Text(t) => t.trim().to_string(),
        _ => String::new(),
    }
}

/// A raw value read as an address list, grouped as written.
pub fn as_grouped_addresses(value: &str) -> Vec<AddressGroup> {
    let v = format!("{value}\r\n");
    let addr = |a: &mail_parser::Addr<'_>| EmailAddress {
        name: a.name.as_ref().map(|n| n.to_string()),
        email: a.address.as_deref().unwrap_or_default().to_string(),
    };
    match MessageStream::new(v.as_bytes()).parse_address() {
        HeaderValue::Address(mail_parser::Address::List(list)) => vec![AddressGroup {
            name: None,
            addresses: list.iter().map(addr).collect(),
        }],
        HeaderValue::Address(mail_parser::Address::Group(groups)) => groups
            .iter()
            .map(|g| AddressGroup {
                name: g.name.as_ref().map(|n| n.to_string()),
                addresses: g.addresses.iter().map(addr).collect(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A raw value read as an address list, groups flattened.
pub fn as_addresses(value: &str) -> Vec<EmailAddress> {
    as_grouped_addresses(value)
        .into_iter()
        .flat_map(|g| g.addresses)
        .collect()
}

/// A raw value read as a list of message ids (without angle brackets); `None` if it is not one.
pub fn as_message_ids(value: &str) -> Option<Vec<String>> {
    let v = format!("{value}\r\n");
    match MessageStream::new(v.as_bytes()).parse_id() {
        HeaderValue::Text(t) => Some(vec![t.to_string()]),
        HeaderValue::TextList(l) => Some(l.iter().map(|t| t.to_string()).collect()),
        _ => None,
    }
}

/// A raw value read as a date: RFC 3339 with the field's own offset; `None` if it is not one.
pub fn as_date(value: &str) -> Option<String> {
    let v = format!("{value}\r\n");
    match MessageStream::new(v.as_bytes()).parse_date() {
        HeaderValue::DateTime(d) if d.is_valid() => Some(d.to_rfc3339()),
        _ => None,
    }
}

/// A raw value read as a list of `<URL>`s (RFC 2369); `None` if there is none.
pub fn as_urls(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start + 1..].find('>') else {
            break;
        };
        let url: String = rest[start + 1..start + 1 + len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.push(url);
        rest = &rest[start + 1 + len + 1..];
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: A <a@x.test>\r\nSubject: =?utf-8?q?h=C3=A9llo?=\r\n\
Content-Type: multipart/mixed; boundary=b1\r\n\r\n\
--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n\
--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n\
--b2\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b2--\r\n\
--b1\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\n\
Content-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAECAw==\r\n--b1--\r\n";

    #[test]
    fn numbers_parts_like_imap_sections() {
        let s = structure(MIXED);
        assert_eq!(s.part_id, None);
        assert_eq!(s.media_type, "multipart/mixed");
        let alt = &s.sub_parts[0];
        assert_eq!((alt.part_id.as_deref(), alt.sub_parts.len()), (None, 2));
        assert_eq!(alt.sub_parts[0].part_id.as_deref(), Some("1.1"));
        assert_eq!(alt.sub_parts[0].text.as_deref(), Some("plain"));
        assert_eq!(alt.sub_parts[1].charset.as_deref(), Some("us-ascii"));
        let pdf = &s.sub_parts[1];
        assert_eq!(pdf.part_id.as_deref(), Some("2"));
        assert_eq!(pdf.name.as_deref(), Some("r.pdf"));
        assert_eq!(pdf.disposition.as_deref(), Some("attachment"));
        assert_eq!(pdf.size, 4);
        assert_eq!(part_content(MIXED, "2").unwrap().1, vec![0, 1, 2, 3]);
        assert_eq!(
            part_content(MIXED, "1.2").unwrap().1,
            b"<p>html</p>".to_vec()
        );
        assert!(part_content(MIXED, "3").is_none());
        assert_eq!(s.headers[1].name, "Subject");
        assert_eq!(s.headers[1].value, " =?utf-8?q?h=C3=A9llo?=");
        assert_eq!(as_text(&s.headers[1].value), "héllo");
    }

    #[test]
    fn header_forms() {
        let g = as_grouped_addresses(" A <a@x>, team: b@x, \"C\" <c@x>;");
        assert_eq!(g.len(), 2);
        assert_eq!(g[1].name.as_deref(), Some("team"));
        assert_eq!(as_addresses(" A <a@x>, b@x").len(), 2);
        assert_eq!(
            as_message_ids(" <1@x> <2@x>"),
            Some(vec!["1@x".to_string(), "2@x".to_string()])
        );
        assert_eq!(
            as_date(" Tue, 1 Jul 2003 10:52:37 +0200").as_deref(),
            Some("2003-07-01T10:52:37+02:00")
        );
        assert_eq!(as_date(" not a date"), None);
        assert_eq!(
            as_urls(" <mailto:l@x?subject=u>, <https://x/u>"),
            Some(vec!["mailto:l@x?subject=u".into(), "https://x/u".into()])
        );
        let single = structure(b"Subject: s\r\n\r\nbody\r\n");
        assert_eq!(single.part_id.as_deref(), Some("1"));
        assert_eq!(
            part_content(b"Subject: s\r\n\r\nbody\r\n", "1").unwrap().1,
            b"body\r\n".to_vec()
        );
    }
}
