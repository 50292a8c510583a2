//! `POST /api/v1/auth/login`: address and password in, a short-lived bearer token out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::problem::Problem;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    address: String,
    password: String,
}

pub async fn login(
    State(s): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Bytes,
) -> Result<axum::Json<Value>, Problem> {
    let ip = Some(peer.ip());
    let req: Login = serde_json::from_slice(&body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "https://mailroom.dev/problems/invalid",
            "Invalid request",
            format!("expected {{\"address\": …, \"password\": …}}: {e}"),
        )
    })?;
    if let Some(wait) = s.failures.blocked(ip, &req.address) {
        return Err(Problem::too_many_failures(wait));
    }
    let account = s.core.authenticate(&req.address, &req.password).await?;
    let Some(account) = account else {
        tracing::info!(user = %req.address, "failed login");
        s.failures.failed(ip, &req.address);
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "https://mailroom.dev/problems/bad-credentials",
            "Wrong address or password",
            "the address or the password is wrong",
        ));
    };
    let caller = mailroom_jmap::Caller {
        account_id: account.id,
        address: account.address,
    };
    Ok(axum::Json(json!({
        "access_token": s.tokens.issue(&caller),
        "token_type": "Bearer",
        "expires_in": crate::tokens::ACCESS_TTL_SECS,
    })))
}
