//! JMAP (RFC 8620 core, RFC 8621 mail) over mailroom's service layer: request in, response
//! out, no HTTP.
//!
//! Brief overview:
//! - [`handle`] runs one JMAP request for an authenticated [`Caller`]: it checks the envelope
//!   ([`RequestError`] for the RFC's request-level errors), resolves result references (`#`)
//!   and calls each method in turn; a failing method yields its `error` response and the rest
//!   go on.
//! - `method/` has one file per method (`mailbox_get.rs`, `email_query.rs`, …); `method/mod.rs`
//!   only dispatches.
//! - [`session`] builds the Session resource (RFC 8620 §2).
//! - [`id`] maps service-layer ids to JMAP ids (`a1`, `m7`, `e42`, `t9`) and back.

pub mod error;
pub mod id;
mod method;
mod reference;
pub mod session;

use mailroom_core::Core;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{MethodError, RequestError};

pub const CORE: &str = "urn:ietf:params:jmap:core";
pub const MAIL: &str = "urn:ietf:params:jmap:mail";
pub const SUBMISSION: &str = "urn:ietf:params:jmap:submission";
pub const VACATION: &str = "urn:ietf:params:jmap:vacationresponse";
/// RFC 9425.
pub const QUOTA: &str = "urn:ietf:params:jmap:quota";

/// A method result may carry, under this key, a response to append after its own (RFC 8621
/// §7.5: EmailSubmission/set's implicit Email/set).
pub(crate) const IMPLICIT: &str = "\u{0}implicit";

/// Limits advertised in the Session and enforced here.
pub const MAX_CALLS_IN_REQUEST: usize = 32;
pub const MAX_OBJECTS_IN_GET: usize = 500;
pub const MAX_OBJECTS_IN_SET: usize = 500;
pub const MAX_SIZE_REQUEST: usize = 10 * 1024 * 1024;
pub const MAX_SIZE_UPLOAD: usize = 50 * 1024 * 1024;

/// Who is asking: an authenticated user, who may act on their own account only.
#[derive(Clone, Debug)]
pub struct Caller {
    pub account_id: i64,
    pub address: String,
    /// A personal API token without the `send` scope: methods that change data are refused.
    pub read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    using: Vec<String>,
    method_calls: Vec<(String, serde_json::Map<String, Value>, String)>,
    #[serde(default)]
    created_ids: Option<serde_json::Map<String, Value>>,
}

/// A JMAP response object (RFC 8620 §3.4).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub method_responses: Vec<(String, Value, String)>,
    pub session_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_ids: Option<serde_json::Map<String, Value>>,
}

/// Runs a JMAP request body for `caller`.
pub async fn handle(core: &Core, caller: &Caller, body: &[u8]) -> Result<Response, RequestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
    let req: Request =
        serde_json::from_value(value).map_err(|e| RequestError::NotRequest(e.to_string()))?;
    for u in &req.using {
        if ![CORE, MAIL, SUBMISSION, VACATION, QUOTA].contains(&u.as_str()) {
            return Err(RequestError::UnknownCapability(u.clone()));
        }
    }
    if req.method_calls.len() > MAX_CALLS_IN_REQUEST {
        return Err(RequestError::Limit("maxCallsInRequest"));
    }
    // The account's state, read when a method first needs it (method::Ctx::state).
    let state = std::sync::OnceLock::new();
    // What each call read for the one after it (see method::Ctx::offered).
    let offered = std::sync::Mutex::new(None);
    let mut responses: Vec<(String, Value, String)> = Vec::with_capacity(req.method_calls.len());
    // Creation id → id of what it created, for `#creationId` references (RFC 8620 §5.3).
    let created = std::sync::Mutex::new(
        req.created_ids
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<std::collections::HashMap<_, _>>(),
    );
    for (name, args, call_id) in req.method_calls {
        let prefetched = std::sync::Mutex::new(offered.lock().expect("offered").take());
        let result = match reference::resolve(args, &responses) {
            Ok(args) => {
                method::call(
                    &method::Ctx {
                        core,
                        caller,
                        state: &state,
                        created: &created,
                        prefetched: &prefetched,
                        offered: &offered,
                    },
                    &req.using,
                    &name,
                    args,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if result.is_err() {
            offered.lock().expect("offered").take();
        }
        match result {
            Ok(mut value) => {
                if let Some(Value::Object(c)) = value.get("created") {
                    let mut map = created.lock().expect("created ids");
                    for (cid, obj) in c {
                        if let Some(id) = obj.get("id").and_then(Value::as_str) {
                            map.insert(cid.clone(), id.to_string());
                        }
                    }
                }
                let implicit = value.as_object_mut().and_then(|o| o.remove(IMPLICIT));
                responses.push((name, value, call_id.clone()));
                if let Some(Value::Array(pair)) = implicit
                    && let [Value::String(n), v] = &pair[..]
                {
                    responses.push((n.clone(), v.clone(), call_id));
                }
            }
            Err(e) => {
                if let MethodError::ServerFail(detail) = &e {
                    tracing::error!(method = %name, %detail, "JMAP method failed");
                }
                responses.push(("error".into(), e.to_json(), call_id));
            }
        }
    }
    Ok(Response {
        method_responses: responses,
        session_state: session::state(caller),
        created_ids: req.created_ids.map(|_| {
            created
                .into_inner()
                .expect("created ids")
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        }),
    })
}
