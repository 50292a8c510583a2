//! JMAP's error levels (RFC 8620 §3.6): request-level errors are problem documents with a
//! JMAP `type` URI; method-level errors are `error` responses. Mapped once, here.

use serde_json::{Value, json};

/// The request as a whole cannot be processed (RFC 8620 §3.6.1).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request asks for capability {0:?}, which this server does not have")]
    UnknownCapability(String),
    #[error("the request is not JSON: {0}")]
    NotJson(String),
    #[error("the request is not a JMAP Request object: {0}")]
    NotRequest(String),
    #[error("the request exceeds the server's {0} limit")]
    Limit(&'static str),
    #[error("server error: {0}")]
    Server(String),
}

impl RequestError {
    /// The problem `type` URI (RFC 8620 §3.6.1).
    pub fn type_uri(&self) -> &'static str {
        match self {
            RequestError::UnknownCapability(_) => "urn:ietf:params:jmap:error:unknownCapability",
            RequestError::NotJson(_) => "urn:ietf:params:jmap:error:notJSON",
            RequestError::NotRequest(_) => "urn:ietf:params:jmap:error:notRequest",
            RequestError::Limit(_) => "urn:ietf:params:jmap:error:limit",
            RequestError::Server(_) => "about:blank",
        }
    }

    /// The `limit` member for limit errors.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            RequestError::Limit(l) => Some(l),
            _ => None,
        }
    }
}

/// One method call failed (RFC 8620 §3.6.2, RFC 8621 method errors).
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("unknown method")]
    UnknownMethod,
    #[error("{0}")]
    InvalidArguments(String),
    #[error("{0}")]
    InvalidResultReference(String),
    #[error("account not found")]
    AccountNotFound,
    #[error("{0}")]
    UnsupportedFilter(String),
    #[error("{0}")]
    UnsupportedSort(String),
    #[error("{0}")]
    RequestTooLarge(String),
    #[error("{0}")]
    AnchorNotFound(String),
    #[error("{0}")]
    CannotCalculateChanges(String),
    #[error("{0}")]
    TooManyChanges(String),
    /// RFC 8620 §5.4: the account to copy from is not one the caller can read.
    #[error("no such account to copy from")]
    FromAccountNotFound,
    #[error("the account's state is not the one given in ifInState")]
    StateMismatch,
    /// RFC 8620 §3.6.2: the caller may not do this (a read-only API token changing data).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    ServerUnavailable(String),
    #[error("{0}")]
    ServerFail(String),
}

impl MethodError {
    pub fn to_json(&self) -> Value {
        let ty = match self {
            MethodError::UnknownMethod => "unknownMethod",
            MethodError::InvalidArguments(_) => "invalidArguments",
            MethodError::InvalidResultReference(_) => "invalidResultReference",
            MethodError::AccountNotFound => "accountNotFound",
            MethodError::UnsupportedFilter(_) => "unsupportedFilter",
            MethodError::UnsupportedSort(_) => "unsupportedSort",
            MethodError::RequestTooLarge(_) => "requestTooLarge",
            MethodError::AnchorNotFound(_) => "anchorNotFound",
            MethodError::CannotCalculateChanges(_) => "cannotCalculateChanges",
            MethodError::TooManyChanges(_) => "tooManyChanges",
            MethodError::StateMismatch => "stateMismatch",
            MethodError::FromAccountNotFound => "fromAccountNotFound",
            MethodError::Forbidden(_) => "forbidden",
            MethodError::ServerUnavailable(_) => "serverUnavailable",
            // Internal detail goes to the log, not to the client.
            MethodError::ServerFail(_) => return json!({"type": "serverFail"}),
        };
        json!({"type": ty, "description": self.to_string()})
    }
}

impl From<mailroom_core::Error> for MethodError {
    fn from(e: mailroom_core::Error) -> MethodError {
        use mailroom_core::Error as E;
        match e {
            E::NotFound(s) | E::Invalid(s) | E::AlreadyExists(s) | E::Modified(s) => {
                MethodError::InvalidArguments(s)
            }
            E::Forbidden(_) => MethodError::AccountNotFound,
            // Where a SetError fits, the methods map it themselves (overQuota).
            E::OverQuota(s) => MethodError::Forbidden(format!("over quota: {s}")),
            E::Unavailable(s) => MethodError::ServerUnavailable(s),
            e @ E::RateLimited(_) => MethodError::ServerUnavailable(e.to_string()),
            E::Internal(s) => MethodError::ServerFail(s),
        }
    }
}
