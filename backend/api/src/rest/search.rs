//! `GET /api/v1/messages/search`: find messages by text (from, to, cc, bcc, subject and
//! body) and simple facts, newest first, with offset paging. The same search as JMAP's
//! Email/query, through core.

use axum::extract::{Query, State};
use mailroom_core::auth::Scope;
use mailroom_core::filter::{Cond, Filter, SortKey, SqlSort, TextField, Window};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::messages::MessageSummary;
use super::types::{ProblemBody, parse_id};
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Text to find anywhere: addresses and names, subject, body (case-insensitive).
    pub q: Option<String>,
    /// Only in this sender's name or address.
    pub from: Option<String>,
    /// Only in To's names or addresses.
    pub to: Option<String>,
    /// Only in the subject.
    pub subject: Option<String>,
    /// Only in this mailbox (its id).
    pub mailbox: Option<String>,
    /// `true`: only unread; `false`: only read.
    pub unread: Option<bool>,
    /// `true`: only flagged.
    pub flagged: Option<bool>,
    /// `true`: only with attachments.
    pub has_attachment: Option<bool>,
    /// 1 to 500; default 50.
    pub limit: Option<u64>,
    /// Results to skip; default 0.
    pub offset: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub messages: Vec<MessageSummary>,
    /// How many match in all.
    pub total: u64,
    /// Pass as `offset` for the next page; absent on the last.
    pub next_offset: Option<u64>,
}

/// Search messages.
#[utoipa::path(get, path = "/api/v1/messages/search", operation_id = "searchMessages", tag = "mail",
    params(SearchQuery),
    responses(
        (status = 200, body = SearchResults),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Query(q): Query<SearchQuery>,
) -> Result<axum::Json<SearchResults>, Problem> {
    access.require(Scope::Read)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid("limit must be 1 to 500"));
    }
    let mut all = Vec::new();
    for (field, v) in [
        (TextField::Any, &q.q),
        (TextField::From, &q.from),
        (TextField::To, &q.to),
        (TextField::Subject, &q.subject),
    ] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            if v.len() > 500 {
                return Err(Problem::invalid("a search text is at most 500 bytes"));
            }
            all.push(Filter::Text(field, v.to_string()));
        }
    }
    if let Some(m) = &q.mailbox {
        all.push(Filter::Cond(Cond::InMailbox(parse_id('m', m, "mailbox")?)));
    }
    let seen = Filter::Cond(Cond::HasKeyword("$seen".into()));
    match q.unread {
        Some(true) => all.push(Filter::Not(vec![seen])),
        Some(false) => all.push(seen),
        None => {}
    }
    if q.flagged == Some(true) {
        all.push(Filter::Cond(Cond::HasKeyword("$flagged".into())));
    }
    if let Some(a) = q.has_attachment {
        all.push(Filter::Cond(Cond::HasAttachment(a)));
    }
    if all.is_empty() {
        return Err(Problem::invalid(
            "give at least one of q, from, to, subject, mailbox, unread, flagged, has_attachment",
        ));
    }
    let offset = q.offset.unwrap_or(0);
    let page = s
        .core
        .email_search(
            caller.account_id,
            &mailroom_core::filter::Query {
                filter: Filter::And(all),
                sort: vec![(SortKey::Stored(SqlSort::ReceivedAt), false)],
                collapse_threads: false,
            },
            Window::Position {
                position: offset.min(i64::MAX as u64) as i64,
                limit,
            },
            true,
        )
        .await?;
    let views = s.core.emails(caller.account_id, &page.ids).await?;
    let total = page.total.unwrap_or(0);
    let next = offset + views.len() as u64;
    Ok(axum::Json(SearchResults {
        messages: views.iter().map(Into::into).collect(),
        total,
        next_offset: (next < total).then_some(next),
    }))
}
