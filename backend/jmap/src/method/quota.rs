//! Quota/get, /changes, /query and /queryChanges (RFC 9425): the account's storage limit as
//! one Quota object (id "storage", octets, scope account, for Mail) when an administrator
//! set one (`mailroom user quota`); none otherwise. Its state is the account's: every change
//! to the account's mail can move `used`.

use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg, properties};
use crate::{MethodError, id};

const ID: &str = "storage";

const KNOWN: &[&str] = &[
    "id",
    "resourceType",
    "used",
    "hardLimit",
    "scope",
    "name",
    "types",
    "warnLimit",
    "softLimit",
    "description",
];

/// The account's Quota object, if it has a limit.
async fn quota(ctx: &Ctx<'_>, account_id: i64) -> Result<Option<Map<String, Value>>, MethodError> {
    let q = ctx.core.quota(account_id).await?;
    Ok(q.limit.map(|limit| {
        let mut o = Map::new();
        o.insert("id".into(), json!(ID));
        o.insert("resourceType".into(), json!("octets"));
        o.insert("used".into(), json!(q.used.max(0)));
        o.insert("hardLimit".into(), json!(limit.max(0)));
        o.insert("scope".into(), json!("account"));
        o.insert("name".into(), json!("Mail storage"));
        o.insert("types".into(), json!(["Mail"]));
        o.insert("warnLimit".into(), Value::Null);
        o.insert("softLimit".into(), Value::Null);
        o.insert(
            "description".into(),
            json!("Every email counts once, in however many mailboxes."),
        );
        o
    }))
}

pub(super) async fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let found = quota(ctx, account_id).await?;
    let shown = |o: &Map<String, Value>| {
        let mut out = Map::new();
        for p in &props {
            if let Some(v) = o.get(p) {
                out.insert(p.clone(), v.clone());
            }
        }
        Value::Object(out)
    };
    let (list, not_found): (Vec<Value>, Vec<Value>) = match ids_arg(&args)? {
        None => (found.iter().map(shown).collect(), vec![]),
        Some(ids) => {
            let mut list = vec![];
            let mut missing = vec![];
            for i in ids {
                match &found {
                    Some(o) if i == ID => list.push(shown(o)),
                    _ => missing.push(json!(i)),
                }
            }
            (list, missing)
        }
    };
    Ok(json!({
        "accountId": id::account(account_id),
        "state": state.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}

/// Without a per-quota history: the object is "updated" whenever the account's state
/// moved; when there is no quota now, the client is told to fetch again (it may hold one
/// that was lifted).
pub(super) async fn changes(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let since = match args.get("sinceState") {
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map_err(|_| MethodError::CannotCalculateChanges("unknown sinceState".into()))?,
        _ => {
            return Err(MethodError::InvalidArguments(
                "sinceState must be a string".into(),
            ));
        }
    };
    let state = ctx.state().await?;
    if since > state {
        return Err(MethodError::CannotCalculateChanges(
            "sinceState is from the future".into(),
        ));
    }
    let updated = if since == state {
        vec![]
    } else if quota(ctx, account_id).await?.is_some() {
        vec![json!(ID)]
    } else {
        return Err(MethodError::CannotCalculateChanges(
            "the account's quota may have been lifted; fetch again".into(),
        ));
    };
    Ok(json!({
        "accountId": id::account(account_id),
        "oldState": since.to_string(),
        "newState": state.to_string(),
        "hasMoreChanges": false,
        "created": [],
        "updated": updated,
        "destroyed": [],
        "updatedProperties": if updated.is_empty() { Value::Null } else { json!(["used"]) },
    }))
}

/// Filters (RFC 9425 §4.4): name, scope, resourceType, type; sorts by name or used (one
/// object: any order is the order).
pub(super) async fn query(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let found = quota(ctx, account_id).await?;
    let mut keep = found.is_some();
    if let (Some(o), Some(f)) = (&found, args.get("filter").filter(|f| !f.is_null())) {
        let f = f
            .as_object()
            .ok_or_else(|| MethodError::InvalidArguments("filter must be an object".into()))?;
        for (k, v) in f {
            let want = v
                .as_str()
                .ok_or_else(|| MethodError::UnsupportedFilter(format!("{k} must be a string")))?;
            keep &= match k.as_str() {
                "name" => o["name"].as_str().is_some_and(|n| n.contains(want)),
                "scope" => want == "account",
                "resourceType" => want == "octets",
                "type" => want == "Mail",
                other => return Err(MethodError::UnsupportedFilter(other.into())),
            };
        }
    }
    if let Some(Value::Array(sort)) = args.get("sort") {
        for s in sort {
            match s.get("property").and_then(Value::as_str) {
                Some("name" | "used") => {}
                other => {
                    return Err(MethodError::UnsupportedSort(format!("{other:?}")));
                }
            }
        }
    }
    let ids: Vec<Value> = if keep { vec![json!(ID)] } else { vec![] };
    Ok(json!({
        "accountId": id::account(account_id),
        "queryState": state.to_string(),
        "canCalculateChanges": false,
        "position": 0,
        "ids": ids,
        "total": ids.len(),
    }))
}

pub(super) async fn query_changes(
    ctx: &Ctx<'_>,
    args: Map<String, Value>,
) -> Result<Value, MethodError> {
    account(ctx.caller, &args)?;
    Err(MethodError::CannotCalculateChanges(
        "Quota/query results are fetched again".into(),
    ))
}
