//! The outbound queue: messages for other domains and each recipient's status.
//!
//! A worker *claims* due recipients by pushing their next attempt past a lease in the same
//! statement that selects them, so two workers (or two nodes on one Postgres) never send the
//! same recipient at once, and a worker that dies mid-send leaves them to be retried when the
//! lease ends. A message is deleted once none of its recipients is still queued.

use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Value};
use std::collections::BTreeMap;

use crate::model::{ChangeOp, ObjectType};
use crate::{DbKind, Result, Store, StoreError, now};

/// By submission: its account and each recipient's (address, reply, delivered).
type Statuses<'a> = BTreeMap<i64, (i64, Vec<(&'a str, &'a str, &'a str)>)>;

/// A message to queue for remote recipients.
pub struct NewQueued {
    pub blob_id: String,
    /// "" for the null reverse-path.
    pub mail_from: String,
    pub account_id: Option<i64>,
    pub size: i64,
    pub recipients: Vec<String>,
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct QueuedMessage {
    pub id: i64,
    pub blob_id: String,
    pub mail_from: String,
    pub account_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub size: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct QueuedRecipient {
    pub id: i64,
    pub message_id: i64,
    pub address: String,
    pub domain: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_reply: Option<String>,
    pub delay_notified: bool,
    /// Until when a worker holds it (0: nobody).
    pub leased_until: i64,
}

/// What happened to one recipient in an attempt.
#[derive(Clone, Debug)]
pub enum Outcome {
    Sent { reply: String },
    Failed { reply: String },
    Deferred { reply: String, next_attempt_at: i64 },
}

impl Store {
    /// Queues a message outside a submission (bounces, auto-replies); returns its id.
    pub async fn queue_insert(&self, q: NewQueued) -> Result<i64> {
        let tx = self.begin_write().await?;
        let id = queue_insert_in(self.kind(), &tx, &q, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Claims up to `limit` due recipients until `lease_until`, with their messages.
    pub async fn queue_claim(
        &self,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<(QueuedMessage, Vec<QueuedRecipient>)>> {
        let lock = match self.kind() {
            DbKind::Postgres => " FOR UPDATE SKIP LOCKED",
            DbKind::Sqlite => "",
        };
        let sql = format!(
            "UPDATE queue_recipients SET leased_until = ? WHERE id IN (SELECT id FROM \
             queue_recipients WHERE status = 'queued' AND next_attempt_at <= ? \
             AND leased_until <= ? ORDER BY next_attempt_at LIMIT {limit}{lock}) \
             RETURNING {RCPT_COLUMNS}"
        );
        let _turn = self.write_turn().await;
        let tx = self.begin_write().await?;
        let rcpts = QueuedRecipient::find_by_statement(
            self.stmt(&sql, vec![lease_until.into(), now().into(), now().into()]),
        )
        .all(&tx)
        .await?;
        tx.commit().await?;
        if rcpts.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<i64> = rcpts.iter().map(|r| r.message_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let messages = self.queue_messages(Some(&ids)).await?;
        Ok(messages
            .into_iter()
            .map(|m| {
                let mine = rcpts
                    .iter()
                    .filter(|r| r.message_id == m.id)
                    .cloned()
                    .collect();
                (m, mine)
            })
            .collect())
    }

    /// Records attempts' outcomes, in one transaction: each recipient's row, its
    /// submission's delivery status (logged as an EmailSubmission update, so JMAP clients see
    /// it), and each message deleted once nothing of it is left queued. Returns the accounts'
    /// new states for the submissions that changed. Statements are per batch where they can
    /// be (one read of the statuses, one change-counter update per account, one delete).
    pub async fn queue_record_many(
        &self,
        items: &[(QueuedMessage, QueuedRecipient, Outcome)],
    ) -> Result<Vec<(i64, i64)>> {
        let _turn = self.write_turn().await;
        let tx = self.begin_write().await?;
        let t = now();
        let mut subs: Statuses = BTreeMap::new();
        for (message, rcpt, outcome) in items {
            let (status, reply, next, delivered) = match outcome {
                Outcome::Sent { reply } => ("sent", reply, rcpt.next_attempt_at, "yes"),
                Outcome::Failed { reply } => ("failed", reply, rcpt.next_attempt_at, "no"),
                Outcome::Deferred {
                    reply,
                    next_attempt_at,
                } => ("queued", reply, *next_attempt_at, "queued"),
            };
            tx.execute_raw(self.stmt(
                "UPDATE queue_recipients SET status = ?, attempts = attempts + 1, \
                 next_attempt_at = ?, last_reply = ?, updated_at = ?, leased_until = 0 \
                 WHERE id = ?",
                vec![
                    status.into(),
                    next.into(),
                    reply.as_str().into(),
                    t.into(),
                    rcpt.id.into(),
                ],
            ))
            .await?;
            if let (Some(sub), Some(account)) = (message.submission_id, message.account_id) {
                subs.entry(sub)
                    .or_insert_with(|| (account, Vec::new()))
                    .1
                    .push((rcpt.address.as_str(), reply.as_str(), delivered));
            }
        }
        let changed = self.record_delivery_status(&tx, &subs).await?;
        let mut ids: Vec<i64> = items.iter().map(|(m, _, _)| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let sql = format!(
            "DELETE FROM queue_messages WHERE id IN ({}) AND NOT EXISTS (SELECT 1 FROM \
             queue_recipients r WHERE r.message_id = queue_messages.id AND r.status = 'queued')",
            vec!["?"; ids.len()].join(",")
        );
        tx.execute_raw(self.stmt(&sql, ids.into_iter().map(Value::from).collect()))
            .await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Writes each recipient's reply into its submission's `deliveryStatus` and logs the
    /// submissions as updated, at one new state per account.
    async fn record_delivery_status(
        &self,
        tx: &DatabaseTransaction,
        subs: &Statuses<'_>,
    ) -> Result<Vec<(i64, i64)>> {
        if subs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, delivery_status FROM submissions WHERE id IN ({})",
            vec!["?"; subs.len()].join(",")
        );
        let rows = tx
            .query_all_raw(self.stmt(&sql, subs.keys().map(|&i| Value::from(i)).collect()))
            .await?;
        let mut by_account: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for row in rows {
            let id: i64 = row.try_get_by_index(0)?;
            let text: String = row.try_get_by_index(1)?;
            let Some((account, lines)) = subs.get(&id) else {
                continue;
            };
            let mut v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({}));
            for (address, reply, delivered) in lines {
                v[*address] = serde_json::json!({
                    "smtpReply": reply,
                    "delivered": delivered,
                    "displayed": "unknown",
                });
            }
            tx.execute_raw(self.stmt(
                "UPDATE submissions SET delivery_status = ? WHERE id = ?",
                vec![v.to_string().into(), id.into()],
            ))
            .await?;
            by_account.entry(*account).or_default().push(id);
        }
        let mut changed = Vec::new();
        let mut log = Vec::new();
        for (account, ids) in by_account {
            let seq = crate::update::reserve_seqs(tx, account, 1).await?;
            log.extend(ids.into_iter().map(|sub| {
                crate::update::log(
                    account,
                    seq,
                    ObjectType::EmailSubmission,
                    sub,
                    ChangeOp::Updated,
                )
            }));
            changed.push((account, seq));
        }
        crate::delivery::insert_changes(tx, log).await?;
        Ok(changed)
    }

    /// Extends the claims on recipients still being tried, each named with the attempts it
    /// had when claimed: a recipient whose outcome was recorded meanwhile has one more and
    /// is left alone.
    pub async fn queue_extend(&self, claims: &[(i64, i32)], lease_until: i64) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        let tx = self.begin_write().await?;
        for &(id, attempts) in claims {
            tx.execute_raw(self.stmt(
                "UPDATE queue_recipients SET leased_until = ? \
                 WHERE id = ? AND attempts = ? AND status = 'queued'",
                vec![lease_until.into(), id.into(), attempts.into()],
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks that the sender was told a recipient is delayed.
    pub async fn queue_delay_notified(&self, rcpt_ids: &[i64]) -> Result<()> {
        if rcpt_ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE queue_recipients SET delay_notified = ? WHERE id IN ({})",
            vec!["?"; rcpt_ids.len()].join(",")
        );
        let mut values: Vec<Value> = vec![true.into()];
        values.extend(rcpt_ids.iter().map(|&i| Value::from(i)));
        self.db.execute_raw(self.stmt(&sql, values)).await?;
        Ok(())
    }

    /// Queued messages (all, or those among `ids`), oldest first.
    pub async fn queue_messages(&self, ids: Option<&[i64]>) -> Result<Vec<QueuedMessage>> {
        let mut sql = "SELECT id, blob_id, mail_from, account_id, submission_id, size, created_at \
                       FROM queue_messages"
            .to_string();
        let mut values: Vec<Value> = Vec::new();
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(
                " WHERE id IN ({})",
                vec!["?"; ids.len()].join(",")
            ));
            values.extend(ids.iter().map(|&i| Value::from(i)));
        }
        sql.push_str(" ORDER BY id");
        Ok(QueuedMessage::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?)
    }

    /// The recipients of queued messages (all, or of one message), by message then id.
    pub async fn queue_recipients(&self, message: Option<i64>) -> Result<Vec<QueuedRecipient>> {
        let (filter, values): (&str, Vec<Value>) = match message {
            Some(m) => (" WHERE message_id = ?", vec![m.into()]),
            None => ("", Vec::new()),
        };
        let sql =
            format!("SELECT {RCPT_COLUMNS} FROM queue_recipients{filter} ORDER BY message_id, id");
        Ok(QueuedRecipient::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?)
    }

    /// Makes the queued recipients of one message (or of all) due now; how many. One that a
    /// worker holds keeps its claim: it is never handed to a second worker.
    pub async fn queue_retry(&self, message: Option<i64>) -> Result<u64> {
        let (filter, mut values): (&str, Vec<Value>) = match message {
            Some(m) => (" AND message_id = ?", vec![m.into()]),
            None => ("", Vec::new()),
        };
        values.insert(0, now().into());
        let r = self
            .db
            .execute_raw(self.stmt(
                &format!(
                    "UPDATE queue_recipients SET next_attempt_at = ? WHERE status = 'queued'{filter}"
                ),
                values,
            ))
            .await?;
        Ok(r.rows_affected())
    }

    /// Removes a queued message and its recipients; `NotFound` if there is none.
    pub async fn queue_remove(&self, message: i64) -> Result<()> {
        let tx = self.begin_write().await?;
        tx.execute_raw(self.stmt(
            "DELETE FROM queue_recipients WHERE message_id = ?",
            vec![message.into()],
        ))
        .await?;
        let r = tx
            .execute_raw(self.stmt(
                "DELETE FROM queue_messages WHERE id = ?",
                vec![message.into()],
            ))
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("queued message {message}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// When the next queued recipient is due, if any.
    pub async fn queue_next_due(&self) -> Result<Option<i64>> {
        let row = self
            .db
            .query_one_raw(self.stmt(
                "SELECT MIN(CASE WHEN leased_until > next_attempt_at THEN leased_until \
                 ELSE next_attempt_at END) FROM queue_recipients WHERE status = 'queued'",
                vec![],
            ))
            .await?;
        Ok(match row {
            Some(r) => r.try_get_by_index::<Option<i64>>(0)?,
            None => None,
        })
    }
}

const RCPT_COLUMNS: &str = "id, message_id, address, domain, status, attempts, next_attempt_at, \
                            last_reply, delay_notified, leased_until";

/// Inserts a queued message and its recipients (due now) inside `tx`.
pub(crate) async fn queue_insert_in(
    kind: DbKind,
    tx: &DatabaseTransaction,
    q: &NewQueued,
    submission_id: Option<i64>,
) -> Result<i64> {
    let t = now();
    let stmt = |sql: &str, values: Vec<Value>| crate::query::statement(kind, sql, values);
    let row = tx
        .query_one_raw(stmt(
            "INSERT INTO queue_messages (blob_id, mail_from, account_id, submission_id, size, \
             created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            vec![
                q.blob_id.as_str().into(),
                q.mail_from.as_str().into(),
                q.account_id.into(),
                submission_id.into(),
                q.size.into(),
                t.into(),
            ],
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("insert returned no row".into()))?;
    let id: i64 = row.try_get_by_index(0)?;
    for r in &q.recipients {
        let domain = r
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        tx.execute_raw(stmt(
            "INSERT INTO queue_recipients (message_id, address, domain, status, attempts, \
             next_attempt_at, delay_notified, updated_at) VALUES (?, ?, ?, 'queued', 0, ?, ?, ?)",
            vec![
                id.into(),
                r.as_str().into(),
                domain.into(),
                t.into(),
                false.into(),
                t.into(),
            ],
        ))
        .await?;
    }
    Ok(id)
}
