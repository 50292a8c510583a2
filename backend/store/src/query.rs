//! Read queries for the JMAP/REST views: mailbox counts, email listing, email rows.
//!
//! Written as SQL (one text for both dialects: `?` placeholders become `$n` on Postgres)
//! because they join and aggregate in ways the entity API spells at length.

use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

use crate::{DbKind, Result, Store};

/// Counts of one mailbox, as JMAP's Mailbox object reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct MailboxCounts {
    pub mailbox_id: i64,
    pub total_emails: i64,
    pub unread_emails: i64,
    pub total_threads: i64,
    pub unread_threads: i64,
}

/// An email with its message metadata, for JMAP Email/get.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct EmailRow {
    pub id: i64,
    pub blob_id: String,
    pub thread_id: i64,
    pub keywords: String,
    pub received_at: i64,
    pub size: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from_addr: String,
    pub to_addr: String,
    pub cc_addr: String,
    pub reply_to: String,
    pub sent_at: Option<i64>,
    pub in_reply_to: String,
    pub references: String,
    pub has_attachment: bool,
    pub preview: String,
}

impl Store {
    pub(crate) fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        let (backend, sql) = match self.kind {
            DbKind::Sqlite => (DbBackend::Sqlite, sql.to_string()),
            DbKind::Postgres => {
                let mut out = String::with_capacity(sql.len() + 8);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push_str(&format!("${n}"));
                    } else {
                        out.push(c);
                    }
                }
                (DbBackend::Postgres, out)
            }
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Counts for every mailbox of an account that has messages (absent ones are empty).
    pub async fn mailbox_counts(&self, account_id: i64) -> Result<Vec<MailboxCounts>> {
        let sql = "SELECT me.mailbox_id AS mailbox_id, \
                   COUNT(*) AS total_emails, \
                   SUM(CASE WHEN (' ' || e.keywords || ' ') LIKE '% $seen %' THEN 0 ELSE 1 END) AS unread_emails, \
                   COUNT(DISTINCT e.thread_id) AS total_threads, \
                   COUNT(DISTINCT CASE WHEN (' ' || e.keywords || ' ') LIKE '% $seen %' THEN NULL ELSE e.thread_id END) AS unread_threads \
                   FROM mailbox_emails me JOIN emails e ON e.id = me.email_id \
                   WHERE e.account_id = ? GROUP BY me.mailbox_id";
        Ok(
            MailboxCounts::find_by_statement(self.stmt(sql, vec![account_id.into()]))
                .all(&self.db)
                .await?,
        )
    }

    /// Ids of an account's emails, newest first (receivedAt, then id), optionally only those
    /// in one mailbox; a page of them, and the total when asked for (counting costs a scan).
    pub async fn email_query(
        &self,
        account_id: i64,
        in_mailbox: Option<i64>,
        position: u64,
        limit: u64,
        with_total: bool,
    ) -> Result<(Vec<i64>, Option<u64>)> {
        // Both forms walk an index in order and stop at the page: mailbox_emails_received for
        // a mailbox, emails_account_received (with the row id) for the whole account.
        let (sql, count_sql, mut values): (&str, &str, Vec<Value>) = match in_mailbox {
            // Ownership is a one-row EXISTS, not a join: the join made Postgres (without
            // fresh statistics) sort the whole mailbox instead of walking the index.
            Some(m) => (
                "SELECT me.email_id FROM mailbox_emails me WHERE me.mailbox_id = ? \
                 AND EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.id = ? AND mb.account_id = ?) \
                 ORDER BY me.received_at DESC, me.email_id DESC LIMIT ? OFFSET ?",
                "SELECT COUNT(*) FROM mailbox_emails me WHERE me.mailbox_id = ? \
                 AND EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.id = ? AND mb.account_id = ?)",
                vec![m.into(), m.into(), account_id.into()],
            ),
            None => (
                "SELECT e.id FROM emails e WHERE e.account_id = ? ORDER BY e.received_at DESC, e.id DESC LIMIT ? OFFSET ?",
                "SELECT COUNT(*) FROM emails e WHERE e.account_id = ?",
                vec![account_id.into()],
            ),
        };
        let total = if with_total {
            let n: i64 = self
                .db
                .query_one_raw(self.stmt(count_sql, values.clone()))
                .await?
                .map(|r| r.try_get_by_index(0))
                .transpose()?
                .unwrap_or(0);
            Some(n as u64)
        } else {
            None
        };
        values.push((limit as i64).into());
        values.push((position as i64).into());
        let rows = self.db.query_all_raw(self.stmt(sql, values)).await?;
        let ids = rows
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((ids, total))
    }

    /// A page of a mailbox's emails, newest first, after the cursor `(received_at, email_id)`
    /// of the last one seen: keyset pagination, so a page neither repeats nor skips messages
    /// when mail arrives between requests. Empty for a mailbox that is not the account's.
    pub async fn email_page(
        &self,
        account_id: i64,
        mailbox_id: i64,
        after: Option<(i64, i64)>,
        limit: u64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut values: Vec<Value> = vec![mailbox_id.into(), mailbox_id.into(), account_id.into()];
        let mut sql =
            "SELECT me.email_id, me.received_at FROM mailbox_emails me WHERE me.mailbox_id = ? \
             AND EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.id = ? AND mb.account_id = ?)"
                .to_string();
        if let Some((at, id)) = after {
            sql.push_str(" AND (me.received_at < ? OR (me.received_at = ? AND me.email_id < ?))");
            values.extend([at.into(), at.into(), id.into()]);
        }
        sql.push_str(" ORDER BY me.received_at DESC, me.email_id DESC LIMIT ?");
        values.push((limit as i64).into());
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        rows.iter()
            .map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<i64>(1)?)))
            .collect()
    }

    /// The rows of the given emails that belong to the account (others are simply absent).
    /// The unary `+` keeps SQLite's planner (which has no statistics) from walking the
    /// account's whole (account_id, received_at) index instead of looking up the ids.
    pub async fn email_rows(&self, account_id: i64, ids: &[i64]) -> Result<Vec<EmailRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; ids.len()].join(",");
        let sql = format!(
            "SELECT e.id, e.blob_id, e.thread_id, e.keywords, e.received_at, e.size, m.message_id, m.subject, \
             m.from_addr, m.to_addr, m.cc_addr, m.reply_to, m.sent_at, m.in_reply_to, m.\"references\", \
             m.has_attachment, m.preview \
             FROM emails e JOIN messages m ON m.blob_id = e.blob_id WHERE +e.account_id = ? AND e.id IN ({marks})"
        );
        let mut values: Vec<Value> = vec![account_id.into()];
        values.extend(ids.iter().map(|&i| Value::from(i)));
        Ok(EmailRow::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?)
    }

    /// (email id, mailbox id) pairs for the given emails.
    pub async fn email_mailboxes(&self, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; ids.len()].join(",");
        let sql =
            format!("SELECT email_id, mailbox_id FROM mailbox_emails WHERE email_id IN ({marks})");
        let rows = self
            .db
            .query_all_raw(self.stmt(&sql, ids.iter().map(|&i| Value::from(i)).collect()))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<i64>(1)?)))
            .collect()
    }

    /// The account's current change sequence number (its JMAP state).
    pub async fn account_state(&self, account_id: i64) -> Result<i64> {
        Ok(self
            .account_by_id(account_id)
            .await?
            .map(|a| a.change_seq)
            .unwrap_or(0))
    }
}

impl Store {
    /// Whether the blob is the raw message of one of the account's emails (so the account may
    /// download it).
    pub async fn account_has_blob(&self, account_id: i64, blob_id: &str) -> Result<bool> {
        let sql = "SELECT 1 FROM emails WHERE account_id = ? AND blob_id = ? \
                   UNION ALL SELECT 1 FROM uploads WHERE account_id = ? AND blob_id = ? LIMIT 1";
        Ok(self
            .db
            .query_one_raw(self.stmt(
                sql,
                vec![
                    account_id.into(),
                    blob_id.into(),
                    account_id.into(),
                    blob_id.into(),
                ],
            ))
            .await?
            .is_some())
    }

    /// Records that the account uploaded a blob (stored already), so it may read and use it.
    pub async fn upload_record(
        &self,
        account_id: i64,
        blob_id: &str,
        content_type: &str,
        size: i64,
    ) -> Result<()> {
        self.db
            .execute_raw(self.stmt(
                "INSERT INTO uploads (account_id, blob_id, content_type, size, created_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                vec![
                    account_id.into(),
                    blob_id.into(),
                    content_type.into(),
                    size.into(),
                    crate::now().into(),
                ],
            ))
            .await?;
        Ok(())
    }
}

impl Store {
    /// (thread id, email id) of the account's emails in the given threads, oldest first.
    pub async fn thread_emails(
        &self,
        account_id: i64,
        thread_ids: &[i64],
    ) -> Result<Vec<(i64, i64)>> {
        if thread_ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; thread_ids.len()].join(",");
        let sql = format!(
            "SELECT thread_id, id FROM emails WHERE account_id = ? AND thread_id IN ({marks}) ORDER BY received_at, id"
        );
        let mut values: Vec<Value> = vec![account_id.into()];
        values.extend(thread_ids.iter().map(|&i| Value::from(i)));
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        rows.iter()
            .map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<i64>(1)?)))
            .collect()
    }
}

impl Store {
    /// Which of `ids` are emails of the account.
    pub async fn account_email_ids(&self, account_id: i64, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; ids.len()].join(",");
        let sql = format!("SELECT id FROM emails WHERE +account_id = ? AND id IN ({marks})");
        let mut values: Vec<Value> = vec![account_id.into()];
        values.extend(ids.iter().map(|&i| Value::from(i)));
        let rows = self.db.query_all_raw(self.stmt(&sql, values)).await?;
        rows.iter()
            .map(|r| Ok(r.try_get_by_index::<i64>(0)?))
            .collect()
    }
}
