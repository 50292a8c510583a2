//! Email/copy (RFC 8620 §5.4, RFC 8621 §4.7): a copy is between two different accounts.
//! Every user has exactly one account here (no shared accounts), so there is never another
//! account to copy from.

use serde_json::{Map, Value};

use super::{Ctx, account};
use crate::MethodError;

pub(super) fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    account(ctx.caller, &args)?;
    match args.get("fromAccountId").and_then(Value::as_str) {
        None => Err(MethodError::InvalidArguments(
            "fromAccountId must be an account id".into(),
        )),
        Some(f) if crate::id::parse('a', f) == Some(ctx.caller.account_id) => {
            Err(MethodError::InvalidArguments(
                "fromAccountId must differ from accountId; use Email/set to change mailboxes"
                    .into(),
            ))
        }
        Some(_) => Err(MethodError::FromAccountNotFound),
    }
}
