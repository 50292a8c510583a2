//! The parts of an Email read from its message (RFC 8621 §4.1.2–§4.1.4): header fields in
//! their `header:{name}:as{Form}:all` forms, bodyStructure and the textBody / htmlBody /
//! attachments lists, and bodyValues. Shared by Email/get and Email/parse.

use mailroom_core::mime::{self, MimePart, RawHeader};
use serde_json::{Map, Value, json};

use crate::MethodError;

/// How a header field is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    Raw,
    Text,
    Addresses,
    GroupedAddresses,
    MessageIds,
    Date,
    Urls,
}

/// A parsed `header:` property.
#[derive(Clone, Debug)]
pub(super) struct HeaderProp {
    pub name: String,
    pub form: Form,
    pub all: bool,
}

const ADDRESS_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-reply-to",
    "resent-to",
    "resent-cc",
    "resent-bcc",
];
const ID_FIELDS: &[&str] = &[
    "message-id",
    "in-reply-to",
    "references",
    "resent-message-id",
];
const DATE_FIELDS: &[&str] = &["date", "resent-date"];
const URL_FIELDS: &[&str] = &[
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];
const TEXT_FIELDS: &[&str] = &["subject", "comments", "keywords", "list-id"];

impl HeaderProp {
    /// `header:{name}[:as{Form}][:all]`; `None` if `prop` is not a header property at all.
    pub fn parse(prop: &str) -> Option<Result<HeaderProp, MethodError>> {
        let rest = prop.strip_prefix("header:")?;
        let bad =
            || MethodError::InvalidArguments(format!("{prop:?} is not a valid header property"));
        let mut bits: Vec<&str> = rest.split(':').collect();
        let all = bits.len() > 1 && bits.last() == Some(&"all");
        if all {
            bits.pop();
        }
        let form = match bits.len() {
            1 => Form::Raw,
            2 => match bits[1] {
                "asRaw" => Form::Raw,
                "asText" => Form::Text,
                "asAddresses" => Form::Addresses,
                "asGroupedAddresses" => Form::GroupedAddresses,
                "asMessageIds" => Form::MessageIds,
                "asDate" => Form::Date,
                "asURLs" => Form::Urls,
                _ => return Some(Err(bad())),
            },
            _ => return Some(Err(bad())),
        };
        let name = bits[0];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Some(Err(bad()));
        }
        // RFC 8621 §4.1.2: each defined field has the forms that make sense for it; a field
        // RFC 5322 / RFC 2369 do not define may be read in any form.
        let lc = name.to_ascii_lowercase();
        let defined = [
            ADDRESS_FIELDS,
            ID_FIELDS,
            DATE_FIELDS,
            URL_FIELDS,
            TEXT_FIELDS,
        ]
        .iter()
        .any(|l| l.contains(&lc.as_str()));
        let allowed = match form {
            Form::Raw => true,
            Form::Text => TEXT_FIELDS.contains(&lc.as_str()) || !defined,
            Form::Addresses | Form::GroupedAddresses => {
                ADDRESS_FIELDS.contains(&lc.as_str()) || !defined
            }
            Form::MessageIds => ID_FIELDS.contains(&lc.as_str()) || !defined,
            Form::Date => DATE_FIELDS.contains(&lc.as_str()) || !defined,
            Form::Urls => URL_FIELDS.contains(&lc.as_str()) || !defined,
        };
        if !allowed {
            return Some(Err(MethodError::InvalidArguments(format!(
                "{prop:?}: the {name} header field cannot be read in that form"
            ))));
        }
        Some(Ok(HeaderProp {
            name: name.to_string(),
            form,
            all,
        }))
    }

    /// The value for a part: the last instance, or all of them; null / [] when absent.
    pub fn value(&self, part: &MimePart) -> Value {
        let fields: Vec<&RawHeader> = part.headers_named(&self.name).collect();
        if self.all {
            Value::Array(fields.iter().map(|h| read(&h.value, self.form)).collect())
        } else {
            fields
                .last()
                .map(|h| read(&h.value, self.form))
                .unwrap_or(Value::Null)
        }
    }
}

fn address_json(a: &mime::EmailAddress) -> Value {
    json!({"name": a.name, "email": a.email})
}

/// One field value in one form.
pub(super) fn read(value: &str, form: Form) -> Value {
    match form {
        Form::Raw => json!(value),
        Form::Text => json!(mime::as_text(value)),
        Form::Addresses => {
            Value::Array(mime::as_addresses(value).iter().map(address_json).collect())
        }
        Form::GroupedAddresses => Value::Array(
            mime::as_grouped_addresses(value)
                .iter()
                .map(|g| {
                    json!({"name": g.name, "addresses": g.addresses.iter().map(address_json).collect::<Vec<_>>()})
                })
                .collect(),
        ),
        Form::MessageIds => json!(mime::as_message_ids(value)),
        Form::Date => json!(mime::as_date(value)),
        Form::Urls => json!(mime::as_urls(value)),
    }
}

/// The message-level convenience properties (RFC 8621 §4.1.3) read from the headers, as
/// Email/parse gives them and Email/get gives `sender` and `bcc`.
pub(super) fn convenience(root: &MimePart, prop: &str) -> Option<Value> {
    let (name, form) = match prop {
        "messageId" => ("Message-ID", Form::MessageIds),
        "inReplyTo" => ("In-Reply-To", Form::MessageIds),
        "references" => ("References", Form::MessageIds),
        "sender" => ("Sender", Form::Addresses),
        "from" => ("From", Form::Addresses),
        "to" => ("To", Form::Addresses),
        "cc" => ("Cc", Form::Addresses),
        "bcc" => ("Bcc", Form::Addresses),
        "replyTo" => ("Reply-To", Form::Addresses),
        "subject" => ("Subject", Form::Text),
        "sentAt" => ("Date", Form::Date),
        _ => return None,
    };
    Some(
        HeaderProp {
            name: name.into(),
            form,
            all: false,
        }
        .value(root),
    )
}

/// `headers`: every field of the part, raw.
pub(super) fn headers_json(part: &MimePart) -> Value {
    Value::Array(
        part.headers
            .iter()
            .map(|h| json!({"name": h.name, "value": h.value}))
            .collect(),
    )
}

pub(super) const BODY_PROPERTIES: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "headers",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
    "subParts",
];

pub(super) const DEFAULT_BODY_PROPERTIES: &[&str] = &[
    "partId",
    "blobId",
    "size",
    "name",
    "type",
    "charset",
    "disposition",
    "cid",
    "language",
    "location",
];

/// The `bodyProperties` argument, checked.
pub(super) fn body_properties(args: &Map<String, Value>) -> Result<Vec<String>, MethodError> {
    match args.get("bodyProperties") {
        None | Some(Value::Null) => Ok(DEFAULT_BODY_PROPERTIES
            .iter()
            .map(|s| s.to_string())
            .collect()),
        Some(Value::Array(v)) => v
            .iter()
            .map(|p| {
                let p = p.as_str().ok_or_else(|| {
                    MethodError::InvalidArguments("bodyProperties must be strings".into())
                })?;
                match HeaderProp::parse(p) {
                    Some(h) => h.map(|_| p.to_string()),
                    None if BODY_PROPERTIES.contains(&p) => Ok(p.to_string()),
                    None => Err(MethodError::InvalidArguments(format!(
                        "unknown body property {p:?}"
                    ))),
                }
            })
            .collect(),
        _ => Err(MethodError::InvalidArguments(
            "bodyProperties must be an array or null".into(),
        )),
    }
}

/// One EmailBodyPart; `subParts` recurses for bodyStructure.
pub(super) fn part_json(part: &MimePart, message_blob: Option<&str>, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "partId" => json!(part.part_id),
            "blobId" => match (&part.part_id, message_blob) {
                (Some(id), Some(b)) => json!(mailroom_core::mail::part_blob_id(b, id)),
                _ => Value::Null,
            },
            "size" => json!(part.size),
            "headers" => headers_json(part),
            "name" => json!(part.name),
            "type" => json!(part.media_type),
            "charset" => json!(part.charset),
            "disposition" => json!(part.disposition),
            "cid" => json!(part.cid),
            "language" => json!(part.language),
            "location" => json!(part.location),
            "subParts" => {
                if part.is_multipart() {
                    Value::Array(
                        part.sub_parts
                            .iter()
                            .map(|s| part_json(s, message_blob, props))
                            .collect(),
                    )
                } else {
                    Value::Null
                }
            }
            h => match HeaderProp::parse(h) {
                Some(Ok(hp)) => hp.value(part),
                _ => continue,
            },
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// textBody, htmlBody and attachments (RFC 8621 §4.1.4's parseStructure).
pub(super) struct Bodies<'a> {
    pub text: Vec<&'a MimePart>,
    pub html: Vec<&'a MimePart>,
    pub attachments: Vec<&'a MimePart>,
}

pub(super) fn bodies(root: &MimePart) -> Bodies<'_> {
    let mut b = Bodies {
        text: Vec::new(),
        html: Vec::new(),
        attachments: Vec::new(),
    };
    parse_structure(
        std::slice::from_ref(root),
        "mixed",
        false,
        Some(&mut b.html),
        Some(&mut b.text),
        &mut b.attachments,
    );
    b
}

fn is_inline_media(t: &str) -> bool {
    t.starts_with("image/") || t.starts_with("audio/") || t.starts_with("video/")
}

fn parse_structure<'a>(
    parts: &'a [MimePart],
    multipart_type: &str,
    in_alternative: bool,
    mut html: Option<&mut Vec<&'a MimePart>>,
    mut text: Option<&mut Vec<&'a MimePart>>,
    attachments: &mut Vec<&'a MimePart>,
) {
    let text_len = text.as_ref().map(|t| t.len());
    let html_len = html.as_ref().map(|h| h.len());
    for (i, part) in parts.iter().enumerate() {
        let t = part.media_type.as_str();
        let is_inline = part.disposition.as_deref() != Some("attachment")
            && (t == "text/plain" || t == "text/html" || is_inline_media(t))
            && (i == 0
                || (multipart_type != "related" && (is_inline_media(t) || part.name.is_none())));
        if part.is_multipart() {
            let sub = t.split('/').nth(1).unwrap_or_default();
            parse_structure(
                &part.sub_parts,
                sub,
                in_alternative || sub == "alternative",
                html.as_deref_mut(),
                text.as_deref_mut(),
                attachments,
            );
        } else if is_inline {
            if multipart_type == "alternative" {
                match t {
                    "text/plain" => {
                        if let Some(v) = text.as_deref_mut() {
                            v.push(part)
                        }
                    }
                    "text/html" => {
                        if let Some(v) = html.as_deref_mut() {
                            v.push(part)
                        }
                    }
                    _ => attachments.push(part),
                }
                continue;
            } else if in_alternative {
                if t == "text/plain" {
                    html = None;
                }
                if t == "text/html" {
                    text = None;
                }
            }
            if let Some(v) = text.as_deref_mut() {
                v.push(part);
            }
            if let Some(v) = html.as_deref_mut() {
                v.push(part);
            }
            if (text.is_none() || html.is_none()) && is_inline_media(t) {
                attachments.push(part);
            }
        } else {
            attachments.push(part);
        }
    }
    if multipart_type == "alternative"
        && let (Some(text), Some(html)) = (text, html)
    {
        // Only an HTML part was found: the text body is the HTML one, and the other way round.
        if text_len == Some(text.len()) && html_len != Some(html.len()) {
            let from = html_len.unwrap_or(0);
            text.extend_from_slice(&html[from..]);
        }
        if html_len == Some(html.len()) && text_len != Some(text.len()) {
            let from = text_len.unwrap_or(0);
            html.extend_from_slice(&text[from..]);
        }
    }
}

/// The `fetch*BodyValues` / `maxBodyValueBytes` arguments.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ValueOptions {
    pub text: bool,
    pub html: bool,
    pub all: bool,
    pub max_bytes: usize,
}

impl ValueOptions {
    pub fn from_args(args: &Map<String, Value>) -> Result<ValueOptions, MethodError> {
        let flag = |k: &str| match args.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(MethodError::InvalidArguments(format!(
                "{k} must be a boolean"
            ))),
        };
        let max_bytes = match args.get("maxBodyValueBytes") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => n as usize,
                _ => {
                    return Err(MethodError::InvalidArguments(
                        "maxBodyValueBytes must be a positive integer".into(),
                    ));
                }
            },
        };
        Ok(ValueOptions {
            text: flag("fetchTextBodyValues")?,
            html: flag("fetchHTMLBodyValues")?,
            all: flag("fetchAllBodyValues")?,
            max_bytes,
        })
    }
}

/// `bodyValues`: partId → EmailBodyValue for the text parts the options select.
pub(super) fn body_values(root: &MimePart, b: &Bodies<'_>, o: ValueOptions) -> Value {
    let mut out = Map::new();
    let mut add = |p: &MimePart| {
        let (Some(id), Some(text)) = (&p.part_id, &p.text) else {
            return;
        };
        if !p.media_type.starts_with("text/") || out.contains_key(id) {
            return;
        }
        let (value, truncated) = if o.max_bytes > 0 && text.len() > o.max_bytes {
            let mut end = o.max_bytes;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            (&text[..end], true)
        } else {
            (text.as_str(), false)
        };
        out.insert(
            id.clone(),
            json!({"value": value, "isEncodingProblem": p.encoding_problem, "isTruncated": truncated}),
        );
    };
    if o.all {
        fn walk<'a>(p: &'a MimePart, f: &mut dyn FnMut(&'a MimePart)) {
            f(p);
            for s in &p.sub_parts {
                walk(s, f);
            }
        }
        walk(root, &mut add);
    } else {
        if o.text {
            b.text.iter().for_each(|p| add(p));
        }
        if o.html {
            b.html.iter().for_each(|p| add(p));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&MimePart]) -> Vec<String> {
        v.iter().map(|p| p.part_id.clone().unwrap()).collect()
    }

    #[test]
    fn the_rfc_body_lists() {
        // text + html alternative, an inline image in related html, and a pdf attachment.
        let raw = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nt\r\n\
--b\r\nContent-Type: multipart/related; boundary=c\r\n\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n\
--c\r\nContent-Type: image/png\r\nContent-ID: <i1>\r\n\r\npng\r\n--c--\r\n--b--\r\n\
--a\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\npdf\r\n--a--\r\n";
        let root = mime::structure(raw);
        let b = bodies(&root);
        assert_eq!(ids(&b.text), ["1.1"]);
        assert_eq!(ids(&b.html), ["1.2.1"]);
        assert_eq!(ids(&b.attachments), ["1.2.2", "2"]);

        // HTML only inside an alternative: the text body falls back to it.
        let raw = b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n--b--\r\n";
        let root = mime::structure(raw);
        let b = bodies(&root);
        assert_eq!(
            (ids(&b.text), ids(&b.html)),
            (vec!["1".to_string()], vec!["1".to_string()])
        );

        let v = body_values(
            &root,
            &b,
            ValueOptions {
                text: true,
                max_bytes: 3,
                ..ValueOptions::default()
            },
        );
        assert_eq!(v["1"]["value"], "<p>");
        assert_eq!(v["1"]["isTruncated"], true);
    }

    #[test]
    fn header_property_forms() {
        assert!(HeaderProp::parse("subject").is_none());
        let h = HeaderProp::parse("header:From:asAddresses:all")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.name.as_str(), h.form, h.all),
            ("From", Form::Addresses, true)
        );
        assert!(
            HeaderProp::parse("header:Subject:asAddresses")
                .unwrap()
                .is_err()
        );
        assert!(HeaderProp::parse("header:X-Any:asDate").unwrap().is_ok());
        assert!(HeaderProp::parse("header:From:asWhat").unwrap().is_err());
        assert!(HeaderProp::parse("header::asRaw").unwrap().is_err());
    }
}
