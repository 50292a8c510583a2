//! Email/set create (RFC 8621 §4.6): an Email object — header fields as properties, a body
//! as bodyStructure or as textBody / htmlBody / attachments with bodyValues and uploaded
//! blobs — becomes a message, stored and filed like any other.

use mailroom_core::build::{FieldValue, Leaf, NamedAddress, Node};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::email_body::{Form, HeaderProp};
use super::email_set::set_error;
use crate::{MethodError, id};

/// A SetError for this create, or a failure of the whole method.
type Fail = Result<Value, MethodError>;

fn invalid(prop: &str, why: &str) -> Fail {
    Ok(set_error("invalidProperties", why, Some(vec![prop.into()])))
}

const SERVER_SET: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "size",
    "hasAttachment",
    "preview",
];

/// Creates one email; `Ok(Err(set_error))` when the object is refused.
pub(super) async fn create(
    ctx: &Ctx<'_>,
    account_id: i64,
    obj: &Value,
) -> Result<Result<Value, Value>, MethodError> {
    match create_checked(ctx, account_id, obj).await {
        Ok(v) => Ok(Ok(v)),
        Err(Ok(e)) => Ok(Err(e)),
        Err(Err(m)) => Err(m),
    }
}

async fn create_checked(ctx: &Ctx<'_>, account_id: i64, obj: &Value) -> Result<Value, Fail> {
    let o = obj
        .as_object()
        .ok_or_else(|| invalid("mailboxIds", "an Email must be an object"))?;
    for k in o.keys() {
        if SERVER_SET.contains(&k.as_str()) {
            return Err(invalid(k, "this property is set by the server"));
        }
        if k == "headers" {
            return Err(invalid(k, "give each header field as its own property"));
        }
    }
    let mailbox_ids: Vec<i64> = match o.get("mailboxIds") {
        Some(Value::Object(m)) if !m.is_empty() && m.values().all(|v| v == &json!(true)) => m
            .keys()
            .map(|k| ctx.resolve_id(k).and_then(|k| id::parse('m', &k)))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("mailboxIds", "no such mailbox"))?,
        _ => {
            return Err(invalid(
                "mailboxIds",
                "mailboxIds must map at least one id to true",
            ));
        }
    };
    let keywords: Vec<String> = match o.get("keywords") {
        None | Some(Value::Null) => vec![],
        Some(Value::Object(m)) if m.values().all(|v| v == &json!(true)) => {
            m.keys().cloned().collect()
        }
        _ => return Err(invalid("keywords", "keywords must map keywords to true")),
    };
    let received_at = match o.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| invalid("receivedAt", "receivedAt must be a UTCDate"))?
                .timestamp(),
        ),
    };

    let fields = header_fields(o)?;
    let body = body_tree(ctx, account_id, o).await?;
    let raw = mailroom_core::build::build(&fields, &body).map_err(|e| match e {
        mailroom_core::Error::Invalid(d) => Ok(set_error("invalidProperties", &d, None)),
        e => Err(MethodError::from(e)),
    })?;
    let blob_id = mailroom_core::BlobId::of(&raw);
    let size = raw.len();
    let d = ctx
        .core
        .file_message(account_id, raw.into(), mailbox_ids, keywords, received_at)
        .await
        .map_err(|e| match e {
            mailroom_core::Error::Invalid(d) if d.contains("mailbox") => invalid("mailboxIds", &d),
            mailroom_core::Error::Invalid(d) => invalid("keywords", &d),
            mailroom_core::Error::OverQuota(d) => Ok(set_error("overQuota", &d, None)),
            e => Err(MethodError::from(e)),
        })?;
    Ok(json!({
        "id": id::email(d.email_id),
        "blobId": blob_id.as_str(),
        "threadId": id::thread(d.thread_id),
        "size": size,
    }))
}

fn addresses(prop: &str, v: &Value) -> Result<Vec<NamedAddress>, Fail> {
    v.as_array()
        .ok_or_else(|| invalid(prop, "must be a list of EmailAddress"))?
        .iter()
        .map(|a| {
            let email = a
                .get("email")
                .and_then(Value::as_str)
                .filter(|e| e.contains('@'))
                .ok_or_else(|| invalid(prop, "every address needs an email"))?;
            Ok(NamedAddress {
                name: a.get("name").and_then(Value::as_str).map(str::to_string),
                email: email.to_string(),
            })
        })
        .collect()
}

fn strings(prop: &str, v: &Value) -> Result<Vec<String>, Fail> {
    v.as_array()
        .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
        .ok_or_else(|| invalid(prop, "must be a list of strings"))
}

fn date(prop: &str, v: &Value) -> Result<i64, Fail> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.timestamp())
        .ok_or_else(|| invalid(prop, "must be a Date"))
}

/// One field value in a parsed form.
fn field_value(prop: &str, form: Form, v: &Value) -> Result<FieldValue, Fail> {
    Ok(match form {
        Form::Raw => FieldValue::Raw(
            v.as_str()
                .ok_or_else(|| invalid(prop, "must be a string"))?
                .to_string(),
        ),
        Form::Text => FieldValue::Text(
            v.as_str()
                .ok_or_else(|| invalid(prop, "must be a string"))?
                .to_string(),
        ),
        Form::Addresses => FieldValue::Addresses(addresses(prop, v)?),
        Form::MessageIds => FieldValue::MessageIds(strings(prop, v)?),
        Form::Date => FieldValue::Date(date(prop, v)?),
        Form::Urls => FieldValue::Raw(
            strings(prop, v)?
                .iter()
                .map(|u| format!("<{u}>"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Form::GroupedAddresses => {
            return Err(invalid(prop, "give addresses in the asAddresses form"));
        }
    })
}

/// The message's header fields from the Email's properties, each field once.
fn header_fields(o: &Map<String, Value>) -> Result<Vec<(String, FieldValue)>, Fail> {
    let mut out: Vec<(String, FieldValue)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut note = |name: &str, prop: &str| -> Result<(), Fail> {
        let lc = name.to_ascii_lowercase();
        if seen.contains(&lc) {
            return Err(invalid(prop, "this header field is given twice"));
        }
        seen.push(lc);
        Ok(())
    };
    for (prop, v) in o {
        if v.is_null() {
            continue;
        }
        let (name, form) = match prop.as_str() {
            "from" => ("From", Form::Addresses),
            "sender" => ("Sender", Form::Addresses),
            "to" => ("To", Form::Addresses),
            "cc" => ("Cc", Form::Addresses),
            "bcc" => ("Bcc", Form::Addresses),
            "replyTo" => ("Reply-To", Form::Addresses),
            "subject" => ("Subject", Form::Text),
            "sentAt" => ("Date", Form::Date),
            "messageId" => ("Message-ID", Form::MessageIds),
            "inReplyTo" => ("In-Reply-To", Form::MessageIds),
            "references" => ("References", Form::MessageIds),
            p if p.starts_with("header:") => {
                let h = match HeaderProp::parse(p) {
                    Some(Ok(h)) => h,
                    _ => return Err(invalid(p, "not a valid header property")),
                };
                if h.name.to_ascii_lowercase().starts_with("content-") {
                    return Err(invalid(p, "Content-* fields belong to body parts"));
                }
                note(&h.name, p)?;
                let values: Vec<&Value> = if h.all {
                    v.as_array()
                        .ok_or_else(|| invalid(p, ":all takes a list"))?
                        .iter()
                        .collect()
                } else {
                    vec![v]
                };
                for x in values {
                    out.push((h.name.clone(), field_value(p, h.form, x)?));
                }
                continue;
            }
            _ => continue,
        };
        note(name, prop)?;
        out.push((name.to_string(), field_value(prop, form, v)?));
    }
    Ok(out)
}

/// The MIME tree: bodyStructure, or textBody / htmlBody / attachments (RFC 8621 §4.6).
async fn body_tree(ctx: &Ctx<'_>, account_id: i64, o: &Map<String, Value>) -> Result<Node, Fail> {
    let values = match o.get("bodyValues") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(invalid("bodyValues", "bodyValues must be an object")),
    };
    for (k, v) in &values {
        if v.get("value").and_then(Value::as_str).is_none()
            || v.get("isTruncated") == Some(&json!(true))
            || v.get("isEncodingProblem") == Some(&json!(true))
        {
            return Err(invalid(
                &format!("bodyValues/{k}"),
                "a body value needs a value and may not be truncated or an encoding problem",
            ));
        }
    }
    let given = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if given("bodyStructure") {
        if given("textBody") || given("htmlBody") || given("attachments") {
            return Err(invalid(
                "bodyStructure",
                "give bodyStructure or textBody/htmlBody/attachments, not both",
            ));
        }
        return part(
            ctx,
            account_id,
            &o["bodyStructure"],
            &values,
            "bodyStructure",
            0,
        )
        .await;
    }
    let one = |k: &str, t: &str| -> Result<Option<&Value>, Fail> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) if a.is_empty() => Ok(None),
            Some(Value::Array(a))
                if a.len() == 1
                    && a[0]
                        .get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|x| x == t) =>
            {
                Ok(Some(&a[0]))
            }
            _ => Err(invalid(k, &format!("{k} takes at most one {t} part"))),
        }
    };
    let text = match one("textBody", "text/plain")? {
        Some(p) => Some(
            part(
                ctx,
                account_id,
                &with_type(p, "text/plain"),
                &values,
                "textBody",
                0,
            )
            .await?,
        ),
        None => None,
    };
    let html = match one("htmlBody", "text/html")? {
        Some(p) => Some(
            part(
                ctx,
                account_id,
                &with_type(p, "text/html"),
                &values,
                "htmlBody",
                0,
            )
            .await?,
        ),
        None => None,
    };
    let mut inline = Vec::new();
    let mut attached = Vec::new();
    if let Some(a) = o.get("attachments").filter(|v| !v.is_null()) {
        for p in a
            .as_array()
            .ok_or_else(|| invalid("attachments", "attachments must be a list"))?
        {
            let node = part(ctx, account_id, p, &values, "attachments", 0).await?;
            let is_inline = p.get("disposition").and_then(Value::as_str) == Some("inline")
                && p.get("cid").is_some_and(|c| !c.is_null());
            if is_inline && html.is_some() {
                inline.push(node);
            } else {
                attached.push(node);
            }
        }
    }
    let mut body = match (text, html) {
        (Some(t), Some(h)) => Node::Multipart {
            subtype: "alternative".into(),
            parts: vec![t, h],
        },
        (Some(b), None) | (None, Some(b)) => b,
        (None, None) => Node::Leaf(Leaf {
            media_type: "text/plain".into(),
            ..Leaf::default()
        }),
    };
    if !inline.is_empty() {
        let mut parts = vec![body];
        parts.extend(inline);
        body = Node::Multipart {
            subtype: "related".into(),
            parts,
        };
    }
    if !attached.is_empty() {
        let mut parts = vec![body];
        parts.extend(attached);
        body = Node::Multipart {
            subtype: "mixed".into(),
            parts,
        };
    }
    Ok(body)
}

fn with_type(p: &Value, t: &str) -> Value {
    let mut p = p.clone();
    if let Some(o) = p.as_object_mut() {
        o.entry("type").or_insert(json!(t));
    }
    p
}

/// One EmailBodyPart given by the client.
async fn part(
    ctx: &Ctx<'_>,
    account_id: i64,
    p: &Value,
    values: &Map<String, Value>,
    prop: &str,
    depth: usize,
) -> Result<Node, Fail> {
    let o = p
        .as_object()
        .ok_or_else(|| invalid(prop, "a body part must be an object"))?;
    if depth > 16 {
        return Err(invalid(prop, "the body structure nests too deep"));
    }
    let media_type = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text/plain")
        .to_ascii_lowercase();
    if let Some(sub) = o.get("subParts").filter(|v| !v.is_null()) {
        let subtype = media_type
            .strip_prefix("multipart/")
            .ok_or_else(|| invalid(prop, "only a multipart part has subParts"))?
            .to_string();
        let mut parts = Vec::new();
        for s in sub
            .as_array()
            .ok_or_else(|| invalid(prop, "subParts must be a list"))?
        {
            parts.push(Box::pin(part(ctx, account_id, s, values, prop, depth + 1)).await?);
        }
        return Ok(Node::Multipart { subtype, parts });
    }
    let string = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let content = match (string("partId"), string("blobId")) {
        (Some(pid), None) => {
            if o.get("charset").is_some_and(|c| !c.is_null())
                || o.get("size").is_some_and(|c| !c.is_null())
            {
                return Err(invalid(
                    prop,
                    "a part given by partId takes no charset or size",
                ));
            }
            values
                .get(&pid)
                .and_then(|v| v.get("value"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(prop, &format!("no bodyValues entry for part {pid}")))?
                .as_bytes()
                .to_vec()
        }
        (None, Some(blob)) => match ctx.core.blob_for(account_id, &blob).await {
            Ok(b) => b.to_vec(),
            Err(mailroom_core::Error::NotFound(_)) => {
                let mut e = set_error("blobNotFound", "no such blob", None);
                e["notFound"] = json!([blob]);
                return Err(Ok(e));
            }
            Err(e) => return Err(Err(e.into())),
        },
        _ => {
            return Err(invalid(
                prop,
                "a part needs exactly one of partId and blobId",
            ));
        }
    };
    let mut headers = Vec::new();
    for (k, v) in o {
        if let Some(Ok(h)) = HeaderProp::parse(k) {
            if h.form != Form::Raw && h.form != Form::Text {
                return Err(invalid(k, "body part fields are given raw or as text"));
            }
            if h.name.eq_ignore_ascii_case("content-type")
                || h.name.eq_ignore_ascii_case("content-transfer-encoding")
            {
                return Err(invalid(k, "the server writes this field"));
            }
            let text = v.as_str().ok_or_else(|| invalid(k, "must be a string"))?;
            headers.push((h.name, text.to_string()));
        }
    }
    Ok(Node::Leaf(Leaf {
        media_type,
        content,
        name: string("name"),
        disposition: string("disposition").map(|d| d.to_ascii_lowercase()),
        cid: string("cid"),
        language: o.get("language").and_then(|l| {
            l.as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
        }),
        location: string("location"),
        headers,
    }))
}
