//! Email/query (RFC 8621 §4.4 with RFC 8620 §5.5): every filter condition of the RFC with
//! AND / OR / NOT, sorting by receivedAt, sentAt, size, from, to, subject and hasKeyword,
//! collapseThreads, position (negative from the end) and anchors, through core's search
//! (which takes the indexed path for the list view: one mailbox, newest first).

use mailroom_core::filter::{Cond, Filter, Query, SortKey, SqlSort, TextField, Window};
use serde_json::{Map, Value, json};

use super::{Ctx, account};
use crate::{MethodError, id};

/// The page size when the client gives no limit, and the most it may ask for.
const MAX_LIMIT: u64 = 1000;
/// How deep FilterOperators may nest.
const MAX_DEPTH: usize = 16;

/// As the Session's collationAlgorithms says.
const COLLATIONS: &[&str] = &["i;ascii-casemap", "i;unicode-casemap"];

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let q = parse_query(&args)?;
    let position = match args.get("position") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| MethodError::InvalidArguments("position must be an integer".into()))?,
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => MAX_LIMIT,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| {
                MethodError::InvalidArguments("limit must be a non-negative integer".into())
            })?
            .min(MAX_LIMIT),
    };
    let anchor = match args.get("anchor") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "anchor must be an email id".into(),
            ));
        }
    };
    let anchor_offset = match args.get("anchorOffset") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| {
            MethodError::InvalidArguments("anchorOffset must be an integer".into())
        })?,
    };
    let with_total = args.get("calculateTotal").and_then(Value::as_bool) == Some(true);

    let window = match &anchor {
        Some(a) => Window::Anchor {
            id: id::parse('e', a)
                .ok_or_else(|| MethodError::AnchorNotFound(format!("{a} is not in the results")))?,
            offset: anchor_offset,
            limit,
        },
        None => Window::Position { position, limit },
    };
    // The state must be read before the data; the list view reads it with its page.
    let known = match q.list_view(&window) {
        Some(_) => None,
        None => Some(ctx.state().await?),
    };
    let page = match ctx
        .core
        .email_search(account_id, &q, window, with_total)
        .await
    {
        // The only thing a search does not find is the anchor.
        Err(mailroom_core::Error::NotFound(_)) => {
            return Err(MethodError::AnchorNotFound(format!(
                "{} is not in the results",
                anchor.unwrap_or_default()
            )));
        }
        r => r?,
    };
    let state = match known {
        Some(s) => s,
        None => ctx
            .offer_state(page.state)
            .ok_or_else(|| MethodError::ServerFail("the list view read no state".into()))?,
    };
    *ctx.offered.lock().expect("offered") =
        (!page.emails.is_empty()).then_some((account_id, page.emails));
    let (ids, position, total) = (page.ids, page.position, page.total);
    let mut out = json!({
        "accountId": id::account(account_id),
        "queryState": state.to_string(),
        "canCalculateChanges": true,
        "position": position,
        "ids": ids.into_iter().map(id::email).collect::<Vec<_>>(),
        "limit": limit,
    });
    if with_total {
        out["total"] = json!(total.unwrap_or(0));
    }
    Ok(out)
}

/// The filter, sort and thread collapsing of an Email/query (or Email/queryChanges).
pub(super) fn parse_query(args: &Map<String, Value>) -> Result<Query, MethodError> {
    let filter = match args.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(parse_filter(f, 0)?),
    };
    let sort = match args.get("sort") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(s)) => s.iter().map(parse_sort).collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "sort must be an array".into(),
            ));
        }
    };
    let collapse = match args.get("collapseThreads") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "collapseThreads must be a boolean".into(),
            ));
        }
    };
    // Newest first is the order when none is given.
    let sort = if sort.is_empty() {
        vec![(SortKey::Stored(SqlSort::ReceivedAt), false)]
    } else {
        sort
    };
    Ok(Query {
        filter: filter.unwrap_or(Filter::And(vec![])),
        sort,
        collapse_threads: collapse,
    })
}

pub(super) fn parse_filter(f: &Value, depth: usize) -> Result<Filter, MethodError> {
    let o = f
        .as_object()
        .ok_or_else(|| MethodError::InvalidArguments("a filter must be an object".into()))?;
    if depth > MAX_DEPTH {
        return Err(MethodError::UnsupportedFilter(format!(
            "filters nest at most {MAX_DEPTH} deep"
        )));
    }
    if let Some(op) = o.get("operator") {
        let conditions = o
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MethodError::InvalidArguments("a FilterOperator needs conditions".into())
            })?
            .iter()
            .map(|c| parse_filter(c, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(k) = o.keys().find(|k| *k != "operator" && *k != "conditions") {
            return Err(MethodError::InvalidArguments(format!(
                "a FilterOperator has no {k:?}"
            )));
        }
        return match op.as_str() {
            Some("AND") => Ok(Filter::And(conditions)),
            Some("OR") => Ok(Filter::Or(conditions)),
            Some("NOT") => Ok(Filter::Not(conditions)),
            _ => Err(MethodError::UnsupportedFilter(format!(
                "unknown operator {op}"
            ))),
        };
    }
    let mut all = Vec::new();
    for (k, v) in o {
        let bad = |what: &str| MethodError::InvalidArguments(format!("{k} must be {what}"));
        let string = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("a string"))
        };
        let keyword = || string().map(|s| s.to_ascii_lowercase());
        let date = || {
            v.as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp())
                .ok_or_else(|| bad("a UTCDate"))
        };
        let size = || v.as_i64().filter(|n| *n >= 0).ok_or_else(|| bad("a size"));
        let text = |field: TextField| string().map(|s| Filter::Text(field, s));
        all.push(match k.as_str() {
            // An id of another kind matches no mailbox; that is not an error.
            "inMailbox" => Filter::Cond(Cond::InMailbox(id::parse('m', &string()?).unwrap_or(-1))),
            "inMailboxOtherThan" => Filter::Cond(Cond::InMailboxOtherThan(
                v.as_array()
                    .ok_or_else(|| bad("a list of mailbox ids"))?
                    .iter()
                    .map(|m| m.as_str().map(|m| id::parse('m', m).unwrap_or(-1)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("a list of mailbox ids"))?,
            )),
            "before" => Filter::Cond(Cond::Before(date()?)),
            "after" => Filter::Cond(Cond::After(date()?)),
            "minSize" => Filter::Cond(Cond::MinSize(size()?)),
            "maxSize" => Filter::Cond(Cond::MaxSize(size()?)),
            "hasKeyword" => Filter::Cond(Cond::HasKeyword(keyword()?)),
            "notKeyword" => Filter::Not(vec![Filter::Cond(Cond::HasKeyword(keyword()?))]),
            "allInThreadHaveKeyword" => Filter::Cond(Cond::AllInThreadHaveKeyword(keyword()?)),
            "someInThreadHaveKeyword" => Filter::Cond(Cond::SomeInThreadHaveKeyword(keyword()?)),
            "noneInThreadHaveKeyword" => Filter::Cond(Cond::NoneInThreadHaveKeyword(keyword()?)),
            "hasAttachment" => Filter::Cond(Cond::HasAttachment(
                v.as_bool().ok_or_else(|| bad("a boolean"))?,
            )),
            "text" => text(TextField::Any)?,
            "from" => text(TextField::From)?,
            "to" => text(TextField::To)?,
            "cc" => text(TextField::Cc)?,
            "bcc" => text(TextField::Bcc)?,
            "subject" => text(TextField::Subject)?,
            "body" => text(TextField::Body)?,
            "header" => {
                let parts: Vec<&str> = v
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_str).collect())
                    .filter(|p: &Vec<&str>| (1..=2).contains(&p.len()) && !p[0].is_empty())
                    .ok_or_else(|| bad("[name] or [name, value]"))?;
                Filter::Text(
                    TextField::Header(parts[0].to_string()),
                    parts.get(1).unwrap_or(&"").to_string(),
                )
            }
            other => {
                return Err(MethodError::UnsupportedFilter(format!(
                    "unknown filter condition {other:?}"
                )));
            }
        });
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one")
    } else {
        Filter::And(all)
    })
}

fn parse_sort(c: &Value) -> Result<(SortKey, bool), MethodError> {
    let o = c
        .as_object()
        .ok_or_else(|| MethodError::InvalidArguments("a Comparator must be an object".into()))?;
    let asc = match o.get("isAscending") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(MethodError::InvalidArguments(
                "isAscending must be a boolean".into(),
            ));
        }
    };
    if let Some(c) = o.get("collation").filter(|c| !c.is_null())
        && !c.as_str().is_some_and(|c| COLLATIONS.contains(&c))
    {
        return Err(MethodError::UnsupportedSort(format!(
            "collation {c} is not supported"
        )));
    }
    let prop = o.get("property").and_then(Value::as_str).unwrap_or("");
    let key = match prop {
        "receivedAt" => SortKey::Stored(SqlSort::ReceivedAt),
        "sentAt" => SortKey::Stored(SqlSort::SentAt),
        "size" => SortKey::Stored(SqlSort::Size),
        "subject" => SortKey::Stored(SqlSort::Subject),
        "from" => SortKey::From,
        "to" => SortKey::To,
        "hasKeyword" => SortKey::Stored(SqlSort::HasKeyword(
            o.get("keyword")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    MethodError::InvalidArguments("hasKeyword sorting needs a keyword".into())
                })?
                .to_ascii_lowercase(),
        )),
        other => {
            return Err(MethodError::UnsupportedSort(format!(
                "cannot sort by {other:?}"
            )));
        }
    };
    Ok((key, asc))
}
