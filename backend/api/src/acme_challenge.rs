//! `GET /.well-known/acme-challenge/{token}` (RFC 8555 §8.3): answers to HTTP-01 challenges.
//!
//! Whoever orders certificates (the `mailroom` binary's ACME client) puts a token's key
//! authorization into [`AcmeChallenges`] before telling the CA it is ready and takes it out
//! afterwards; this crate only serves what the map holds, so it knows nothing of ACME.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::Problem;

/// Pending HTTP-01 answers: token → key authorization. Cheap to clone, shared.
#[derive(Clone, Default)]
pub struct AcmeChallenges(Arc<RwLock<HashMap<String, String>>>);

impl AcmeChallenges {
    pub fn insert(&self, token: String, key_authorization: String) {
        self.0
            .write()
            .expect("acme challenges lock")
            .insert(token, key_authorization);
    }

    pub fn remove(&self, token: &str) {
        self.0.write().expect("acme challenges lock").remove(token);
    }

    pub fn get(&self, token: &str) -> Option<String> {
        self.0
            .read()
            .expect("acme challenges lock")
            .get(token)
            .cloned()
    }
}

impl std::fmt::Debug for AcmeChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "AcmeChallenges({n} pending)")
    }
}

/// The key authorization as the body (RFC 8555 §8.3); 404 for a token not asked for. The CA
/// may ask several times, from several places, so an answer stays until its order is done.
pub async fn answer(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, Problem> {
    match s.config.acme_challenges.get(&token) {
        Some(ka) => Ok(([(header::CONTENT_TYPE, "text/plain")], ka).into_response()),
        None => Err(mailroom_core::Error::NotFound("ACME challenge".into()).into()),
    }
}
