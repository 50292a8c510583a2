//! `/api/v1/mailboxes/{id}/messages` and `/api/v1/messages/{id}…`: list a mailbox (cursor
//! pagination), read a message as JSON or raw RFC 5322, download an attachment, change
//! keywords, move, delete.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use mailroom_core::auth::Scope;
use mailroom_core::mail::EmailView;
use mailroom_core::update::EmailUpdate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::types::{EmailAddress, JsonBody, ProblemBody, addresses, date, parse_id};
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

/// A message as listed.
#[derive(Serialize, ToSchema)]
pub struct MessageSummary {
    /// The JMAP Email id.
    #[schema(example = "e42")]
    pub id: String,
    pub thread_id: String,
    pub mailbox_ids: Vec<String>,
    pub from: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub subject: Option<String>,
    pub preview: String,
    pub received_at: String,
    pub size: i64,
    /// JMAP keywords: $seen, $flagged, $answered, $draft, or your own.
    pub keywords: Vec<String>,
    pub has_attachment: bool,
}

impl From<&EmailView> for MessageSummary {
    fn from(e: &EmailView) -> MessageSummary {
        let r = &e.row;
        MessageSummary {
            id: mailroom_jmap::id::email(r.id),
            thread_id: mailroom_jmap::id::thread(r.thread_id),
            mailbox_ids: e
                .mailbox_ids
                .iter()
                .map(|&m| mailroom_jmap::id::mailbox(m))
                .collect(),
            from: addresses(&r.meta.from_addr),
            to: addresses(&r.meta.to_addr),
            subject: r.meta.subject.clone(),
            preview: r.meta.preview.clone(),
            received_at: date(r.received_at),
            size: r.size,
            keywords: e.keywords().map(str::to_string).collect(),
            has_attachment: r.meta.has_attachment,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 500; default 50.
    pub limit: Option<u64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn encode_cursor(received_at: i64, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{received_at}.{id}"))
}

fn decode_cursor(c: &str) -> Result<(i64, i64), Problem> {
    let bad = || Problem::invalid("the cursor is not one this server gave");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (a, b) = text.split_once('.').ok_or_else(bad)?;
    Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
}

/// List a mailbox's messages, newest first.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/messages", operation_id = "listMessages", tag = "mail",
    params(("id" = String, Path, description = "Mailbox id"), PageQuery),
    responses(
        (status = 200, body = MessagePage),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<MessagePage>, Problem> {
    access.require(Scope::Read)?;
    let mailbox = parse_id('m', &id, "mailbox")?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid("limit must be 1 to 500"));
    }
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = s
        .core
        .email_page(caller.account_id, mailbox, cursor, limit)
        .await?;
    let ids: Vec<i64> = page.iter().map(|p| p.0).collect();
    let views = s.core.emails(caller.account_id, &ids).await?;
    let next_cursor = (page.len() as u64 == limit)
        .then(|| page.last().map(|&(id, at)| encode_cursor(at, id)))
        .flatten();
    Ok(axum::Json(MessagePage {
        messages: views.iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentInfo {
    /// Its index, for /api/v1/messages/{id}/attachments/{index}.
    pub index: usize,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
}

/// A message, parsed.
#[derive(Serialize, ToSchema)]
pub struct Message {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub cc: Vec<EmailAddress>,
    pub reply_to: Vec<EmailAddress>,
    pub message_id: Option<String>,
    pub sent_at: Option<String>,
    /// The plain-text body (converted from HTML when there is only HTML).
    pub text: Option<String>,
    /// The HTML body, as sent: sanitise before displaying it.
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
}

async fn view(s: &AppState, account: i64, id: &str) -> Result<EmailView, Problem> {
    let email = parse_id('e', id, "message")?;
    s.core
        .emails(account, &[email])
        .await?
        .pop()
        .ok_or_else(|| mailroom_core::Error::NotFound(format!("message {id}")).into())
}

/// Read a message as JSON, or, with `Accept: message/rfc822`, as it was received.
#[utoipa::path(get, path = "/api/v1/messages/{id}", operation_id = "getMessage", tag = "mail",
    params(("id" = String, Path, description = "Message (JMAP Email) id")),
    responses(
        (status = 200, content((Message = "application/json"), (String = "message/rfc822"))),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    let wants_raw = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("message/rfc822"));
    if wants_raw {
        return raw_response(&s, caller.account_id, &id).await;
    }
    let v = view(&s, caller.account_id, &id).await?;
    let body = s.core.email_body(caller.account_id, v.row.id).await?;
    let r = &v.row;
    Ok(axum::Json(Message {
        cc: addresses(&r.meta.cc_addr),
        reply_to: addresses(&r.meta.reply_to),
        message_id: r.meta.message_id.clone(),
        sent_at: r.meta.sent_at.map(date),
        summary: (&v).into(),
        text: body.text,
        html: body.html,
        attachments: body
            .attachments
            .into_iter()
            .map(|a| AttachmentInfo {
                index: a.index,
                filename: a.filename,
                content_type: a.content_type,
                size: a.size,
            })
            .collect(),
    })
    .into_response())
}

async fn raw_response(s: &AppState, account: i64, id: &str) -> Result<Response, Problem> {
    let email = parse_id('e', id, "message")?;
    let raw = s.core.email_raw(account, email).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("message/rfc822"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=31536000, immutable"),
            ),
        ],
        raw,
    )
        .into_response())
}

/// Download a message as it was received (RFC 5322, message/rfc822).
#[utoipa::path(get, path = "/api/v1/messages/{id}/raw", operation_id = "getRawMessage", tag = "mail",
    params(("id" = String, Path, description = "Message id")),
    responses(
        (status = 200, body = String, content_type = "message/rfc822"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn raw(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    raw_response(&s, caller.account_id, &id).await
}

/// Download an attachment, decoded.
#[utoipa::path(get, path = "/api/v1/messages/{id}/attachments/{index}", operation_id = "getAttachment", tag = "mail",
    params(("id" = String, Path, description = "Message id"), ("index" = usize, Path, description = "From the message's attachments list")),
    responses(
        (status = 200, description = "The attachment, with its content type", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn attachment(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path((id, index)): Path<(String, String)>,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    let email = parse_id('e', &id, "message")?;
    let index: usize = index
        .parse()
        .map_err(|_| mailroom_core::Error::NotFound(format!("attachment {index}")))?;
    let (info, bytes) = s
        .core
        .email_attachment(caller.account_id, email, index)
        .await?;
    let name = info
        .filename
        .unwrap_or_else(|| format!("attachment-{index}"));
    // RFC 6266 / RFC 8187: a plain ASCII fallback and the exact name percent-encoded.
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&info.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Changes to a message's keywords (flags). `keywords` replaces the whole set; `add` and
/// `remove` change it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageUpdate {
    pub keywords: Option<Vec<String>>,
    #[serde(default)]
    #[schema(example = json!(["$seen"]))]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
    /// The complete set of mailboxes the message is in.
    pub mailbox_ids: Option<Vec<String>>,
}

async fn apply(s: &AppState, account: i64, u: EmailUpdate) -> Result<(), Problem> {
    s.core
        .update_emails(account, vec![u])
        .await?
        .pop()
        .expect("one result per update")
        .map_err(Problem::from)
}

/// Change a message's keywords (flags) or mailboxes.
#[utoipa::path(patch, path = "/api/v1/messages/{id}", operation_id = "updateMessage", tag = "mail",
    params(("id" = String, Path, description = "Message id")), request_body = MessageUpdate,
    responses(
        (status = 200, body = MessageSummary),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<MessageUpdate>,
) -> Result<axum::Json<MessageSummary>, Problem> {
    access.require(Scope::Send)?;
    let v = view(&s, caller.account_id, &id).await?;
    let keywords = if req.keywords.is_some() || !req.add.is_empty() || !req.remove.is_empty() {
        let mut k: Vec<String> = req
            .keywords
            .unwrap_or_else(|| v.keywords().map(str::to_string).collect());
        k.extend(req.add);
        let remove: Vec<String> = req.remove.iter().map(|r| r.to_ascii_lowercase()).collect();
        k.retain(|x| !remove.contains(&x.to_ascii_lowercase()));
        Some(k)
    } else {
        None
    };
    let mailbox_ids = req
        .mailbox_ids
        .map(|v| {
            v.iter()
                .map(|m| {
                    mailroom_jmap::id::parse('m', m)
                        .ok_or_else(|| Problem::invalid(format!("{m:?} is not a mailbox id")))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    apply(
        &s,
        caller.account_id,
        EmailUpdate {
            email_id: v.row.id,
            keywords,
            mailbox_ids,
            ..Default::default()
        },
    )
    .await?;
    let v = view(&s, caller.account_id, &id).await?;
    Ok(axum::Json((&v).into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The mailbox to move to; the message leaves all others.
    #[schema(example = "m5")]
    pub mailbox_id: String,
}

/// Move a message to one mailbox.
#[utoipa::path(post, path = "/api/v1/messages/{id}/move", operation_id = "moveMessage", tag = "mail",
    params(("id" = String, Path, description = "Message id")), request_body = MoveRequest,
    responses(
        (status = 200, body = MessageSummary),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn move_to(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<MoveRequest>,
) -> Result<axum::Json<MessageSummary>, Problem> {
    access.require(Scope::Send)?;
    let v = view(&s, caller.account_id, &id).await?;
    let target = mailroom_jmap::id::parse('m', &req.mailbox_id)
        .ok_or_else(|| Problem::invalid(format!("{:?} is not a mailbox id", req.mailbox_id)))?;
    apply(
        &s,
        caller.account_id,
        EmailUpdate {
            email_id: v.row.id,
            keywords: None,
            mailbox_ids: Some(vec![target]),
            ..Default::default()
        },
    )
    .await?;
    let v = view(&s, caller.account_id, &id).await?;
    Ok(axum::Json((&v).into()))
}

/// Delete a message for good (from every mailbox). To keep it, move it to Trash instead.
#[utoipa::path(delete, path = "/api/v1/messages/{id}", operation_id = "deleteMessage", tag = "mail",
    params(("id" = String, Path, description = "Message id")),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn delete(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    access.require(Scope::Send)?;
    let email = parse_id('e', &id, "message")?;
    s.core
        .destroy_emails(caller.account_id, &[email])
        .await?
        .pop()
        .expect("one result per id")?;
    Ok(StatusCode::NO_CONTENT)
}
