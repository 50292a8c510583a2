//! VacationResponse/get and /set (RFC 8621 §8): one object per account, id "singleton".
//! It can be updated, never created or destroyed.

use mailroom_core::vacation::Vacation;
use serde_json::{Map, Value, json};

use super::email_set::set_error;
use super::set::{SetOutcome, check_state};
use super::{Ctx, account, ids_arg, properties, utc_date};
use crate::{MethodError, id};

const KNOWN: &[&str] = &[
    "id",
    "isEnabled",
    "fromDate",
    "toDate",
    "subject",
    "textBody",
    "htmlBody",
];

fn to_json(v: &Vacation, props: &[String]) -> Value {
    let mut o = Map::new();
    for p in props {
        let x = match p.as_str() {
            "id" => json!("singleton"),
            "isEnabled" => json!(v.is_enabled),
            "fromDate" => v.from_date.map(utc_date).unwrap_or(Value::Null),
            "toDate" => v.to_date.map(utc_date).unwrap_or(Value::Null),
            "subject" => json!(v.subject),
            "textBody" => json!(v.text_body),
            "htmlBody" => json!(v.html_body),
            _ => continue,
        };
        o.insert(p.clone(), x);
    }
    Value::Object(o)
}

pub(super) async fn get(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let wanted = ids_arg(&args)?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let v = ctx.core.vacation(account_id).await?;
    let (list, not_found): (Vec<Value>, Vec<Value>) = match wanted {
        None => (vec![to_json(&v, &props)], vec![]),
        Some(ids) => {
            let list = if ids.iter().any(|i| i == "singleton") {
                vec![to_json(&v, &props)]
            } else {
                vec![]
            };
            (
                list,
                ids.iter()
                    .filter(|i| *i != "singleton")
                    .map(|i| json!(i))
                    .collect(),
            )
        }
    };
    Ok(json!({
        "accountId": id::account(account_id),
        "state": state.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}

pub(super) async fn set(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    let mut not_created = Map::new();
    if let Some(Value::Object(c)) = args.get("create") {
        for k in c.keys() {
            not_created.insert(
                k.clone(),
                set_error("singleton", "the vacation response exists; update it", None),
            );
        }
    }
    let mut not_destroyed = Map::new();
    if let Some(Value::Array(d)) = args.get("destroy") {
        for k in d.iter().filter_map(Value::as_str) {
            not_destroyed.insert(
                k.to_string(),
                set_error(
                    "singleton",
                    "the vacation response cannot be destroyed",
                    None,
                ),
            );
        }
    }
    let mut updated = Map::new();
    let mut not_updated = Map::new();
    if let Some(Value::Object(u)) = args.get("update") {
        for (k, patch) in u {
            if k != "singleton" {
                not_updated.insert(k.clone(), set_error("notFound", "no such object", None));
                continue;
            }
            let mut v = ctx.core.vacation(account_id).await?;
            match apply(&mut v, patch) {
                Err(e) => {
                    not_updated.insert(k.clone(), e);
                }
                Ok(()) => match ctx.core.vacation_set(account_id, &v).await {
                    Ok(()) => {
                        updated.insert(k.clone(), Value::Null);
                    }
                    Err(mailroom_core::Error::Invalid(d)) => {
                        not_updated.insert(k.clone(), set_error("invalidProperties", &d, None));
                    }
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }
    SetOutcome {
        updated,
        not_created,
        not_updated,
        not_destroyed,
        ..SetOutcome::default()
    }
    .response(ctx, account_id, old_state)
    .await
}

fn apply(v: &mut Vacation, patch: &Value) -> Result<(), Value> {
    let o = patch
        .as_object()
        .ok_or_else(|| set_error("invalidPatch", "a patch must be an object", None))?;
    let invalid = |p: &str, why: &str| set_error("invalidProperties", why, Some(vec![p.into()]));
    for (k, x) in o {
        let text = || match x {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(invalid(k, "must be a string or null")),
        };
        let date = || match x {
            Value::Null => Ok(None),
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.timestamp()))
                .map_err(|_| invalid(k, "must be a UTCDate or null")),
            _ => Err(invalid(k, "must be a UTCDate or null")),
        };
        match k.as_str() {
            "isEnabled" => {
                v.is_enabled = x.as_bool().ok_or_else(|| invalid(k, "must be a boolean"))?
            }
            "fromDate" => v.from_date = date()?,
            "toDate" => v.to_date = date()?,
            "subject" => v.subject = text()?,
            "textBody" => v.text_body = text()?,
            "htmlBody" => v.html_body = text()?,
            "id" if x == "singleton" => {}
            _ => return Err(invalid(k, "unknown or read-only property")),
        }
    }
    Ok(())
}
