//! A stored message as IMAP shows it: section numbers and their bytes (BODY[…]), ENVELOPE
//! and BODYSTRUCTURE (RFC 9051 §6.4.5, §7.5.2), read from the message bytes with mail-parser.
//!
//! Parts are numbered as IMAP numbers them: the children of a multipart from 1; a message
//! that is not multipart has its body as part 1; a message/rfc822 part's own parts continue
//! the number (`2.1`), and `2.HEADER` / `2.TEXT` are the attached message's header and text.

use std::ops::Range;

use base64::Engine;
use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Vec1};
use imap_codec::imap_types::envelope::{Address, Envelope};
use imap_codec::imap_types::fetch::{Part, Section};
use mail_parser::{Addr, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

pub(crate) struct Parsed<'a> {
    raw: &'a [u8],
    msg: Option<Message<'a>>,
}

/// A located part: the message holding it, the bytes that message's offsets are into (the
/// whole, or an encoded attached message's decoded bytes), the part.
struct Located<'m> {
    msg: &'m Message<'m>,
    raw: &'m [u8],
    part: &'m MessagePart<'m>,
}

/// Only what ENVELOPE and BODYSTRUCTURE read is parsed into structure; the rest of the
/// header (Received: lines, a third of the work with the default parser) is kept raw.
static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    use mail_parser::HeaderName as H;
    let mut p = MessageParser::new().with_mime_headers();
    for h in [H::From, H::Sender, H::ReplyTo, H::To, H::Cc, H::Bcc] {
        p = p.header_address(h);
    }
    p
});

pub(crate) fn parse(raw: &[u8]) -> Parsed<'_> {
    Parsed {
        raw,
        msg: PARSER.parse(raw),
    }
}

impl<'a> Parsed<'a> {
    /// The bytes of a section (`None`: the whole message); `None` when the part does not exist.
    pub fn section(&self, section: Option<&Section<'_>>) -> Option<Vec<u8>> {
        let raw = self.raw;
        let Some(section) = section else {
            return Some(raw.to_vec());
        };
        let Some(msg) = &self.msg else {
            // Unreadable as MIME: the whole message is one text part.
            return match section {
                Section::Header(None) | Section::HeaderFields(None, _) => Some(Vec::new()),
                Section::HeaderFieldsNot(None, _) => Some(Vec::new()),
                Section::Text(None) => Some(raw.to_vec()),
                Section::Part(p) if path(p) == [1] => Some(raw.to_vec()),
                _ => None,
            };
        };
        let top = Located {
            msg,
            raw,
            part: msg.part(0)?,
        };
        let (header, text) = match section {
            Section::Part(p) => {
                return Some(locate(msg, raw, &path(p))?.body());
            }
            Section::Mime(p) => {
                return Some(locate(msg, raw, &path(p))?.header());
            }
            Section::Header(p) | Section::HeaderFields(p, _) | Section::HeaderFieldsNot(p, _) => {
                let m = match p {
                    None => top,
                    Some(p) => locate(msg, raw, &path(p))?.inner()?,
                };
                (m.header(), false)
            }
            Section::Text(p) => {
                let m = match p {
                    None => top,
                    Some(p) => locate(msg, raw, &path(p))?.inner()?,
                };
                (m.body(), true)
            }
        };
        if text {
            return Some(header);
        }
        Some(match section {
            Section::HeaderFields(_, names) => {
                filter_fields(&header, names.as_ref().iter().map(|n| n.as_ref()), true)
            }
            Section::HeaderFieldsNot(_, names) => {
                filter_fields(&header, names.as_ref().iter().map(|n| n.as_ref()), false)
            }
            _ => header,
        })
    }

    /// BINARY[part] (RFC 3516): the part's content with its transfer encoding undone (the
    /// whole message for no part). `Err(())` for an encoding this server cannot undo
    /// ([UNKNOWN-CTE]); `Ok(None)` when the part does not exist.
    pub fn binary(&self, path: &[u32]) -> Result<Option<Vec<u8>>, ()> {
        if path.is_empty() {
            return Ok(Some(self.raw.to_vec()));
        }
        let Some(msg) = &self.msg else {
            return Ok((path == [1]).then(|| self.raw.to_vec()));
        };
        let Some(l) = locate(msg, self.raw, path) else {
            return Ok(None);
        };
        let body = l.body();
        let encoding = l
            .part
            .content_transfer_encoding()
            .unwrap_or("7bit")
            .trim()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "7bit" | "8bit" | "binary" => Ok(Some(body)),
            "base64" => {
                let text: Vec<u8> = body
                    .into_iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                // Padding optional and stray trailing bits tolerated, as mail clients write it.
                let lenient = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                        .with_decode_allow_trailing_bits(true),
                );
                lenient.decode(&text).map(Some).map_err(|_| ())
            }
            "quoted-printable" => Ok(Some(quoted_printable(&body))),
            _ => Err(()),
        }
    }

    pub fn envelope(&self) -> Envelope<'static> {
        match &self.msg {
            Some(m) => envelope(m),
            None => empty_envelope(),
        }
    }

    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        match &self.msg {
            Some(m) => structure(m, 0, self.raw, extended, false, 0),
            None => plain_text(self.raw.len(), lines(self.raw), extended),
        }
    }
}

impl<'m> Located<'m> {
    fn header(&self) -> Vec<u8> {
        slice(
            self.raw,
            self.part.offset_header as usize..self.part.offset_body as usize,
        )
    }

    fn body(&self) -> Vec<u8> {
        slice(
            self.raw,
            self.part.offset_body as usize..self.part.offset_end as usize,
        )
    }

    /// The attached message of a message/rfc822 part, as its root part.
    fn inner(&self) -> Option<Located<'m>> {
        match &self.part.body {
            // Its offsets are into its own `raw_message`: the outer bytes, or the decoded
            // ones when the attached message was transfer-encoded.
            PartType::Message(inner) => Some(Located {
                msg: inner,
                raw: &inner.raw_message,
                part: inner.part(0)?,
            }),
            _ => None,
        }
    }
}

/// The bytes in `r`, clamped to the message (offsets come from a parser of untrusted input).
fn slice(raw: &[u8], r: Range<usize>) -> Vec<u8> {
    let end = r.end.min(raw.len());
    raw[r.start.min(end)..end].to_vec()
}

fn path(p: &Part) -> Vec<u32> {
    p.0.as_ref().iter().map(|n| n.get()).collect()
}

fn locate<'m>(msg: &'m Message<'m>, raw: &'m [u8], path: &[u32]) -> Option<Located<'m>> {
    let mut at = Located {
        msg,
        raw,
        part: msg.part(0)?,
    };
    for (depth, &k) in path.iter().enumerate() {
        let k = k as usize;
        // Stepping into an attached message first (not at the top: there part 1 of a
        // message/rfc822 message is that attached message itself).
        if depth > 0 && matches!(at.part.body, PartType::Message(_)) {
            at = at.inner()?;
        }
        at = match &at.part.body {
            PartType::Multipart(children) => Located {
                part: at.msg.part(*children.get(k.checked_sub(1)?)?)?,
                ..at
            },
            _ if k == 1 && std::ptr::eq(at.part, at.msg.part(0)?) => at,
            _ => return None,
        };
    }
    Some(at)
}

/// The header fields of a header block whose name is (or, `keep` false, is not) among
/// `names`, each with its continuation lines, then the empty line.
fn filter_fields<'n>(header: &[u8], names: impl Iterator<Item = &'n [u8]>, keep: bool) -> Vec<u8> {
    let names: Vec<&[u8]> = names.collect();
    let mut out = Vec::new();
    let mut take = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let listed = names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.trim_ascii()));
            take = listed == keep;
        }
        if take {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Undoes quoted-printable (RFC 2045 §6.7): `=XX` escapes and soft line breaks; a
/// malformed escape is kept as it is.
fn quoted_printable(b: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => {
                    i += 3;
                    continue;
                }
                (Some(b'\n'), _) => {
                    i += 2;
                    continue;
                }
                (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                    i += 3;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn lines(b: &[u8]) -> u32 {
    b.iter().filter(|&&c| c == b'\n').count() as u32
}

fn nstr(s: Option<&str>) -> NString<'static> {
    match s {
        Some(s) => NString(IString::try_from(s.to_string()).ok()),
        None => NString(None),
    }
}

fn istr(s: &str) -> IString<'static> {
    IString::try_from(s.to_string())
        .unwrap_or_else(|_| IString::try_from(s.replace('\0', "")).expect("no NUL"))
}

/// A header's value unfolded and trimmed, as ENVELOPE carries it (not decoded).
fn raw_header(m: &Message<'_>, name: &str) -> Option<String> {
    let v = m.header_raw(name)?;
    let v = v.replace("\r\n", "").replace('\n', "");
    Some(v.trim().to_string())
}

fn envelope(m: &Message<'_>) -> Envelope<'static> {
    let from = addresses(m.header("From"));
    let sender = match addresses(m.header("Sender")) {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addresses(m.header("Reply-To")) {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    Envelope {
        date: nstr(raw_header(m, "Date").as_deref()),
        subject: nstr(raw_header(m, "Subject").as_deref()),
        from,
        sender,
        reply_to,
        to: addresses(m.header("To")),
        cc: addresses(m.header("Cc")),
        bcc: addresses(m.header("Bcc")),
        in_reply_to: nstr(raw_header(m, "In-Reply-To").as_deref()),
        message_id: nstr(raw_header(m, "Message-ID").as_deref()),
    }
}

fn empty_envelope() -> Envelope<'static> {
    Envelope {
        date: NString(None),
        subject: NString(None),
        from: vec![],
        sender: vec![],
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        bcc: vec![],
        in_reply_to: NString(None),
        message_id: NString(None),
    }
}

/// A display name as ENVELOPE carries it: ASCII as is, anything else as an RFC 2047 word.
fn encoded_name(name: &str) -> String {
    if name.is_ascii() {
        name.to_string()
    } else {
        format!(
            "=?utf-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(name)
        )
    }
}

fn address(a: &Addr<'_>) -> Option<Address<'static>> {
    let addr = a.address.as_deref()?;
    let (mailbox, host) = addr.rsplit_once('@').unwrap_or((addr, ""));
    Some(Address {
        name: nstr(a.name.as_deref().map(encoded_name).as_deref()),
        adl: NString(None),
        mailbox: nstr(Some(mailbox)),
        // RFC 9051: an address without a domain has an empty host? NIL marks groups, so an
        // empty string here.
        host: nstr(Some(host)),
    })
}

fn addresses(v: Option<&HeaderValue<'_>>) -> Vec<Address<'static>> {
    let Some(mail_parser::HeaderValue::Address(a)) = v else {
        return vec![];
    };
    match a {
        mail_parser::Address::List(list) => list.iter().filter_map(address).collect(),
        mail_parser::Address::Group(groups) => {
            let mut out = Vec::new();
            for g in groups {
                match &g.name {
                    // RFC 9051 §7.5.2: a group is its name as mailbox with a NIL host, its
                    // members, then NIL mailbox and host.
                    Some(name) => {
                        out.push(Address {
                            name: NString(None),
                            adl: NString(None),
                            mailbox: nstr(Some(&encoded_name(name))),
                            host: NString(None),
                        });
                        out.extend(g.addresses.iter().filter_map(address));
                        out.push(Address {
                            name: NString(None),
                            adl: NString(None),
                            mailbox: NString(None),
                            host: NString(None),
                        });
                    }
                    None => out.extend(g.addresses.iter().filter_map(address)),
                }
            }
            out
        }
    }
}

fn plain_text(size: usize, lines: u32, extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(istr("charset"), istr("us-ascii"))],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: istr("7BIT"),
                size: size as u32,
            },
            specific: SpecificFields::Text {
                subtype: istr("PLAIN"),
                number_of_lines: lines,
            },
        },
        extension_data: extended.then_some(SinglePartExtensionData {
            md5: NString(None),
            tail: None,
        }),
    }
}

fn opaque(size: usize, extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: istr("7BIT"),
                size: size as u32,
            },
            specific: SpecificFields::Basic {
                r#type: istr("APPLICATION"),
                subtype: istr("OCTET-STREAM"),
            },
        },
        extension_data: extended.then_some(SinglePartExtensionData {
            md5: NString(None),
            tail: None,
        }),
    }
}

fn params(p: &MessagePart<'_>, default_charset: bool) -> Vec<(IString<'static>, IString<'static>)> {
    let mut out: Vec<(IString<'static>, IString<'static>)> = p
        .content_type()
        .and_then(|ct| ct.attributes())
        .map(|attrs| {
            attrs
                .iter()
                .map(|a| (istr(&a.name.to_ascii_lowercase()), istr(&a.value)))
                .collect()
        })
        .unwrap_or_default();
    if default_charset && out.is_empty() {
        out.push((istr("charset"), istr("us-ascii")));
    }
    out
}

fn disposition(p: &MessagePart<'_>) -> Disposition<'static> {
    let disposition = p.content_disposition().map(|d| {
        let attrs = d
            .attributes()
            .map(|a| {
                a.iter()
                    .map(|a| (istr(&a.name.to_ascii_lowercase()), istr(&a.value)))
                    .collect()
            })
            .unwrap_or_default();
        (istr(&d.ctype().to_ascii_lowercase()), attrs)
    });
    let language = match p.content_language() {
        HeaderValue::Text(t) => vec![istr(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| istr(t)).collect(),
        _ => vec![],
    };
    Disposition {
        disposition,
        tail: Some(Language {
            language,
            tail: Some(Location {
                location: nstr(p.content_location()),
                extensions: vec![],
            }),
        }),
    }
}

/// MIME nesting shown in BODYSTRUCTURE, as core keeps it; deeper parts are shown as opaque
/// data (a crafted message nested thousands deep must not exhaust the stack).
use mailroom_core::mime::MAX_DEPTH;

fn structure(
    m: &Message<'_>,
    index: u32,
    raw: &[u8],
    extended: bool,
    in_digest: bool,
    depth: usize,
) -> BodyStructure<'static> {
    let Some(p) = m.part(index) else {
        return plain_text(0, 0, extended);
    };
    if depth >= MAX_DEPTH {
        let size = (p.offset_end.saturating_sub(p.offset_body)) as usize;
        return opaque(size, extended);
    }
    let body_range = p.offset_body as usize..(p.offset_end as usize).min(raw.len());
    let body_bytes = raw.get(body_range.clone()).unwrap_or_default();
    let (ctype, subtype) = match p
        .content_type()
        .and_then(|ct| Some((ct.ctype().to_string(), ct.subtype()?.to_string())))
    {
        Some(t) => t,
        None if in_digest => ("message".into(), "rfc822".into()),
        None => ("text".into(), "plain".into()),
    };
    if let PartType::Multipart(children) = &p.body {
        let digest = subtype.eq_ignore_ascii_case("digest");
        let bodies: Vec<BodyStructure<'static>> = children
            .iter()
            .map(|c| structure(m, *c, raw, extended, digest, depth + 1))
            .collect();
        let Ok(bodies) = Vec1::try_from(bodies) else {
            return plain_text(body_bytes.len(), lines(body_bytes), extended);
        };
        return BodyStructure::Multi {
            bodies,
            subtype: istr(&subtype.to_ascii_uppercase()),
            extension_data: extended.then(|| MultiPartExtensionData {
                parameter_list: params(p, false),
                tail: Some(disposition(p)),
            }),
        };
    }
    let is_text = ctype.eq_ignore_ascii_case("text");
    let basic = BasicFields {
        parameter_list: params(p, is_text),
        id: nstr(p.content_id()),
        description: nstr(p.content_description()),
        content_transfer_encoding: istr(
            &p.content_transfer_encoding()
                .unwrap_or("7bit")
                .to_ascii_uppercase(),
        ),
        size: body_bytes.len() as u32,
    };
    let specific = match &p.body {
        PartType::Message(inner) if subtype.eq_ignore_ascii_case("rfc822") => {
            SpecificFields::Message {
                envelope: Box::new(envelope(inner)),
                // The attached message's offsets are into its own bytes (see `inner`).
                body_structure: Box::new(structure(
                    inner,
                    0,
                    &inner.raw_message,
                    extended,
                    false,
                    depth + 1,
                )),
                number_of_lines: lines(body_bytes),
            }
        }
        _ if is_text => SpecificFields::Text {
            subtype: istr(&subtype.to_ascii_uppercase()),
            number_of_lines: lines(body_bytes),
        },
        _ => SpecificFields::Basic {
            r#type: istr(&ctype.to_ascii_uppercase()),
            subtype: istr(&subtype.to_ascii_uppercase()),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: Some(disposition(p)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use imap_codec::imap_types::core::Vec1;
    use imap_codec::imap_types::fetch::{Part, Section};
    use std::num::NonZeroU32;

    /// An attached message sent base64-encoded: its sections come from its decoded bytes.
    #[test]
    fn encoded_attached_message() {
        use base64::Engine;
        let inner = b"From: inner@x.test\r\nSubject: inside\r\n\r\ninner body\r\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(inner);
        let raw = format!(
            "From: a@x.test\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nouter body\r\n\
             --b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {encoded}\r\n--b--\r\n"
        );
        let p = super::parse(raw.as_bytes());
        let part = Part(Vec1::from(NonZeroU32::new(2).unwrap()));
        let header = p
            .section(Some(&Section::Header(Some(part.clone()))))
            .unwrap();
        assert_eq!(header, b"From: inner@x.test\r\nSubject: inside\r\n\r\n");
        let text = p.section(Some(&Section::Text(Some(part)))).unwrap();
        assert_eq!(text, b"inner body\r\n");
    }
}
