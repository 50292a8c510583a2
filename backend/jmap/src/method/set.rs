//! What every /set method shares (RFC 8620 §5.3): `ifInState`, the create / update /
//! destroy arguments, and the response with its `not*` maps.

use serde_json::{Map, Value, json};

use super::Ctx;
use crate::{MethodError, id};

/// `ifInState`: the whole call is refused when the account's state is another. Returns the
/// state before this call's changes (its `oldState`), read now: an earlier call of the same
/// request may have changed it.
pub(super) async fn check_state(
    ctx: &Ctx<'_>,
    account_id: i64,
    args: &Map<String, Value>,
) -> Result<i64, MethodError> {
    let state = ctx.core.state(account_id).await?;
    match args.get("ifInState").filter(|v| !v.is_null()) {
        Some(want) if want.as_str() != Some(state.to_string().as_str()) => {
            Err(MethodError::StateMismatch)
        }
        _ => Ok(state),
    }
}

/// `create` or `update`: an object, or absent / null for none.
pub(super) fn object_arg(
    args: &Map<String, Value>,
    k: &str,
) -> Result<Map<String, Value>, MethodError> {
    match args.get(k) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        _ => Err(MethodError::InvalidArguments(format!(
            "{k} must be an object or null"
        ))),
    }
}

/// `destroy` (or another list of ids): an array of strings, or absent / null for none.
pub(super) fn id_list_arg(args: &Map<String, Value>, k: &str) -> Result<Vec<String>, MethodError> {
    match args.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| MethodError::InvalidArguments(format!("{k} must list ids"))),
        _ => Err(MethodError::InvalidArguments(format!(
            "{k} must be an array or null"
        ))),
    }
}

/// The outcome of a /set call; empty parts are answered as null.
#[derive(Default)]
pub(super) struct SetOutcome {
    pub created: Map<String, Value>,
    pub updated: Map<String, Value>,
    pub destroyed: Vec<Value>,
    pub not_created: Map<String, Value>,
    pub not_updated: Map<String, Value>,
    pub not_destroyed: Map<String, Value>,
}

impl SetOutcome {
    pub async fn response(
        self,
        ctx: &Ctx<'_>,
        account_id: i64,
        old_state: i64,
    ) -> Result<Value, MethodError> {
        let new_state = ctx.core.state(account_id).await?;
        let or_null = |m: Map<String, Value>| {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        };
        Ok(json!({
            "accountId": id::account(account_id),
            "oldState": old_state.to_string(),
            "newState": new_state.to_string(),
            "created": or_null(self.created),
            "updated": or_null(self.updated),
            "destroyed": if self.destroyed.is_empty() { Value::Null } else { Value::Array(self.destroyed) },
            "notCreated": or_null(self.not_created),
            "notUpdated": or_null(self.not_updated),
            "notDestroyed": or_null(self.not_destroyed),
        }))
    }
}
