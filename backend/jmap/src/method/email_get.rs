//! Email/get (RFC 8621 §4.2 with RFC 8620 §5.1). The list-view properties come from the
//! stored metadata; anything read from the message itself (headers, `header:` forms,
//! bodyStructure, textBody, htmlBody, attachments, bodyValues, sender, bcc) makes the
//! message be read and parsed, once per email.

use mailroom_core::mail::{AddressField, EmailView};
use mailroom_core::mime::MimePart;
use serde_json::{Map, Value, json};

use super::email_body::{self as body, HeaderProp, ValueOptions};
use super::{Ctx, account, ids_arg, utc_date};
use crate::{MethodError, id};

/// Served from the stored metadata.
pub(super) const METADATA: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "from",
    "to",
    "cc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
];

/// Read from the message.
pub(super) const FROM_MESSAGE: &[&str] = &[
    "sender",
    "bcc",
    "headers",
    "bodyStructure",
    "textBody",
    "htmlBody",
    "attachments",
    "bodyValues",
];

/// RFC 8621 §4.2: what `properties: null` means. After the first seven (the email's own
/// facts) it is Email/parse's default (RFC 8621 §4.9).
pub(super) const DEFAULT: &[&str] = &[
    "id",
    "blobId",
    "threadId",
    "mailboxIds",
    "keywords",
    "size",
    "receivedAt",
    "messageId",
    "inReplyTo",
    "references",
    "sender",
    "from",
    "to",
    "cc",
    "bcc",
    "replyTo",
    "subject",
    "sentAt",
    "hasAttachment",
    "preview",
    "bodyValues",
    "textBody",
    "htmlBody",
    "attachments",
];

/// The `properties` argument: known names and valid `header:` forms; `id` always where the
/// default has it (Email/get; a parsed blob has no id).
pub(super) fn email_properties(
    args: &Map<String, Value>,
    known: &[&[&str]],
    default: &[&str],
) -> Result<Vec<String>, MethodError> {
    let list = match args.get("properties") {
        None | Some(Value::Null) => return Ok(default.iter().map(|s| s.to_string()).collect()),
        Some(Value::Array(v)) => v,
        _ => {
            return Err(MethodError::InvalidArguments(
                "properties must be an array or null".into(),
            ));
        }
    };
    let mut out = Vec::with_capacity(list.len() + 1);
    for p in list {
        let p = p
            .as_str()
            .ok_or_else(|| MethodError::InvalidArguments("properties must be strings".into()))?;
        match HeaderProp::parse(p) {
            Some(h) => {
                h?;
            }
            None if known.iter().any(|k| k.contains(&p)) => {}
            None => {
                return Err(MethodError::InvalidArguments(format!(
                    "unknown property {p:?}"
                )));
            }
        }
        out.push(p.to_string());
    }
    if default.contains(&"id") && !out.iter().any(|p| p == "id") {
        out.push("id".into());
    }
    Ok(out)
}

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let Some(wanted) = ids_arg(&args)? else {
        // RFC 8620 §5.1 allows refusing ids: null when the set is large; mail is.
        return Err(MethodError::RequestTooLarge("Email/get needs ids".into()));
    };
    let props = email_properties(&args, &[METADATA, FROM_MESSAGE], DEFAULT)?;
    let body_props = body::body_properties(&args)?;
    let values = ValueOptions::from_args(&args)?;
    let needs_message = props
        .iter()
        .any(|p| FROM_MESSAGE.contains(&p.as_str()) || p.starts_with("header:"));
    let numbers: Vec<i64> = wanted.iter().filter_map(|i| id::parse('e', i)).collect();
    let found = match ctx.prefetched(account_id, &numbers) {
        Some(emails) => ctx.core.email_views(emails, &numbers).await?,
        None => ctx.core.emails(account_id, &numbers).await?,
    };
    let found_ids: std::collections::HashSet<i64> = found.iter().map(|e| e.row.id).collect();
    let not_found: Vec<&String> = wanted
        .iter()
        .filter(|i| id::parse('e', i).is_none_or(|n| !found_ids.contains(&n)))
        .collect();
    let mut list = Vec::with_capacity(found.len());
    for e in &found {
        let mut o = email_json(e, &props);
        if needs_message {
            let root = ctx.core.email_structure(e).await?;
            message_properties(
                &mut o,
                &root,
                Some(&e.row.blob_id),
                &props,
                &body_props,
                values,
            );
        }
        list.push(Value::Object(o));
    }
    Ok(
        json!({"accountId": id::account(account_id), "state": state.to_string(), "list": list, "notFound": not_found}),
    )
}

/// Adds the properties read from the parsed message to `o`.
pub(super) fn message_properties(
    o: &mut Map<String, Value>,
    root: &MimePart,
    message_blob: Option<&str>,
    props: &[String],
    body_props: &[String],
    values: ValueOptions,
) {
    let lists = body::bodies(root);
    let parts = |v: &[&MimePart]| -> Value {
        Value::Array(
            v.iter()
                .map(|p| body::part_json(p, message_blob, body_props))
                .collect(),
        )
    };
    for p in props {
        let v = match p.as_str() {
            "headers" => body::headers_json(root),
            "bodyStructure" => {
                let mut with_sub = body_props.to_vec();
                if !with_sub.iter().any(|p| p == "subParts") {
                    with_sub.push("subParts".into());
                }
                body::part_json(root, message_blob, &with_sub)
            }
            "textBody" => parts(&lists.text),
            "htmlBody" => parts(&lists.html),
            "attachments" => parts(&lists.attachments),
            "bodyValues" => body::body_values(root, &lists, values),
            h if h.starts_with("header:") => match HeaderProp::parse(h) {
                Some(Ok(hp)) => hp.value(root),
                _ => continue,
            },
            other if o.contains_key(other) => continue,
            other => match body::convenience(root, other) {
                Some(v) => v,
                None => continue,
            },
        };
        o.insert(p.clone(), v);
    }
}

fn email_json(e: &EmailView, props: &[String]) -> Map<String, Value> {
    let r = &e.row;
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(id::email(r.id)),
            "blobId" => json!(r.blob_id),
            "threadId" => json!(id::thread(r.thread_id)),
            "mailboxIds" => Value::Object(
                e.mailbox_ids
                    .iter()
                    .map(|m| (id::mailbox(*m), json!(true)))
                    .collect(),
            ),
            "keywords" => {
                Value::Object(e.keywords().map(|k| (k.to_string(), json!(true))).collect())
            }
            "size" => json!(r.size),
            "receivedAt" => utc_date(r.received_at),
            "messageId" => r
                .meta
                .message_id
                .as_ref()
                .map(|m| json!([m]))
                .unwrap_or(Value::Null),
            "inReplyTo" => id_list(&r.meta.in_reply_to),
            "references" => id_list(&r.meta.references),
            "from" => addresses(r.meta.addresses(AddressField::From)),
            "to" => addresses(r.meta.addresses(AddressField::To)),
            "cc" => addresses(r.meta.addresses(AddressField::Cc)),
            "replyTo" => addresses(r.meta.addresses(AddressField::ReplyTo)),
            "subject" => json!(r.meta.subject),
            "sentAt" => r.meta.sent_at.map(utc_date).unwrap_or(Value::Null),
            "hasAttachment" => json!(r.meta.has_attachment),
            "preview" => json!(r.meta.preview),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    o
}

/// JMAP wants null for an absent header.
fn addresses(parsed: &Value) -> Value {
    match parsed {
        Value::Array(a) if !a.is_empty() => parsed.clone(),
        _ => Value::Null,
    }
}

fn id_list(stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Array(a)) if !a.is_empty() => Value::Array(a),
        _ => Value::Null,
    }
}
