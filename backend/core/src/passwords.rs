//! Checking passwords without letting argon2 run away: at most one check per core runs at a
//! time (argon2id needs ~19 MiB each, so a burst of logins — every IMAP client reconnecting
//! after a restart — must queue, not multiply memory), and a password verified recently is
//! recognised without argon2, as Dovecot's auth cache does.
//!
//! The cache holds, per account, a keyed SHA-256 of the password (the key is random per
//! process, so the cache is no offline-guessing oracle) next to the stored hash it was
//! checked against: a changed password (a different stored hash) misses. Entries live ten
//! minutes. Failures are never cached, so the failed-login limiter sees every guess.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordVerifier, phc::PasswordHash};
use sha2::{Digest, Sha256};

const TTL: Duration = Duration::from_secs(600);
const MAX_ENTRIES: usize = 100_000;

pub(crate) struct Passwords {
    key: [u8; 32],
    slots: tokio::sync::Semaphore,
    verified: Mutex<HashMap<i64, Verified>>,
}

struct Verified {
    stored_hash: String,
    digest: [u8; 32],
    at: Instant,
}

impl Passwords {
    pub(crate) fn new() -> Passwords {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("system randomness");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords {
            key,
            slots: tokio::sync::Semaphore::new(cores),
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn digest(&self, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether `password` matches the account's stored argon2 hash.
    pub(crate) async fn check(&self, account_id: i64, stored_hash: &str, password: &str) -> bool {
        let digest = self.digest(password);
        if let Some(v) = self
            .verified
            .lock()
            .expect("password cache")
            .get(&account_id)
            && v.stored_hash == stored_hash
            && v.at.elapsed() < TTL
            && constant_time_eq(&v.digest, &digest)
        {
            return true;
        }
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        let (hash, pw) = (stored_hash.to_string(), password.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| {
                    argon2::Argon2::default()
                        .verify_password(pw.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if ok {
            let mut map = self.verified.lock().expect("password cache");
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, v| v.at.elapsed() < TTL);
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
            }
            map.insert(
                account_id,
                Verified {
                    stored_hash: stored_hash.to_string(),
                    digest,
                    at: Instant::now(),
                },
            );
        }
        ok
    }
}

impl Passwords {
    /// The same work as a check, for an address that has no account: answering at once
    /// would tell a guesser which addresses exist.
    pub(crate) async fn check_nobody(&self, password: &str) {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let hash = match DUMMY.get() {
            Some(h) => h.clone(),
            None => {
                let made = tokio::task::spawn_blocking(|| {
                    use argon2::password_hash::PasswordHasher;
                    argon2::Argon2::default()
                        .hash_password(b"no such account")
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .await
                .unwrap_or_default();
                DUMMY.get_or_init(|| made).clone()
            }
        };
        // Account id -1 is never cached as verified (the check against it fails).
        let _ = self.check(-1, &hash, password).await;
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
