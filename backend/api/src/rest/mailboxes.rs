//! `GET /api/v1/mailboxes`: the caller's mailboxes with their counts.

use axum::extract::State;
use mailroom_core::auth::Scope;
use serde::Serialize;
use utoipa::ToSchema;

use super::types::ProblemBody;
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

#[derive(Serialize, ToSchema)]
pub struct MailboxInfo {
    /// The JMAP Mailbox id.
    #[schema(example = "m1")]
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// inbox, sent, drafts, junk, trash, archive, or none.
    pub role: Option<String>,
    pub total: i64,
    pub unread: i64,
}

/// List your mailboxes, with message counts.
#[utoipa::path(get, path = "/api/v1/mailboxes", operation_id = "listMailboxes", tag = "mail",
    responses((status = 200, body = Vec<MailboxInfo>), (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
) -> Result<axum::Json<Vec<MailboxInfo>>, Problem> {
    access.require(Scope::Read)?;
    let v = s.core.mailboxes(caller.account_id).await?;
    Ok(axum::Json(
        v.into_iter()
            .map(|m| MailboxInfo {
                id: mailroom_jmap::id::mailbox(m.mailbox.id),
                name: m.mailbox.name,
                parent_id: m.mailbox.parent_id.map(mailroom_jmap::id::mailbox),
                role: m.mailbox.role,
                total: m.counts.total_emails,
                unread: m.counts.unread_emails,
            })
            .collect(),
    ))
}
