//! Administrators, stored credentials (refresh tokens and personal API tokens, kept only as
//! hashes) and registration invites.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, StoreError, now};

/// What a stored credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum CredentialKind {
    /// Exchanged for access tokens at `/api/v1/auth/refresh`.
    Refresh = 1,
    /// A personal API token, sent as a bearer token.
    Api = 2,
}

/// A stored credential; the token itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Credential {
    pub id: i64,
    pub account_id: i64,
    pub kind: i16,
    pub name: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

const CREDENTIAL_COLUMNS: &str =
    "id, account_id, kind, name, scopes, created_at, expires_at, last_used_at";

impl Store {
    pub async fn account_set_admin(&self, account_id: i64, admin: bool) -> Result<()> {
        let r = self
            .db
            .execute_raw(self.stmt(
                "UPDATE accounts SET is_admin = ? WHERE id = ?",
                vec![admin.into(), account_id.into()],
            ))
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("account {account_id}")));
        }
        Ok(())
    }

    pub async fn credential_insert(
        &self,
        account_id: i64,
        kind: CredentialKind,
        name: &str,
        scopes: &str,
        token_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<Credential> {
        let sql = format!(
            "INSERT INTO credentials (account_id, kind, name, scopes, token_hash, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {CREDENTIAL_COLUMNS}"
        );
        let values: Vec<Value> = vec![
            account_id.into(),
            (kind as i16).into(),
            name.into(),
            scopes.into(),
            token_hash.into(),
            now().into(),
            expires_at.into(),
        ];
        Credential::find_by_statement(self.stmt(&sql, values))
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::Corrupt("insert returned no row".into()))
    }

    /// The unexpired credential with this hash, marking it used (at most once a minute, so
    /// a script calling in a loop does not turn every read into a write).
    pub async fn credential_use(&self, token_hash: &str) -> Result<Option<Credential>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE token_hash = ? \
             AND (expires_at IS NULL OR expires_at > ?)"
        );
        let t = now();
        let found =
            Credential::find_by_statement(self.stmt(&sql, vec![token_hash.into(), t.into()]))
                .one(&self.db)
                .await?;
        if let Some(c) = &found
            && c.last_used_at.is_none_or(|u| u + 60 < t)
        {
            self.db
                .execute_raw(self.stmt(
                    "UPDATE credentials SET last_used_at = ? WHERE id = ?",
                    vec![t.into(), c.id.into()],
                ))
                .await?;
        }
        Ok(found)
    }

    pub async fn credential_list(
        &self,
        account_id: i64,
        kind: CredentialKind,
    ) -> Result<Vec<Credential>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE account_id = ? AND kind = ? ORDER BY id"
        );
        Ok(Credential::find_by_statement(
            self.stmt(&sql, vec![account_id.into(), (kind as i16).into()]),
        )
        .all(&self.db)
        .await?)
    }

    /// Deletes the account's credential `id`; false if it has none by that id.
    pub async fn credential_delete(&self, account_id: i64, id: i64) -> Result<bool> {
        let r = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM credentials WHERE id = ? AND account_id = ?",
                vec![id.into(), account_id.into()],
            ))
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes the credential with this hash (logout); false if there was none.
    pub async fn credential_delete_by_hash(&self, token_hash: &str) -> Result<bool> {
        let r = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM credentials WHERE token_hash = ?",
                vec![token_hash.into()],
            ))
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Replaces one refresh token by another in one statement, so a refresh token works
    /// once: of two concurrent refreshes with the same token, one gets `None`.
    pub async fn credential_rotate(
        &self,
        old_hash: &str,
        new_hash: &str,
        expires_at: i64,
    ) -> Result<Option<i64>> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "UPDATE credentials SET token_hash = ?, expires_at = ?, last_used_at = ? \
                 WHERE token_hash = ? AND kind = ? AND (expires_at IS NULL OR expires_at > ?) \
                 RETURNING account_id",
                vec![
                    new_hash.into(),
                    expires_at.into(),
                    now().into(),
                    old_hash.into(),
                    (CredentialKind::Refresh as i16).into(),
                    now().into(),
                ],
            ))
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get_by_index::<i64>(0)?),
            None => None,
        })
    }

    pub async fn invite_insert(
        &self,
        code_hash: &str,
        created_by: Option<i64>,
        expires_at: Option<i64>,
    ) -> Result<()> {
        self.db
            .execute_raw(self.stmt(
                "INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?)",
                vec![code_hash.into(), created_by.into(), now().into(), expires_at.into()],
            ))
            .await?;
        Ok(())
    }

    /// Marks an unused, unexpired invite as taken; false if there is none such. Taking is one
    /// statement, so an invite admits one registration however many race for it.
    pub async fn invite_take(&self, code_hash: &str) -> Result<bool> {
        let t = now();
        let r = self
            .db
            .execute_raw(self.stmt(
                "UPDATE invites SET used_at = ? WHERE code_hash = ? AND used_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
                vec![t.into(), code_hash.into(), t.into()],
            ))
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records who used a taken invite, or (`account_id` None) gives it back after a
    /// registration that failed.
    pub async fn invite_finish(&self, code_hash: &str, account_id: Option<i64>) -> Result<()> {
        let sql = if account_id.is_some() {
            "UPDATE invites SET used_by = ? WHERE code_hash = ?"
        } else {
            "UPDATE invites SET used_at = NULL, used_by = ? WHERE code_hash = ?"
        };
        self.db
            .execute_raw(self.stmt(sql, vec![account_id.into(), code_hash.into()]))
            .await?;
        Ok(())
    }
}
