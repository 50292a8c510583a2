//! `/api/v1/auth/*`: login (address + password → short-lived access token and a refresh
//! token), refresh (rotating), logout (revoking), registration, and `/api/v1/me`.
//!
//! The refresh token goes in the body for API clients, or, when the login asks for
//! `"cookie": true` (the webmail), in an httpOnly SameSite=Strict cookie that scripts on the
//! page cannot read; refresh and logout then take it from the cookie.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::{JsonBody, ProblemBody};
use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::{AppState, Registration};

const COOKIE: &str = "mailroom_refresh";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "alice@example.com")]
    pub address: String,
    pub password: String,
    /// Put the refresh token in an httpOnly cookie instead of the body (browsers).
    #[serde(default)]
    pub cookie: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Exchange at /api/v1/auth/refresh for a new pair; works once. Absent when it was set
    /// as a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub refresh_expires_in: i64,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; omit it to use the cookie.
    pub refresh_token: Option<String>,
}

fn bad_credentials() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "https://mailroom.dev/problems/bad-credentials",
        "Wrong address or password",
        "the address or the password is wrong",
    )
}

/// The pair of tokens for `account`, with the refresh token in the body or a cookie.
fn tokens_response(
    s: &AppState,
    account: mailroom_core::Account,
    refresh: String,
    cookie: bool,
    headers: &HeaderMap,
) -> Response {
    let caller = mailroom_jmap::Caller {
        account_id: account.id,
        address: account.address,
        read_only: false,
    };
    let body = TokenResponse {
        access_token: s.tokens.issue(&caller),
        token_type: "Bearer",
        expires_in: crate::tokens::ACCESS_TTL_SECS,
        refresh_token: (!cookie).then(|| refresh.clone()),
        refresh_expires_in: mailroom_core::auth::REFRESH_TTL,
    };
    let mut r = ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    if cookie {
        r.headers_mut().append(
            header::SET_COOKIE,
            cookie_header(headers, &refresh, mailroom_core::auth::REFRESH_TTL),
        );
    }
    r
}

fn cookie_header(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    // Secure only behind HTTPS (a proxy saying so); browsers drop Secure cookies on plain
    // http:// origins other than localhost.
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let v = format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/api/v1/auth; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&v).expect("token characters are cookie-safe")
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Log in with address and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong address or password", body = ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins; see Retry-After", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(s): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<crate::listen::Peer>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, Problem> {
    let ip = Some(peer.addr.ip());
    if let Some(wait) = s.core.login_failures().blocked(ip, &req.address) {
        return Err(Problem::too_many_failures(wait));
    }
    let Some(account) = s.core.authenticate(&req.address, &req.password).await? else {
        tracing::info!(user = %req.address, "failed login");
        s.core.login_failures().failed(ip, &req.address);
        return Err(bad_credentials());
    };
    s.core.login_failures().succeeded(&req.address);
    let refresh = s.core.refresh_token_issue(account.id).await?;
    Ok(tokens_response(&s, account, refresh, req.cookie, &headers))
}

/// Exchange a refresh token (body or cookie) for a new access token and refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(),
    request_body(content = RefreshRequest, description = "Optional when the cookie is set"),
    responses(
        (status = 200, description = "New tokens; the old refresh token no longer works", body = TokenResponse),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let (token, cookie) = refresh_token_of(&headers, &body)?;
    let Some((account, new)) = s.core.refresh_token_rotate(&token).await? else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "https://mailroom.dev/problems/bad-refresh-token",
            "Invalid refresh token",
            "the refresh token is unknown, used, expired or revoked; log in again",
        ));
    };
    Ok(tokens_response(&s, account, new, cookie, &headers))
}

/// The refresh token from the JSON body, else from the cookie (then `true`).
fn refresh_token_of(headers: &HeaderMap, body: &[u8]) -> Result<(String, bool), Problem> {
    let req: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Problem::invalid(format!("expected {{\"refresh_token\": …}}: {e}")))?
    };
    match (req.refresh_token, cookie_token(headers)) {
        (Some(t), _) => Ok((t, false)),
        (None, Some(t)) => Ok((t, true)),
        (None, None) => Err(Problem::invalid(
            "no refresh token: give refresh_token in the body or send the cookie",
        )),
    }
}

/// Revoke a refresh token (body or cookie); access tokens already issued expire by themselves.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(),
    request_body(content = RefreshRequest, description = "Optional when the cookie is set"),
    responses(
        (status = 204, description = "The refresh token is revoked (or was not valid)"),
        (status = 400, description = "No refresh token given", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Problem> {
    let (token, cookie) = refresh_token_of(&headers, &body)?;
    s.core.refresh_token_revoke(&token).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if cookie {
        r.headers_mut()
            .append(header::SET_COOKIE, cookie_header(&headers, "", 0));
    }
    Ok(r)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "bob@example.com")]
    pub address: String,
    pub password: String,
    /// Required when registration is by invite.
    pub invite: Option<String>,
}

/// The caller's account.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The JMAP account id.
    #[schema(example = "a1")]
    pub id: String,
    pub address: String,
    pub admin: bool,
    /// Addresses the account may send as (its own and its aliases).
    pub send_as: Vec<String>,
}

/// Create an account on a local domain, if the server's registration policy allows it.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", security(),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; log in to get tokens", body = Me),
        (status = 403, description = "Registration is closed, or the invite is not valid", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The address is taken", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(s): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<crate::listen::Peer>,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<Response, Problem> {
    let invite = match (s.config.registration, req.invite.as_deref()) {
        (Registration::Closed, _) => {
            return Err(Problem::forbidden(
                "registration is closed on this server; ask an administrator".into(),
            ));
        }
        (Registration::Open, _) => None,
        (Registration::Invite, Some(code)) => Some(code),
        (Registration::Invite, None) => {
            return Err(Problem::forbidden(
                "registration needs an invite code on this server".into(),
            ));
        }
    };
    // Guessing invite codes or probing addresses counts as failed logins of this client.
    let ip = Some(peer.addr.ip());
    if let Some(wait) = s.core.login_failures().blocked(ip, "register") {
        return Err(Problem::too_many_failures(wait));
    }
    let account = match s.core.register(&req.address, &req.password, invite).await {
        Ok(a) => a,
        Err(e) => {
            if matches!(e, mailroom_core::Error::Forbidden(_)) {
                s.core.login_failures().failed(ip, "register");
            }
            return Err(e.into());
        }
    };
    tracing::info!(user = %account.address, "registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(Me {
            id: mailroom_jmap::id::account(account.id),
            send_as: vec![account.address.clone()],
            address: account.address,
            admin: account.is_admin,
        }),
    )
        .into_response())
}

/// Who am I: the account behind the credentials.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, body = Me),
        (status = 401, body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn me(
    State(s): State<AppState>,
    Authenticated(caller, _): Authenticated,
) -> Result<axum::Json<Me>, Problem> {
    let account = s.core.user_get(&caller.address).await?;
    Ok(axum::Json(Me {
        id: mailroom_jmap::id::account(account.id),
        send_as: s.core.sender_addresses(&account).await?,
        address: account.address,
        admin: account.is_admin,
    }))
}
