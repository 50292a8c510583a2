//! The REST API under `/api/v1`, for scripts and simple clients, described by OpenAPI.
//!
//! One file per resource: `auth.rs` (login, refresh, logout, registration, me), `tokens.rs`
//! (personal API tokens), `admin.rs` (domains, users, aliases, invites), `mailboxes.rs`,
//! `messages.rs` (list, read, raw, attachments, flags, move, delete) and `send.rs`. Every
//! handler carries its `#[utoipa::path]`; [`router`] registers them through utoipa-axum, so a
//! route cannot exist without its description. Ids are the JMAP ids (`m7`, `e42`), so a
//! client may mix both APIs.

mod admin;
mod auth;
mod mailboxes;
mod messages;
mod queue;
mod search;
mod send;
mod tokens;
pub(crate) mod types;

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mailroom API",
        description = "REST API of the mailroom mail server. Authenticate with HTTP Basic \
            (address and password), a bearer access token from /api/v1/auth/login, or a \
            personal API token (Bearer mrt_…). Errors are RFC 7807 problem JSON. The JMAP API \
            (RFC 8620/8621) is at /jmap/session.",
        license(name = "AGPL-3.0-only")
    ),
    modifiers(&Security),
    security(("basic" = []), ("bearer" = [])),
    tags(
        (name = "auth", description = "Logging in, tokens, registration"),
        (name = "mail", description = "Mailboxes and messages"),
        (name = "send", description = "Sending mail"),
        (name = "admin", description = "Domains, users, aliases, invites (administrators)"),
    )
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The REST routes (body limits are the caller's: send takes more than the rest) and the
/// OpenAPI document describing them.
pub(crate) fn routes() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (rest, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::register))
        .routes(routes!(auth::me))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(admin::domains, admin::domain_add))
        .routes(routes!(admin::domain_remove))
        .routes(routes!(admin::domain_dns))
        .routes(routes!(admin::users, admin::user_add))
        .routes(routes!(admin::user_update, admin::user_remove))
        .routes(routes!(
            admin::aliases,
            admin::alias_add,
            admin::alias_remove
        ))
        .routes(routes!(admin::invite_create))
        .routes(routes!(queue::list))
        .routes(routes!(queue::retry))
        .routes(routes!(queue::remove))
        .routes(routes!(mailboxes::list))
        .routes(routes!(messages::list))
        .routes(routes!(search::search))
        .routes(routes!(messages::get, messages::update, messages::delete))
        .routes(routes!(messages::raw))
        .routes(routes!(messages::attachment))
        .routes(routes!(messages::move_to))
        .split_for_parts();
    let (send, send_api) = OpenApiRouter::new()
        .routes(routes!(send::send))
        .split_for_parts();
    api.merge(send_api);
    (rest, send, api)
}

/// The OpenAPI document, as served at `/api/openapi.json` and committed in `openapi/`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().2
}
