use mailroom_store::StoreError;
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The service layer's errors, in protocol-neutral words. Each gateway maps them once, at its
/// edge (SMTP reply codes, IMAP response codes, JMAP error types, REST problem JSON).
#[derive(Debug, Error)]
pub enum Error {
    /// The named thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed or breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The thing to create exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The object changed after the version the caller named (IMAP UNCHANGEDSINCE).
    #[error("{0} was modified meanwhile")]
    Modified(String),
    /// The account's storage quota does not leave room for this.
    #[error("over quota: {0}")]
    OverQuota(String),
    /// A transient failure: storage unreachable, shutting down. Try again later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// The caller has done this too often; it may try again after the duration.
    #[error("rate limit reached; try again in {} seconds", .0.as_secs().max(1))]
    RateLimited(std::time::Duration),
    /// A bug or corrupt data. The detail is for the log, not for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound(s) => Error::NotFound(s),
            StoreError::Conflict(s) => Error::AlreadyExists(s),
            StoreError::Config(s) => Error::Invalid(s),
            StoreError::Io(s) => Error::Unavailable(s),
            StoreError::Corrupt(s) => Error::Internal(s),
            StoreError::OverQuota(s) => Error::OverQuota(s),
            StoreError::Db(e) => Error::Unavailable(format!("database: {e}")),
            StoreError::Blob(e) => Error::Unavailable(format!("blob store: {e}")),
        }
    }
}
