//! Shapes shared by the REST handlers: the problem body, a JSON extractor whose errors are
//! problems, addresses, dates and id parsing.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::Problem;

/// RFC 7807 problem details: every error of this API.
#[derive(Serialize, ToSchema)]
pub struct ProblemBody {
    /// A URI naming the kind of error; stable, so clients may branch on it.
    #[serde(rename = "type")]
    #[schema(example = "https://mailroom.dev/problems/not-found")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
}

/// A JSON request body; malformed JSON, wrong types and a wrong content type are 4xx problems.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(r) => {
                let status = r.status();
                let (kind, title) = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "Request too large"),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        ("unsupported-media-type", "Expected application/json")
                    }
                    _ => ("invalid-json", "Invalid JSON"),
                };
                Err(Problem::new(
                    status,
                    &format!("https://mailroom.dev/problems/{kind}"),
                    title,
                    r.body_text(),
                ))
            }
        }
    }
}

/// An address with its display name, as in a message's headers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub email: String,
}

/// The stored JSON list of addresses (from the message metadata).
pub fn addresses(json: &str) -> Vec<EmailAddress> {
    serde_json::from_str(json).unwrap_or_default()
}

/// RFC 3339 (UTC) from Unix seconds.
pub fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The number inside an id of the given kind, or 404 (an id of the wrong shape names
/// nothing).
pub fn parse_id(kind: char, id: &str, what: &str) -> Result<i64, Problem> {
    mailroom_jmap::id::parse(kind, id)
        .ok_or_else(|| mailroom_core::Error::NotFound(format!("{what} {id}")).into())
}
