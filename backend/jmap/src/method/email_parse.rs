//! Email/parse (RFC 8621 §4.9): a blob the user may read (an upload, or an attached message
//! by its part blob id) read as an Email without storing it.

use serde_json::{Map, Value, json};

use super::email_body::{self as body, ValueOptions};
use super::email_get::{self, email_properties, message_properties};
use super::{Ctx, account};
use crate::{MethodError, id};

/// A parsed blob has every property an email has; id, mailboxIds, keywords, receivedAt and
/// threadId are null.
const KNOWN: &[&[&str]] = &[email_get::METADATA, email_get::FROM_MESSAGE];

/// RFC 8621 §4.9: Email/get's default without the email's own facts.
fn default() -> &'static [&'static str] {
    &email_get::DEFAULT[7..]
}

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let blob_ids: Vec<String> = args
        .get("blobIds")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
        .ok_or_else(|| MethodError::InvalidArguments("blobIds must list ids".into()))?;
    if blob_ids.len() > crate::MAX_OBJECTS_IN_GET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} blobs per Email/parse",
            crate::MAX_OBJECTS_IN_GET
        )));
    }
    let props = email_properties(&args, KNOWN, default())?;
    let body_props = body::body_properties(&args)?;
    let values = ValueOptions::from_args(&args)?;
    let mut parsed = Map::new();
    let (mut not_parsable, mut not_found) = (Vec::new(), Vec::new());
    for b in &blob_ids {
        let p = match ctx.core.blob_parsed(account_id, b).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                not_parsable.push(json!(b));
                continue;
            }
            Err(mailroom_core::Error::NotFound(_)) => {
                not_found.push(json!(b));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut o = Map::new();
        for name in &props {
            let v = match name.as_str() {
                "id" | "threadId" | "mailboxIds" | "keywords" | "receivedAt" => Value::Null,
                "blobId" => json!(b),
                "size" => json!(p.size),
                "preview" => json!(p.preview),
                "hasAttachment" => json!(p.has_attachment),
                _ => continue,
            };
            o.insert(name.clone(), v);
        }
        message_properties(&mut o, &p.root, Some(b), &props, &body_props, values);
        parsed.insert(b.clone(), Value::Object(o));
    }
    Ok(json!({
        "accountId": id::account(account_id),
        "parsed": if parsed.is_empty() { Value::Null } else { Value::Object(parsed) },
        "notParsable": not_parsable,
        "notFound": not_found,
    }))
}
