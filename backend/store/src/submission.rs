//! Submissions (mail a user sent, with per-recipient status) and idempotency keys of the REST
//! send endpoint.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::model::{ChangeOp, ObjectType};
use crate::{Result, Store, StoreError, now};

/// One submission as stored. `rcpt_to` and `delivery_status` are JSON texts.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Submission {
    pub id: i64,
    pub account_id: i64,
    pub email_id: Option<i64>,
    pub mail_from: String,
    pub rcpt_to: String,
    pub send_at: i64,
    pub undo_status: String,
    pub delivery_status: String,
    pub created_at: i64,
}

/// A new submission.
pub struct NewSubmission {
    pub account_id: i64,
    pub email_id: Option<i64>,
    pub mail_from: String,
    pub rcpt_to: String,
    pub undo_status: String,
    pub delivery_status: String,
    /// Remote recipients, queued in the same transaction.
    pub queue: Option<crate::queue::NewQueued>,
}

/// Where a request with an idempotency key stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// First time: go ahead, then call `idempotency_finish`.
    New,
    /// Done before: this was the response.
    Done(String),
    /// The first request with this key has not finished (or died half-way: it is never
    /// repeated, since it may have sent).
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Keys are remembered this long.
const IDEMPOTENCY_TTL: i64 = 24 * 3600;

impl Store {
    /// Records submissions (and queues their remote recipients) in one transaction, each
    /// logged as created; returns each with its account's new state.
    pub async fn submission_insert_many(
        &self,
        subs: &[NewSubmission],
    ) -> Result<Vec<(Submission, i64)>> {
        let _turn = self.write_turn().await;
        let tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(subs.len());
        for s in subs {
            out.push(self.submission_insert_in(&tx, s).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn submission_insert_in(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        s: &NewSubmission,
    ) -> Result<(Submission, i64)> {
        let seq = crate::update::reserve_seqs(tx, s.account_id, 1).await?;
        let t = now();
        let values: Vec<Value> = vec![
            s.account_id.into(),
            s.email_id.into(),
            s.mail_from.as_str().into(),
            s.rcpt_to.as_str().into(),
            t.into(),
            s.undo_status.as_str().into(),
            s.delivery_status.as_str().into(),
            t.into(),
        ];
        let row = Submission::find_by_statement(self.stmt(
            "INSERT INTO submissions (account_id, email_id, mail_from, rcpt_to, send_at, \
             undo_status, delivery_status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             RETURNING id, account_id, email_id, mail_from, rcpt_to, send_at, undo_status, \
             delivery_status, created_at",
            values,
        ))
        .one(tx)
        .await?
        .ok_or_else(|| StoreError::Corrupt("insert returned no row".into()))?;
        if let Some(q) = &s.queue {
            crate::queue::queue_insert_in(self.kind(), tx, q, Some(row.id)).await?;
        }
        crate::update::log_one(
            tx,
            s.account_id,
            seq,
            ObjectType::EmailSubmission,
            row.id,
            ChangeOp::Created,
        )
        .await?;
        Ok((row, seq))
    }

    /// The account's submissions among `ids` (all of them when `ids` is `None`), by id.
    pub async fn submissions(
        &self,
        account_id: i64,
        ids: Option<&[i64]>,
    ) -> Result<Vec<Submission>> {
        let mut sql = "SELECT id, account_id, email_id, mail_from, rcpt_to, send_at, undo_status, \
             delivery_status, created_at FROM submissions WHERE account_id = ?"
            .to_string();
        let mut values: Vec<Value> = vec![account_id.into()];
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(" AND id IN (");
            sql.push_str(&vec!["?"; ids.len()].join(","));
            sql.push(')');
            values.extend(ids.iter().map(|&i| Value::from(i)));
        }
        sql.push_str(" ORDER BY id");
        Ok(Submission::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?)
    }

    /// Claims an idempotency key for a request whose body hashes to `request_hash`.
    pub async fn idempotency_begin(
        &self,
        account_id: i64,
        key: &str,
        request_hash: &str,
    ) -> Result<Idempotency> {
        let t = now();
        self.db
            .execute_raw(self.stmt(
                "DELETE FROM idempotency_keys WHERE account_id = ? AND created_at < ?",
                vec![account_id.into(), (t - IDEMPOTENCY_TTL).into()],
            ))
            .await?;
        let r = self
            .db
            .execute_raw(self.stmt(
                "INSERT INTO idempotency_keys (account_id, key, request_hash, created_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                vec![account_id.into(), key.into(), request_hash.into(), t.into()],
            ))
            .await?;
        if r.rows_affected() == 1 {
            return Ok(Idempotency::New);
        }
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT request_hash, response FROM idempotency_keys WHERE account_id = ? AND key = ?",
                vec![account_id.into(), key.into()],
            ))
            .await?
            .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()))?;
        let hash: String = row.try_get_by_index(0)?;
        let response: Option<String> = row.try_get_by_index(1)?;
        Ok(match response {
            _ if hash != request_hash => Idempotency::Mismatch,
            Some(r) => Idempotency::Done(r),
            None => Idempotency::InProgress,
        })
    }

    /// Stores the response of a claimed key, or (`None`, the request failed before doing
    /// anything) releases the key so a retry may run.
    pub async fn idempotency_finish(
        &self,
        account_id: i64,
        key: &str,
        response: Option<&str>,
    ) -> Result<()> {
        let stmt = match response {
            Some(r) => self.stmt(
                "UPDATE idempotency_keys SET response = ? WHERE account_id = ? AND key = ?",
                vec![r.into(), account_id.into(), key.into()],
            ),
            None => self.stmt(
                "DELETE FROM idempotency_keys WHERE account_id = ? AND key = ?",
                vec![account_id.into(), key.into()],
            ),
        };
        self.db.execute_raw(stmt).await?;
        Ok(())
    }
}
