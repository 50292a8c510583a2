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

/// A page of the list view: ids newest first, each email's facts and mailboxes, the total
/// if asked for, and the account's state, all from one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub ids: Vec<i64>,
    pub emails: Vec<(EmailState, Vec<i64>)>,
    pub total: Option<u64>,
    pub state: i64,
}

/// A row of the list view's statement: the state, and an email of the page with one of its
/// mailboxes (all null for an empty page).
#[derive(FromQueryResult)]
struct ListRow {
    change_seq: i64,
    id: Option<i64>,
    blob_id: Option<String>,
    thread_id: Option<i64>,
    keywords: Option<String>,
    received_at: Option<i64>,
    size: Option<i64>,
    mailbox_id: Option<i64>,
}

/// An email with its message's metadata, for JMAP Email/get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailRow {
    pub id: i64,
    pub blob_id: String,
    pub thread_id: i64,
    pub keywords: String,
    pub received_at: i64,
    pub size: i64,
    /// Shared: many requests read the same messages.
    pub meta: std::sync::Arc<MessageMeta>,
}

impl EmailRow {
    pub fn new(e: EmailState, meta: std::sync::Arc<MessageMeta>) -> EmailRow {
        EmailRow {
            id: e.id,
            blob_id: e.blob_id,
            thread_id: e.thread_id,
            keywords: e.keywords,
            received_at: e.received_at,
            size: e.size,
            meta,
        }
    }
}

/// What is an email's own and may change (keywords) or is per account (the rest).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct EmailState {
    pub id: i64,
    pub blob_id: String,
    pub thread_id: i64,
    pub keywords: String,
    pub received_at: i64,
    pub size: i64,
}

/// What is read from a message once and never changes (its blob id names its bytes).
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct MessageMeta {
    pub blob_id: String,
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
    /// from, to, cc and reply-to as parsed JSON, parsed on first use (the metadata is
    /// cached, so each message's addresses are parsed once, not per request).
    #[sea_orm(skip)]
    parsed: [std::sync::OnceLock<serde_json::Value>; 4],
}

/// An address header kept in [`MessageMeta`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressField {
    From,
    To,
    Cc,
    ReplyTo,
}

impl MessageMeta {
    /// An address field as stored: a JSON array of `{name, email}` (empty when absent).
    pub fn addresses(&self, f: AddressField) -> &serde_json::Value {
        let (i, text) = match f {
            AddressField::From => (0, &self.from_addr),
            AddressField::To => (1, &self.to_addr),
            AddressField::Cc => (2, &self.cc_addr),
            AddressField::ReplyTo => (3, &self.reply_to),
        };
        self.parsed[i].get_or_init(|| {
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
        })
    }
}

/// An email's state with one of the mailboxes it is in (none if in none): a join, not an
/// aggregate, so one query reads both without a subquery per email.
#[derive(FromQueryResult)]
struct EmailInMailbox {
    #[sea_orm(nested)]
    email: EmailState,
    mailbox_id: Option<i64>,
}

/// A statement written with `?` placeholders, numbered for Postgres.
pub(crate) fn statement(kind: DbKind, sql: &str, values: Vec<Value>) -> Statement {
    let (backend, sql) = match kind {
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

impl Store {
    pub(crate) fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        statement(self.kind, sql, values)
    }

    /// A join adding `x.mailbox_id`, each mailbox the email `id` (a column) is in, to a
    /// query's rows. On Postgres a lateral subquery kept apart (`OFFSET 0`), so each email
    /// is an index lookup: as a plain join, a table without fresh statistics (right after
    /// an import) was hashed whole for a page of 50.
    fn mailboxes_of(&self, id: &str) -> String {
        match self.kind {
            DbKind::Sqlite => format!("LEFT JOIN mailbox_emails x ON x.email_id = {id}"),
            DbKind::Postgres => format!(
                "LEFT JOIN LATERAL (SELECT x.mailbox_id FROM mailbox_emails x WHERE x.email_id = {id} OFFSET 0) x ON true"
            ),
        }
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
    /// in one mailbox; a page of them, the total when asked for (counting costs a scan), and
    /// the account's state read in the same statement as the page, so from one snapshot.
    pub async fn email_query(
        &self,
        account_id: i64,
        in_mailbox: Option<i64>,
        position: u64,
        limit: u64,
        with_total: bool,
    ) -> Result<ListPage> {
        // Both forms walk an index in order and stop at the page: mailbox_emails_received for
        // a mailbox, emails_account_received (with the row id) for the whole account. The
        // page is left-joined to the account's row, so an empty page still carries the state.
        let (page, count_sql, mut values): (&str, &str, Vec<Value>) = match in_mailbox {
            // Ownership is a one-row EXISTS, not a join: the join made Postgres (without
            // fresh statistics) sort the whole mailbox instead of walking the index.
            Some(m) => (
                "SELECT me.email_id AS id, me.received_at AS at FROM mailbox_emails me WHERE me.mailbox_id = ? \
                 AND EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.id = ? AND mb.account_id = ?) \
                 ORDER BY me.received_at DESC, me.email_id DESC",
                "SELECT COUNT(*) FROM mailbox_emails me WHERE me.mailbox_id = ? \
                 AND EXISTS (SELECT 1 FROM mailboxes mb WHERE mb.id = ? AND mb.account_id = ?)",
                vec![m.into(), m.into(), account_id.into()],
            ),
            None => (
                "SELECT e.id AS id, e.received_at AS at FROM emails e WHERE e.account_id = ? \
                 ORDER BY e.received_at DESC, e.id DESC",
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
        values.push(account_id.into());
        // The window is written into the text, not bound: with it bound, Postgres cannot
        // know the page is small, so it plans every execution again rather than reuse a
        // plan that might sort the whole mailbox. The few distinct windows clients use are
        // each prepared once per connection. Each email of the page comes with its own
        // facts and mailboxes (a row per mailbox), for the Email/get that follows.
        let boxes = self.mailboxes_of("p.id");
        let sql = format!(
            "SELECT a.change_seq, p.id, e.blob_id, e.thread_id, e.keywords, e.received_at, e.size, x.mailbox_id \
             FROM accounts a LEFT JOIN ({page} LIMIT {limit} OFFSET {position}) p ON 1 = 1 \
             LEFT JOIN emails e ON e.id = p.id {boxes} \
             WHERE a.id = ? ORDER BY p.at DESC, p.id DESC"
        );
        let rows = ListRow::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?;
        let mut out = ListPage {
            ids: Vec::with_capacity(limit.min(1000) as usize),
            emails: Vec::with_capacity(limit.min(1000) as usize),
            total,
            state: 0,
        };
        for r in rows {
            out.state = r.change_seq;
            let Some(id) = r.id else { continue };
            if out.ids.last() != Some(&id) {
                out.ids.push(id);
                out.emails.push((
                    EmailState {
                        id,
                        blob_id: r.blob_id.unwrap_or_default(),
                        thread_id: r.thread_id.unwrap_or_default(),
                        keywords: r.keywords.unwrap_or_default(),
                        received_at: r.received_at.unwrap_or_default(),
                        size: r.size.unwrap_or_default(),
                    },
                    Vec::new(),
                ));
            }
            if let (Some(m), Some(last)) = (r.mailbox_id, out.emails.last_mut()) {
                last.1.push(m);
            }
        }
        for (_, boxes) in &mut out.emails {
            boxes.sort_unstable();
        }
        Ok(out)
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

    /// The given emails that belong to the account (others are simply absent), each with
    /// the mailboxes it is in, in no particular order. The unary `+` keeps SQLite's planner
    /// (which has no statistics) from walking the account's whole (account_id, received_at)
    /// index instead of looking up the ids.
    pub async fn email_states(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<Vec<(EmailState, Vec<i64>)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; ids.len()].join(",");
        let sql = format!(
            "SELECT e.id, e.blob_id, e.thread_id, e.keywords, e.received_at, e.size, x.mailbox_id \
             FROM emails e {boxes} WHERE +e.account_id = ? AND e.id IN ({marks})",
            boxes = self.mailboxes_of("e.id")
        );
        let mut values: Vec<Value> = vec![account_id.into()];
        values.extend(ids.iter().map(|&i| Value::from(i)));
        let rows = EmailInMailbox::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?;
        let mut out: Vec<(EmailState, Vec<i64>)> = Vec::with_capacity(rows.len());
        let mut at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for r in rows {
            let i = *at.entry(r.email.id).or_insert_with(|| {
                out.push((r.email, Vec::new()));
                out.len() - 1
            });
            if let Some(m) = r.mailbox_id {
                out[i].1.push(m);
            }
        }
        for (_, boxes) in &mut out {
            boxes.sort_unstable();
        }
        Ok(out)
    }

    /// The metadata of the given messages (absent ones are left out).
    pub async fn message_meta(&self, blob_ids: &[&str]) -> Result<Vec<MessageMeta>> {
        if blob_ids.is_empty() {
            return Ok(vec![]);
        }
        let marks = vec!["?"; blob_ids.len()].join(",");
        let sql = format!(
            "SELECT m.blob_id, m.message_id, m.subject, m.from_addr, m.to_addr, m.cc_addr, m.reply_to, \
             m.sent_at, m.in_reply_to, m.\"references\", m.has_attachment, m.preview \
             FROM messages m WHERE m.blob_id IN ({marks})"
        );
        let values: Vec<Value> = blob_ids.iter().map(|&b| Value::from(b)).collect();
        Ok(MessageMeta::find_by_statement(self.stmt(&sql, values))
            .all(&self.db)
            .await?)
    }

    /// Every account's change sequence number (id, seq).
    pub async fn account_states(&self) -> Result<Vec<(i64, i64)>> {
        let rows = self
            .db
            .query_all_raw(self.stmt("SELECT id, change_seq FROM accounts", vec![]))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?)))
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
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, blob_id) \
                 DO UPDATE SET created_at = excluded.created_at",
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
