//! Email/set (RFC 8621 §4.6 with RFC 8620 §5.3): updating keywords and mailboxIds (whole, or
//! by patch paths like `keywords/$seen` and `mailboxIds/m3`) and destroying emails.
//! Creating emails is in `email_create.rs`.

use std::collections::BTreeSet;

use mailroom_core::update::EmailUpdate;
use serde_json::{Map, Value, json};

use super::set::{SetOutcome, check_state};
use super::{Ctx, account};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    // RFC 8620 §5.3: more create + update + destroy items than maxObjectsInSet is refused whole.
    let count = |k: &str| match args.get(k) {
        Some(Value::Object(o)) => o.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    };
    if count("create") + count("update") + count("destroy") > crate::MAX_OBJECTS_IN_SET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} objects per Email/set",
            crate::MAX_OBJECTS_IN_SET
        )));
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    if let Some(create) = args.get("create").filter(|v| !v.is_null()) {
        let create = create
            .as_object()
            .ok_or_else(|| MethodError::InvalidArguments("create must be an object".into()))?;
        for (k, obj) in create {
            match super::email_create::create(ctx, account_id, obj).await? {
                Ok(v) => {
                    // Later creates in this call and later calls may refer to it.
                    if let Some(i) = v["id"].as_str() {
                        ctx.created
                            .lock()
                            .expect("created ids")
                            .insert(k.clone(), i.to_string());
                    }
                    created.insert(k.clone(), v);
                }
                Err(e) => {
                    not_created.insert(k.clone(), e);
                }
            }
        }
    }

    // Updates: resolve every patch against the email as it is now.
    let mut updated = Map::new();
    let mut not_updated = Map::new();
    if let Some(update) = args.get("update").filter(|v| !v.is_null()) {
        let update = update
            .as_object()
            .ok_or_else(|| MethodError::InvalidArguments("update must be an object".into()))?;
        let key_id = |k: &str| ctx.resolve_id(k).and_then(|k| id::parse('e', &k));
        let numbers: Vec<i64> = update.keys().filter_map(|k| key_id(k)).collect();
        let current = ctx.core.emails(account_id, &numbers).await?;
        let mut jobs: Vec<(String, EmailUpdate)> = Vec::new();
        for (key, patch) in update {
            let Some(e) = key_id(key).and_then(|n| current.iter().find(|c| c.row.id == n)) else {
                not_updated.insert(key.clone(), set_error("notFound", "no such email", None));
                continue;
            };
            let Some(patch) = patch.as_object() else {
                not_updated.insert(
                    key.clone(),
                    set_error("invalidPatch", "a patch must be an object", None),
                );
                continue;
            };
            let mut keywords: BTreeSet<String> = e.keywords().map(str::to_string).collect();
            let mut boxes: BTreeSet<i64> = e.mailbox_ids.iter().copied().collect();
            let (mut kw_changed, mut boxes_changed) = (false, false);
            let mut bad: Option<Value> = None;
            for (path, value) in patch {
                let path = path.replace("~1", "/").replace("~0", "~");
                let all_true = |v: &Value| {
                    v.as_object()
                        .is_some_and(|o| o.values().all(|x| x == &json!(true)))
                };
                let ok = if path == "keywords" {
                    kw_changed = true;
                    match value.as_object() {
                        Some(o) if all_true(value) => {
                            keywords = o.keys().cloned().collect();
                            true
                        }
                        _ => false,
                    }
                } else if let Some(k) = path.strip_prefix("keywords/") {
                    kw_changed = true;
                    match value {
                        Value::Bool(true) => {
                            keywords.insert(k.to_string());
                            true
                        }
                        Value::Null => {
                            keywords.remove(k);
                            true
                        }
                        _ => false,
                    }
                } else if path == "mailboxIds" {
                    boxes_changed = true;
                    let parsed: Option<BTreeSet<i64>> = value
                        .as_object()
                        .filter(|_| all_true(value))
                        .and_then(|o| o.keys().map(|m| id::parse('m', m)).collect());
                    match parsed {
                        Some(p) => {
                            boxes = p;
                            true
                        }
                        None => false,
                    }
                } else if let Some(m) = path.strip_prefix("mailboxIds/") {
                    boxes_changed = true;
                    match (id::parse('m', m), value) {
                        (Some(n), Value::Bool(true)) => {
                            boxes.insert(n);
                            true
                        }
                        (Some(n), Value::Null) => {
                            boxes.remove(&n);
                            true
                        }
                        _ => false,
                    }
                } else {
                    false
                };
                if !ok {
                    bad = Some(set_error(
                        "invalidProperties",
                        &format!("cannot set {path}"),
                        Some(vec![path.clone()]),
                    ));
                    break;
                }
            }
            if let Some(err) = bad {
                not_updated.insert(key.clone(), err);
                continue;
            }
            jobs.push((
                key.clone(),
                EmailUpdate {
                    email_id: e.row.id,
                    keywords: kw_changed.then(|| keywords.into_iter().collect()),
                    mailbox_ids: boxes_changed.then(|| boxes.into_iter().collect()),
                    ..Default::default()
                },
            ));
        }
        let (keys, items): (Vec<String>, Vec<EmailUpdate>) = jobs.into_iter().unzip();
        let results = ctx.core.update_emails(account_id, items).await?;
        for (key, r) in keys.into_iter().zip(results) {
            match r {
                Ok(()) => {
                    updated.insert(key, Value::Null);
                }
                Err(mailroom_core::Error::NotFound(d)) => {
                    not_updated.insert(key, set_error("notFound", &d, None));
                }
                Err(e) => {
                    let props = if e.to_string().contains("mailbox") {
                        "mailboxIds"
                    } else {
                        "keywords"
                    };
                    not_updated.insert(
                        key,
                        set_error(
                            "invalidProperties",
                            &e.to_string(),
                            Some(vec![props.into()]),
                        ),
                    );
                }
            }
        }
    }

    let mut destroyed = Vec::new();
    let mut not_destroyed = Map::new();
    if let Some(destroy) = args.get("destroy").filter(|v| !v.is_null()) {
        let list = destroy
            .as_array()
            .ok_or_else(|| MethodError::InvalidArguments("destroy must be an array".into()))?;
        let keys: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if keys.len() != list.len() {
            return Err(MethodError::InvalidArguments(
                "destroy must list ids".into(),
            ));
        }
        let numbers: Vec<i64> = keys
            .iter()
            .map(|k| id::parse('e', k).unwrap_or(-1))
            .collect();
        let results = ctx.core.destroy_emails(account_id, &numbers).await?;
        for (key, r) in keys.into_iter().zip(results) {
            match r {
                Ok(()) => destroyed.push(Value::String(key)),
                Err(_) => {
                    not_destroyed.insert(key, set_error("notFound", "no such email", None));
                }
            }
        }
    }
    SetOutcome {
        created,
        updated,
        destroyed,
        not_created,
        not_updated,
        not_destroyed,
    }
    .response(ctx, account_id, old_state)
    .await
}

/// A SetError (RFC 8620 §5.3).
pub(super) fn set_error(kind: &str, description: &str, properties: Option<Vec<String>>) -> Value {
    let mut e = json!({"type": kind, "description": description});
    if let Some(p) = properties {
        e["properties"] = json!(p);
    }
    e
}
