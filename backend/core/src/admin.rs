//! Administration: domains, users, aliases and catch-alls, passwords.

use argon2::Argon2;
use argon2::password_hash::PasswordHasher;
use mailroom_store::DefaultMailbox;

use crate::address::{Address, validate_domain};
use crate::{Account, Alias, Core, Domain, Error, Result};

/// The mailboxes every new user gets, with their RFC 6154 / RFC 8621 roles.
pub const DEFAULT_MAILBOXES: &[(&str, &str)] = &[
    ("INBOX", "inbox"),
    ("Sent", "sent"),
    ("Drafts", "drafts"),
    ("Junk", "junk"),
    ("Trash", "trash"),
    ("Archive", "archive"),
];

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_LEN: usize = 8;

impl Core {
    pub async fn domain_add(&self, name: &str) -> Result<Domain> {
        let name = validate_domain(name)?;
        let keys = crate::dkim::generate_keys(chrono::Utc::now().date_naive())?;
        let d = self.store().domain_add(&name).await?;
        // After the commit: a lookup before it may have cached the domain as not ours.
        self.caches().clear();
        // Its DKIM keys come with it (were this interrupted, the first use makes them).
        self.store().dkim_keys_add_if_none(d.id, &keys).await?;
        Ok(d)
    }

    pub async fn domain_list(&self) -> Result<Vec<Domain>> {
        Ok(self.store().domain_list().await?)
    }

    pub async fn domain_remove(&self, name: &str) -> Result<()> {
        self.caches().clear();
        let name = validate_domain(name)?;
        self.store()
            .domain_remove(&name)
            .await
            .map_err(|e| match e {
                mailroom_store::StoreError::Conflict(s) => Error::Invalid(s),
                e => e.into(),
            })
    }

    /// Creates a user in an existing domain, with the default mailboxes.
    pub async fn user_add(&self, address: &str, password: &str) -> Result<Account> {
        self.caches().clear();
        let addr = Address::parse(address)?;
        if addr.local().contains('+') {
            return Err(Error::Invalid(format!(
                "{addr}: '+' is reserved for subaddressing (user+tag@domain delivers to user@domain)"
            )));
        }
        let domain = self.local_domain(addr.domain()).await?;
        let hash = hash_password(password).await?;
        let mailboxes: Vec<DefaultMailbox> = DEFAULT_MAILBOXES
            .iter()
            .map(|(name, role)| DefaultMailbox {
                name,
                role: Some(role),
            })
            .collect();
        Ok(self
            .store()
            .account_create(addr.as_str(), domain.id, &hash, &mailboxes)
            .await?)
    }

    pub async fn user_list(&self) -> Result<Vec<Account>> {
        Ok(self.store().account_list().await?)
    }

    pub async fn user_get(&self, address: &str) -> Result<Account> {
        let addr = Address::parse(address)?;
        self.store()
            .account_by_address(addr.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {addr}")))
    }

    pub async fn user_set_password(&self, address: &str, password: &str) -> Result<()> {
        self.caches().clear();
        let acc = self.user_get(address).await?;
        let hash = hash_password(password).await?;
        Ok(self.store().account_set_password(acc.id, &hash).await?)
    }

    /// Removes a user with all their mail.
    pub async fn user_remove(&self, address: &str) -> Result<()> {
        self.caches().clear();
        let acc = self.user_get(address).await?;
        Ok(self.store().account_remove(acc.id).await?)
    }

    /// Checks a password; `Ok(None)` when the address or password is wrong (the caller must
    /// not tell which).
    pub async fn authenticate(&self, address: &str, password: &str) -> Result<Option<Account>> {
        let Ok(addr) = Address::parse(address) else {
            return Ok(None);
        };
        let Some(acc) = self.store().account_by_address(addr.as_str()).await? else {
            self.inner.passwords.check_nobody(password).await;
            return Ok(None);
        };
        let ok = self
            .inner
            .passwords
            .check(acc.id, &acc.password_hash, password)
            .await;
        Ok(ok.then_some(acc))
    }

    /// `alias` delivers to `target`, a user. An alias of the form `@domain` makes `target` the
    /// domain's catch-all: it receives mail for every address of the domain that is neither a
    /// user nor an alias.
    pub async fn alias_add(&self, alias: &str, target: &str) -> Result<()> {
        self.caches().clear();
        let acc = self.user_get(target).await?;
        if let Some(domain) = alias.trim().strip_prefix('@') {
            let d = self.local_domain(&validate_domain(domain)?).await?;
            return Ok(self
                .store()
                .domain_set_catch_all(d.id, Some(acc.id))
                .await?);
        }
        let addr = Address::parse(alias)?;
        self.local_domain(addr.domain()).await?;
        if self
            .store()
            .account_by_address(addr.as_str())
            .await?
            .is_some()
        {
            return Err(Error::Invalid(format!(
                "{addr} is a user; an alias cannot shadow it"
            )));
        }
        Ok(self.store().alias_add(addr.as_str(), acc.id).await?)
    }

    pub async fn alias_remove(&self, alias: &str, target: &str) -> Result<()> {
        self.caches().clear();
        let acc = self.user_get(target).await?;
        if let Some(domain) = alias.trim().strip_prefix('@') {
            let d = self.local_domain(&validate_domain(domain)?).await?;
            if d.catch_all_account_id != Some(acc.id) {
                return Err(Error::NotFound(format!(
                    "catch-all @{} → {}",
                    d.name, acc.address
                )));
            }
            return Ok(self.store().domain_set_catch_all(d.id, None).await?);
        }
        let addr = Address::parse(alias)?;
        if !self.store().alias_remove(addr.as_str(), acc.id).await? {
            return Err(Error::NotFound(format!("alias {addr} → {}", acc.address)));
        }
        Ok(())
    }

    /// Every alias, catch-alls included (as `@domain`).
    pub async fn alias_list(&self) -> Result<Vec<Alias>> {
        let mut out = self.store().alias_list().await?;
        for d in self.store().domain_list().await? {
            if let Some(id) = d.catch_all_account_id {
                let target = self
                    .store()
                    .account_by_id(id)
                    .await?
                    .map(|a| a.address)
                    .unwrap_or_default();
                out.push(Alias {
                    address: format!("@{}", d.name),
                    account_id: id,
                    target,
                });
            }
        }
        Ok(out)
    }

    /// Whether mail for `name` (lowercase) is ours.
    pub async fn domain_is_local(&self, name: &str) -> Result<bool> {
        Ok(self.store().domain_get(name).await?.is_some())
    }

    pub(crate) async fn local_domain(&self, name: &str) -> Result<Domain> {
        self.store().domain_get(name).await?.ok_or_else(|| {
            Error::NotFound(format!(
                "domain {name} (add it first: mailroom domain add {name})"
            ))
        })
    }
}

async fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "passwords must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let pw = password.to_string();
    // argon2id by default; it takes tens of milliseconds of CPU, so off the reactor.
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(pw.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing password: {e}")))?
}
