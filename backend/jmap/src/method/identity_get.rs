//! Identity/get (RFC 8621 §6.1): one identity per address the user may send as — their own
//! address and each alias that delivers to them. Identities follow the account's aliases, so
//! they are not created or destroyed through JMAP (Identity/set is not offered).

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

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let wanted = ids_arg(&args)?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let acc = ctx.core.user_get(&ctx.caller.address).await?;
    let addresses = ctx.core.sender_addresses(&acc).await?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    let selected: Vec<&String> = match &wanted {
        None => addresses.iter().collect(),
        Some(ids) => ids
            .iter()
            .filter_map(|i| {
                let found =
                    id::identity_address(i).and_then(|a| addresses.iter().find(|x| **x == a));
                if found.is_none() {
                    not_found.push(json!(i));
                }
                found
            })
            .collect(),
    };
    for a in selected {
        let mut o = Map::new();
        for p in &props {
            let v = match p.as_str() {
                "id" => json!(id::identity(a)),
                "name" => json!(""),
                "email" => json!(a),
                "replyTo" | "bcc" => Value::Null,
                "textSignature" | "htmlSignature" => json!(""),
                "mayDelete" => json!(false),
                _ => continue,
            };
            o.insert(p.clone(), v);
        }
        list.push(Value::Object(o));
    }
    Ok(json!({
        "accountId": id::account(account_id),
        "state": ctx.state.to_string(),
        "list": list,
        "notFound": not_found,
    }))
}
