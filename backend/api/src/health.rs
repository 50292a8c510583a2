//! `GET /healthz` (the process answers) and `GET /readyz` (database and blob store reachable).

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::problem::Problem;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(s): State<AppState>) -> Result<&'static str, Problem> {
    s.core.ready().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "https://mailroom.dev/problems/not-ready",
            "Not ready",
            "storage unreachable",
        )
    })?;
    Ok("ready\n")
}
