//! Dispatch: method name → its file. A method whose capability the request did not ask for
//! is unknown (RFC 8620 §3.6.2).

mod changes;
mod core_echo;
mod email_body;
mod email_copy;
mod email_create;
mod email_get;
mod email_import;
mod email_parse;
mod email_query;
mod email_set;
mod identity_get;
mod identity_set;
mod mailbox_get;
mod mailbox_query;
mod mailbox_set;
mod query_changes;
mod quota;
mod search_snippet;
mod set;
mod submission_get;
mod submission_query;
mod submission_set;
mod thread_get;
mod vacation;

use mailroom_core::Core;
use mailroom_core::mail::EmailState;
use serde_json::{Map, Value};

use crate::{CORE, Caller, MAIL, MethodError, QUOTA, SUBMISSION, VACATION};

/// What every method gets besides its arguments.
pub(crate) struct Ctx<'a> {
    pub core: &'a Core,
    pub caller: &'a Caller,
    /// The account's state, read once per request when a method first needs it (see
    /// [`Ctx::state`]).
    pub state: &'a std::sync::OnceLock<i64>,
    /// Creation id → created id, from earlier calls of the request (and its createdIds).
    pub created: &'a std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// What the previous call read for this one (an Email/query's list view reads its
    /// emails with its page, for the Email/get of them); see [`Ctx::prefetched`].
    pub prefetched: &'a std::sync::Mutex<Prefetched>,
    /// Where this call leaves what it read for the next call (and only the next).
    pub offered: &'a std::sync::Mutex<Prefetched>,
}

/// Emails of an account read by one call for the next.
pub(crate) type Prefetched = Option<(i64, Vec<(EmailState, Vec<i64>)>)>;

impl Ctx<'_> {
    /// The account's state for this request's answers, read before the data they describe
    /// (a change landing meanwhile makes it older than the data, never newer, so a client
    /// syncing from it misses nothing). Read on first need, once per request.
    pub async fn state(&self) -> Result<i64, MethodError> {
        if let Some(s) = self.state.get() {
            return Ok(*s);
        }
        let s = self.core.state(self.caller.account_id).await?;
        Ok(*self.state.get_or_init(|| s))
    }

    /// Emails the previous call read, when they are exactly the account's `ids` (in any
    /// order); they were read after the request's state, so they may be served with it.
    pub fn prefetched(&self, account_id: i64, ids: &[i64]) -> Option<Vec<(EmailState, Vec<i64>)>> {
        let (account, emails) = self.prefetched.lock().expect("prefetched").take()?;
        let mut have: Vec<i64> = emails.iter().map(|(e, _)| e.id).collect();
        let mut want = ids.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        want.dedup();
        (account == account_id && have == want).then_some(emails)
    }

    /// A state read in the same statement as a method's data (one snapshot), used when the
    /// request has none yet; returns the request's state.
    pub fn offer_state(&self, state: Option<i64>) -> Option<i64> {
        match state {
            Some(s) => Some(*self.state.get_or_init(|| s)),
            None => self.state.get().copied(),
        }
    }
    /// An id argument, resolving `#creationId` to what an earlier call created.
    pub fn resolve_id(&self, id: &str) -> Option<String> {
        match id.strip_prefix('#') {
            Some(cid) => self.created.lock().expect("created ids").get(cid).cloned(),
            None => Some(id.to_string()),
        }
    }
}

pub(crate) async fn call(
    ctx: &Ctx<'_>,
    using: &[String],
    name: &str,
    args: Map<String, Value>,
) -> Result<Value, MethodError> {
    let has = |cap: &str| using.iter().any(|u| u == cap);
    if ctx.caller.read_only
        && ["/set", "/import", "/copy"]
            .iter()
            .any(|w| name.ends_with(w))
    {
        return Err(MethodError::Forbidden(
            "this API token has only the read scope".into(),
        ));
    }
    match name {
        "Core/echo" if has(CORE) => Ok(Value::Object(args)),
        "Mailbox/get" if has(MAIL) => mailbox_get::run(ctx, args).await,
        "Mailbox/query" if has(MAIL) => mailbox_query::run(ctx, args).await,
        "Mailbox/set" if has(MAIL) => mailbox_set::run(ctx, args).await,
        "Mailbox/queryChanges" if has(MAIL) => query_changes::mailbox(ctx, args).await,
        "Email/queryChanges" if has(MAIL) => query_changes::email(ctx, args).await,
        "Mailbox/changes" if has(MAIL) => changes::run(ctx, changes::Kind::Mailbox, args).await,
        "Email/query" if has(MAIL) => email_query::run(ctx, args).await,
        "Email/get" if has(MAIL) => email_get::run(ctx, args).await,
        "Email/set" if has(MAIL) => email_set::run(ctx, args).await,
        "Email/import" if has(MAIL) => email_import::run(ctx, args).await,
        "Email/copy" if has(MAIL) => email_copy::run(ctx, args),
        "Email/parse" if has(MAIL) => email_parse::run(ctx, args).await,
        "Email/changes" if has(MAIL) => changes::run(ctx, changes::Kind::Email, args).await,
        "SearchSnippet/get" if has(MAIL) => search_snippet::run(ctx, args).await,
        "Thread/get" if has(MAIL) => thread_get::run(ctx, args).await,
        "Thread/changes" if has(MAIL) => changes::run(ctx, changes::Kind::Thread, args).await,
        "Identity/get" if has(SUBMISSION) => identity_get::run(ctx, args).await,
        "Identity/set" if has(SUBMISSION) => identity_set::run(ctx, args).await,
        "Identity/changes" if has(SUBMISSION) => {
            changes::run(ctx, changes::Kind::Identity, args).await
        }
        "EmailSubmission/get" if has(SUBMISSION) => submission_get::run(ctx, args).await,
        "EmailSubmission/query" if has(SUBMISSION) => submission_query::run(ctx, args).await,
        "EmailSubmission/set" if has(SUBMISSION) => submission_set::run(ctx, args).await,
        "EmailSubmission/changes" if has(SUBMISSION) => {
            changes::run(ctx, changes::Kind::EmailSubmission, args).await
        }
        "VacationResponse/get" if has(VACATION) => vacation::get(ctx, args).await,
        "VacationResponse/set" if has(VACATION) => vacation::set(ctx, args).await,
        "Quota/get" if has(QUOTA) => quota::get(ctx, args).await,
        "Quota/changes" if has(QUOTA) => quota::changes(ctx, args).await,
        "Quota/query" if has(QUOTA) => quota::query(ctx, args).await,
        "Quota/queryChanges" if has(QUOTA) => quota::query_changes(ctx, args).await,
        _ => Err(MethodError::UnknownMethod),
    }
}

/// The account a call names, which must be the caller's own.
pub(crate) fn account(caller: &Caller, args: &Map<String, Value>) -> Result<i64, MethodError> {
    match args.get("accountId") {
        Some(Value::String(id)) if crate::id::parse('a', id) == Some(caller.account_id) => {
            Ok(caller.account_id)
        }
        Some(Value::String(_)) => Err(MethodError::AccountNotFound),
        _ => Err(MethodError::InvalidArguments(
            "accountId must be a string".into(),
        )),
    }
}

/// `ids` (null = all) as a list of ids of one kind; ids of another kind or shape are kept as
/// strings so they can be reported `notFound`.
pub(crate) fn ids_arg(args: &Map<String, Value>) -> Result<Option<Vec<String>>, MethodError> {
    match args.get("ids") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(v)) => {
            if v.len() > crate::MAX_OBJECTS_IN_GET {
                return Err(MethodError::RequestTooLarge(format!(
                    "at most {} ids",
                    crate::MAX_OBJECTS_IN_GET
                )));
            }
            v.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| MethodError::InvalidArguments("ids must be strings".into()))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        _ => Err(MethodError::InvalidArguments(
            "ids must be an array or null".into(),
        )),
    }
}

/// `properties` (null = the method's defaults), checked against what the method knows.
pub(crate) fn properties(
    args: &Map<String, Value>,
    known: &[&str],
    default: &[&str],
) -> Result<Vec<String>, MethodError> {
    match args.get("properties") {
        None | Some(Value::Null) => Ok(default.iter().map(|s| s.to_string()).collect()),
        Some(Value::Array(v)) => {
            let mut out = Vec::with_capacity(v.len() + 1);
            for p in v {
                let p = p.as_str().ok_or_else(|| {
                    MethodError::InvalidArguments("properties must be strings".into())
                })?;
                if !known.contains(&p) {
                    return Err(MethodError::InvalidArguments(format!(
                        "unknown or unsupported property {p:?}"
                    )));
                }
                out.push(p.to_string());
            }
            // RFC 8620 §5.1: the id is always returned.
            if !out.iter().any(|p| p == "id") {
                out.push("id".into());
            }
            Ok(out)
        }
        _ => Err(MethodError::InvalidArguments(
            "properties must be an array or null".into(),
        )),
    }
}

/// UTCDate (RFC 8620 §1.4) from Unix seconds.
pub(crate) fn utc_date(secs: i64) -> Value {
    use chrono::{Datelike, Timelike};
    // Written out by hand: a format string is parsed again on every call, and a list view
    // formats one date per email.
    chrono::DateTime::from_timestamp(secs, 0)
        .filter(|d| (0..=9999).contains(&d.year()))
        .map(|d| {
            Value::String(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            ))
        })
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::utc_date;
    use serde_json::json;

    #[test]
    fn utc_dates_are_rfc3339_in_utc() {
        assert_eq!(utc_date(0), json!("1970-01-01T00:00:00Z"));
        assert_eq!(utc_date(1_700_000_000), json!("2023-11-14T22:13:20Z"));
        assert_eq!(utc_date(951_782_400), json!("2000-02-29T00:00:00Z"));
        // Not expressible as an RFC 3339 date.
        assert_eq!(utc_date(300_000_000_000), json!(null));
    }
}
