//! Access tokens: short-lived JWTs (HS256) signed with a key generated into the data
//! directory on first run (`jwt.key`, readable by its owner only).
//!
//! `mailroom token-key rotate` ([`rotate_key`]) writes a new key and keeps the one before in
//! `jwt.key.prev`. A running server notices the new file within seconds and signs with it;
//! tokens signed with the previous key stay valid until they expire (15 minutes), so nobody
//! is logged out by a rotation. Deleting both files and restarting invalidates every token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailroom_jmap::Caller;
use serde::{Deserialize, Serialize};

/// How long an access token lives.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;

/// How often the key file is looked at for a rotation.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

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

struct Key {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn from_secret(secret: &[u8]) -> Key {
        Key {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

struct Keys {
    current: Key,
    previous: Option<Key>,
    /// The key file's modification time when it was read.
    modified: Option<SystemTime>,
    checked: Instant,
}

pub struct TokenKeys {
    path: PathBuf,
    keys: RwLock<Keys>,
    validation: Validation,
}

/// A new random key, written where no file was (owner-only, synced).
fn create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key.to_vec())
}

fn read_key(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(s) if s.len() >= 32 => Ok(Some(s)),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} is too short to be a key",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn prev_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".prev");
    PathBuf::from(p)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Replaces the signing key at `path` with a new one; the old one moves to `PATH.prev`.
pub fn rotate_key(path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    create_key(&tmp)?;
    if path.exists() {
        std::fs::rename(path, prev_path(path))?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl TokenKeys {
    /// Reads `path` (and `PATH.prev`), or creates it with a new random key.
    pub fn load_or_create(path: &Path) -> std::io::Result<TokenKeys> {
        let secret = match read_key(path)? {
            Some(s) => s,
            None => create_key(path)?,
        };
        let previous = read_key(&prev_path(path))?.map(|s| Key::from_secret(&s));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            path: path.to_path_buf(),
            keys: RwLock::new(Keys {
                current: Key::from_secret(&secret),
                previous,
                modified: modified(path),
                checked: Instant::now(),
            }),
            validation,
        })
    }

    /// Picks up a rotated key file (looked at every few seconds).
    fn reload_if_rotated(&self) {
        {
            let keys = self.keys.read().expect("token keys");
            if keys.checked.elapsed() < RELOAD_EVERY {
                return;
            }
        }
        let mut keys = self.keys.write().expect("token keys");
        if keys.checked.elapsed() < RELOAD_EVERY {
            return;
        }
        keys.checked = Instant::now();
        let now = modified(&self.path);
        if now == keys.modified {
            return;
        }
        match read_key(&self.path) {
            Ok(Some(secret)) => {
                let old = std::mem::replace(&mut keys.current, Key::from_secret(&secret));
                keys.previous = Some(old);
                keys.modified = now;
                tracing::info!("token signing key rotated");
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the rotated token key"),
        }
    }

    /// A new access token for `caller`.
    pub fn issue(&self, caller: &Caller) -> String {
        self.reload_if_rotated();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: caller.account_id.to_string(),
            email: caller.address.clone(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
            typ: "access".into(),
        };
        let keys = self.keys.read().expect("token keys");
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &keys.current.encoding,
        )
        .expect("HS256 signing cannot fail")
    }

    /// The caller an access token names, if it is ours (signed with the current or the
    /// previous key), unexpired and an access token.
    pub fn verify(&self, token: &str) -> Option<Caller> {
        self.reload_if_rotated();
        let keys = self.keys.read().expect("token keys");
        let data = std::iter::once(&keys.current)
            .chain(keys.previous.as_ref())
            .find_map(|k| {
                jsonwebtoken::decode::<Claims>(token, &k.decoding, &self.validation).ok()
            })?;
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
