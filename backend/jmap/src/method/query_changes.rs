//! Email/queryChanges and Mailbox/queryChanges (RFC 8620 §5.6), from the change log: every
//! changed item is reported removed, and those in the current results added at their index
//! (why that is exact: `mailroom_core::query_changes`). A query state is the account's
//! state, so any state the account has had can be diffed from.

use serde_json::{Map, Value, json};

use super::{Ctx, account, email_query, mailbox_query};
use crate::{MethodError, id};

/// The arguments every /queryChanges takes.
struct Common {
    account_id: i64,
    since_text: String,
    since: i64,
    max: Option<usize>,
    with_total: bool,
}

fn common(ctx: &Ctx<'_>, args: &Map<String, Value>) -> Result<Common, MethodError> {
    let account_id = account(ctx.caller, args)?;
    let since_text = args
        .get("sinceQueryState")
        .and_then(Value::as_str)
        .ok_or_else(|| MethodError::InvalidArguments("sinceQueryState must be a string".into()))?
        .to_string();
    let since = since_text.parse().map_err(|_| {
        MethodError::CannotCalculateChanges(format!("unknown query state {since_text:?}"))
    })?;
    let max = match args.get("maxChanges") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n as usize),
            _ => {
                return Err(MethodError::InvalidArguments(
                    "maxChanges must be a positive integer".into(),
                ));
            }
        },
    };
    Ok(Common {
        account_id,
        since_text,
        since,
        max,
        with_total: args.get("calculateTotal").and_then(Value::as_bool) == Some(true),
    })
}

/// The response, or tooManyChanges when it would say more than `maxChanges`.
fn respond(
    c: &Common,
    now: i64,
    removed: Vec<String>,
    added: Vec<(String, u64)>,
    total: u64,
) -> Result<Value, MethodError> {
    if let Some(max) = c.max
        && removed.len() + added.len() > max
    {
        return Err(MethodError::TooManyChanges(format!(
            "{} changes, more than maxChanges {max}",
            removed.len() + added.len()
        )));
    }
    let mut out = json!({
        "accountId": id::account(c.account_id),
        "oldQueryState": c.since_text,
        "newQueryState": now.to_string(),
        "removed": removed,
        "added": added
            .into_iter()
            .map(|(id, index)| json!({"id": id, "index": index}))
            .collect::<Vec<_>>(),
    });
    if c.with_total {
        out["total"] = json!(total);
    }
    Ok(out)
}

pub(super) async fn email(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let c = common(ctx, &args)?;
    let q = email_query::parse_query(&args)?;
    let now = ctx.state().await?;
    let changes = match ctx
        .core
        .email_query_changes(c.account_id, &q, c.since, now)
        .await
    {
        Err(mailroom_core::Error::Invalid(s)) => {
            return Err(MethodError::CannotCalculateChanges(s));
        }
        r => r?,
    };
    respond(
        &c,
        now,
        changes.removed.into_iter().map(id::email).collect(),
        changes
            .added
            .into_iter()
            .map(|(e, i)| (id::email(e), i))
            .collect(),
        changes.total,
    )
}

/// An account has few mailboxes: the whole query runs again. Sorted or filtered as a tree,
/// a mailbox moves with its ancestors without changing itself, so then every mailbox there
/// is or was is reported.
pub(super) async fn mailbox(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let c = common(ctx, &args)?;
    let now = ctx.state().await?;
    let mut changed = match ctx.core.mailboxes_changed(c.account_id, c.since, now).await {
        Err(mailroom_core::Error::Invalid(s)) => {
            return Err(MethodError::CannotCalculateChanges(s));
        }
        r => r?,
    };
    let all = ctx.core.mailbox_list(c.account_id).await?;
    let (results, as_tree) = mailbox_query::results(&all, &args)?;
    if as_tree && !changed.is_empty() {
        changed.extend(all.iter().map(|m| m.id));
    }
    let added = results
        .iter()
        .enumerate()
        .filter(|(_, m)| changed.contains(m))
        .map(|(i, &m)| (id::mailbox(m), i as u64))
        .collect();
    respond(
        &c,
        now,
        changed.into_iter().map(id::mailbox).collect(),
        added,
        results.len() as u64,
    )
}
