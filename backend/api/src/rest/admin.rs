//! `/api/v1/admin/*`: what the CLI does, for administrators over HTTP: domains, users,
//! aliases and registration invites. The caller's role is read from the database on every
//! request, so taking it away takes effect at once.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailroom_core::auth::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::types::{JsonBody, ProblemBody, date};
use crate::AppState;
use crate::auth::Authenticated;
use crate::problem::Problem;

/// The caller's account, if it is an administrator (and the token has the admin scope).
pub(super) async fn admin(
    s: &AppState,
    auth: &Authenticated,
) -> Result<mailroom_core::Account, Problem> {
    auth.1.require(Scope::Admin)?;
    let account = s.core.user_get(&auth.0.address).await?;
    if !account.is_admin {
        return Err(Problem::forbidden("this needs an administrator".into()));
    }
    Ok(account)
}

#[derive(Serialize, ToSchema)]
pub struct DomainInfo {
    #[schema(example = "example.com")]
    pub name: String,
    /// The user receiving mail for unknown addresses of the domain.
    pub catch_all: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    #[schema(example = "example.com")]
    pub name: String,
}

/// List domains.
#[utoipa::path(get, path = "/api/v1/admin/domains", tag = "admin",
    responses((status = 200, body = Vec<DomainInfo>), (status = 403, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn domains(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<axum::Json<Vec<DomainInfo>>, Problem> {
    admin(&s, &auth).await?;
    let users = s.core.user_list().await?;
    let name_of = |id: i64| users.iter().find(|u| u.id == id).map(|u| u.address.clone());
    Ok(axum::Json(
        s.core
            .domain_list()
            .await?
            .into_iter()
            .map(|d| DomainInfo {
                catch_all: d.catch_all_account_id.and_then(name_of),
                name: d.name,
            })
            .collect(),
    ))
}

/// Add a domain.
#[utoipa::path(post, path = "/api/v1/admin/domains", tag = "admin", request_body = NewDomain,
    responses((status = 201, body = DomainInfo), (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn domain_add(
    State(s): State<AppState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<NewDomain>,
) -> Result<Response, Problem> {
    admin(&s, &auth).await?;
    let d = s.core.domain_add(&req.name).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DomainInfo {
            name: d.name,
            catch_all: None,
        }),
    )
        .into_response())
}

/// Remove a domain (it must have no users).
#[utoipa::path(delete, path = "/api/v1/admin/domains/{name}", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn domain_remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    admin(&s, &auth).await?;
    s.core.domain_remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The DNS records the domain should publish: MX, SPF, a DKIM record per key, DMARC,
/// TLS-RPT and SRV, one per line in zone-file form (`NAME. TTL IN TYPE VALUE`, TXT values as
/// quoted strings); lines starting with `;` are hints to fill in. As `mailroom dns DOMAIN`.
#[utoipa::path(get, path = "/api/v1/admin/domains/{name}/dns", tag = "admin",
    params(("name" = String, Path)),
    responses((status = 200, body = String, content_type = "text/plain"), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn domain_dns(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    admin(&s, &auth).await?;
    let lines = s.core.dns_records(&name, &s.config.hostname).await?;
    let mut text = lines.join("\n");
    text.push('\n');
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    #[schema(example = "a1")]
    pub id: String,
    pub address: String,
    pub admin: bool,
    /// Storage limit in bytes; null: unlimited.
    pub quota_bytes: Option<i64>,
    /// Bytes the user's emails take (each email once, in however many mailboxes).
    pub used_bytes: i64,
}

impl UserInfo {
    fn new(a: mailroom_core::Account, q: mailroom_core::quota::Quota) -> UserInfo {
        UserInfo {
            id: mailroom_jmap::id::account(a.id),
            address: a.address,
            admin: a.is_admin,
            quota_bytes: q.limit,
            used_bytes: q.used,
        }
    }

    async fn of(
        core: &mailroom_core::Core,
        a: mailroom_core::Account,
    ) -> Result<UserInfo, Problem> {
        let q = core.quota(a.id).await?;
        Ok(UserInfo::new(a, q))
    }
}

/// A present field, `null` included, as `Some` (so `null` can mean "no limit").
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub address: String,
    pub password: String,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub password: Option<String>,
    pub admin: Option<bool>,
    /// New storage limit in bytes, or null for unlimited. Over it, SMTP answers 452 4.2.2,
    /// IMAP APPEND `[OVERQUOTA]`, JMAP `overQuota`, REST 507.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub quota_bytes: Option<Option<i64>>,
}

/// List users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses((status = 200, body = Vec<UserInfo>), (status = 403, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn users(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<axum::Json<Vec<UserInfo>>, Problem> {
    admin(&s, &auth).await?;
    Ok(axum::Json(
        s.core
            .user_list_with_quota()
            .await?
            .into_iter()
            .map(|(a, q)| UserInfo::new(a, q))
            .collect(),
    ))
}

/// Add a user on a local domain, with the default mailboxes.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = UserInfo), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn user_add(
    State(s): State<AppState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<NewUser>,
) -> Result<Response, Problem> {
    admin(&s, &auth).await?;
    let mut a = s.core.user_add(&req.address, &req.password).await?;
    if req.admin {
        s.core.user_set_admin(&a.address, true).await?;
        a.is_admin = true;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(UserInfo::of(&s.core, a).await?),
    )
        .into_response())
}

/// Change a user's password, administrator role or storage quota.
#[utoipa::path(patch, path = "/api/v1/admin/users/{address}", tag = "admin",
    params(("address" = String, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserInfo), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn user_update(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(address): Path<String>,
    JsonBody(req): JsonBody<UserUpdate>,
) -> Result<axum::Json<UserInfo>, Problem> {
    let me = admin(&s, &auth).await?;
    let user = s.core.user_get(&address).await?;
    if let Some(p) = &req.password {
        s.core.user_set_password(&user.address, p).await?;
        s.credentials.clear();
    }
    if let Some(a) = req.admin {
        if !a && user.id == me.id {
            return Err(Problem::invalid(
                "you cannot take away your own administrator role",
            ));
        }
        s.core.user_set_admin(&user.address, a).await?;
    }
    if let Some(q) = req.quota_bytes {
        s.core.user_set_quota(&user.address, q).await?;
    }
    let user = s.core.user_get(&user.address).await?;
    Ok(axum::Json(UserInfo::of(&s.core, user).await?))
}

/// Remove a user and all their mail.
#[utoipa::path(delete, path = "/api/v1/admin/users/{address}", tag = "admin",
    params(("address" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn user_remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Path(address): Path<String>,
) -> Result<StatusCode, Problem> {
    let me = admin(&s, &auth).await?;
    if s.core.user_get(&address).await?.id == me.id {
        return Err(Problem::invalid("you cannot remove yourself"));
    }
    s.core.user_remove(&address).await?;
    s.credentials.clear();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasInfo {
    /// `name@domain`, or `@domain` for the domain's catch-all.
    #[schema(example = "sales@example.com")]
    pub alias: String,
    /// The user it delivers to.
    pub target: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AliasQuery {
    pub alias: String,
    pub target: String,
}

/// List aliases.
#[utoipa::path(get, path = "/api/v1/admin/aliases", tag = "admin",
    responses((status = 200, body = Vec<AliasInfo>), (status = 403, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn aliases(
    State(s): State<AppState>,
    auth: Authenticated,
) -> Result<axum::Json<Vec<AliasInfo>>, Problem> {
    admin(&s, &auth).await?;
    Ok(axum::Json(
        s.core
            .alias_list()
            .await?
            .into_iter()
            .map(|a| AliasInfo {
                alias: a.address,
                target: a.target,
            })
            .collect(),
    ))
}

/// Add an alias (or, with `@domain`, a catch-all).
#[utoipa::path(post, path = "/api/v1/admin/aliases", tag = "admin", request_body = AliasInfo,
    responses((status = 201, body = AliasInfo), (status = 400, body = ProblemBody, content_type = "application/problem+json"), (status = 409, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn alias_add(
    State(s): State<AppState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<AliasInfo>,
) -> Result<Response, Problem> {
    admin(&s, &auth).await?;
    s.core.alias_add(&req.alias, &req.target).await?;
    Ok((StatusCode::CREATED, axum::Json(req)).into_response())
}

/// Remove an alias.
#[utoipa::path(delete, path = "/api/v1/admin/aliases", tag = "admin", params(AliasQuery),
    responses((status = 204), (status = 404, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn alias_remove(
    State(s): State<AppState>,
    auth: Authenticated,
    Query(q): Query<AliasQuery>,
) -> Result<StatusCode, Problem> {
    admin(&s, &auth).await?;
    s.core.alias_remove(&q.alias, &q.target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    /// How long the code stays valid; default 7 days.
    pub valid_hours: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Invite {
    /// Give this to the person registering; shown once.
    pub code: String,
    pub expires_at: String,
}

/// Issue a registration invite code (for `[http] registration = "invite"`).
#[utoipa::path(post, path = "/api/v1/admin/invites", tag = "admin", request_body = NewInvite,
    responses((status = 201, body = Invite), (status = 403, body = ProblemBody, content_type = "application/problem+json")))]
pub async fn invite_create(
    State(s): State<AppState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<NewInvite>,
) -> Result<Response, Problem> {
    let me = admin(&s, &auth).await?;
    let hours = i64::from(req.valid_hours.unwrap_or(24 * 7).clamp(1, 24 * 365));
    let code = s.core.invite_create(Some(me.id), hours * 3600).await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(Invite {
            code,
            expires_at: date(mailroom_store_now() + hours * 3600),
        }),
    )
        .into_response())
}

fn mailroom_store_now() -> i64 {
    chrono::Utc::now().timestamp()
}
