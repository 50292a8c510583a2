//! Identity/set (RFC 8621 §6.3): create identities for the user's own addresses, change any
//! identity's name, signatures, Reply-To and Bcc, destroy those created. `email` cannot
//! change; an address that is not the user's is `forbiddenFrom`.

use mailroom_core::identity::IdentitySettings;
use serde_json::{Map, Value, json};

use super::email_set::set_error;
use super::identity_get::identity_json;
use super::set::{SetOutcome, check_state};
use super::{Ctx, account};
use crate::{MethodError, id};

fn invalid(p: &str, why: &str) -> Value {
    set_error("invalidProperties", why, Some(vec![p.into()]))
}

/// The settings in a create or update object; `email` is left to the caller.
fn settings(o: &Map<String, Value>, creating: bool) -> Result<IdentitySettings, Value> {
    let mut s = IdentitySettings::default();
    for (k, v) in o {
        let text = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(k, "must be a string"))
        };
        let addresses = || -> Result<Option<String>, Value> {
            match v {
                Value::Null => Ok(None),
                Value::Array(a)
                    if a.iter().all(|x| {
                        x.get("email")
                            .and_then(Value::as_str)
                            .is_some_and(|e| e.contains('@'))
                    }) =>
                {
                    Ok(Some(v.to_string()))
                }
                _ => Err(invalid(k, "must be a list of EmailAddress or null")),
            }
        };
        match k.as_str() {
            "name" => s.name = Some(text()?),
            "textSignature" => s.text_signature = Some(text()?),
            "htmlSignature" => s.html_signature = Some(text()?),
            "replyTo" => s.reply_to = Some(addresses()?),
            "bcc" => s.bcc = Some(addresses()?),
            "email" if creating => {}
            "email" => return Err(invalid(k, "an identity's email cannot change")),
            "id" | "mayDelete" if v.is_null() => {}
            "id" | "mayDelete" => return Err(invalid(k, "this property is set by the server")),
            _ => return Err(invalid(k, "unknown property")),
        }
    }
    Ok(s)
}

fn core_error(e: mailroom_core::Error, prop: &str) -> Result<Value, MethodError> {
    match e {
        mailroom_core::Error::Forbidden(d) => Ok(set_error("forbiddenFrom", &d, None)),
        mailroom_core::Error::NotFound(_) => Ok(set_error("notFound", "no such identity", None)),
        mailroom_core::Error::Invalid(d) => Ok(invalid(prop, &d)),
        e => Err(e.into()),
    }
}

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    let acc = ctx.core.user_get(&ctx.caller.address).await?;
    let all_props: Vec<String> = ["id", "mayDelete"].iter().map(|s| s.to_string()).collect();

    let (mut created, mut not_created) = (Map::new(), Map::new());
    if let Some(Value::Object(c)) = args.get("create") {
        for (cid, obj) in c {
            let r: Result<Value, Value> = async {
                let o = obj
                    .as_object()
                    .ok_or_else(|| invalid("email", "must be an object"))?;
                let email = o
                    .get("email")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("email", "email must be a string"))?;
                let s = settings(o, true)?;
                match ctx.core.identity_create(&acc, email, &s).await {
                    Ok(i) => Ok(identity_json(&i, &all_props)),
                    Err(e) => Err(core_error(e, "email")
                        .unwrap_or_else(|m| set_error("serverFail", &m.to_string(), None))),
                }
            }
            .await;
            match r {
                Ok(v) => {
                    created.insert(cid.clone(), v);
                }
                Err(e) => {
                    not_created.insert(cid.clone(), e);
                }
            }
        }
    }
    let (mut updated, mut not_updated) = (Map::new(), Map::new());
    if let Some(Value::Object(u)) = args.get("update") {
        for (key, patch) in u {
            let r: Result<(), Value> = async {
                let iid = ctx
                    .resolve_id(key)
                    .and_then(|k| id::parse_identity(&k))
                    .ok_or_else(|| set_error("notFound", "no such identity", None))?;
                let o = patch
                    .as_object()
                    .ok_or_else(|| set_error("invalidPatch", "a patch must be an object", None))?;
                let s = settings(o, false)?;
                ctx.core.identity_update(&acc, &iid, &s).await.map_err(|e| {
                    core_error(e, "name")
                        .unwrap_or_else(|m| set_error("serverFail", &m.to_string(), None))
                })
            }
            .await;
            match r {
                Ok(()) => {
                    updated.insert(key.clone(), Value::Null);
                }
                Err(e) => {
                    not_updated.insert(key.clone(), e);
                }
            }
        }
    }
    let (mut destroyed, mut not_destroyed) = (Vec::new(), Map::new());
    if let Some(Value::Array(d)) = args.get("destroy") {
        for key in d.iter().filter_map(Value::as_str) {
            let r = match ctx.resolve_id(key).and_then(|k| id::parse_identity(&k)) {
                None => Err(set_error("notFound", "no such identity", None)),
                Some(iid) => match ctx.core.identity_destroy(&acc, &iid).await {
                    Ok(()) => Ok(()),
                    Err(mailroom_core::Error::Forbidden(d)) => {
                        Err(set_error("forbidden", &d, None))
                    }
                    Err(e) => Err(core_error(e, "id")?),
                },
            };
            match r {
                Ok(()) => destroyed.push(json!(key)),
                Err(e) => {
                    not_destroyed.insert(key.to_string(), e);
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
