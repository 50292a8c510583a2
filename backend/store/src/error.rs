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
}

impl StoreError {
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
