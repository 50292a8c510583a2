//! Mailbox/get (RFC 8621 §2.1 with RFC 8620 §5.1).

use serde_json::{Map, Value, json};

use super::{Ctx, account, ids_arg, properties};
use crate::{MethodError, id};

const KNOWN: &[&str] = &[
    "id",
    "name",
    "parentId",
    "role",
    "sortOrder",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
    "isSubscribed",
];

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let state = ctx.state().await?;
    let wanted = ids_arg(&args)?;
    let props = properties(&args, KNOWN, KNOWN)?;
    let all = ctx.core.mailboxes_at(account_id, state).await?;
    let mut list = Vec::new();
    let mut not_found = Vec::new();
    let selected: Vec<_> = match &wanted {
        None => all.iter().collect(),
        Some(ids) => {
            let mut v = Vec::new();
            for i in ids {
                match id::parse('m', i).and_then(|n| all.iter().find(|m| m.mailbox.id == n)) {
                    Some(m) => v.push(m),
                    None => not_found.push(Value::String(i.clone())),
                }
            }
            v
        }
    };
    for m in selected {
        let mb = &m.mailbox;
        let mut o = Map::new();
        for p in &props {
            let v = match p.as_str() {
                "id" => json!(id::mailbox(mb.id)),
                "name" => json!(mb.name),
                "parentId" => mb
                    .parent_id
                    .map(|p| json!(id::mailbox(p)))
                    .unwrap_or(Value::Null),
                "role" => json!(mb.role),
                "sortOrder" => json!(mb.sort_order),
                "totalEmails" => json!(m.counts.total_emails),
                "unreadEmails" => json!(m.counts.unread_emails),
                "totalThreads" => json!(m.counts.total_threads),
                "unreadThreads" => json!(m.counts.unread_threads),
                "myRights" => json!({
                    "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true,
                    "maySetKeywords": true, "mayCreateChild": true, "mayRename": mb.role.is_none(),
                    "mayDelete": mb.role.is_none(), "maySubmit": true
                }),
                "isSubscribed" => json!(mb.subscribed),
                _ => continue,
            };
            o.insert(p.clone(), v);
        }
        list.push(Value::Object(o));
    }
    Ok(
        json!({"accountId": id::account(account_id), "state": state.to_string(), "list": list, "notFound": not_found}),
    )
}
