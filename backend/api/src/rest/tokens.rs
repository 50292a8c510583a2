//! `/api/v1/tokens`: personal API tokens, for scripts. Created, listed and revoked by their
//! owner with a password or login token (not with another API token); the secret is shown
//! once and stored only as a hash.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_core::auth::{ApiToken, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::{JsonBody, ProblemBody, date};
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// Any of read, send, admin.
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<ApiToken> for TokenInfo {
    fn from(t: ApiToken) -> TokenInfo {
        TokenInfo {
            id: t.id,
            name: t.name,
            scopes: t.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            created_at: date(t.created_at),
            last_used_at: t.last_used_at.map(date),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(example = "backup script")]
    pub name: String,
    /// read: read mail; send: send and change mail; admin: the admin endpoints
    /// (administrators only).
    #[schema(example = json!(["read", "send"]))]
    pub scopes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret, for `Authorization: Bearer`. Shown this once only.
    #[schema(example = "mrt_3q2…")]
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// List your API tokens (without their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "listTokens", tag = "auth",
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn list(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
) -> Result<axum::Json<Vec<TokenInfo>>, Problem> {
    access.require_login()?;
    let v = s.core.api_token_list(caller.account_id).await?;
    Ok(axum::Json(v.into_iter().map(Into::into).collect()))
}

/// Create an API token; the response is the only time its secret is shown.
#[utoipa::path(post, path = "/api/v1/tokens", operation_id = "createToken", tag = "auth", request_body = CreateToken,
    responses(
        (status = 201, body = CreatedToken),
        (status = 400, body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Admin scope for a non-administrator, or called with an API token", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    JsonBody(req): JsonBody<CreateToken>,
) -> Result<Response, Problem> {
    access.require_login()?;
    let scopes = req
        .scopes
        .iter()
        .map(|x| Scope::parse(x))
        .collect::<Result<Vec<_>, _>>()?;
    let account = s.core.user_get(&caller.address).await?;
    let (token, info) = s
        .core
        .api_token_create(&account, &req.name, &scopes)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(CreatedToken {
            token,
            info: info.into(),
        }),
    )
        .into_response())
}

/// Revoke an API token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", operation_id = "revokeToken", tag = "auth",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn revoke(
    State(s): State<AppState>,
    Authenticated(caller, access): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    access.require_login()?;
    let id: i64 = id
        .parse()
        .map_err(|_| mailroom_core::Error::NotFound(format!("token {id}")))?;
    s.core.api_token_revoke(caller.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
