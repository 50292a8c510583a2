//! Submissions (mail a user sent, with per-recipient status) and idempotency keys of the REST
//! send endpoint.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult, QueryTrait, Value};

use crate::entity::change;
use crate::model::{ChangeOp, ObjectType};
use crate::multi::Multi;
use crate::tx::Tx;
use crate::{Result, Store, StoreError, now};

const SUBMISSION_COLUMNS: &str = "id, account_id, email_id, mail_from, rcpt_to, send_at, \
                                  undo_status, delivery_status, created_at";

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
#[derive(Clone)]
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
    /// logged as created; returns each with its account's new state. Two round trips: the
    /// accounts' change counters with the new rows' ids, then every row.
    pub async fn submission_insert_many(
        &self,
        subs: &[NewSubmission],
    ) -> Result<Vec<(Submission, i64)>> {
        let subs = subs.to_vec();
        self.write(move |tx| Box::pin(async move { insert_in(tx, &subs).await }))
            .await
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

/// Records submissions (and queues their remote recipients) inside `tx`; see
/// [`Store::submission_insert_many`].
pub(crate) async fn insert_in(
    tx: &Tx<'_>,
    subs: &[NewSubmission],
) -> Result<Vec<(Submission, i64)>> {
    if subs.is_empty() {
        return Ok(Vec::new());
    }
    let kind = tx.kind();
    let mut per_account: BTreeMap<i64, i64> = BTreeMap::new();
    for s in subs {
        *per_account.entry(s.account_id).or_default() += 1;
    }
    let queued = || subs.iter().filter_map(|s| s.queue.as_ref());
    let wanted = [
        ("submissions", subs.len()),
        ("queue_messages", queued().count()),
        (
            "queue_recipients",
            queued().map(|q| q.recipients.len()).sum(),
        ),
    ];
    let mut first = Multi::new(kind);
    for (&id, &n) in &per_account {
        first.push_sql(
            "UPDATE accounts SET change_seq = change_seq + ? WHERE id = ? \
                 RETURNING CAST(0 AS BIGINT), id, change_seq",
            vec![n.into(), id.into()],
        );
    }
    crate::ids::reserve(&mut first, kind, &wanted);
    let rows = first.query(tx).await?;
    // Each account's first new seq.
    let mut next_seq: HashMap<i64, i64> = HashMap::new();
    for row in &rows {
        if row.get::<i64>(0)? == 0 {
            let id: i64 = row.get(1)?;
            let end: i64 = row.get(2)?;
            next_seq.insert(id, end - per_account[&id] + 1);
        }
    }
    let mut ids = crate::ids::Reserved::read(kind, &rows, &wanted)?;

    let t = now();
    let mut out = Vec::with_capacity(subs.len());
    let (mut sub_rows, mut msg_rows, mut rcpt_rows, mut changes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in subs {
        let seq = next_seq
            .get_mut(&s.account_id)
            .map(|n| {
                *n += 1;
                *n - 1
            })
            .ok_or_else(|| StoreError::NotFound(format!("account {}", s.account_id)))?;
        let row = Submission {
            id: ids.next("submissions")?,
            account_id: s.account_id,
            email_id: s.email_id,
            mail_from: s.mail_from.clone(),
            rcpt_to: s.rcpt_to.clone(),
            send_at: t,
            undo_status: s.undo_status.clone(),
            delivery_status: s.delivery_status.clone(),
            created_at: t,
        };
        sub_rows.push(vec![
            row.id.into(),
            row.account_id.into(),
            row.email_id.into(),
            row.mail_from.as_str().into(),
            row.rcpt_to.as_str().into(),
            t.into(),
            row.undo_status.as_str().into(),
            row.delivery_status.as_str().into(),
            t.into(),
        ]);
        if let Some(q) = &s.queue {
            let message_id = ids.next("queue_messages")?;
            msg_rows.push(crate::queue::message_values(message_id, q, Some(row.id), t));
            for r in &q.recipients {
                let id = ids.next("queue_recipients")?;
                rcpt_rows.push(crate::queue::recipient_values(id, message_id, r, t));
            }
        }
        changes.push(crate::update::log(
            s.account_id,
            seq,
            ObjectType::EmailSubmission,
            row.id,
            ChangeOp::Created,
        ));
        out.push((row, seq));
    }
    let mut rest = Multi::new(kind);
    rest.insert_rows("submissions", SUBMISSION_COLUMNS, sub_rows);
    rest.insert_rows("queue_messages", crate::queue::MESSAGE_COLUMNS, msg_rows);
    rest.insert_rows(
        "queue_recipients",
        crate::queue::RECIPIENT_COLUMNS,
        rcpt_rows,
    );
    for chunk in changes.chunks(crate::multi::ROWS_PER_INSERT) {
        rest.push(&change::Entity::insert_many(chunk.to_vec()).into_query());
    }
    rest.execute(tx).await?;
    Ok(out)
}
