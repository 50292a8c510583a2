//! Identities (JMAP Identity): who a user sends as. Each address the user may send as (their
//! own, their aliases) has a default identity, always there; its name, signatures, Reply-To
//! and Bcc can be changed. Users may create more identities for those addresses.

pub use mailroom_store::identity::IdentityRow;

use crate::notify::StateChange;
use crate::{Account, Core, Error, Result};

/// Which identity: the default one of an address, or one the user created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityId {
    Default(String),
    Created(i64),
}

/// An identity as the user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub row: IdentityRow,
}

/// The editable settings.
#[derive(Clone, Debug, Default)]
pub struct IdentitySettings {
    pub name: Option<String>,
    pub reply_to: Option<Option<String>>,
    pub bcc: Option<Option<String>>,
    pub text_signature: Option<String>,
    pub html_signature: Option<String>,
}

const MAX_TEXT: usize = 16 * 1024;

fn apply(row: &mut IdentityRow, s: &IdentitySettings) -> Result<()> {
    if let Some(n) = &s.name {
        if n.len() > 255 || n.contains(['\r', '\n']) {
            return Err(Error::Invalid(
                "a name is one line of at most 255 bytes".into(),
            ));
        }
        row.name = n.clone();
    }
    for sig in [&s.text_signature, &s.html_signature].into_iter().flatten() {
        if sig.len() > MAX_TEXT {
            return Err(Error::Invalid(format!(
                "a signature is at most {MAX_TEXT} bytes"
            )));
        }
    }
    if let Some(t) = &s.text_signature {
        row.text_signature = t.clone();
    }
    if let Some(h) = &s.html_signature {
        row.html_signature = h.clone();
    }
    if let Some(r) = &s.reply_to {
        row.reply_to = r.clone();
    }
    if let Some(b) = &s.bcc {
        row.bcc = b.clone();
    }
    Ok(())
}

impl Core {
    /// The account's identities: a default one per sender address, then those created.
    pub async fn identities(&self, account: &Account) -> Result<Vec<Identity>> {
        let stored = self.store().identities(account.id).await?;
        let mut out: Vec<Identity> = self
            .sender_addresses(account)
            .await?
            .into_iter()
            .map(|email| {
                let row = stored
                    .iter()
                    .find(|r| r.is_default && r.email == email)
                    .cloned()
                    .unwrap_or_else(|| IdentityRow {
                        account_id: account.id,
                        email: email.clone(),
                        is_default: true,
                        ..IdentityRow::default()
                    });
                Identity {
                    id: IdentityId::Default(email),
                    row,
                }
            })
            .collect();
        out.extend(
            stored
                .into_iter()
                .filter(|r| !r.is_default)
                .map(|row| Identity {
                    id: IdentityId::Created(row.id),
                    row,
                }),
        );
        Ok(out)
    }

    /// How the change log names default identities: (log id, address) for every default
    /// identity the account has had a row for, including those of addresses it no longer
    /// has (so their destruction can be reported).
    pub async fn default_identity_log_ids(&self, account_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(self
            .store()
            .identities(account_id)
            .await?
            .into_iter()
            .filter(|r| r.is_default)
            .map(|r| (-r.id, r.email))
            .collect())
    }

    /// Creates an identity for one of the account's sender addresses (`Forbidden` for any
    /// other address).
    pub async fn identity_create(
        &self,
        account: &Account,
        email: &str,
        s: &IdentitySettings,
    ) -> Result<Identity> {
        let email = crate::address::Address::parse(email)?;
        if !self
            .sender_addresses(account)
            .await?
            .iter()
            .any(|a| a == email.as_str())
        {
            return Err(Error::Forbidden(format!(
                "{email} is not one of your addresses"
            )));
        }
        let mut row = IdentityRow {
            account_id: account.id,
            email: email.as_str().to_string(),
            ..IdentityRow::default()
        };
        apply(&mut row, s)?;
        let (row, seq) = self.store().identity_save(&row).await?;
        self.inner.notifier.publish(StateChange {
            account_id: account.id,
            seq,
        });
        Ok(Identity {
            id: IdentityId::Created(row.id),
            row,
        })
    }

    /// Changes an identity's settings; `NotFound` if it is not the account's.
    pub async fn identity_update(
        &self,
        account: &Account,
        id: &IdentityId,
        s: &IdentitySettings,
    ) -> Result<()> {
        let mut found = self
            .identities(account)
            .await?
            .into_iter()
            .find(|i| &i.id == id)
            .ok_or_else(|| Error::NotFound("identity".into()))?;
        apply(&mut found.row, s)?;
        let (_, seq) = self.store().identity_save(&found.row).await?;
        self.inner.notifier.publish(StateChange {
            account_id: account.id,
            seq,
        });
        Ok(())
    }

    /// Removes a created identity (a default one cannot be: `Forbidden`).
    pub async fn identity_destroy(&self, account: &Account, id: &IdentityId) -> Result<()> {
        let n = match id {
            IdentityId::Created(n) => *n,
            IdentityId::Default(a) => {
                return Err(Error::Forbidden(format!(
                    "the identity of {a} follows the address and cannot be destroyed"
                )));
            }
        };
        let seq = self
            .store()
            .identity_remove(account.id, n)
            .await?
            .ok_or_else(|| Error::NotFound("identity".into()))?;
        self.inner.notifier.publish(StateChange {
            account_id: account.id,
            seq,
        });
        Ok(())
    }
}
