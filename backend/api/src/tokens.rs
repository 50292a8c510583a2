//! Access tokens: short-lived JWTs (HS256) signed with a key generated into the data
//! directory on first run (`jwt.key`, readable by its owner only). Deleting the file and
//! restarting rotates it, invalidating every token issued.

use std::io::Write;
use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailroom_jmap::Caller;
use serde::{Deserialize, Serialize};

/// How long an access token lives.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The account id.
    sub: String,
    email: String,
    iat: i64,
    exp: i64,
    /// "access": only access tokens authenticate requests.
    typ: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// Reads `path`, or creates it with a new random key.
    pub fn load_or_create(path: &Path) -> std::io::Result<TokenKeys> {
        let secret = match std::fs::read(path) {
            Ok(s) if s.len() >= 32 => s,
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is too short to be a key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                key.to_vec()
            }
            Err(e) => return Err(e),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
        })
    }

    /// A new access token for `caller`.
    pub fn issue(&self, caller: &Caller) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: caller.account_id.to_string(),
            email: caller.address.clone(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
            typ: "access".into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The caller an access token names, if it is ours, unexpired and an access token.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.typ != "access" {
            return None;
        }
        Some(Caller {
            account_id: data.claims.sub.parse().ok()?,
            address: data.claims.email,
            read_only: false,
        })
    }
}
