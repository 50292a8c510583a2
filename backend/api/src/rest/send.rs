//! `POST /api/v1/messages/send`: compose and send a message from JSON or a multipart form,
//! honouring `Idempotency-Key` so a retried request never sends twice.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use mailroom_core::auth::Scope;
use mailroom_core::compose::{Attachment, Draft};
use mailroom_core::submit::Idempotency;
use mailroom_core::submit::Outgoing;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::types::ProblemBody;
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

/// One address or several: `"a@x"` or `["a@x", "B <b@y>"]`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(untagged)]
pub enum Recipients {
    #[default]
    #[schema(title = "none")]
    None,
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    fn into_vec(self) -> Vec<String> {
        match self {
            Recipients::None => vec![],
            Recipients::One(s) => split_list(&s),
            Recipients::Many(v) => v,
        }
    }
}

/// `a@x, B <b@y>` → two addresses (commas inside quotes or angle brackets are kept).
fn split_list(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut angle) = (vec![], String::new(), false, false);
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !quoted && !angle => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonAttachment {
    #[schema(example = "report.pdf")]
    pub filename: String,
    /// Default application/octet-stream.
    #[schema(example = "application/pdf")]
    pub content_type: Option<String>,
    /// The file, base64 (standard alphabet, padding optional).
    pub content_base64: String,
}

/// A message to send, as JSON.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// One of your addresses or aliases, optionally with a name (`Alice <alice@example.com>`);
    /// default your own address.
    pub from: Option<String>,
    #[schema(value_type = Vec<String>, example = json!(["bob@example.com"]))]
    #[serde(default)]
    pub to: Recipients,
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub cc: Recipients,
    /// Receive the message but appear in no header (kept in your Sent copy).
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub bcc: Recipients,
    pub reply_to: Option<String>,
    #[serde(default)]
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<JsonAttachment>,
}

/// A message to send, as a form: the same fields as the JSON form (to, cc, bcc may repeat or
/// be comma-separated); every file part is an attachment.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SendForm {
    pub from: Option<String>,
    pub to: Vec<String>,
    pub cc: Option<Vec<String>>,
    pub bcc: Option<Vec<String>>,
    pub reply_to: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    pub attachment: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecipientStatus {
    pub address: String,
    /// delivered (to a local mailbox).
    #[schema(example = "delivered")]
    pub status: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SendResponse {
    /// The JMAP EmailSubmission id.
    #[schema(example = "s12")]
    pub submission_id: String,
    /// The copy in your Sent mailbox (JMAP Email id).
    #[schema(example = "e42")]
    pub email_id: String,
    pub thread_id: String,
    pub message_id: String,
    #[schema(example = "sent")]
    pub status: String,
    pub recipients: Vec<RecipientStatus>,
}

/// Send a message. JSON: `curl -u me@x:pw -H 'Content-Type: application/json' -d
/// '{"to":"bob@x","subject":"Hi","text":"Hello"}' …/api/v1/messages/send`. Form: `curl -u
/// me@x:pw -F to=bob@x -F subject=Hi -F text=Hello -F attachment=@report.pdf …`.
#[utoipa::path(post, path = "/api/v1/messages/send", operation_id = "sendMessage", tag = "send",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key and body returns the first response instead of sending again (kept 24 hours)")),
    request_body(content((SendRequest = "application/json"), (SendForm = "multipart/form-data"))),
    responses(
        (status = 201, description = "Sent", body = SendResponse),
        (status = 200, description = "Replayed: the response of an earlier request with this Idempotency-Key", body = SendResponse),
        (status = 400, description = "Invalid message or recipients; nothing was sent", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not one of your addresses, or the token lacks the send scope", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still running or did not finish", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Too large", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "This Idempotency-Key was used for a different message", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn send(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, Problem> {
    access.require(Scope::Send)?;
    let account = s.core.user_get(&caller.address).await?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    let mut draft = if is_form {
        let form = Multipart::from_request(req, &s)
            .await
            .map_err(|e| Problem::invalid(e.body_text()))?;
        draft_from_form(form).await?
    } else {
        let super::types::JsonBody(r) =
            super::types::JsonBody::<SendRequest>::from_request(req, &s).await?;
        draft_from_json(r)?
    };
    if draft.from.trim().is_empty() {
        draft.from = account.address.clone();
    }
    let key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| Problem::invalid("the Idempotency-Key must be printable ASCII"))
        })
        .transpose()?;
    let Some(key) = key else {
        let r = send_draft(&s, &account, &draft).await?;
        return Ok((StatusCode::CREATED, axum::Json(r)).into_response());
    };
    // The hash is of the message as understood, so a retried form with a new multipart
    // boundary is still the same request.
    let hash = draft_hash(&draft);
    match s.core.idempotency_begin(account.id, &key, &hash).await? {
        Idempotency::New => {}
        Idempotency::Done(body) => {
            let mut r = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(r);
        }
        Idempotency::InProgress => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "https://mailroom.dev/problems/idempotency-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is running, or stopped without an answer; \
                 check Sent before retrying with a new key",
            ));
        }
        Idempotency::Mismatch => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "https://mailroom.dev/problems/idempotency-mismatch",
                "Idempotency-Key reused",
                "this Idempotency-Key was used for a different message",
            ));
        }
    }
    match send_draft(&s, &account, &draft).await {
        Ok(r) => {
            let body = serde_json::to_string(&r).expect("serialisable");
            s.core
                .idempotency_finish(account.id, &key, Some(&body))
                .await?;
            Ok((
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response())
        }
        Err(e) => {
            // Refused before anything was sent: the key is free for a corrected retry. A
            // storage failure leaves it claimed, since the message may have gone out.
            if !matches!(
                e,
                mailroom_core::Error::Unavailable(_) | mailroom_core::Error::Internal(_)
            ) {
                s.core.idempotency_finish(account.id, &key, None).await?;
            }
            Err(e.into())
        }
    }
}

async fn send_draft(
    s: &AppState,
    account: &mailroom_core::Account,
    draft: &Draft,
) -> Result<SendResponse, mailroom_core::Error> {
    // Encoding attachments is CPU work: off the reactor.
    let d = draft.clone();
    let c = tokio::task::spawn_blocking(move || mailroom_core::compose::compose(&d))
        .await
        .map_err(|e| mailroom_core::Error::Internal(format!("composing: {e}")))??;
    let recipients: Vec<String> = c.recipients.iter().map(|r| r.to_string()).collect();
    let sent = s
        .core
        .send(
            account,
            Outgoing {
                raw: c.raw.into(),
                sent_copy: mailroom_core::submit::SentCopy::File(c.sent_copy.into()),
                mail_from: c.from.address.clone(),
                recipients: c.recipients,
            },
        )
        .await?;
    Ok(SendResponse {
        submission_id: format!("s{}", sent.submission.id),
        email_id: mailroom_jmap::id::email(sent.email_id),
        thread_id: mailroom_jmap::id::thread(sent.thread_id),
        message_id: c.message_id,
        status: "sent".into(),
        recipients: recipients
            .into_iter()
            .map(|address| RecipientStatus {
                address,
                status: "delivered".into(),
            })
            .collect(),
    })
}

/// A digest of every field, each length-prefixed so no two drafts share one.
fn draft_hash(d: &Draft) -> String {
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    put(d.from.as_bytes());
    for list in [&d.to, &d.cc, &d.bcc] {
        put(&(list.len() as u64).to_le_bytes());
        for a in list {
            put(a.as_bytes());
        }
    }
    for o in [&d.reply_to, &d.text, &d.html] {
        match o {
            Some(x) => put(format!("+{x}").as_bytes()),
            None => put(b"-"),
        }
    }
    put(d.subject.as_bytes());
    for a in &d.attachments {
        put(a.filename.as_bytes());
        put(a.content_type.as_bytes());
        put(&a.data);
    }
    hex::encode(h.finalize())
}

fn draft_from_json(r: SendRequest) -> Result<Draft, Problem> {
    let attachments = r
        .attachments
        .into_iter()
        .map(|a| {
            let data = base64::engine::general_purpose::STANDARD
                .decode(a.content_base64.trim().trim_end_matches('='))
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(a.content_base64.trim().trim_end_matches('='))
                })
                .map_err(|e| {
                    Problem::invalid(format!("attachment {:?}: not base64: {e}", a.filename))
                })?;
            Ok(Attachment {
                filename: a.filename,
                content_type: a
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                data,
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(Draft {
        from: r.from.unwrap_or_default(),
        to: r.to.into_vec(),
        cc: r.cc.into_vec(),
        bcc: r.bcc.into_vec(),
        reply_to: r.reply_to,
        subject: r.subject,
        text: r.text,
        html: r.html,
        attachments,
    })
}

async fn draft_from_form(mut form: Multipart) -> Result<Draft, Problem> {
    let mut d = Draft::default();
    let bad = |e: axum::extract::multipart::MultipartError| Problem::invalid(e.body_text());
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        if let Some(filename) = field.file_name().map(str::to_string) {
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let data = field.bytes().await.map_err(bad)?.to_vec();
            d.attachments.push(Attachment {
                filename,
                content_type,
                data,
            });
            continue;
        }
        let value = field.text().await.map_err(bad)?;
        match name.as_str() {
            "from" => d.from = value,
            "to" => d.to.extend(split_list(&value)),
            "cc" => d.cc.extend(split_list(&value)),
            "bcc" => d.bcc.extend(split_list(&value)),
            "reply_to" => d.reply_to = Some(value),
            "subject" => d.subject = value,
            "text" => d.text = Some(value),
            "html" => d.html = Some(value),
            other => {
                return Err(Problem::invalid(format!(
                    "unknown form field {other:?} (from, to, cc, bcc, reply_to, subject, text, html, or a file)"
                )));
            }
        }
    }
    Ok(d)
}
