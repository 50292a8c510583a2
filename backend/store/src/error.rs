use thiserror::Error;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong below the service layer. `mailroom-core` maps these to its own errors;
/// none of these words reach a client.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("blob store: {0}")]
    Blob(#[from] object_store::Error),
    #[error("{0}")]
    Io(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// An account's storage limit leaves no room for what was to be added.
    #[error("over quota: {0}")]
    OverQuota(String),
}

impl StoreError {
    /// The database was unreachable or busy (or the disk failed): every job of a batch would
    /// meet the same, so retrying them one by one would only multiply the wait.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)) => true,
            StoreError::Db(e) => {
                let m = e.to_string();
                m.contains("database is locked")
                    || m.contains("connection")
                    || m.contains("timed out")
            }
            StoreError::Io(_) | StoreError::Blob(_) => true,
            StoreError::Config(_)
            | StoreError::Conflict(_)
            | StoreError::NotFound(_)
            | StoreError::Corrupt(_)
            | StoreError::OverQuota(_) => false,
        }
    }

    /// Unique-constraint violations surface as [`StoreError::Conflict`] so callers can say
    /// "already exists" instead of "internal error".
    pub(crate) fn from_insert(e: sea_orm::DbErr, what: impl Into<String>) -> StoreError {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                StoreError::Conflict(what.into())
            }
            _ => StoreError::Db(e),
        }
    }
}
