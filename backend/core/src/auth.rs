//! Stored credentials: refresh tokens (the webmail's and API clients' long-lived login),
//! personal API tokens with scopes, registration invites, and the administrator role.
//!
//! Every secret is 32 random bytes shown once; only its SHA-256 is stored. A fast hash is
//! right here (unlike passwords): the secrets are random, so there is nothing to guess.

use base64::Engine;
use mailroom_store::auth::{Credential, CredentialKind};
use sha2::{Digest, Sha256};

use crate::address::Address;
use crate::{Account, Core, Error, Result};

/// Refresh tokens live this long (seconds); each use replaces the token.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;

/// What a personal API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read mail and mailboxes.
    Read,
    /// Send mail (and change flags, move, delete: everything a mail client does).
    Send,
    /// Manage domains, users and aliases (only for administrators).
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope> {
        match s {
            "read" => Ok(Scope::Read),
            "send" => Ok(Scope::Send),
            "admin" => Ok(Scope::Admin),
            other => Err(Error::Invalid(format!(
                "unknown scope {other:?} (read, send, admin)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Send => "send",
            Scope::Admin => "admin",
        }
    }
}

/// A personal API token as listed (never with its secret).
#[derive(Clone, Debug)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<Credential> for ApiToken {
    fn from(c: Credential) -> ApiToken {
        ApiToken {
            id: c.id,
            name: c.name,
            scopes: c
                .scopes
                .split(' ')
                .filter_map(|s| Scope::parse(s).ok())
                .collect(),
            created_at: c.created_at,
            last_used_at: c.last_used_at,
        }
    }
}

/// Who an API token or refresh token belongs to.
#[derive(Clone, Debug)]
pub struct TokenOwner {
    pub account: Account,
    /// All scopes for a refresh-token login; the token's for an API token.
    pub scopes: Vec<Scope>,
}

fn new_secret(prefix: &str) -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Personal API tokens start with this, so they are told apart from JWTs and found by
/// secret scanners.
pub const API_TOKEN_PREFIX: &str = "mrt_";
const REFRESH_PREFIX: &str = "mrr_";
const INVITE_PREFIX: &str = "mri_";

impl Core {
    /// A new refresh token for the account.
    pub async fn refresh_token_issue(&self, account_id: i64) -> Result<String> {
        let secret = new_secret(REFRESH_PREFIX)?;
        self.store()
            .credential_insert(
                account_id,
                CredentialKind::Refresh,
                "",
                "",
                &digest(&secret),
                Some(mailroom_store::now() + REFRESH_TTL),
            )
            .await?;
        Ok(secret)
    }

    /// Exchanges a refresh token for a new one (the old stops working); `None` if it is
    /// unknown, expired, revoked or already used.
    pub async fn refresh_token_rotate(&self, secret: &str) -> Result<Option<(Account, String)>> {
        let new = new_secret(REFRESH_PREFIX)?;
        let Some(account_id) = self
            .store()
            .credential_rotate(
                &digest(secret),
                &digest(&new),
                mailroom_store::now() + REFRESH_TTL,
            )
            .await?
        else {
            return Ok(None);
        };
        let account = self
            .store()
            .account_by_id(account_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("account {account_id}")))?;
        Ok(Some((account, new)))
    }

    /// Revokes a refresh token; false if it was not valid.
    pub async fn refresh_token_revoke(&self, secret: &str) -> Result<bool> {
        Ok(self
            .store()
            .credential_delete_by_hash(&digest(secret))
            .await?)
    }

    /// Creates a personal API token; returns the secret (shown once) and its record.
    pub async fn api_token_create(
        &self,
        account: &Account,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(String, ApiToken)> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a token needs a name of 1 to 100 printable characters".into(),
            ));
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Error::Invalid(
                "a token needs at least one scope (read, send, admin)".into(),
            ));
        }
        if scopes.contains(&Scope::Admin) && !account.is_admin {
            return Err(Error::Forbidden(
                "only administrators may create admin tokens".into(),
            ));
        }
        let secret = new_secret(API_TOKEN_PREFIX)?;
        let joined: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let c = self
            .store()
            .credential_insert(
                account.id,
                CredentialKind::Api,
                name,
                &joined.join(" "),
                &digest(&secret),
                None,
            )
            .await?;
        Ok((secret, c.into()))
    }

    pub async fn api_token_list(&self, account_id: i64) -> Result<Vec<ApiToken>> {
        Ok(self
            .store()
            .credential_list(account_id, CredentialKind::Api)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn api_token_revoke(&self, account_id: i64, id: i64) -> Result<()> {
        let tokens = self.api_token_list(account_id).await?;
        if !tokens.iter().any(|t| t.id == id) {
            return Err(Error::NotFound(format!("token {id}")));
        }
        self.store().credential_delete(account_id, id).await?;
        Ok(())
    }

    /// The owner of a personal API token; `None` if it is unknown or revoked.
    pub async fn api_token_check(&self, secret: &str) -> Result<Option<TokenOwner>> {
        let Some(c) = self.store().credential_use(&digest(secret)).await? else {
            return Ok(None);
        };
        if c.kind != CredentialKind::Api as i16 {
            return Ok(None);
        }
        let Some(account) = self.store().account_by_id(c.account_id).await? else {
            return Ok(None);
        };
        let mut scopes = ApiToken::from(c).scopes;
        // Admin rights end with the role, whatever the token says.
        if !account.is_admin {
            scopes.retain(|s| *s != Scope::Admin);
        }
        Ok(Some(TokenOwner { account, scopes }))
    }

    pub async fn user_set_admin(&self, address: &str, admin: bool) -> Result<()> {
        let acc = self.user_get(address).await?;
        Ok(self.store().account_set_admin(acc.id, admin).await?)
    }

    /// A new registration invite code (shown once); it expires after `ttl_secs`.
    pub async fn invite_create(&self, created_by: Option<i64>, ttl_secs: i64) -> Result<String> {
        let code = new_secret(INVITE_PREFIX)?;
        self.store()
            .invite_insert(
                &digest(&code),
                created_by,
                Some(mailroom_store::now() + ttl_secs),
            )
            .await?;
        Ok(code)
    }

    /// Registers a user. With `invite`, the code must be valid and is used up; without, the
    /// caller has checked that registration is open.
    pub async fn register(
        &self,
        address: &str,
        password: &str,
        invite: Option<&str>,
    ) -> Result<Account> {
        let addr = Address::parse(address)?;
        // Addresses that are aliases, or postmaster-style role addresses, are not up for grabs.
        if !self.store().alias_targets(addr.as_str()).await?.is_empty()
            || [
                "postmaster",
                "abuse",
                "admin",
                "root",
                "hostmaster",
                "webmaster",
                "mailer-daemon",
            ]
            .contains(&addr.local())
        {
            return Err(Error::AlreadyExists(format!("address {addr}")));
        }
        let Some(code) = invite else {
            return self.user_add(addr.as_str(), password).await;
        };
        let hash = digest(code);
        if !self.store().invite_take(&hash).await? {
            return Err(Error::Forbidden(
                "the invite code is unknown, used or expired".into(),
            ));
        }
        match self.user_add(addr.as_str(), password).await {
            Ok(acc) => {
                self.store().invite_finish(&hash, Some(acc.id)).await?;
                Ok(acc)
            }
            Err(e) => {
                self.store().invite_finish(&hash, None).await?;
                Err(e)
            }
        }
    }
}
