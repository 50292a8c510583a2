//! The JMAP endpoints (RFC 8620 §2, §3, §6.2, §7.3).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;
use mailroom_core::auth::Scope;

/// RFC 8620 §2.2: the well-known URL redirects to the session resource.
pub async fn well_known() -> Redirect {
    Redirect::temporary("/jmap/session")
}

pub async fn session(
    headers: HeaderMap,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<crate::listen::Peer>>>,
    Authenticated(caller, access): Authenticated,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    let base = base_url(&headers, peer.is_some_and(|p| p.0.0.tls));
    let v = mailroom_jmap::session::session(&caller, &base);
    Ok((
        [(header::CACHE_CONTROL, "no-cache, no-store")],
        axum::Json(v),
    )
        .into_response())
}

pub async fn api(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    body: Bytes,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    match mailroom_jmap::handle(&s.core, &caller, &body).await {
        Ok(r) => Ok(axum::Json(r).into_response()),
        Err(e) => {
            let status = match e {
                mailroom_jmap::RequestError::Server(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut p = Problem::new(status, e.type_uri(), "JMAP request error", e.to_string());
            if let Some(l) = e.limit() {
                p.extra = Some(Box::new(("limit", json!(l))));
            }
            Err(p)
        }
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    accept: Option<String>,
}

/// RFC 8620 §6.2. Another account's blob, or one that does not exist, is the same 404.
pub async fn download(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path((account, blob, name)): Path<(String, String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, Problem> {
    access.require(Scope::Read)?;
    if mailroom_jmap::id::parse('a', &account) != Some(caller.account_id) {
        return Err(mailroom_core::Error::NotFound("blob".into()).into());
    }
    let bytes = s.core.blob_for(caller.account_id, &blob).await?;
    let ty = q
        .accept
        .filter(|a| HeaderValue::from_str(a).is_ok())
        .unwrap_or_else(|| "message/rfc822".into());
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, ty),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (
                header::CACHE_CONTROL,
                "private, immutable, max-age=31536000".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// RFC 8620 §6.1: the body is the blob; the answer names it for Email/import and friends.
pub async fn upload(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    access.require(Scope::Send)?;
    if mailroom_jmap::id::parse('a', &account) != Some(caller.account_id) {
        return Err(mailroom_core::Error::NotFound(format!("account {account}")).into());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() < 256)
        .unwrap_or("application/octet-stream")
        .to_string();
    let size = body.len();
    let id = s
        .core
        .upload(caller.account_id, body, &content_type)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "accountId": account,
            "blobId": id.as_str(),
            "type": content_type,
            "size": size,
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct EventSourceQuery {
    types: Option<String>,
    closeafter: Option<String>,
    ping: Option<u64>,
}

/// RFC 8620 §7.3: StateChange events for the caller's account as changes commit.
pub async fn eventsource(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Query(q): Query<EventSourceQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    access.require(Scope::Read)?;
    let types: Vec<String> = match q.types.as_deref() {
        None | Some("*") | Some("") => vec!["Mailbox".into(), "Email".into(), "Thread".into()],
        Some(t) => t.split(',').map(str::to_string).collect(),
    };
    let close_after_state = q.closeafter.as_deref() == Some("state");
    let ping = q.ping.unwrap_or(0);
    if ping != 0 && !(1..=3600).contains(&ping) {
        return Err(mailroom_core::Error::Invalid(
            "ping must be 0 or between 1 and 3600 seconds".into(),
        )
        .into());
    }
    let rx = s.core.subscribe();
    let account = mailroom_jmap::id::account(caller.account_id);
    let shutdown = s.shutdown.clone();
    let stream = futures::stream::unfold((rx, false), move |(mut rx, done)| {
        let (types, account) = (types.clone(), account.clone());
        let account_id = caller.account_id;
        let mut shutdown = shutdown.clone();
        async move {
            if done {
                return None;
            }
            loop {
                let change = tokio::select! {
                    r = rx.recv() => r,
                    _ = shutdown.wait_for(|s| *s) => return None,
                };
                let seq = match change {
                    Ok(c) if c.account_id == account_id => c.seq,
                    Ok(_) => continue,
                    // Fell behind: the client re-syncs from the state it has; tell it something changed.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => -1,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                let state = if seq < 0 {
                    "lagged".to_string()
                } else {
                    seq.to_string()
                };
                let changed: serde_json::Map<String, serde_json::Value> =
                    types.iter().map(|t| (t.clone(), json!(state))).collect();
                let data = json!({"@type": "StateChange", "changed": {account.clone(): changed}});
                let ev = Event::default().event("state").data(data.to_string());
                return Some((Ok(ev), (rx, close_after_state)));
            }
        }
    });
    // ping=0 asks for no pings: an interval nobody will live to see.
    let every = if ping == 0 {
        Duration::from_secs(u32::MAX as u64)
    } else {
        Duration::from_secs(ping)
    };
    let ping_event = Event::default()
        .event("ping")
        .data(json!({"@type": "Ping", "interval": ping}).to_string());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(every).event(ping_event)))
}

/// The URL prefix clients reached us by, from the Host header and the listener.
fn base_url(headers: &HeaderMap, tls: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let host: String = host.chars().filter(|c| c.is_ascii_graphic()).collect();
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}
