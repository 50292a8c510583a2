//! mailroom's HTTP server.
//!
//! Brief overview:
//! - [`serve`] runs axum on a bound listener until shutdown; [`router`] builds the routes.
//! - `auth.rs`: who is calling (HTTP Basic with address + password, or a bearer token from
//!   `login.rs`, signed as `tokens.rs` says), as an extractor.
//! - `problem.rs`: every error is RFC 7807 problem JSON, mapped once.
//! - `jmap.rs`: the JMAP endpoints (session, API, download, event source) over
//!   `mailroom-jmap`; `health.rs`: liveness and readiness.

mod auth;
mod health;
mod jmap;
mod limiter;
mod login;
mod problem;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use mailroom_core::Core;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub(crate) credentials: Arc<auth::CredentialCache>,
    pub(crate) tokens: Arc<tokens::TokenKeys>,
    pub(crate) failures: Arc<limiter::FailureLimiter>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The routes. Public for tests that drive the router without a socket.
pub fn router(core: Core, tokens: tokens::TokenKeys, shutdown: watch::Receiver<bool>) -> Router {
    let state = AppState {
        core,
        credentials: Arc::default(),
        tokens: Arc::new(tokens),
        failures: Arc::default(),
        shutdown,
    };
    // Requests that answer at once get a deadline; the event source is meant to stay open.
    let bounded = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/jmap", get(jmap::well_known))
        .route("/jmap/session", get(jmap::session))
        .route("/jmap/api", post(jmap::api))
        .route(
            "/jmap/download/{account}/{blob}/{name}",
            get(jmap::download),
        )
        .route("/jmap/upload/{account}/", post(jmap::upload))
        .route("/api/v1/auth/login", post(login::login))
        .layer(RequestBodyLimitLayer::new(mailroom_jmap::MAX_SIZE_REQUEST))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    Router::new()
        .merge(bounded)
        .route("/jmap/eventsource", get(jmap::eventsource))
        .fallback(problem::not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves HTTP on `listener` until `shutdown` turns true. The token signing key lives in
/// `data_dir` (created on first run).
pub async fn serve(
    listener: TcpListener,
    core: Core,
    data_dir: &std::path::Path,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let tokens = tokens::TokenKeys::load_or_create(&data_dir.join("jwt.key"))?;
    let mut stop = shutdown.clone();
    // Connection info gives handlers the client address (login rate limits).
    axum::serve(
        listener,
        router(core, tokens, shutdown)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    })
    .await
}
