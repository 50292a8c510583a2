//! Who is calling: HTTP Basic with address and password (RFC 7617), a bearer access token
//! from `POST /api/v1/auth/login` (RFC 6750), or a personal API token (`mrt_…`, scoped).
//!
//! Checking an argon2id hash takes tens of milliseconds of CPU, too much for every request of
//! a script or client that sends its credentials each time. A successful check is remembered
//! for a minute under a SHA-256 of the address, password and a per-process random key (never
//! the password itself); a password change takes effect for new checks at once and for
//! remembered ones within that minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use mailroom_core::auth::{API_TOKEN_PREFIX, Scope};
use mailroom_jmap::Caller;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::problem::Problem;

const REMEMBER: Duration = Duration::from_secs(60);
const MAX_REMEMBERED: usize = 10_000;

pub(crate) struct CredentialCache {
    key: [u8; 32],
    map: Mutex<HashMap<[u8; 32], (Instant, Caller)>>,
}

impl Default for CredentialCache {
    fn default() -> CredentialCache {
        // A per-process key, so the digests are useless outside this process.
        let mut key = [0u8; 32];
        let seed = format!(
            "{:?}{}{:?}",
            std::time::SystemTime::now(),
            std::process::id(),
            &key as *const _
        );
        key.copy_from_slice(&Sha256::digest(seed.as_bytes()));
        CredentialCache {
            key,
            map: Mutex::default(),
        }
    }
}

impl CredentialCache {
    /// Forgets every remembered check (after a password change or a user's removal here).
    pub(crate) fn clear(&self) {
        self.map.lock().expect("cache lock").clear();
    }

    fn digest(&self, address: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(address.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

/// The authenticated caller, as an extractor: a handler that takes it requires credentials.
pub struct Authenticated(pub Caller, pub Access);

/// How the caller authenticated, and so what they may do.
#[derive(Clone, Debug)]
pub struct Access {
    /// A personal API token (which may not manage tokens, and has only its scopes).
    pub api_token: bool,
    pub scopes: Vec<Scope>,
}

impl Access {
    fn full() -> Access {
        Access {
            api_token: false,
            scopes: vec![Scope::Read, Scope::Send, Scope::Admin],
        }
    }

    /// 403 unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Problem> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this API token lacks the {} scope",
                scope.as_str()
            )))
        }
    }

    /// 403 for API tokens: creating and revoking tokens needs the password or a login.
    pub fn require_login(&self) -> Result<(), Problem> {
        if self.api_token {
            Err(Problem::forbidden(
                "API tokens cannot manage tokens; use your password or a login token".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(Problem::unauthorized)?;
        if let Some(token) = header.strip_prefix("Bearer ") {
            let token = token.trim();
            if token.starts_with(API_TOKEN_PREFIX) {
                let owner = state
                    .core
                    .api_token_check(token)
                    .await?
                    .ok_or_else(Problem::unauthorized)?;
                let caller = Caller {
                    account_id: owner.account.id,
                    address: owner.account.address,
                    read_only: !owner.scopes.contains(&Scope::Send),
                };
                return Ok(Authenticated(
                    caller,
                    Access {
                        api_token: true,
                        scopes: owner.scopes,
                    },
                ));
            }
            return state
                .tokens
                .verify(token)
                .map(|c| Authenticated(c, Access::full()))
                .ok_or_else(Problem::unauthorized);
        }
        let encoded = header
            .strip_prefix("Basic ")
            .ok_or_else(Problem::unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Problem::unauthorized())?;
        let text = String::from_utf8(decoded).map_err(|_| Problem::unauthorized())?;
        let (address, password) = text.split_once(':').ok_or_else(Problem::unauthorized)?;
        let digest = state.credentials.digest(address, password);
        if let Some((at, caller)) = state
            .credentials
            .map
            .lock()
            .expect("cache lock")
            .get(&digest)
            && at.elapsed() < REMEMBER
        {
            return Ok(Authenticated(caller.clone(), Access::full()));
        }
        let ip = client_ip(parts);
        if let Some(wait) = state.core.login_failures().blocked(ip, address) {
            return Err(Problem::too_many_failures(wait));
        }
        let account = state
            .core
            .authenticate(address, password)
            .await
            .map_err(Problem::from)?;
        let Some(account) = account else {
            tracing::info!(user = %address, "failed HTTP login");
            state.core.login_failures().failed(ip, address);
            return Err(Problem::unauthorized());
        };
        state.core.login_failures().succeeded(address);
        let caller = Caller {
            account_id: account.id,
            address: account.address,
            read_only: false,
        };
        let mut map = state.credentials.map.lock().expect("cache lock");
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
        map.insert(digest, (Instant::now(), caller.clone()));
        Ok(Authenticated(caller, Access::full()))
    }
}

/// The client's address, when the server was started with connection info.
pub(crate) fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<crate::listen::Peer>>()
        .map(|c| c.0.addr.ip())
}
