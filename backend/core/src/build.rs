//! Building a message from structured parts (JMAP Email/set create, drafts from the
//! webmail): header fields by meaning and a MIME tree, written by mail-builder.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as MbAddress;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};

use crate::{Error, Result};

/// An address in a header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedAddress {
    pub name: Option<String>,
    pub email: String,
}

/// A header field's value, by kind.
#[derive(Clone, Debug)]
pub enum FieldValue {
    Addresses(Vec<NamedAddress>),
    Text(String),
    /// Unix seconds.
    Date(i64),
    MessageIds(Vec<String>),
    /// Written as given after the colon (folding the caller's).
    Raw(String),
}

/// One node of the tree to write.
#[derive(Clone, Debug)]
pub enum Node {
    Leaf(Leaf),
    Multipart { subtype: String, parts: Vec<Node> },
}

#[derive(Clone, Debug, Default)]
pub struct Leaf {
    /// `type/subtype`.
    pub media_type: String,
    pub content: Vec<u8>,
    pub name: Option<String>,
    pub disposition: Option<String>,
    pub cid: Option<String>,
    pub language: Option<Vec<String>>,
    pub location: Option<String>,
    /// Extra fields of the part, raw.
    pub headers: Vec<(String, String)>,
}

/// The longest a built message may be.
pub const MAX_BUILT_SIZE: usize = 50 * 1024 * 1024;

fn check_field_name(n: &str) -> Result<()> {
    if n.is_empty() || !n.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(Error::Invalid(format!("{n:?} is not a header field name")));
    }
    Ok(())
}

fn no_breaks(what: &str, s: &str) -> Result<()> {
    if s.contains(['\r', '\n']) {
        return Err(Error::Invalid(format!(
            "{what} may not contain line breaks"
        )));
    }
    Ok(())
}

fn leaf(l: &Leaf) -> Result<MimePart<'static>> {
    if !crate::compose::valid_content_type(&l.media_type) {
        return Err(Error::Invalid(format!(
            "{:?} is not a media type",
            l.media_type
        )));
    }
    let contents = if l.media_type.starts_with("text/") {
        match String::from_utf8(l.content.clone()) {
            Ok(s) => BodyPart::Text(s.into()),
            Err(e) => BodyPart::Binary(e.into_bytes().into()),
        }
    } else {
        BodyPart::Binary(l.content.clone().into())
    };
    let mut ct = ContentType::new(l.media_type.clone());
    if let Some(n) = &l.name {
        no_breaks("a part name", n)?;
        ct = ct.attribute("name", n.clone());
    }
    let mut p = MimePart::new(ct, contents);
    match (l.disposition.as_deref(), &l.name) {
        (Some("attachment"), name) => {
            p = p.attachment(name.clone().unwrap_or_else(|| "attachment".into()));
        }
        (Some("inline"), _) => p = p.inline(),
        (None, _) => {}
        (Some(d), _) => {
            return Err(Error::Invalid(format!(
                "disposition {d:?} is neither inline nor attachment"
            )));
        }
    }
    if let Some(c) = &l.cid {
        no_breaks("a cid", c)?;
        p = p.cid(c.clone());
    }
    if let Some(langs) = &l.language {
        no_breaks("a language", &langs.join(","))?;
        p = p.language(langs.join(", "));
    }
    if let Some(loc) = &l.location {
        no_breaks("a location", loc)?;
        p = p.location(loc.clone());
    }
    for (n, v) in &l.headers {
        check_field_name(n)?;
        p = p.header(n.clone(), Raw::new(v.trim().to_string()));
    }
    Ok(p)
}

fn node(n: &Node, depth: usize) -> Result<MimePart<'static>> {
    if depth > 16 {
        return Err(Error::Invalid("the body structure nests too deep".into()));
    }
    match n {
        Node::Leaf(l) => leaf(l),
        Node::Multipart { subtype, parts } => {
            if !crate::compose::valid_content_type(&format!("multipart/{subtype}")) {
                return Err(Error::Invalid(format!(
                    "multipart/{subtype:?} is not a type"
                )));
            }
            if parts.is_empty() {
                return Err(Error::Invalid("a multipart needs parts".into()));
            }
            let kids = parts
                .iter()
                .map(|p| node(p, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok(MimePart::new(
                ContentType::new(format!("multipart/{subtype}")),
                BodyPart::Multipart(kids),
            ))
        }
    }
}

fn addresses(v: &[NamedAddress]) -> Result<MbAddress<'static>> {
    let list = v
        .iter()
        .map(|a| {
            no_breaks("an address", &a.email)?;
            if let Some(n) = &a.name {
                no_breaks("a name", n)?;
            }
            Ok(MbAddress::new_address(a.name.clone(), a.email.clone()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(MbAddress::new_list(list))
}

/// Writes the message: `fields` in order (a Date and a Message-ID are added when absent),
/// then the body.
pub fn build(fields: &[(String, FieldValue)], body: &Node) -> Result<Vec<u8>> {
    let mut b = MessageBuilder::new();
    let has = |n: &str| fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    for (name, value) in fields {
        check_field_name(name)?;
        if name.to_ascii_lowercase().starts_with("content-") {
            return Err(Error::Invalid(format!(
                "{name} belongs to the body parts, not the message's header"
            )));
        }
        b = match value {
            FieldValue::Addresses(v) => b.header(name.clone(), addresses(v)?),
            FieldValue::Text(t) => {
                no_breaks(name, t)?;
                b.header(name.clone(), Text::new(t.clone()))
            }
            FieldValue::Date(t) => {
                b.header(name.clone(), mail_builder::headers::date::Date::new(*t))
            }
            FieldValue::MessageIds(ids) => {
                for i in ids {
                    no_breaks(name, i)?;
                }
                b.header(name.clone(), MessageId::new_list(ids.iter().cloned()))
            }
            FieldValue::Raw(r) => {
                if r.contains(['\r', '\n'])
                    && r.lines().skip(1).any(|l| !l.starts_with([' ', '\t']))
                {
                    return Err(Error::Invalid(format!("{name}: a raw value may only fold")));
                }
                b.header(name.clone(), Raw::new(r.trim().to_string()))
            }
        };
    }
    if !has("Date") {
        b = b.date(chrono::Utc::now().timestamp());
    }
    if !has("Message-ID") {
        b = b.message_id(format!("{}@mailroom", crate::compose::random_id()));
    }
    let raw = b
        .body(node(body, 0)?)
        .write_to_vec()
        .map_err(|e| Error::Internal(format!("writing the message: {e}")))?;
    if raw.len() > MAX_BUILT_SIZE {
        return Err(Error::Invalid(format!(
            "the message would be {} bytes; the limit is {MAX_BUILT_SIZE}",
            raw.len()
        )));
    }
    Ok(raw)
}
