//! `/api/v1/admin/queue`: the outbound queue for administrators, as `mailroom queue` shows
//! and manages it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::admin::admin;
use super::types::{ProblemBody, date};
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

#[derive(Serialize, ToSchema)]
pub struct QueuedMessageInfo {
    pub id: i64,
    /// The envelope sender; empty for the null sender (a bounce or auto-reply).
    pub mail_from: String,
    pub size: i64,
    pub queued_at: String,
    pub recipients: Vec<QueuedRecipientInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct QueuedRecipientInfo {
    pub address: String,
    /// "queued", "sent" or "failed".
    #[schema(example = "queued")]
    pub status: String,
    pub attempts: i32,
    /// When the next attempt is due (for "queued").
    pub next_attempt_at: Option<String>,
    /// The last reply or failure, e.g. "451 4.7.1 try again later".
    pub last_reply: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RetryInfo {
    /// Recipients made due now.
    pub recipients: u64,
}

/// List the outbound queue: every message still waiting for a recipient, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/queue", tag = "admin",
    responses((status = 200, body = Vec<QueuedMessageInfo>), (status = 403, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<axum::Json<Vec<QueuedMessageInfo>>, Problem> {
    admin(&s, &auth).await?;
    let entries = s.core.queue_list().await?;
    Ok(axum::Json(
        entries
            .into_iter()
            .map(|e| QueuedMessageInfo {
                id: e.message.id,
                mail_from: e.message.mail_from,
                size: e.message.size,
                queued_at: date(e.message.created_at),
                recipients: e
                    .recipients
                    .into_iter()
                    .map(|r| QueuedRecipientInfo {
                        next_attempt_at: (r.status == "queued").then(|| date(r.next_attempt_at)),
                        address: r.address,
                        status: r.status,
                        attempts: r.attempts,
                        last_reply: r.last_reply,
                    })
                    .collect(),
            })
            .collect(),
    ))
}

/// Try a queued message's waiting recipients now instead of at their scheduled time.
#[utoipa::path(post, path = "/api/v1/admin/queue/{id}/retry", tag = "admin",
    params(("id" = i64, Path)),
    responses((status = 200, body = RetryInfo), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn retry(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> Result<axum::Json<RetryInfo>, Problem> {
    admin(&s, &auth).await?;
    let n = s.core.queue_retry(Some(id)).await?;
    if n == 0 {
        return Err(mailroom_core::Error::NotFound(format!("queued message {id}")).into());
    }
    Ok(axum::Json(RetryInfo { recipients: n }))
}

/// Drop a queued message: it is not sent to its waiting recipients, and no bounce is made.
#[utoipa::path(delete, path = "/api/v1/admin/queue/{id}", tag = "admin",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    admin(&s, &auth).await?;
    s.core.queue_remove(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
