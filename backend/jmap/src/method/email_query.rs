//! Email/query (RFC 8621 §4.4 with RFC 8620 §5.5). This first version filters by
//! `inMailbox` and sorts by `receivedAt`; other filters and sorts answer
//! `unsupportedFilter` / `unsupportedSort`, as the RFC asks of a server that lacks them.

use serde_json::{Map, Value, json};

use super::{Ctx, account};
use crate::{MethodError, id};

/// The page size when the client gives no limit, and the most it may ask for.
const MAX_LIMIT: u64 = 1000;

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let in_mailbox = match args.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::Object(f)) => {
            if let Some(k) = f.keys().find(|k| *k != "inMailbox") {
                return Err(MethodError::UnsupportedFilter(format!(
                    "filter {k:?} is not supported yet"
                )));
            }
            match f.get("inMailbox") {
                // A mailbox id of another kind or account matches nothing; that is not an error.
                Some(Value::String(m)) => Some(id::parse('m', m).unwrap_or(-1)),
                Some(_) => {
                    return Err(MethodError::InvalidArguments(
                        "inMailbox must be a mailbox id".into(),
                    ));
                }
                None => None,
            }
        }
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "filter must be an object".into(),
            ));
        }
    };
    match args.get("sort") {
        None | Some(Value::Null) => {}
        Some(Value::Array(s)) => {
            for c in s {
                let prop = c.get("property").and_then(Value::as_str).unwrap_or("");
                let asc = c
                    .get("isAscending")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                if prop != "receivedAt" || asc {
                    return Err(MethodError::UnsupportedSort(format!(
                        "only receivedAt descending is supported yet (got {prop} {})",
                        if asc { "ascending" } else { "descending" }
                    )));
                }
            }
        }
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "sort must be an array".into(),
            ));
        }
    }
    if args.get("anchor").is_some_and(|a| !a.is_null()) {
        return Err(MethodError::InvalidArguments(
            "anchor is not supported yet; use position".into(),
        ));
    }
    if args.get("collapseThreads").and_then(Value::as_bool) == Some(true) {
        return Err(MethodError::InvalidArguments(
            "collapseThreads is not supported yet".into(),
        ));
    }
    let position = match args.get("position") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            MethodError::InvalidArguments("position must be a non-negative integer".into())
        })?,
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => MAX_LIMIT,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| {
                MethodError::InvalidArguments("limit must be a non-negative integer".into())
            })?
            .min(MAX_LIMIT),
    };
    let with_total = args.get("calculateTotal").and_then(Value::as_bool) == Some(true);
    let (ids, total) = match in_mailbox {
        Some(-1) => (vec![], Some(0)),
        other => match ctx
            .core
            .email_query(account_id, other, position, limit, with_total)
            .await
        {
            Err(mailroom_core::Error::NotFound(_)) => (vec![], Some(0)),
            r => r?,
        },
    };
    let mut out = json!({
        "accountId": id::account(account_id),
        "queryState": ctx.state.to_string(),
        "canCalculateChanges": false,
        "position": position,
        "ids": ids.into_iter().map(id::email).collect::<Vec<_>>(),
        "limit": limit,
    });
    if with_total {
        out["total"] = json!(total.unwrap_or(0));
    }
    Ok(out)
}
