//! Storage quotas: a limit per account (none unless an administrator sets one) against the
//! bytes its emails use, counted once per email however many mailboxes hold it.

use crate::{Core, Error, Result};

/// An account's storage use and limit, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub used: i64,
    pub limit: Option<i64>,
}

impl Quota {
    /// Whether `adding` more bytes would go over the limit.
    pub fn exceeded_by(&self, adding: i64) -> bool {
        self.limit
            .is_some_and(|l| self.used.saturating_add(adding) > l)
    }
}

impl Core {
    pub async fn quota(&self, account_id: i64) -> Result<Quota> {
        let (used, limit) = self.store().account_usage(account_id).await?;
        Ok(Quota { used, limit })
    }

    /// `OverQuota` when `adding` bytes would not fit: a cheap look before the bytes are
    /// written (the delivery's transaction checks again, race-free), so a client repeating
    /// an APPEND at its limit costs one read, not a blob write and a failed commit.
    pub async fn check_quota(&self, account_id: i64, adding: i64) -> Result<()> {
        let q = self.quota(account_id).await?;
        if q.exceeded_by(adding) {
            return Err(Error::OverQuota(format!(
                "{} of {} bytes used",
                q.used,
                q.limit.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Counts the account's used bytes again from its emails (after a repair, or an upgrade
    /// with old processes still running).
    pub async fn recount_usage(&self, account_id: i64) -> Result<Quota> {
        self.store().account_recount_usage(account_id).await?;
        self.quota(account_id).await
    }

    /// Whether any of the accounts has used its whole quota (SMTP: 452 4.2.2 at RCPT).
    pub async fn any_full(&self, accounts: &[i64]) -> Result<bool> {
        Ok(self.store().accounts_full(accounts).await?)
    }

    /// Every user with their storage use and limit (one read).
    pub async fn user_list_with_quota(&self) -> Result<Vec<(crate::Account, Quota)>> {
        Ok(self
            .store()
            .account_list_with_usage()
            .await?
            .into_iter()
            .map(|(a, used)| {
                let limit = a.quota_bytes;
                (a, Quota { used, limit })
            })
            .collect())
    }

    /// Sets a user's storage limit (`None`: unlimited).
    pub async fn user_set_quota(&self, address: &str, limit: Option<i64>) -> Result<()> {
        if limit.is_some_and(|l| l < 0) {
            return Err(Error::Invalid("a quota is zero or more bytes".into()));
        }
        let account = self.user_get(address).await?;
        self.store().account_set_quota(account.id, limit).await?;
        Ok(())
    }
}
