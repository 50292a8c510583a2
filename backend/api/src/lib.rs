//! mailroom's HTTP server.
//!
//! Brief overview:
//! - [`serve`] runs axum on a bound listener until shutdown; [`router`] builds the routes and
//!   the middleware (request ids, tracing, compression, CORS, timeouts, body limits).
//! - `auth.rs`: who is calling (HTTP Basic, a login access token signed as `tokens.rs` says,
//!   or a personal API token), as an extractor.
//! - `rest/`: the REST API under `/api/v1`, one file per resource, described by OpenAPI
//!   (served at `/api/openapi.json`, browsable at `/api/docs`).
//! - `jmap.rs`: the JMAP endpoints (session, API, download, event source) over
//!   `mailroom-jmap`; `health.rs`: liveness and readiness.
//! - `problem.rs`: every error is RFC 7807 problem JSON, mapped once.
//! - `acme_challenge.rs`: answers to ACME HTTP-01 challenges, from a map the caller fills.

pub mod acme_challenge;
mod auth;
pub mod autoconfig;
mod health;
mod jmap;
mod listen;
mod mta_sts;
mod problem;
mod rest;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, post};
use mailroom_core::Core;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use rest::openapi;

/// Who may create an account with `POST /api/v1/auth/register`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Registration {
    /// Nobody: an administrator creates users (the default).
    #[default]
    Closed,
    /// Anyone, on any local domain.
    Open,
    /// Whoever has an invite code from an administrator.
    Invite,
}

/// HTTP settings from the configuration (`[http]`).
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// This server's host name (MX and SRV targets in a domain's DNS records).
    pub hostname: String,
    pub registration: Registration,
    /// Origins allowed to call the API from a browser (CORS); empty: same origin only.
    pub cors_origins: Vec<String>,
    /// What mail clients are told by autoconfiguration.
    pub mail_ports: autoconfig::MailPorts,
    /// HTTP-01 answers served at `/.well-known/acme-challenge/`, filled by an ACME client.
    pub acme_challenges: acme_challenge::AcmeChallenges,
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub(crate) config: Arc<HttpConfig>,
    pub(crate) credentials: Arc<auth::CredentialCache>,
    pub(crate) tokens: Arc<tokens::TokenKeys>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Largest send request: 25 MB of attachments, base64-encoded in JSON, and the rest.
const MAX_SEND_REQUEST: usize = 36 * 1024 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes. Public for tests that drive the router without a socket.
pub fn router(
    core: Core,
    config: HttpConfig,
    tokens: tokens::TokenKeys,
    shutdown: watch::Receiver<bool>,
) -> Router {
    let cors = cors(&config.cors_origins);
    let state = AppState {
        core,
        config: Arc::new(config),
        credentials: Arc::default(),
        tokens: Arc::new(tokens),
        shutdown,
    };
    let (rest, send, openapi) = rest::routes();
    // Requests that answer at once get a deadline; the event source is meant to stay open.
    let bounded = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/jmap", get(jmap::well_known))
        .route("/.well-known/mta-sts.txt", get(mta_sts::policy))
        .route(
            "/.well-known/acme-challenge/{token}",
            get(acme_challenge::answer),
        )
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig::thunderbird),
        )
        .route("/mail/config-v1.1.xml", get(autoconfig::thunderbird))
        .route(
            "/autodiscover/autodiscover.xml",
            post(autoconfig::autodiscover),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            post(autoconfig::autodiscover),
        )
        .route("/jmap/session", get(jmap::session))
        .route("/jmap/api", post(jmap::api))
        .route(
            "/jmap/download/{account}/{blob}/{name}",
            get(jmap::download),
        )
        .merge(rest)
        .layer(RequestBodyLimitLayer::new(mailroom_jmap::MAX_SIZE_REQUEST))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    let send = send
        .layer(RequestBodyLimitLayer::new(MAX_SEND_REQUEST))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(120),
        ));
    let upload = Router::new()
        .route("/jmap/upload/{account}/", post(jmap::upload))
        .layer(RequestBodyLimitLayer::new(mailroom_jmap::MAX_SIZE_UPLOAD))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(120),
        ));
    let docs: Router<AppState> = utoipa_swagger_ui::SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", openapi)
        .into();
    Router::new()
        .merge(bounded)
        .merge(send)
        .merge(upload)
        .merge(docs)
        .route("/jmap/eventsource", get(jmap::eventsource))
        .fallback(problem::not_found)
        // The limits above are the real ones; axum's own 2 MB default would undercut them.
        .layer(DefaultBodyLimit::disable())
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .max_age(Duration::from_secs(3600))
}

/// Serves HTTP on `http` and HTTPS on `https` (either may be absent) until `shutdown` turns
/// true. The token signing key lives in `data_dir` (created on first run).
pub async fn serve(
    http: Option<TcpListener>,
    https: Option<(TcpListener, std::sync::Arc<rustls::ServerConfig>)>,
    core: Core,
    config: HttpConfig,
    data_dir: &std::path::Path,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Loaded once for both listeners, so a token from one is valid on the other.
    let tokens = tokens::TokenKeys::load_or_create(&data_dir.join("jwt.key"))?;
    let app = router(core, config, tokens, shutdown.clone());
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Connection info gives handlers the client address (login rate limits) and the scheme.
    let plain = http.map(|l| {
        axum::serve(
            l,
            app.clone()
                .into_make_service_with_connect_info::<listen::Peer>(),
        )
        .with_graceful_shutdown(stopped(shutdown.clone()))
    });
    let tls = match https {
        Some((l, config)) => Some(
            axum::serve(
                listen::TlsListener::new(l, config)?,
                app.into_make_service_with_connect_info::<listen::Peer>(),
            )
            .with_graceful_shutdown(stopped(shutdown.clone())),
        ),
        None => None,
    };
    let plain = async move {
        match plain {
            Some(p) => p.await,
            None => Ok(()),
        }
    };
    let tls = async move {
        match tls {
            Some(t) => t.await,
            None => Ok(()),
        }
    };
    let (a, b) = tokio::join!(plain, tls);
    a.and(b)
}
