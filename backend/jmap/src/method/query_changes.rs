//! Email/queryChanges and Mailbox/queryChanges (RFC 8620 §5.6): query results are
//! recomputed, not tracked, so the answer is the RFC's cannotCalculateChanges and clients
//! query again.

use serde_json::{Map, Value};

use super::{Ctx, account};
use crate::MethodError;

pub(super) fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    account(ctx.caller, &args)?;
    Err(MethodError::CannotCalculateChanges(
        "query results are not tracked; query again".into(),
    ))
}
