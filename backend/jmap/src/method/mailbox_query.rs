//! Mailbox/query (RFC 8621 §2.3): filter by parentId, name, role, hasAnyRole, isSubscribed
//! (AND / OR / NOT), sort by sortOrder and name, sortAsTree and filterAsTree. An account has
//! few mailboxes, so this runs over the whole list in memory.

use mailroom_core::Mailbox;
use serde_json::{Map, Value, json};

use super::{Ctx, account};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    // No filter or sort of Mailbox/query looks at counts: the mailboxes alone.
    let all: Vec<Mailbox> = ctx.core.mailbox_list(account_id).await?;
    let (out, _) = results(&all, &args)?;
    let position = args.get("position").and_then(Value::as_i64).unwrap_or(0);
    let total = out.len() as i64;
    let start = if position < 0 {
        (total + position).max(0)
    } else {
        position.min(total)
    } as usize;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX) as usize;
    let ids: Vec<String> = out
        .iter()
        .skip(start)
        .take(limit)
        .map(|&m| id::mailbox(m))
        .collect();
    let mut res = json!({
        "accountId": id::account(account_id),
        "queryState": state.to_string(),
        "canCalculateChanges": true,
        "position": start,
        "ids": ids,
    });
    if args.get("calculateTotal").and_then(Value::as_bool) == Some(true) {
        res["total"] = json!(total);
    }
    Ok(res)
}

/// The ids of every mailbox the query matches, in its order, and whether it sorts or
/// filters as a tree (then a mailbox's place depends on its ancestors too).
pub(super) fn results(
    all: &[Mailbox],
    args: &Map<String, Value>,
) -> Result<(Vec<i64>, bool), MethodError> {
    let filter = args.get("filter").filter(|f| !f.is_null());
    if let Some(f) = filter {
        check_filter(f, 0)?;
    }
    let flag = |k: &str| args.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (as_tree, filter_as_tree) = (flag("sortAsTree"), flag("filterAsTree"));
    let mut sort: Vec<(String, bool)> = Vec::new();
    if let Some(s) = args.get("sort").filter(|s| !s.is_null()) {
        for c in s
            .as_array()
            .ok_or_else(|| MethodError::InvalidArguments("sort must be an array".into()))?
        {
            let prop = c.get("property").and_then(Value::as_str).unwrap_or("");
            if prop != "sortOrder" && prop != "name" {
                return Err(MethodError::UnsupportedSort(format!(
                    "cannot sort mailboxes by {prop:?}"
                )));
            }
            let asc = c
                .get("isAscending")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            sort.push((prop.to_string(), asc));
        }
    }
    let cmp = |a: &&Mailbox, b: &&Mailbox| {
        for (p, asc) in &sort {
            let o = if p == "name" {
                a.name.to_lowercase().cmp(&b.name.to_lowercase())
            } else {
                a.sort_order.cmp(&b.sort_order)
            };
            let o = if *asc { o } else { o.reverse() };
            if o.is_ne() {
                return o;
            }
        }
        a.id.cmp(&b.id)
    };
    let matches = |m: &Mailbox| filter.is_none_or(|f| eval(f, m));
    let mut out: Vec<&Mailbox> = Vec::new();
    if as_tree {
        // Parents before children, siblings in sort order.
        fn walk<'a>(
            parent: Option<i64>,
            all: &'a [Mailbox],
            cmp: &dyn Fn(&&Mailbox, &&Mailbox) -> std::cmp::Ordering,
            keep: &dyn Fn(&Mailbox) -> bool,
            filter_as_tree: bool,
            out: &mut Vec<&'a Mailbox>,
        ) {
            let mut kids: Vec<&Mailbox> = all.iter().filter(|m| m.parent_id == parent).collect();
            kids.sort_by(cmp);
            for k in kids {
                let ok = keep(k);
                if ok {
                    out.push(k);
                }
                // filterAsTree: a mailbox that does not match hides its descendants.
                if ok || !filter_as_tree {
                    walk(Some(k.id), all, cmp, keep, filter_as_tree, out);
                }
            }
        }
        walk(None, all, &cmp, &matches, filter_as_tree, &mut out);
    } else {
        out = all.iter().filter(|m| matches(m)).collect();
        out.sort_by(cmp);
    }
    Ok((
        out.iter().map(|m| m.id).collect(),
        as_tree || filter_as_tree,
    ))
}

const CONDITIONS: &[&str] = &["parentId", "name", "role", "hasAnyRole", "isSubscribed"];

fn check_filter(f: &Value, depth: usize) -> Result<(), MethodError> {
    let o = f
        .as_object()
        .ok_or_else(|| MethodError::InvalidArguments("a filter must be an object".into()))?;
    if depth > 16 {
        return Err(MethodError::UnsupportedFilter(
            "filter nests too deep".into(),
        ));
    }
    if let Some(op) = o.get("operator") {
        if !matches!(op.as_str(), Some("AND" | "OR" | "NOT")) {
            return Err(MethodError::UnsupportedFilter(format!(
                "unknown operator {op}"
            )));
        }
        let conds = o
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                MethodError::InvalidArguments("a FilterOperator needs conditions".into())
            })?;
        return conds.iter().try_for_each(|c| check_filter(c, depth + 1));
    }
    for (k, v) in o {
        if !CONDITIONS.contains(&k.as_str()) {
            return Err(MethodError::UnsupportedFilter(format!(
                "unknown mailbox filter condition {k:?}"
            )));
        }
        let ok = match k.as_str() {
            "parentId" | "role" => v.is_null() || v.is_string(),
            "name" => v.is_string(),
            _ => v.is_boolean(),
        };
        if !ok {
            return Err(MethodError::InvalidArguments(format!(
                "{k} has the wrong type"
            )));
        }
    }
    Ok(())
}

fn eval(f: &Value, m: &Mailbox) -> bool {
    if let (Some(op), Some(conds)) = (
        f.get("operator").and_then(Value::as_str),
        f.get("conditions").and_then(Value::as_array),
    ) {
        let mut rs = conds.iter().map(|c| eval(c, m));
        return match op {
            "AND" => rs.all(|b| b),
            "OR" => rs.any(|b| b),
            _ => !rs.any(|b| b),
        };
    }
    f.as_object().is_some_and(|o| {
        o.iter().all(|(k, v)| match k.as_str() {
            "parentId" => match v.as_str() {
                None => m.parent_id.is_none(),
                Some(p) => m.parent_id.is_some() && id::parse('m', p) == m.parent_id,
            },
            "name" => v
                .as_str()
                .is_some_and(|n| m.name.to_lowercase().contains(&n.to_lowercase())),
            "role" => v.as_str() == m.role.as_deref(),
            "hasAnyRole" => v.as_bool() == Some(m.role.is_some()),
            "isSubscribed" => v.as_bool() == Some(m.subscribed),
            _ => false,
        })
    })
}
