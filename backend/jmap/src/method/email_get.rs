//! Email/get (RFC 8621 §4.2 with RFC 8620 §5.1). This first version serves the metadata
//! properties; body properties (bodyStructure, textBody, htmlBody, attachments, bodyValues)
//! and `header:` forms are refused as unsupported until they land.

use mailroom_core::mail::EmailView;
use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg, properties, utc_date};
use crate::{MethodError, id};

const KNOWN: &[&str] = &[
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

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let Some(wanted) = ids_arg(&args)? else {
        // RFC 8620 §5.1 allows refusing ids: null when the set is large; mail is.
        return Err(MethodError::RequestTooLarge("Email/get needs ids".into()));
    };
    let props = properties(&args, KNOWN, KNOWN)?;
    let numbers: Vec<i64> = wanted.iter().filter_map(|i| id::parse('e', i)).collect();
    let found = ctx.core.emails(account_id, &numbers).await?;
    let found_ids: std::collections::HashSet<i64> = found.iter().map(|e| e.row.id).collect();
    let not_found: Vec<&String> = wanted
        .iter()
        .filter(|i| id::parse('e', i).is_none_or(|n| !found_ids.contains(&n)))
        .collect();
    let list: Vec<Value> = found.iter().map(|e| email_json(e, &props)).collect();
    Ok(
        json!({"accountId": id::account(account_id), "state": ctx.state.to_string(), "list": list, "notFound": not_found}),
    )
}

fn email_json(e: &EmailView, props: &[String]) -> Value {
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
                .message_id
                .as_ref()
                .map(|m| json!([m]))
                .unwrap_or(Value::Null),
            "inReplyTo" => id_list(&r.in_reply_to),
            "references" => id_list(&r.references),
            "from" => addresses(&r.from_addr),
            "to" => addresses(&r.to_addr),
            "cc" => addresses(&r.cc_addr),
            "replyTo" => addresses(&r.reply_to),
            "subject" => json!(r.subject),
            "sentAt" => r.sent_at.map(utc_date).unwrap_or(Value::Null),
            "hasAttachment" => json!(r.has_attachment),
            "preview" => json!(r.preview),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

/// Stored as a JSON array of `{name, email}`; JMAP wants null for an absent header.
fn addresses(stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Array(a)) if !a.is_empty() => Value::Array(a),
        _ => Value::Null,
    }
}

fn id_list(stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(Value::Array(a)) if !a.is_empty() => Value::Array(a),
        _ => Value::Null,
    }
}
