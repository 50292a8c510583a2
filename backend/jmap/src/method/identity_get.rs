//! Identity/get (RFC 8621 §6.1): a default identity per address the user may send as (their
//! own and each alias that delivers to them), with the settings they gave it, and the
//! identities they created.

use mailroom_core::identity::Identity;
use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg, properties};
use crate::{MethodError, id};

const KNOWN: &[&str] = &[
    "id",
    "name",
    "email",
    "replyTo",
    "bcc",
    "textSignature",
    "htmlSignature",
    "mayDelete",
];

pub(super) fn identity_json(i: &Identity, props: &[String]) -> Value {
    let list = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null)
    };
    let mut o = Map::new();
    for p in props {
        let v = match p.as_str() {
            "id" => json!(id::identity_of(&i.id)),
            "name" => json!(i.row.name),
            "email" => json!(i.row.email),
            "replyTo" => list(&i.row.reply_to),
            "bcc" => list(&i.row.bcc),
            "textSignature" => json!(i.row.text_signature),
            "htmlSignature" => json!(i.row.html_signature),
            "mayDelete" => json!(!i.row.is_default),
            _ => continue,
        };
        o.insert(p.clone(), v);
    }
    Value::Object(o)
}

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let wanted = ids_arg(&args)?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let acc = ctx.core.user_get(&ctx.caller.address).await?;
    let all = ctx.core.identities(&acc).await?;
    let mut not_found = Vec::new();
    let list: Vec<Value> = match &wanted {
        None => all.iter().map(|i| identity_json(i, &props)).collect(),
        Some(ids) => ids
            .iter()
            .filter_map(|i| {
                let found = id::parse_identity(i).and_then(|x| all.iter().find(|a| a.id == x));
                if found.is_none() {
                    not_found.push(json!(i));
                }
                found.map(|f| identity_json(f, &props))
            })
            .collect(),
    };
    Ok(json!({
        "accountId": id::account(account_id),
        "state": state.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}
