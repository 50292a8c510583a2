//! EmailSubmission/get (RFC 8621 §7.1): what the user sent, with each recipient's status.

use mailroom_core::Submission;
use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg, properties, utc_date};
use crate::{MethodError, id};

pub(super) const KNOWN: &[&str] = &[
    "id",
    "identityId",
    "emailId",
    "threadId",
    "envelope",
    "sendAt",
    "undoStatus",
    "deliveryStatus",
    "dsnBlobIds",
    "mdnBlobIds",
];

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let wanted = ids_arg(&args)?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let (subs, not_found) = match &wanted {
        None => (ctx.core.submissions(account_id, None).await?, vec![]),
        Some(ids) => {
            let nums: Vec<i64> = ids.iter().filter_map(|i| id::parse('s', i)).collect();
            let subs = ctx.core.submissions(account_id, Some(&nums)).await?;
            let missing: Vec<Value> = ids
                .iter()
                .filter(|i| !subs.iter().any(|s| Some(s.id) == id::parse('s', i)))
                .map(|i| json!(i))
                .collect();
            (subs, missing)
        }
    };
    let list = objects(ctx, account_id, &subs, &props).await?;
    Ok(json!({
        "accountId": id::account(account_id),
        "state": state.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}

/// The EmailSubmission objects, with the thread of each email still there.
pub(super) async fn objects(
    ctx: &Ctx<'_>,
    account_id: i64,
    subs: &[Submission],
    props: &[String],
) -> Result<Vec<Value>, MethodError> {
    let email_ids: Vec<i64> = subs.iter().filter_map(|s| s.email_id).collect();
    let emails = ctx.core.emails(account_id, &email_ids).await?;
    let thread_of = |e: Option<i64>| {
        e.and_then(|e| emails.iter().find(|v| v.row.id == e))
            .map(|v| json!(id::thread(v.row.thread_id)))
            .unwrap_or(Value::Null)
    };
    let mut list = Vec::new();
    for s in subs {
        let rcpts: Vec<String> = serde_json::from_str(&s.rcpt_to).unwrap_or_default();
        let mut o = Map::new();
        for p in props {
            let v = match p.as_str() {
                "id" => json!(id::submission(s.id)),
                "identityId" => json!(id::identity(&s.mail_from)),
                "emailId" => s
                    .email_id
                    .map(|e| json!(id::email(e)))
                    .unwrap_or(Value::Null),
                "threadId" => thread_of(s.email_id),
                "envelope" => json!({
                    "mailFrom": {"email": s.mail_from, "parameters": null},
                    "rcptTo": rcpts.iter().map(|r| json!({"email": r, "parameters": null})).collect::<Vec<_>>(),
                }),
                "sendAt" => utc_date(s.send_at),
                "undoStatus" => json!(s.undo_status),
                "deliveryStatus" => serde_json::from_str(&s.delivery_status).unwrap_or(Value::Null),
                "dsnBlobIds" | "mdnBlobIds" => json!([]),
                _ => continue,
            };
            o.insert(p.clone(), v);
        }
        list.push(Value::Object(o));
    }
    Ok(list)
}
