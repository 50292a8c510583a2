//! Searching an account's emails by their stored facts (mailboxes, dates, sizes, keywords,
//! threads' keywords, attachments) with AND / OR / NOT, in any of the orders SQL can give.
//! Text conditions are the caller's: it weakens them out of the tree it passes here and asks
//! for the truth of each condition per row, so it can finish the job exactly.

use sea_orm::{FromQueryResult, Value};

use crate::{DbKind, Result, Store};

/// A condition on an email's stored facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    InMailbox(i64),
    InMailboxOtherThan(Vec<i64>),
    /// receivedAt strictly before (Unix seconds).
    Before(i64),
    /// receivedAt at or after.
    After(i64),
    MinSize(i64),
    /// size strictly below.
    MaxSize(i64),
    /// A keyword, lowercase.
    HasKeyword(String),
    AllInThreadHaveKeyword(String),
    SomeInThreadHaveKeyword(String),
    NoneInThreadHaveKeyword(String),
    HasAttachment(bool),
    /// The Date: header (the received time without one) strictly before (Unix seconds).
    SentBefore(i64),
    /// … at or after.
    SentAfter(i64),
    /// In the mailbox with a UID in one of the ranges (inclusive; an IMAP UID or sequence
    /// set resolved by the session). Written into the SQL as numbers: a set may have more
    /// ranges than a statement may have parameters.
    UidRanges {
        mailbox_id: i64,
        ranges: Vec<(u32, u32)>,
    },
    /// Changed at or after this seq (IMAP SEARCH MODSEQ).
    MinModseq(i64),
    /// A necessary condition for the column to contain `needle` (lowercased by Rust's rules)
    /// ignoring case, that core puts before its exact text check, so SQL returns only the
    /// rows worth checking. A needle of three characters or more is looked up in the text
    /// index (any characters); a shorter one is matched against the stored column, and must
    /// be ASCII without the characters JSON escapes (`"`, `\`, controls).
    TextContains {
        column: TextColumn,
        needle: String,
    },
}

/// Whether the text index answers a [`Cond::TextContains`] with this needle (else the
/// stored column is matched, with the limits said there).
pub fn indexed_needle(needle: &str) -> bool {
    crate::email_text::answers(needle)
}

/// A stored text column of the message (addresses as their JSON list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextColumn {
    From,
    To,
    Cc,
    Subject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlFilter {
    True,
    False,
    Cond(Cond),
    And(Vec<SqlFilter>),
    Or(Vec<SqlFilter>),
    Not(Box<SqlFilter>),
}

/// An order SQL can give; ties are broken by id, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqlSort {
    ReceivedAt,
    SentAt,
    Size,
    /// The subject without Re:/Fwd: prefixes, lowercase.
    Subject,
    HasKeyword(String),
}

/// What a search returns per email: enough to finish text conditions and other orders.
#[derive(Clone, Debug, FromQueryResult)]
pub struct SearchRow {
    pub id: i64,
    pub thread_id: i64,
    pub blob_id: String,
    pub received_at: i64,
    pub sent_at: Option<i64>,
    pub size: i64,
    pub keywords: String,
    pub subject: Option<String>,
    pub base_subject: Option<String>,
    pub from_addr: String,
    pub to_addr: String,
    pub cc_addr: String,
}

/// Which of a [`SearchRow`]'s columns a search reads (`id`, `received_at` and `size` always);
/// the others come back empty (0, `None`, `""`). A search of 100,000 emails that returns a
/// few hundred spent as long decoding columns nobody looked at as finding the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    pub thread_id: bool,
    pub blob_id: bool,
    pub sent_at: bool,
    pub keywords: bool,
    pub subject: bool,
    pub base_subject: bool,
    pub from: bool,
    pub to: bool,
    pub cc: bool,
}

impl Fields {
    /// The SELECT list: each column, or an empty value of its type in its place.
    fn select(self) -> String {
        let pick = |wanted: bool, col: &str, empty: &str, name: &str| {
            if wanted {
                col.to_string()
            } else {
                format!("{empty} AS {name}")
            }
        };
        [
            "e.id".to_string(),
            pick(
                self.thread_id,
                "e.thread_id",
                "CAST(0 AS BIGINT)",
                "thread_id",
            ),
            pick(self.blob_id, "e.blob_id", "''", "blob_id"),
            "e.received_at".to_string(),
            pick(self.sent_at, "m.sent_at", "CAST(NULL AS BIGINT)", "sent_at"),
            "e.size".to_string(),
            pick(self.keywords, "e.keywords", "''", "keywords"),
            pick(self.subject, "m.subject", "CAST(NULL AS TEXT)", "subject"),
            pick(
                self.base_subject,
                "m.base_subject",
                "CAST(NULL AS TEXT)",
                "base_subject",
            ),
            pick(self.from, "m.from_addr", "''", "from_addr"),
            pick(self.to, "m.to_addr", "''", "to_addr"),
            pick(self.cc, "m.cc_addr", "''", "cc_addr"),
        ]
        .join(", ")
    }
}

/// `%`, `_` and the escape itself taken literally in a LIKE pattern.
pub(crate) fn like_literal(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn keyword_match(alias: &str, kw: &str, values: &mut Vec<Value>) -> String {
    values.push(format!("% {} %", like_literal(kw)).into());
    format!("(' ' || {alias}.keywords || ' ') LIKE ? ESCAPE '\\'")
}

fn thread_keyword(exists: bool, matching: bool, kw: &str, values: &mut Vec<Value>) -> String {
    let m = keyword_match("t", kw, values);
    format!(
        "{}EXISTS (SELECT 1 FROM emails t WHERE t.account_id = e.account_id AND t.thread_id = e.thread_id AND {}{m})",
        if exists { "" } else { "NOT " },
        if matching { "" } else { "NOT " },
    )
}

fn cond_sql(kind: DbKind, c: &Cond, values: &mut Vec<Value>) -> String {
    match c {
        Cond::InMailbox(m) => {
            values.push((*m).into());
            "EXISTS (SELECT 1 FROM mailbox_emails x WHERE x.email_id = e.id AND x.mailbox_id = ?)"
                .into()
        }
        Cond::InMailboxOtherThan(list) => {
            let marks = vec!["?"; list.len().max(1)].join(",");
            if list.is_empty() {
                values.push((-1i64).into());
            }
            values.extend(list.iter().map(|&m| Value::from(m)));
            format!(
                "EXISTS (SELECT 1 FROM mailbox_emails x WHERE x.email_id = e.id AND x.mailbox_id NOT IN ({marks}))"
            )
        }
        Cond::Before(t) => {
            values.push((*t).into());
            "e.received_at < ?".into()
        }
        Cond::After(t) => {
            values.push((*t).into());
            "e.received_at >= ?".into()
        }
        Cond::MinSize(n) => {
            values.push((*n).into());
            "e.size >= ?".into()
        }
        Cond::MaxSize(n) => {
            values.push((*n).into());
            "e.size < ?".into()
        }
        Cond::HasKeyword(k) => keyword_match("e", k, values),
        Cond::AllInThreadHaveKeyword(k) => thread_keyword(false, false, k, values),
        Cond::SomeInThreadHaveKeyword(k) => thread_keyword(true, true, k, values),
        Cond::NoneInThreadHaveKeyword(k) => thread_keyword(false, true, k, values),
        Cond::HasAttachment(b) => {
            values.push((*b).into());
            "m.has_attachment = ?".into()
        }
        Cond::SentBefore(t) => {
            values.push((*t).into());
            "COALESCE(m.sent_at, e.received_at) < ?".into()
        }
        Cond::SentAfter(t) => {
            values.push((*t).into());
            "COALESCE(m.sent_at, e.received_at) >= ?".into()
        }
        Cond::MinModseq(m) => {
            values.push((*m).into());
            "e.modseq >= ?".into()
        }
        Cond::TextContains { column, needle } if indexed_needle(needle) => {
            crate::email_text::condition(kind, *column, needle, values)
        }
        Cond::TextContains { column, needle } => {
            // `i` and `k` match any one character: the letters whose lowercase is `i` or `k`
            // in Rust's exact check but not in SQL's LOWER (İ, the Kelvin sign) or whose
            // LOWER is not `i` under some collations (Turkish I) are not left out.
            let pattern: String = needle
                .chars()
                .map(|c| match c {
                    'i' | 'k' => "_".to_string(),
                    c => like_literal(&c.to_string()),
                })
                .collect();
            values.push(format!("%{pattern}%").into());
            let col = match column {
                TextColumn::From => "m.from_addr",
                TextColumn::To => "m.to_addr",
                TextColumn::Cc => "m.cc_addr",
                TextColumn::Subject => "m.subject",
            };
            // Per email row of the account (its message row is joined anyway): the cost
            // follows the account's mail, not every account's.
            format!("LOWER({col}) LIKE ? ESCAPE '\\'")
        }
        Cond::UidRanges { ranges, .. } if ranges.is_empty() => "1 = 0".into(),
        Cond::UidRanges { mailbox_id, ranges } => {
            let any = ranges
                .iter()
                .map(|(a, b)| format!("x.uid BETWEEN {a} AND {b}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            format!(
                "EXISTS (SELECT 1 FROM mailbox_emails x WHERE x.email_id = e.id \
                 AND x.mailbox_id = {mailbox_id} AND ({any}))"
            )
        }
    }
}

impl SqlFilter {
    /// Whether every match must satisfy a condition the text index answers (such a
    /// condition in a conjunctive position).
    fn narrowed_by_text_index(&self) -> bool {
        match self {
            SqlFilter::Cond(Cond::TextContains { needle, .. }) => indexed_needle(needle),
            SqlFilter::And(v) => v.iter().any(SqlFilter::narrowed_by_text_index),
            _ => false,
        }
    }
}

/// The account condition of a search. Where the text index narrows the search, SQLite is
/// told not to use the account's indexes (`+`): it cannot tell how few emails the index
/// names and would rather walk every email of the account in date order.
fn account_sql(kind: DbKind, filter: &SqlFilter) -> &'static str {
    if kind == DbKind::Sqlite && filter.narrowed_by_text_index() {
        "+e.account_id = ?"
    } else {
        "e.account_id = ?"
    }
}

fn filter_sql(kind: DbKind, f: &SqlFilter, values: &mut Vec<Value>) -> String {
    match f {
        SqlFilter::True => "1 = 1".into(),
        SqlFilter::False => "1 = 0".into(),
        SqlFilter::Cond(c) => cond_sql(kind, c, values),
        SqlFilter::And(v) if v.is_empty() => "1 = 1".into(),
        SqlFilter::Or(v) if v.is_empty() => "1 = 0".into(),
        SqlFilter::And(v) => format!(
            "({})",
            v.iter()
                .map(|x| filter_sql(kind, x, values))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
        SqlFilter::Or(v) => format!(
            "({})",
            v.iter()
                .map(|x| filter_sql(kind, x, values))
                .collect::<Vec<_>>()
                .join(" OR ")
        ),
        SqlFilter::Not(x) => format!("NOT ({})", filter_sql(kind, x, values)),
    }
}

impl Store {
    /// The account's emails matching `filter`, in `sort` order (then newest id first), with
    /// the truth of each of `columns` per row; `page` (offset, limit) or all of them. Only
    /// `fields` of each row are read.
    pub async fn email_search(
        &self,
        account_id: i64,
        filter: &SqlFilter,
        columns: &[Cond],
        sort: &[(SqlSort, bool)],
        page: Option<(u64, u64)>,
        fields: Fields,
    ) -> Result<Vec<(SearchRow, Vec<bool>)>> {
        let mut values: Vec<Value> = Vec::new();
        let mut select = format!("SELECT {}", fields.select());
        for (i, c) in columns.iter().enumerate() {
            select.push_str(&format!(
                ", CASE WHEN {} THEN 1 ELSE 0 END AS c{i}",
                cond_sql(self.kind, c, &mut values)
            ));
        }
        values.push(account_id.into());
        let where_sql = filter_sql(self.kind, filter, &mut values);
        let mut order = Vec::new();
        for (s, asc) in sort {
            let dir = if *asc { "ASC" } else { "DESC" };
            match s {
                SqlSort::ReceivedAt => order.push(format!("e.received_at {dir}")),
                // Emails without a Date: header sort as if sent when received.
                SqlSort::SentAt => order.push(format!("COALESCE(m.sent_at, e.received_at) {dir}")),
                SqlSort::Size => order.push(format!("e.size {dir}")),
                SqlSort::Subject => order.push(format!("COALESCE(m.base_subject, '') {dir}")),
                SqlSort::HasKeyword(k) => {
                    let m = keyword_match("e", k, &mut values);
                    order.push(format!("CASE WHEN {m} THEN 1 ELSE 0 END {dir}"));
                }
            }
        }
        order.push("e.id DESC".into());
        let mut sql = format!(
            "{select} FROM emails e JOIN messages m ON m.blob_id = e.blob_id \
             WHERE {} AND {where_sql} ORDER BY {}",
            account_sql(self.kind, filter),
            order.join(", ")
        );
        if let Some((offset, limit)) = page {
            sql.push_str(" LIMIT ? OFFSET ?");
            values.push((limit as i64).into());
            values.push((offset as i64).into());
        }
        let rows =
            sea_orm::ConnectionTrait::query_all_raw(&self.db, self.stmt(&sql, values)).await?;
        rows.iter()
            .map(|r| {
                let row = SearchRow::from_query_result(r, "")?;
                let truth = (0..columns.len())
                    .map(|i| r.try_get::<i32>("", &format!("c{i}")).map(|v| v != 0))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok((row, truth))
            })
            .collect()
    }

    /// How many of the account's emails match `filter`.
    pub async fn email_count(&self, account_id: i64, filter: &SqlFilter) -> Result<u64> {
        let mut values: Vec<Value> = vec![account_id.into()];
        let where_sql = filter_sql(self.kind, filter, &mut values);
        let sql = format!(
            "SELECT COUNT(*) FROM emails e JOIN messages m ON m.blob_id = e.blob_id \
             WHERE {} AND {where_sql}",
            account_sql(self.kind, filter)
        );
        let n: i64 = sea_orm::ConnectionTrait::query_one_raw(&self.db, self.stmt(&sql, values))
            .await?
            .map(|r| r.try_get_by_index(0))
            .transpose()?
            .unwrap_or(0);
        Ok(n as u64)
    }
}
