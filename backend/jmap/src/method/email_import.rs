//! Email/import (RFC 8621 §4.8): uploaded blobs become emails in the caller's mailboxes.

use serde_json::{Map, Value, json};

use super::email_set::set_error;
use super::set::check_state;
use super::{Ctx, account};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    let emails = args
        .get("emails")
        .and_then(Value::as_object)
        .ok_or_else(|| MethodError::InvalidArguments("emails must be an object".into()))?;
    if emails.len() > crate::MAX_OBJECTS_IN_SET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} emails per Email/import",
            crate::MAX_OBJECTS_IN_SET
        )));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for (cid, e) in emails {
        match import_one(ctx, account_id, e).await? {
            Ok(v) => {
                created.insert(cid.clone(), v);
            }
            Err(err) => {
                not_created.insert(cid.clone(), err);
            }
        }
    }
    let new_state = ctx.core.state(account_id).await?;
    Ok(json!({
        "accountId": id::account(account_id),
        "oldState": old_state.to_string(),
        "newState": new_state.to_string(),
        "created": if created.is_empty() { Value::Null } else { Value::Object(created) },
        "notCreated": if not_created.is_empty() { Value::Null } else { Value::Object(not_created) },
    }))
}

/// One import: the created object, or a SetError object; storage failures fail the method.
async fn import_one(
    ctx: &Ctx<'_>,
    account_id: i64,
    e: &Value,
) -> Result<Result<Value, Value>, MethodError> {
    match import_checked(ctx, account_id, e).await {
        Ok(v) => Ok(Ok(v)),
        Err(Ok(set_error)) => Ok(Err(set_error)),
        Err(Err(m)) => Err(m),
    }
}

type ImportError = Result<Value, MethodError>;

async fn import_checked(ctx: &Ctx<'_>, account_id: i64, e: &Value) -> Result<Value, ImportError> {
    let invalid =
        |p: &str, why: &str| Ok(set_error("invalidProperties", why, Some(vec![p.into()])));
    let e = e
        .as_object()
        .ok_or_else(|| invalid("blobId", "an EmailImport must be an object"))?;
    if let Some(k) = e
        .keys()
        .find(|k| !["blobId", "mailboxIds", "keywords", "receivedAt"].contains(&k.as_str()))
    {
        return Err(invalid(k, "unknown property"));
    }
    let blob_id = e
        .get("blobId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("blobId", "blobId must be a string"))?;
    let set_of = |name: &str| -> Result<Vec<String>, ImportError> {
        match e.get(name) {
            None | Some(Value::Null) if name == "keywords" => Ok(vec![]),
            Some(Value::Object(o)) if o.values().all(|v| v == &json!(true)) => {
                Ok(o.keys().cloned().collect())
            }
            _ => Err(invalid(name, &format!("{name} must map ids to true"))),
        }
    };
    let mailbox_ids = set_of("mailboxIds")?
        .iter()
        .map(|m| id::parse('m', m).ok_or_else(|| invalid("mailboxIds", "no such mailbox")))
        .collect::<Result<Vec<_>, _>>()?;
    let keywords = set_of("keywords")?;
    let received_at = match e.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| invalid("receivedAt", "receivedAt must be a UTCDate"))?
                .timestamp(),
        ),
        _ => return Err(invalid("receivedAt", "receivedAt must be a UTCDate")),
    };
    let d = ctx
        .core
        .import_email(
            account_id,
            mailroom_core::import::Import {
                blob_id: blob_id.to_string(),
                mailbox_ids,
                keywords,
                received_at,
            },
        )
        .await
        .map_err(|err| match err {
            mailroom_core::Error::NotFound(d) => {
                let mut v = set_error("blobNotFound", &d, None);
                v["notFound"] = json!([blob_id]);
                Ok(v)
            }
            mailroom_core::Error::Invalid(d) if d.contains("mailbox") => invalid("mailboxIds", &d),
            mailroom_core::Error::Invalid(d) if d.contains("keyword") => invalid("keywords", &d),
            mailroom_core::Error::Invalid(d) => Ok(set_error("invalidEmail", &d, None)),
            mailroom_core::Error::OverQuota(d) => Ok(set_error("overQuota", &d, None)),
            other => Err(other.into()),
        })?;
    let rows = ctx
        .core
        .emails(account_id, &[d.email_id])
        .await
        .map_err(|e| Err(e.into()))?;
    let size = rows.first().map(|r| r.row.size).unwrap_or_default();
    Ok(json!({
        "id": id::email(d.email_id),
        "blobId": blob_id,
        "threadId": id::thread(d.thread_id),
        "size": size,
    }))
}
