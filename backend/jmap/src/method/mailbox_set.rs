//! Mailbox/set (RFC 8621 §2.5): create, rename, move, re-order, (un)subscribe and destroy
//! (with onDestroyRemoveEmails). Mailboxes with a role are the system's: they can be
//! re-ordered and (un)subscribed, not renamed, moved or destroyed.

use mailroom_core::mailboxes::{MailboxPatch, MailboxRefusal, name_problem};
use serde_json::{Map, Value, json};

use super::email_set::set_error;
use super::set::{SetOutcome, check_state, id_list_arg, object_arg};
use super::{Ctx, account};
use crate::{MethodError, id};

const SERVER_SET: &[&str] = &[
    "id",
    "totalEmails",
    "unreadEmails",
    "totalThreads",
    "unreadThreads",
    "myRights",
];

type ItemResult<T> = Result<T, Value>;

fn invalid(prop: &str, why: &str) -> Value {
    set_error("invalidProperties", why, Some(vec![prop.into()]))
}

fn refusal(r: MailboxRefusal) -> Value {
    match r {
        MailboxRefusal::NotFound => set_error("notFound", "no such mailbox", None),
        MailboxRefusal::BadParent => invalid(
            "parentId",
            "no such parent, or it is the mailbox itself or one of its descendants",
        ),
        MailboxRefusal::NameTaken => invalid("name", "a sibling mailbox already has this name"),
        MailboxRefusal::HasChild => {
            set_error("mailboxHasChild", "the mailbox has child mailboxes", None)
        }
        MailboxRefusal::HasEmail => set_error(
            "mailboxHasEmail",
            "the mailbox has emails; set onDestroyRemoveEmails to remove them",
            None,
        ),
        MailboxRefusal::HasRole => set_error(
            "forbidden",
            "a mailbox with a role cannot be renamed, moved or destroyed",
            None,
        ),
    }
}

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    let create = object_arg(&args, "create")?;
    let update = object_arg(&args, "update")?;
    let destroy = id_list_arg(&args, "destroy")?;
    let remove_emails = match args.get("onDestroyRemoveEmails") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(MethodError::InvalidArguments(
                "onDestroyRemoveEmails must be a boolean".into(),
            ));
        }
    };
    if create.len() + update.len() + destroy.len() > crate::MAX_OBJECTS_IN_SET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} objects per Mailbox/set",
            crate::MAX_OBJECTS_IN_SET
        )));
    }

    // Creation ids of this call, for parentId "#cid" of later creates.
    let mut here: Map<String, Value> = Map::new();
    let resolve = |v: &str, here: &Map<String, Value>| -> Option<i64> {
        let s = match v.strip_prefix('#') {
            Some(cid) => here
                .get(cid)
                .and_then(|x| x.as_str().map(str::to_string))
                .or_else(|| ctx.resolve_id(v))?,
            None => v.to_string(),
        };
        id::parse('m', &s)
    };

    // A child may name its parent by creation id in any order (JSON objects have none):
    // parents go first.
    let mut order: Vec<&String> = Vec::with_capacity(create.len());
    let mut pending: Vec<&String> = create.keys().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|cid| {
            let waits = create[*cid]
                .get("parentId")
                .and_then(Value::as_str)
                .and_then(|p| p.strip_prefix('#'))
                .is_some_and(|p| create.contains_key(p) && !order.iter().any(|o| *o == p));
            if !waits {
                order.push(cid);
            }
            waits
        });
        if pending.len() == before {
            // A cycle of creation ids: they fail on their parentId below.
            order.append(&mut pending);
        }
    }
    let mut created = Map::new();
    let mut not_created = Map::new();
    for cid in order {
        let obj = &create[cid];
        let r: ItemResult<Value> = async {
            let o = obj
                .as_object()
                .ok_or_else(|| invalid("name", "a Mailbox must be an object"))?;
            for (k, v) in o {
                match k.as_str() {
                    "name" | "parentId" | "sortOrder" | "isSubscribed" | "role" => {}
                    k if SERVER_SET.contains(&k) && v.is_null() => {}
                    k if SERVER_SET.contains(&k) => {
                        return Err(invalid(k, "this property is set by the server"));
                    }
                    k => return Err(invalid(k, "unknown property")),
                }
            }
            if o.get("role").is_some_and(|r| !r.is_null()) {
                return Err(invalid("role", "the system's mailboxes have the roles"));
            }
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("name", "name must be a string"))?;
            if let Some(why) = name_problem(name) {
                return Err(invalid("name", why));
            }
            let parent = match o.get("parentId") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(
                    resolve(p, &here).ok_or_else(|| invalid("parentId", "no such mailbox"))?,
                ),
                Some(_) => return Err(invalid("parentId", "parentId must be an id or null")),
            };
            let sort_order = match o.get("sortOrder") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| invalid("sortOrder", "sortOrder must be an UnsignedInt"))?,
            };
            let subscribed = match o.get("isSubscribed") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("isSubscribed", "isSubscribed must be a boolean")),
            };
            let m = ctx
                .core
                .mailbox_create(account_id, name, parent, sort_order, subscribed)
                .await
                .map_err(|e| set_error("serverFail", &e.to_string(), None))?
                .map_err(refusal)?;
            Ok(json!({
                "id": id::mailbox(m.id),
                "totalEmails": 0, "unreadEmails": 0, "totalThreads": 0, "unreadThreads": 0,
                "isSubscribed": subscribed, "sortOrder": sort_order,
                "myRights": {
                    "mayReadItems": true, "mayAddItems": true, "mayRemoveItems": true, "maySetSeen": true,
                    "maySetKeywords": true, "mayCreateChild": true, "mayRename": true,
                    "mayDelete": true, "maySubmit": true
                }
            }))
        }
        .await;
        match r {
            Ok(v) => {
                here.insert(cid.clone(), v["id"].clone());
                created.insert(cid.clone(), v);
            }
            Err(e) => {
                not_created.insert(cid.clone(), e);
            }
        }
    }

    let mut updated = Map::new();
    let mut not_updated = Map::new();
    for (key, patch) in &update {
        let r: ItemResult<()> = async {
            let mid = resolve(key, &here)
                .ok_or_else(|| set_error("notFound", "no such mailbox", None))?;
            let o = patch
                .as_object()
                .ok_or_else(|| set_error("invalidPatch", "a patch must be an object", None))?;
            let mut p = MailboxPatch::default();
            for (k, v) in o {
                match k.as_str() {
                    "name" => {
                        let n = v
                            .as_str()
                            .ok_or_else(|| invalid("name", "name must be a string"))?;
                        if let Some(why) = name_problem(n) {
                            return Err(invalid("name", why));
                        }
                        p.name = Some(n.to_string());
                    }
                    "parentId" => {
                        p.parent_id = Some(match v {
                            Value::Null => None,
                            Value::String(s) => Some(
                                resolve(s, &here)
                                    .ok_or_else(|| invalid("parentId", "no such mailbox"))?,
                            ),
                            _ => return Err(invalid("parentId", "parentId must be an id or null")),
                        })
                    }
                    "sortOrder" => {
                        p.sort_order = Some(
                            v.as_i64()
                                .and_then(|n| i32::try_from(n).ok())
                                .filter(|n| *n >= 0)
                                .ok_or_else(|| {
                                    invalid("sortOrder", "sortOrder must be an UnsignedInt")
                                })?,
                        )
                    }
                    "isSubscribed" => {
                        p.subscribed = Some(v.as_bool().ok_or_else(|| {
                            invalid("isSubscribed", "isSubscribed must be a boolean")
                        })?)
                    }
                    "role" => {
                        // Only "no change" is accepted; checked against the mailbox below.
                        let current = ctx
                            .core
                            .mailbox_list(account_id)
                            .await
                            .map_err(|e| set_error("serverFail", &e.to_string(), None))?
                            .into_iter()
                            .find(|m| m.id == mid)
                            .ok_or_else(|| set_error("notFound", "no such mailbox", None))?;
                        if v.as_str() != current.role.as_deref() {
                            return Err(invalid("role", "roles cannot be changed"));
                        }
                    }
                    k if SERVER_SET.contains(&k) => {
                        return Err(invalid(k, "this property is set by the server"));
                    }
                    k => return Err(invalid(k, "unknown property")),
                }
            }
            ctx.core
                .mailbox_update(account_id, mid, &p)
                .await
                .map_err(|e| set_error("serverFail", &e.to_string(), None))?
                .map_err(refusal)
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

    let mut destroyed = Vec::new();
    let mut not_destroyed = Map::new();
    for key in &destroy {
        let r = match resolve(key, &here) {
            None => Err(set_error("notFound", "no such mailbox", None)),
            Some(mid) => ctx
                .core
                .mailbox_destroy(account_id, mid, remove_emails)
                .await?
                .map_err(refusal),
        };
        match r {
            Ok(()) => destroyed.push(json!(key)),
            Err(e) => {
                not_destroyed.insert(key.clone(), e);
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
