//! Email/changes, Mailbox/changes, Thread/changes and EmailSubmission/changes (RFC 8620
//! §5.2, RFC 8621 §2.2, §3.2, §4.3, §7.2): all read the account's one change log.

use mailroom_core::ObjectType;
use serde_json::{Map, Value, json};

use super::{Ctx, account};
use crate::{MethodError, id};

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Email,
    Mailbox,
    Thread,
    EmailSubmission,
    Identity,
}

/// The page size when the client sets none.
const DEFAULT_MAX: usize = 500;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    kind: Kind,
    args: Map<String, Value>,
) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let since_text = args
        .get("sinceState")
        .and_then(Value::as_str)
        .ok_or_else(|| MethodError::InvalidArguments("sinceState must be a string".into()))?;
    let max = match args.get("maxChanges") {
        None | Some(Value::Null) => DEFAULT_MAX,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => (n as usize).min(DEFAULT_MAX),
            _ => {
                return Err(MethodError::InvalidArguments(
                    "maxChanges must be a positive integer".into(),
                ));
            }
        },
    };
    // A state we never issued cannot be diffed from (RFC 8620 §5.2).
    let since: i64 = since_text.parse().map_err(|_| {
        MethodError::CannotCalculateChanges(format!("unknown state {since_text:?}"))
    })?;
    let (object_type, to_id): (ObjectType, fn(i64) -> String) = match kind {
        Kind::Email => (ObjectType::Email, id::email),
        Kind::Mailbox => (ObjectType::Mailbox, id::mailbox),
        Kind::Thread => (ObjectType::Thread, id::thread),
        Kind::EmailSubmission => (ObjectType::EmailSubmission, id::submission),
        // Mapped below: a default identity's changes are logged under its row id negated.
        Kind::Identity => (ObjectType::Identity, |n| format!("j{n}")),
    };
    let c = match ctx.core.changes(account_id, object_type, since, max).await {
        Err(mailroom_core::Error::Invalid(s)) => {
            return Err(MethodError::CannotCalculateChanges(s));
        }
        r => r?,
    };
    let defaults: std::collections::HashMap<i64, String> = if matches!(kind, Kind::Identity) {
        ctx.core
            .default_identity_log_ids(account_id)
            .await?
            .into_iter()
            .map(|(n, email)| (n, id::identity(&email)))
            .collect()
    } else {
        Default::default()
    };
    let ids = |v: &[i64]| {
        v.iter()
            .filter_map(|&n| match defaults.get(&n) {
                Some(i) => Some(i.clone()),
                None if n < 0 => None,
                None => Some(to_id(n)),
            })
            .collect::<Vec<_>>()
    };
    let mut out = json!({
        "accountId": id::account(account_id),
        "oldState": since_text,
        "newState": c.new_state.to_string(),
        "hasMoreChanges": c.has_more,
        "created": ids(&c.created),
        "updated": ids(&c.updated),
        "destroyed": ids(&c.destroyed),
    });
    if matches!(kind, Kind::Mailbox) {
        // The log does not record which properties changed: null means "any".
        out["updatedProperties"] = Value::Null;
    }
    Ok(out)
}
