//! Thread/get (RFC 8621 §3.1): a thread's email ids, oldest first.

use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let Some(wanted) = ids_arg(&args)? else {
        return Err(MethodError::RequestTooLarge("Thread/get needs ids".into()));
    };
    let numbers: Vec<i64> = wanted.iter().filter_map(|i| id::parse('t', i)).collect();
    let threads = ctx.core.threads(account_id, &numbers).await?;
    let list: Vec<Value> = threads
        .iter()
        .map(|(t, emails)| json!({"id": id::thread(*t), "emailIds": emails.iter().map(|&e| id::email(e)).collect::<Vec<_>>()}))
        .collect();
    let not_found: Vec<&String> = wanted
        .iter()
        .filter(|i| id::parse('t', i).is_none_or(|n| !threads.iter().any(|(t, _)| *t == n)))
        .collect();
    Ok(
        json!({"accountId": id::account(account_id), "state": state.to_string(), "list": list, "notFound": not_found}),
    )
}
