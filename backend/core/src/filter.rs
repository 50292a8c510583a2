//! Email search: a filter tree (stored facts and text), an order, thread collapsing and a
//! window (position or anchor), answered exactly.
//!
//! The store answers everything but text. When the filter has text conditions, they are
//! weakened out of the tree sent to SQL (so SQL returns a superset), SQL also reports the
//! truth of every stored condition per row, and the text conditions are then checked here —
//! from the stored metadata where it suffices, from the message itself otherwise. Until the
//! search index lands that is a scan, but a correct one.

pub use mailroom_store::search::{Cond, SqlSort};
use mailroom_store::search::{Fields, SearchRow, SqlFilter};

use crate::{Core, Error, Result};

/// Where text is looked for (RFC 8621 §4.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextField {
    /// From, To, Cc, Bcc, Subject and the body.
    Any,
    From,
    To,
    Cc,
    Bcc,
    Subject,
    Body,
    /// A header field by name: present at all (`value` empty) or containing the value.
    Header(String),
    /// Any header field (name or value) or the body (IMAP SEARCH TEXT).
    HeadersOrBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    Cond(Cond),
    /// Case-insensitive substring match.
    Text(TextField, String),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    /// None of them (JMAP's NOT).
    Not(Vec<Filter>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    Stored(SqlSort),
    /// The first From address's name, or its address without one.
    From,
    To,
}

#[derive(Clone, Debug)]
pub struct Query {
    pub filter: Filter,
    /// Keys with ascending flags; ties end newest id first.
    pub sort: Vec<(SortKey, bool)>,
    pub collapse_threads: bool,
}

/// Which part of the results to return.
#[derive(Clone, Debug)]
pub enum Window {
    /// From `position` (negative: from the end), at most `limit`.
    Position { position: i64, limit: u64 },
    /// Around an email: its index plus `offset` (clamped at 0).
    Anchor { id: i64, offset: i64, limit: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPage {
    pub ids: Vec<i64>,
    pub position: u64,
    pub total: Option<u64>,
    /// The account's state, read in the same statement as the ids (one snapshot); only the
    /// list view reads it ([`Query::list_view`]).
    pub state: Option<i64>,
    /// The list view's emails with their mailboxes, read with the page, for an Email/get
    /// that follows (see [`Core::email_views`]); empty otherwise.
    pub emails: Vec<(crate::mail::EmailState, Vec<i64>)>,
}

impl Query {
    /// The list view (one mailbox or all mail, newest first, from a position): it walks an
    /// index in order, and reads the account's state with the page. `Some(mailbox)`.
    pub fn list_view(&self, window: &Window) -> Option<Option<i64>> {
        let Window::Position { position, .. } = window else {
            return None;
        };
        if *position < 0
            || self.collapse_threads
            || self.sort != [(SortKey::Stored(SqlSort::ReceivedAt), false)]
        {
            return None;
        }
        match &self.filter {
            Filter::And(v) if v.is_empty() => Some(None),
            Filter::Cond(Cond::InMailbox(m)) => Some(Some(*m)),
            Filter::And(v) => match v.as_slice() {
                [Filter::Cond(Cond::InMailbox(m))] => Some(Some(*m)),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Filter {
    fn has_text(&self) -> bool {
        match self {
            Filter::Cond(_) => false,
            Filter::Text(..) => true,
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => v.iter().any(Filter::has_text),
        }
    }

    /// SQL's version: exact without text; with it, each text leaf is replaced by what makes
    /// the tree weaker (true where it counts positively, false under a NOT).
    fn sql(&self, positive: bool) -> SqlFilter {
        match self {
            Filter::Cond(c) => SqlFilter::Cond(c.clone()),
            Filter::Text(field, value) if positive => match prefilter(field, value) {
                Some(c) => SqlFilter::Cond(c),
                None => SqlFilter::True,
            },
            Filter::Text(..) => SqlFilter::False,
            Filter::And(v) => SqlFilter::And(v.iter().map(|f| f.sql(positive)).collect()),
            Filter::Or(v) => SqlFilter::Or(v.iter().map(|f| f.sql(positive)).collect()),
            Filter::Not(v) => SqlFilter::Not(Box::new(SqlFilter::Or(
                v.iter().map(|f| f.sql(!positive)).collect(),
            ))),
        }
    }

    /// What is left to check once SQL's WHERE has held: the stored conditions that every
    /// match must meet (all of a top-level AND's, recursively) are exact in SQL, so only
    /// the rest is checked per row (and only its conditions' truth need come back).
    fn residual(&self) -> Filter {
        match self {
            Filter::And(v) => Filter::And(
                v.iter()
                    .filter(|f| !matches!(f, Filter::Cond(_)))
                    .map(Filter::residual)
                    .collect(),
            ),
            f => f.clone(),
        }
    }

    /// The columns of a search row that checking this filter's text reads.
    fn fields(&self, out: &mut Fields) {
        match self {
            Filter::Cond(_) => {}
            Filter::Text(field, _) => match field {
                TextField::From => out.from = true,
                TextField::To => out.to = true,
                TextField::Cc => out.cc = true,
                TextField::Subject => out.subject = true,
                TextField::Any => {
                    (out.from, out.to, out.cc, out.subject) = (true, true, true, true);
                    out.blob_id = true;
                }
                // Read from the message itself.
                TextField::Bcc
                | TextField::Body
                | TextField::Header(_)
                | TextField::HeadersOrBody => out.blob_id = true,
            },
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => v.iter().for_each(|f| f.fields(out)),
        }
    }

    /// The stored conditions in tree order (their truth comes back in this order).
    fn conds(&self, out: &mut Vec<Cond>) {
        match self {
            Filter::Cond(c) => out.push(c.clone()),
            Filter::Text(..) => {}
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => v.iter().for_each(|f| f.conds(out)),
        }
    }
}

/// What SQL can check ahead of a text condition in a positive place: the text index (or,
/// for a needle too short for it, the stored column) holds the needle, ignoring case. Never
/// leaves out a row the exact check would keep.
fn prefilter(field: &TextField, value: &str) -> Option<Cond> {
    use mailroom_store::search::TextColumn;
    let column = match field {
        TextField::From => TextColumn::From,
        TextField::To => TextColumn::To,
        TextField::Cc => TextColumn::Cc,
        TextField::Subject => TextColumn::Subject,
        _ => return None,
    };
    // A long needle is left to the exact check (SQLite refuses patterns over 50,000 bytes),
    // and so is one with NUL (FTS5's query parser would stop at it).
    if value.is_empty() || value.len() > 1000 || value.contains('\0') {
        return None;
    }
    // The text index takes any needle of its unit's length; a shorter one is matched
    // against the stored column, where JSON escapes some characters.
    let plain = |c: char| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\';
    let needle = value.to_lowercase();
    if !mailroom_store::search::indexed_needle(&needle) && !value.chars().all(plain) {
        return None;
    }
    Some(Cond::TextContains { column, needle })
}

/// How deep attached messages are searched (a message in a message in a message).
const ATTACHED_DEPTH: u32 = 3;

/// A row being checked: its stored conditions' truth and, when needed, its message.
struct Candidate<'a> {
    row: &'a SearchRow,
    truth: &'a [bool],
    /// The message and the messages attached to it.
    message: Option<(crate::mime::MimePart, Vec<crate::mime::MimePart>)>,
}

impl Core {
    /// Runs `q` on the account's emails and returns the window asked for. `with_total` asks
    /// for the number of results (free when the whole list had to be read anyway).
    pub async fn email_search(
        &self,
        account_id: i64,
        q: &Query,
        window: Window,
        with_total: bool,
    ) -> Result<QueryPage> {
        let has_text = q.filter.has_text();
        let rust_sort = q
            .sort
            .iter()
            .any(|(k, _)| matches!(k, SortKey::From | SortKey::To));
        let sql_filter = q.filter.sql(true);
        let sql_sort: Vec<(SqlSort, bool)> = if rust_sort {
            Vec::new()
        } else {
            q.sort
                .iter()
                .filter_map(|(k, asc)| match k {
                    SortKey::Stored(s) => Some((s.clone(), *asc)),
                    _ => None,
                })
                .collect()
        };
        if let (Some(in_mailbox), &Window::Position { position, limit }) =
            (q.list_view(&window), &window)
        {
            // The SQL joins on the account: another account's mailbox matches nothing.
            let page = self
                .store()
                .email_query(account_id, in_mailbox, position as u64, limit, with_total)
                .await?;
            return Ok(QueryPage {
                ids: page.ids,
                position: position as u64,
                total: page.total,
                state: Some(page.state),
                emails: page.emails,
            });
        }
        // Otherwise SQL filters, orders and pages when it can do all of it.
        if let Window::Position { position, limit } = window
            && position >= 0
            && !has_text
            && !rust_sort
            && !q.collapse_threads
        {
            // Only the ids are used.
            let rows = self
                .store()
                .email_search(
                    account_id,
                    &sql_filter,
                    &[],
                    &sql_sort,
                    Some((position as u64, limit)),
                    Fields::default(),
                )
                .await?;
            let total = if with_total {
                Some(self.store().email_count(account_id, &sql_filter).await?)
            } else {
                None
            };
            return Ok(QueryPage {
                ids: rows.into_iter().map(|(r, _)| r.id).collect(),
                position: position as u64,
                total,
                state: None,
                emails: Vec::new(),
            });
        }

        // Only text needs a check per row, and only what SQL did not settle.
        let residual = has_text.then(|| q.filter.residual());
        let mut columns = Vec::new();
        if let Some(r) = &residual {
            r.conds(&mut columns);
        }
        // The columns the text check, a sort done here and thread collapsing read.
        let mut fields = Fields {
            thread_id: q.collapse_threads,
            ..Fields::default()
        };
        if let Some(r) = &residual {
            r.fields(&mut fields);
        }
        if rust_sort {
            for (k, _) in &q.sort {
                match k {
                    SortKey::From => fields.from = true,
                    SortKey::To => fields.to = true,
                    SortKey::Stored(SqlSort::SentAt) => fields.sent_at = true,
                    SortKey::Stored(SqlSort::Subject) => fields.base_subject = true,
                    SortKey::Stored(SqlSort::HasKeyword(_)) => fields.keywords = true,
                    SortKey::Stored(SqlSort::ReceivedAt | SqlSort::Size) => {}
                }
            }
        }
        let rows = self
            .store()
            .email_search(account_id, &sql_filter, &columns, &sql_sort, None, fields)
            .await?;
        let mut kept: Vec<&SearchRow> = Vec::with_capacity(rows.len());
        for (row, truth) in &rows {
            if let Some(residual) = &residual {
                let mut c = Candidate {
                    row,
                    truth,
                    message: None,
                };
                let mut next = 0;
                if !self.matches(residual, &mut c, &mut next).await? {
                    continue;
                }
            }
            kept.push(row);
        }
        if rust_sort {
            kept.sort_by(|a, b| compare(a, b, &q.sort));
        }
        if q.collapse_threads {
            let mut seen = std::collections::HashSet::new();
            kept.retain(|r| seen.insert(r.thread_id));
        }
        let total = kept.len() as u64;
        let (start, limit) = match window {
            Window::Position { position, limit } if position < 0 => {
                ((total as i64 + position).max(0) as u64, limit)
            }
            Window::Position { position, limit } => (position as u64, limit),
            Window::Anchor { id, offset, limit } => {
                let at = kept
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| Error::NotFound("anchor".into()))?;
                ((at as i64 + offset).max(0) as u64, limit)
            }
        };
        let ids = kept
            .iter()
            .skip(start as usize)
            .take(limit as usize)
            .map(|r| r.id)
            .collect();
        Ok(QueryPage {
            ids,
            position: start.min(total),
            total: Some(total),
            state: None,
            emails: Vec::new(),
        })
    }

    /// Evaluates the filter for one row; `next` walks the stored conditions' truth values in
    /// the order [`Filter::conds`] listed them, so every branch is walked (no short cut).
    async fn matches(&self, f: &Filter, c: &mut Candidate<'_>, next: &mut usize) -> Result<bool> {
        Ok(match f {
            Filter::Cond(_) => {
                let v = c.truth[*next];
                *next += 1;
                v
            }
            Filter::Text(field, value) => self.text_matches(field, value, c).await?,
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => {
                let mut results = Vec::with_capacity(v.len());
                for x in v {
                    results.push(Box::pin(self.matches(x, c, next)).await?);
                }
                match f {
                    Filter::And(_) => results.iter().all(|&b| b),
                    Filter::Or(_) => results.iter().any(|&b| b),
                    _ => !results.iter().any(|&b| b),
                }
            }
        })
    }

    async fn text_matches(
        &self,
        field: &TextField,
        value: &str,
        c: &mut Candidate<'_>,
    ) -> Result<bool> {
        let needle = value.to_lowercase();
        let has = |hay: &str| hay.to_lowercase().contains(&needle);
        let in_addrs = |stored: &str| {
            serde_json::from_str::<Vec<serde_json::Value>>(stored)
                .unwrap_or_default()
                .iter()
                .any(|a| {
                    ["name", "email"]
                        .iter()
                        .any(|k| a.get(k).and_then(|v| v.as_str()).is_some_and(has))
                })
        };
        let stored = match field {
            TextField::From => return Ok(in_addrs(&c.row.from_addr)),
            TextField::To => return Ok(in_addrs(&c.row.to_addr)),
            TextField::Cc => return Ok(in_addrs(&c.row.cc_addr)),
            TextField::Subject => return Ok(c.row.subject.as_deref().is_some_and(has)),
            TextField::Any => {
                in_addrs(&c.row.from_addr)
                    || in_addrs(&c.row.to_addr)
                    || in_addrs(&c.row.cc_addr)
                    || c.row.subject.as_deref().is_some_and(has)
            }
            _ => false,
        };
        if stored {
            return Ok(true);
        }
        // The rest needs the message.
        if c.message.is_none() {
            let raw = self.message_bytes(&c.row.blob_id).await?;
            c.message = Some(
                tokio::task::spawn_blocking(move || {
                    crate::mime::structure_with_attached(&raw, ATTACHED_DEPTH)
                })
                .await
                .map_err(|e| Error::Internal(format!("parsing: {e}")))?,
            );
        }
        let (root, attached) = c.message.as_ref().expect("read just above");
        // Text of the message and of the messages attached to it (RFC 8621 §4.4.1 allows
        // it; IMAP's BODY and TEXT are about the whole body, attached mail included).
        let body_has = |has: &dyn Fn(&str) -> bool| {
            body_has(root, has) || attached.iter().any(|m| body_has(m, has))
        };
        let headers_have = |p: &crate::mime::MimePart| {
            p.headers
                .iter()
                .any(|h| has(&h.name) || has(&crate::mime::as_text(&h.value)))
        };
        let header_has = |name: &str| {
            root.headers_named(name).any(|h| {
                let t = crate::mime::as_text(&h.value);
                needle.is_empty() || has(&t)
            })
        };
        let bcc = || {
            root.headers_named("Bcc").any(|h| {
                crate::mime::as_addresses(&h.value)
                    .iter()
                    .any(|a| has(&a.email) || a.name.as_deref().is_some_and(has))
            })
        };
        Ok(match field {
            TextField::Bcc => bcc(),
            TextField::Header(name) => header_has(name),
            TextField::Body => body_has(&has),
            TextField::Any => bcc() || body_has(&has),
            TextField::HeadersOrBody => {
                headers_have(root) || attached.iter().any(headers_have) || body_has(&has)
            }
            _ => false,
        })
    }
}

/// Whether any text part of the message contains the needle.
fn body_has(p: &crate::mime::MimePart, has: &dyn Fn(&str) -> bool) -> bool {
    p.text.as_deref().is_some_and(has) || p.sub_parts.iter().any(|s| body_has(s, has))
}

fn first_name(stored: &str) -> String {
    serde_json::from_str::<Vec<serde_json::Value>>(stored)
        .ok()
        .and_then(|v| v.into_iter().next())
        .and_then(|a| {
            a.get("name")
                .and_then(|n| n.as_str())
                .filter(|n| !n.is_empty())
                .or_else(|| a.get("email").and_then(|e| e.as_str()))
                .map(str::to_lowercase)
        })
        .unwrap_or_default()
}

fn compare(a: &SearchRow, b: &SearchRow, sort: &[(SortKey, bool)]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (key, asc) in sort {
        let o = match key {
            SortKey::From => first_name(&a.from_addr).cmp(&first_name(&b.from_addr)),
            SortKey::To => first_name(&a.to_addr).cmp(&first_name(&b.to_addr)),
            SortKey::Stored(SqlSort::ReceivedAt) => a.received_at.cmp(&b.received_at),
            SortKey::Stored(SqlSort::SentAt) => a
                .sent_at
                .unwrap_or(a.received_at)
                .cmp(&b.sent_at.unwrap_or(b.received_at)),
            SortKey::Stored(SqlSort::Size) => a.size.cmp(&b.size),
            SortKey::Stored(SqlSort::Subject) => a
                .base_subject
                .as_deref()
                .unwrap_or("")
                .cmp(b.base_subject.as_deref().unwrap_or("")),
            SortKey::Stored(SqlSort::HasKeyword(k)) => {
                let has = |r: &SearchRow| r.keywords.split_whitespace().any(|x| x == k);
                has(a).cmp(&has(b))
            }
        };
        let o = if *asc { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    b.id.cmp(&a.id)
}

#[cfg(test)]
mod prefilter_tests {
    use super::*;

    #[test]
    fn conditions_every_match_meets_are_left_to_sql() {
        let text = || Filter::Text(TextField::From, "neil".into());
        let f = Filter::And(vec![
            Filter::Cond(Cond::InMailbox(1)),
            text(),
            Filter::And(vec![Filter::Cond(Cond::MinSize(5)), text()]),
            Filter::Or(vec![Filter::Cond(Cond::MaxSize(9)), text()]),
        ]);
        assert_eq!(
            f.residual(),
            Filter::And(vec![
                text(),
                Filter::And(vec![text()]),
                Filter::Or(vec![Filter::Cond(Cond::MaxSize(9)), text()]),
            ])
        );
        let not = Filter::Not(vec![Filter::Cond(Cond::MinSize(5))]);
        assert_eq!(not.residual(), not);
    }

    #[test]
    fn indexed_needles_of_any_kind_short_ones_only_as_stored() {
        use mailroom_store::search::TextColumn;
        let cond = |column, needle: &str| {
            Some(Cond::TextContains {
                column,
                needle: needle.into(),
            })
        };
        assert_eq!(
            prefilter(&TextField::From, "Carol@X"),
            cond(TextColumn::From, "carol@x")
        );
        assert_eq!(
            prefilter(&TextField::From, "JÜRGEN"),
            cond(TextColumn::From, "jürgen")
        );
        assert_eq!(
            prefilter(&TextField::To, "a\"b"),
            cond(TextColumn::To, "a\"b")
        );
        assert_eq!(prefilter(&TextField::Cc, "Al"), cond(TextColumn::Cc, "al"));
        for (field, value) in [
            (TextField::From, "Jü"),
            (TextField::From, "ab\0cd"),
            (TextField::From, "\""),
            (TextField::To, "a\\"),
            (TextField::Subject, ""),
            (TextField::Body, "xyz"),
            (TextField::Any, "xyz"),
        ] {
            assert_eq!(prefilter(&field, value), None, "{field:?} {value}");
        }
    }
}
