//! The outbound queue: messages for other domains and each recipient's status.
//!
//! A worker *claims* due recipients by pushing their next attempt past a lease in the same
//! statement that selects them, so two workers (or two nodes on one Postgres) never send the
//! same recipient at once, and a worker that dies mid-send leaves them to be retried when the
//! lease ends. A message is deleted once none of its recipients is still queued.

use sea_orm::{ConnectionTrait, Value};
use std::collections::BTreeMap;

use crate::model::{ChangeOp, ObjectType};
use crate::multi::Multi;
use crate::tx::{Row, Tx};
use crate::{DbKind, Result, Store, StoreError, now};

/// By submission: its account and each recipient's (address, reply, delivered).
type Statuses = BTreeMap<i64, (i64, Vec<(String, String, &'static str)>)>;

/// A message to queue for remote recipients.
#[derive(Clone)]
pub struct NewQueued {
    pub blob_id: String,
    /// "" for the null reverse-path.
    pub mail_from: String,
    pub account_id: Option<i64>,
    pub size: i64,
    pub recipients: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct QueuedMessage {
    pub id: i64,
    pub blob_id: String,
    pub mail_from: String,
    pub account_id: Option<i64>,
    pub submission_id: Option<i64>,
    pub size: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
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

impl QueuedMessage {
    /// From a row holding [`MESSAGE_COLUMNS`] from column `at` on.
    fn from_row(r: &Row, at: usize) -> Result<QueuedMessage> {
        Ok(QueuedMessage {
            id: r.get(at)?,
            blob_id: r.get(at + 1)?,
            mail_from: r.get(at + 2)?,
            account_id: r.get(at + 3)?,
            submission_id: r.get(at + 4)?,
            size: r.get(at + 5)?,
            created_at: r.get(at + 6)?,
        })
    }
}

impl QueuedRecipient {
    /// From a row holding [`RCPT_COLUMNS`] from column `at` on.
    fn from_row(r: &Row, at: usize) -> Result<QueuedRecipient> {
        Ok(QueuedRecipient {
            id: r.get(at)?,
            message_id: r.get(at + 1)?,
            address: r.get(at + 2)?,
            domain: r.get(at + 3)?,
            status: r.get(at + 4)?,
            attempts: r.get(at + 5)?,
            next_attempt_at: r.get(at + 6)?,
            last_reply: r.get(at + 7)?,
            delay_notified: r.get(at + 8)?,
            leased_until: r.get(at + 9)?,
        })
    }
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
        self.write(move |tx| Box::pin(async move { queue_insert_in(tx, &q, None).await }))
            .await
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
        // With the claimed recipients' messages in the same round trip: the messages of
        // every recipient leased until this time (another claim's of the same second
        // included; those are left out below).
        let mut m = Multi::new(self.kind());
        m.push_sql(
            &format!(
                "UPDATE queue_recipients SET leased_until = ? WHERE id IN (SELECT id FROM \
                 queue_recipients WHERE status = 'queued' AND next_attempt_at <= ? \
                 AND leased_until <= ? ORDER BY next_attempt_at LIMIT {limit}{lock}) \
                 RETURNING CAST(0 AS BIGINT) AS tag, {RCPT_COLUMNS}"
            ),
            vec![lease_until.into(), now().into(), now().into()],
        );
        m.push_sql(
            &format!(
                "SELECT CAST(1 AS BIGINT) AS tag, {MESSAGE_COLUMNS} FROM queue_messages \
                 WHERE id IN (SELECT message_id FROM queue_recipients WHERE leased_until = ?) \
                 ORDER BY id"
            ),
            vec![lease_until.into()],
        );
        let rows = self
            .write(move |tx| Box::pin(async move { m.query(tx).await }))
            .await?;
        let (mut rcpts, mut messages) = (Vec::new(), Vec::new());
        for row in &rows {
            if row.get::<i64>(0)? == 0 {
                rcpts.push(QueuedRecipient::from_row(row, 1)?);
            } else {
                messages.push(QueuedMessage::from_row(row, 1)?);
            }
        }
        Ok(messages
            .into_iter()
            .filter_map(|m| {
                let mine: Vec<QueuedRecipient> = rcpts
                    .iter()
                    .filter(|r| r.message_id == m.id)
                    .cloned()
                    .collect();
                (!mine.is_empty()).then_some((m, mine))
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
        let kind = self.kind();
        let t = now();
        // Round trip one: every recipient's outcome, and the statuses of their submissions.
        let mut first = Multi::new(kind);
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
            first.push_sql(
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
            );
            if let (Some(sub), Some(account)) = (message.submission_id, message.account_id) {
                subs.entry(sub)
                    .or_insert_with(|| (account, Vec::new()))
                    .1
                    .push((rcpt.address.clone(), reply.clone(), delivered));
            }
        }
        if !subs.is_empty() {
            first.push_sql(
                &format!(
                    "SELECT id, delivery_status FROM submissions WHERE id IN ({})",
                    vec!["?"; subs.len()].join(",")
                ),
                subs.keys().map(|&i| Value::from(i)).collect(),
            );
        }
        let mut ids: Vec<i64> = items.iter().map(|(m, _, _)| m.id).collect();
        ids.sort_unstable();
        ids.dedup();
        self.write(move |tx| {
            Box::pin(async move {
                let rows = first.query(tx).await?;

                // Round trip two: the submissions' new statuses, logged as updated at one new state
                // per account, and the messages no recipient waits for any more deleted.
                let mut rest = Multi::new(kind);
                let mut by_account: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
                for row in rows {
                    let id: i64 = row.get(0)?;
                    let text: String = row.get(1)?;
                    let Some((account, lines)) = subs.get(&id) else {
                        continue;
                    };
                    let mut v: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({}));
                    for (address, reply, delivered) in lines {
                        v[address.as_str()] = serde_json::json!({
                            "smtpReply": reply,
                            "delivered": delivered,
                            "displayed": "unknown",
                        });
                    }
                    rest.push_sql(
                        "UPDATE submissions SET delivery_status = ? WHERE id = ?",
                        vec![v.to_string().into(), id.into()],
                    );
                    by_account.entry(*account).or_default().push(id);
                }
                for (&account, ids) in &by_account {
                    rest.push_sql(
                        "UPDATE accounts SET change_seq = change_seq + 1 WHERE id = ? \
                         RETURNING id, change_seq",
                        vec![account.into()],
                    );
                    for &sub in ids {
                        rest.push_sql(
                            "INSERT INTO changes (account_id, seq, object_type, object_id, op) \
                             SELECT id, change_seq, ?, ?, ? FROM accounts WHERE id = ?",
                            vec![
                                (ObjectType::EmailSubmission as i16).into(),
                                sub.into(),
                                (ChangeOp::Updated as i16).into(),
                                account.into(),
                            ],
                        );
                    }
                }
                rest.push_sql(
                    &format!(
                        "DELETE FROM queue_messages WHERE id IN ({}) AND NOT EXISTS (SELECT 1 FROM \
                         queue_recipients r WHERE r.message_id = queue_messages.id AND r.status = 'queued')",
                        vec!["?"; ids.len()].join(",")
                    ),
                    ids.into_iter().map(Value::from).collect(),
                );
                let mut changed = Vec::new();
                for row in rest.query(tx).await? {
                    changed.push((row.get(0)?, row.get(1)?));
                }
                Ok(changed)
            })
        })
        .await
    }

    /// Extends the claims on recipients still being tried, each named with the attempts it
    /// had when claimed: a recipient whose outcome was recorded meanwhile has one more and
    /// is left alone.
    pub async fn queue_extend(&self, claims: &[(i64, i32)], lease_until: i64) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut m = Multi::new(self.kind());
        for &(id, attempts) in claims {
            m.push_sql(
                "UPDATE queue_recipients SET leased_until = ? \
                 WHERE id = ? AND attempts = ? AND status = 'queued'",
                vec![lease_until.into(), id.into(), attempts.into()],
            );
        }
        self.write_multi(m).await.map(drop)
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
        let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM queue_messages");
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
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        rows.into_iter()
            .map(|r| QueuedMessage::from_row(&Row::Sea(r), 0))
            .collect()
    }

    /// The recipients of queued messages (all, or of one message), by message then id.
    pub async fn queue_recipients(&self, message: Option<i64>) -> Result<Vec<QueuedRecipient>> {
        let (filter, values): (&str, Vec<Value>) = match message {
            Some(m) => (" WHERE message_id = ?", vec![m.into()]),
            None => ("", Vec::new()),
        };
        let sql =
            format!("SELECT {RCPT_COLUMNS} FROM queue_recipients{filter} ORDER BY message_id, id");
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        rows.into_iter()
            .map(|r| QueuedRecipient::from_row(&Row::Sea(r), 0))
            .collect()
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

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, blob_id, mail_from, account_id, submission_id, size, created_at";
pub(crate) const RECIPIENT_COLUMNS: &str = "id, message_id, address, domain, status, attempts, \
                                            next_attempt_at, delay_notified, updated_at";

/// A queued message's row, in [`MESSAGE_COLUMNS`] order.
pub(crate) fn message_values(
    id: i64,
    q: &NewQueued,
    submission_id: Option<i64>,
    t: i64,
) -> Vec<Value> {
    vec![
        id.into(),
        q.blob_id.as_str().into(),
        q.mail_from.as_str().into(),
        q.account_id.into(),
        submission_id.into(),
        q.size.into(),
        t.into(),
    ]
}

/// A recipient's row (due now), in [`RECIPIENT_COLUMNS`] order.
pub(crate) fn recipient_values(id: i64, message_id: i64, address: &str, t: i64) -> Vec<Value> {
    let domain = address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    vec![
        id.into(),
        message_id.into(),
        address.into(),
        domain.into(),
        "queued".into(),
        0i32.into(),
        t.into(),
        false.into(),
        t.into(),
    ]
}

/// Inserts a queued message and its recipients (due now) inside `tx`.
pub(crate) async fn queue_insert_in(
    tx: &Tx<'_>,
    q: &NewQueued,
    submission_id: Option<i64>,
) -> Result<i64> {
    let (kind, t) = (tx.kind(), now());
    let wanted = [
        ("queue_messages", 1),
        ("queue_recipients", q.recipients.len()),
    ];
    let mut first = Multi::new(kind);
    crate::ids::reserve(&mut first, kind, &wanted);
    let mut ids = crate::ids::Reserved::read(kind, &first.query(tx).await?, &wanted)?;
    let id = ids.next("queue_messages")?;
    let mut rest = Multi::new(kind);
    rest.insert_rows(
        "queue_messages",
        MESSAGE_COLUMNS,
        vec![message_values(id, q, submission_id, t)],
    );
    let rcpts = q
        .recipients
        .iter()
        .map(|r| Ok(recipient_values(ids.next("queue_recipients")?, id, r, t)))
        .collect::<Result<Vec<_>>>()?;
    rest.insert_rows("queue_recipients", RECIPIENT_COLUMNS, rcpts);
    rest.execute(tx).await?;
    Ok(id)
}
