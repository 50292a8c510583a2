//! EmailSubmission/query (RFC 8621 §7.3): filter by identity, email, thread, undo status and
//! send time; sort by emailId, threadId or sentAt. A user's submissions are few enough to
//! filter in memory.

use serde_json::{Map, Value, json};

use super::{Ctx, account};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let subs = ctx.core.submissions(account_id, None).await?;
    let email_ids: Vec<i64> = subs.iter().filter_map(|s| s.email_id).collect();
    let emails = ctx.core.emails(account_id, &email_ids).await?;
    let thread_of = |e: Option<i64>| {
        e.and_then(|e| emails.iter().find(|v| v.row.id == e))
            .map(|v| v.row.thread_id)
    };
    let filter = match args.get("filter") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(f)) => f.clone(),
        _ => {
            return Err(MethodError::InvalidArguments(
                "filter must be an object".into(),
            ));
        }
    };
    let id_list = |key: &str, kind: char| -> Result<Option<Vec<i64>>, MethodError> {
        match filter.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(v)) => Ok(Some(
                v.iter()
                    .filter_map(|x| x.as_str())
                    .filter_map(|x| id::parse(kind, &ctx.resolve_id(x)?))
                    .collect(),
            )),
            _ => Err(MethodError::InvalidArguments(format!(
                "{key} must be an array"
            ))),
        }
    };
    let date = |key: &str| -> Result<Option<i64>, MethodError> {
        match filter.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.timestamp()))
                .map_err(|_| MethodError::InvalidArguments(format!("{key} must be a UTCDate"))),
            _ => Err(MethodError::InvalidArguments(format!(
                "{key} must be a UTCDate"
            ))),
        }
    };
    for k in filter.keys() {
        if ![
            "identityIds",
            "emailIds",
            "threadIds",
            "undoStatus",
            "before",
            "after",
        ]
        .contains(&k.as_str())
        {
            return Err(MethodError::UnsupportedFilter(format!(
                "unknown filter {k:?}"
            )));
        }
    }
    let identities: Option<Vec<String>> = match filter.get("identityIds") {
        Some(Value::Array(v)) => Some(
            v.iter()
                .filter_map(|x| id::identity_address(x.as_str()?))
                .collect(),
        ),
        _ => None,
    };
    let (emails_f, threads_f) = (id_list("emailIds", 'e')?, id_list("threadIds", 't')?);
    let (before, after) = (date("before")?, date("after")?);
    let undo = filter.get("undoStatus").and_then(Value::as_str);
    let mut hits: Vec<_> = subs
        .iter()
        .filter(|s| identities.as_ref().is_none_or(|i| i.contains(&s.mail_from)))
        .filter(|s| {
            emails_f
                .as_ref()
                .is_none_or(|e| s.email_id.is_some_and(|x| e.contains(&x)))
        })
        .filter(|s| {
            threads_f
                .as_ref()
                .is_none_or(|t| thread_of(s.email_id).is_some_and(|x| t.contains(&x)))
        })
        .filter(|s| undo.is_none_or(|u| u == s.undo_status))
        .filter(|s| before.is_none_or(|b| s.send_at < b) && after.is_none_or(|a| s.send_at >= a))
        .collect();
    if let Some(Value::Array(sort)) = args.get("sort") {
        for c in sort.iter().rev() {
            let prop = c.get("property").and_then(Value::as_str).unwrap_or("");
            let asc = c
                .get("isAscending")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            match prop {
                "emailId" => hits.sort_by_key(|s| s.email_id),
                "threadId" => hits.sort_by_key(|s| thread_of(s.email_id)),
                "sentAt" => hits.sort_by_key(|s| (s.send_at, s.id)),
                other => {
                    return Err(MethodError::UnsupportedSort(format!(
                        "cannot sort by {other:?}"
                    )));
                }
            }
            if !asc {
                hits.reverse();
            }
        }
    }
    let total = hits.len();
    let position = args.get("position").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |l| l as usize);
    let ids: Vec<String> = hits
        .iter()
        .skip(position)
        .take(limit)
        .map(|s| id::submission(s.id))
        .collect();
    let mut out = json!({
        "accountId": id::account(account_id),
        "queryState": state.to_string(),
        "canCalculateChanges": false,
        "position": position.min(total),
        "ids": ids,
    });
    if args.get("calculateTotal") == Some(&json!(true)) {
        out["total"] = json!(total);
    }
    Ok(out)
}
