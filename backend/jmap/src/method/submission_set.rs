//! EmailSubmission/set (RFC 8621 §7.5): sending one of the user's emails, then — only for
//! the submissions that went — the implicit Email/set of onSuccessUpdateEmail /
//! onSuccessDestroyEmail, returned as a second response with the same call id.
//!
//! Every message is sent at once and is final (`maxDelayedSend` is 0), so a submission
//! cannot be updated (undoStatus "canceled" is refused) or destroyed.

use mailroom_core::address::Address;
use mailroom_core::identity::{Identity, IdentityId};
use mailroom_core::submit::Refusal;
use serde_json::{Map, Value, json};

use super::email_set::set_error;
use super::set::{SetOutcome, check_state, id_list_arg, object_arg};
use super::{Ctx, account, email_set, utc_date};
use crate::{MethodError, id};

pub(super) async fn run(ctx: &Ctx<'_>, args: Map<String, Value>) -> Result<Value, MethodError> {
    let account_id = account(ctx.caller, &args)?;
    let old_state = check_state(ctx, account_id, &args).await?;
    let create = object_arg(&args, "create")?;
    let update = object_arg(&args, "update")?;
    let on_update = object_arg(&args, "onSuccessUpdateEmail")?;
    let on_destroy = id_list_arg(&args, "onSuccessDestroyEmail")?;
    let destroy = id_list_arg(&args, "destroy")?;
    if create.len() + update.len() + destroy.len() > crate::MAX_OBJECTS_IN_SET {
        return Err(MethodError::RequestTooLarge(format!(
            "at most {} objects per EmailSubmission/set",
            crate::MAX_OBJECTS_IN_SET
        )));
    }
    let acc = ctx.core.user_get(&ctx.caller.address).await?;
    // Who the user may send as, read once for all the creates.
    let identities = if create.is_empty() {
        Vec::new()
    } else {
        ctx.core.identities(&acc).await?
    };

    let mut created = Map::new();
    let mut not_created = Map::new();
    // Submission id (and creation id) → the email it sent, for the implicit Email/set.
    let mut sent_email: Vec<(String, String, i64)> = Vec::new();
    for (cid, obj) in &create {
        match create_one(ctx, &acc, &identities, obj).await? {
            Ok((sub_id, email_id, send_at)) => {
                let sid = id::submission(sub_id);
                sent_email.push((cid.clone(), sid.clone(), email_id));
                created.insert(
                    cid.clone(),
                    json!({
                        "id": sid,
                        "threadId": Value::Null,
                        "sendAt": utc_date(send_at),
                        "undoStatus": "final",
                    }),
                );
            }
            Err(e) => {
                not_created.insert(cid.clone(), e);
            }
        }
    }
    // Fill in the thread of each sent email (one lookup for all).
    if !sent_email.is_empty() {
        let ids: Vec<i64> = sent_email.iter().map(|s| s.2).collect();
        let rows = ctx.core.emails(account_id, &ids).await?;
        for (cid, _, eid) in &sent_email {
            if let Some(r) = rows.iter().find(|r| r.row.id == *eid) {
                created[cid]["threadId"] = json!(id::thread(r.row.thread_id));
            }
        }
    }

    // Existing submissions are final: nothing to change or take back.
    let mut not_updated = Map::new();
    let mut not_destroyed = Map::new();
    let known = |sid: &str| {
        let n = id::parse('s', sid);
        async move {
            match n {
                Some(n) => ctx
                    .core
                    .submissions(account_id, Some(&[n]))
                    .await
                    .map(|v| !v.is_empty()),
                None => Ok(false),
            }
        }
    };
    for key in update.keys() {
        let err = if known(key).await? {
            set_error(
                "cannotUnsend",
                "the message has already been sent; submissions are final",
                None,
            )
        } else {
            set_error("notFound", "no such submission", None)
        };
        not_updated.insert(key.clone(), err);
    }
    for key in &destroy {
        let err = if known(key).await? {
            set_error(
                "forbidden",
                "submissions are a record of what was sent and are not destroyed",
                None,
            )
        } else {
            set_error("notFound", "no such submission", None)
        };
        not_destroyed.insert(key.clone(), err);
    }

    let mut result = SetOutcome {
        created,
        not_created,
        not_updated,
        not_destroyed,
        ..SetOutcome::default()
    }
    .response(ctx, account_id, old_state)
    .await?;

    // RFC 8621 §7.5: keys are "#creationId" or a submission id; only those that succeeded.
    let email_of = |key: &str| {
        sent_email
            .iter()
            .find(|(cid, sid, _)| key.strip_prefix('#') == Some(cid.as_str()) || key == sid)
            .map(|s| id::email(s.2))
    };
    let mut email_update = Map::new();
    for (key, patch) in on_update {
        if let Some(e) = email_of(&key) {
            email_update.insert(e, patch);
        }
    }
    let email_destroy: Vec<Value> = on_destroy
        .iter()
        .filter_map(|k| email_of(k))
        .map(Value::String)
        .collect();
    if !email_update.is_empty() || !email_destroy.is_empty() {
        let mut set_args = Map::new();
        set_args.insert("accountId".into(), json!(id::account(account_id)));
        if !email_update.is_empty() {
            set_args.insert("update".into(), Value::Object(email_update));
        }
        if !email_destroy.is_empty() {
            set_args.insert("destroy".into(), Value::Array(email_destroy));
        }
        let implicit = email_set::run(ctx, set_args).await?;
        result[crate::IMPLICIT] = json!(["Email/set", implicit]);
    }
    Ok(result)
}

/// One create: the submission's id, its email and send time, or a SetError.
async fn create_one(
    ctx: &Ctx<'_>,
    acc: &mailroom_core::Account,
    identities: &[Identity],
    obj: &Value,
) -> Result<Result<(i64, i64, i64), Value>, MethodError> {
    let invalid =
        |p: &str, why: &str| Err(set_error("invalidProperties", why, Some(vec![p.into()])));
    let Some(obj) = obj.as_object() else {
        return Ok(invalid("emailId", "an EmailSubmission must be an object"));
    };
    for (k, v) in obj {
        let server_set = [
            "id",
            "threadId",
            "sendAt",
            "deliveryStatus",
            "dsnBlobIds",
            "mdnBlobIds",
        ];
        if server_set.contains(&k.as_str()) && !v.is_null() {
            return Ok(invalid(k, "this property is set by the server"));
        }
        if !["identityId", "emailId", "envelope", "undoStatus"].contains(&k.as_str())
            && !server_set.contains(&k.as_str())
        {
            return Ok(invalid(k, "unknown property"));
        }
    }
    if let Some(u) = obj.get("undoStatus")
        && u != "final"
        && !u.is_null()
    {
        return Ok(invalid(
            "undoStatus",
            "messages are sent at once; undoStatus can only be \"final\"",
        ));
    }
    let Some(identity) = obj.get("identityId").and_then(Value::as_str) else {
        return Ok(invalid("identityId", "identityId must be a string"));
    };
    // Every address the user may send as has a default identity; an identity created for
    // an alias the user has since lost is not one to send as.
    let Some(identity_addr) = id::parse_identity(identity)
        .and_then(|i| identities.iter().find(|x| x.id == i))
        .map(|i| i.row.email.clone())
        .filter(|a| {
            identities
                .iter()
                .any(|x| x.id == IdentityId::Default(a.clone()))
        })
    else {
        return Ok(invalid("identityId", "no such identity"));
    };
    let Some(email_key) = obj.get("emailId").and_then(Value::as_str) else {
        return Ok(invalid("emailId", "emailId must be a string"));
    };
    let Some(email_id) = ctx.resolve_id(email_key).and_then(|e| id::parse('e', &e)) else {
        return Ok(invalid("emailId", "no such email"));
    };
    let (mail_from, recipients) = match obj.get("envelope") {
        None | Some(Value::Null) => (None, None),
        Some(env) => match envelope(env) {
            Ok((f, r)) => (Some(f), Some(r)),
            Err(why) => return Ok(invalid("envelope", &why)),
        },
    };
    // The envelope sender defaults to the identity's address (RFC 8621 §7.5).
    let mail_from = mail_from.or_else(|| Address::parse(&identity_addr).ok());
    let sent = match ctx
        .core
        .submit_email(acc, email_id, mail_from, recipients)
        .await
    {
        Err(mailroom_core::Error::NotFound(_)) => {
            return Ok(invalid("emailId", "no such email"));
        }
        r => r?,
    };
    Ok(match sent {
        Ok(r) => Ok((r.submission.id, r.email_id, r.submission.send_at)),
        Err(refusal) => Err(refusal_error(refusal)),
    })
}

/// `envelope`: `{mailFrom: Address, rcptTo: [Address]}`, Address = `{email, parameters}`.
fn envelope(v: &Value) -> Result<(Address, Vec<Address>), String> {
    let addr = |a: &Value| -> Result<Address, String> {
        let email = a
            .get("email")
            .and_then(Value::as_str)
            .ok_or("an envelope address needs an email")?;
        if a.get("parameters").is_some_and(|p| !p.is_null()) {
            return Err("SMTP parameters are not supported".into());
        }
        Address::parse(email).map_err(|e| e.to_string())
    };
    let from = addr(v.get("mailFrom").ok_or("envelope needs mailFrom")?)?;
    let rcpt = v
        .get("rcptTo")
        .and_then(Value::as_array)
        .ok_or("envelope needs rcptTo as an array")?
        .iter()
        .map(addr)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((from, rcpt))
}

/// RFC 8621 §7.5's SetError types for a message the server would not send.
fn refusal_error(r: Refusal) -> Value {
    let why = r.clone().into_error().to_string();
    match r {
        Refusal::NoRecipients => set_error("noRecipients", &why, None),
        Refusal::TooManyRecipients => {
            let mut e = set_error("tooManyRecipients", &why, None);
            e["maxRecipients"] = json!(mailroom_core::submit::MAX_RECIPIENTS);
            e
        }
        Refusal::ForbiddenMailFrom(_) => set_error("forbiddenMailFrom", &why, None),
        Refusal::ForbiddenFrom(_) => set_error("forbiddenFrom", &why, None),
        Refusal::NoFrom(_) => set_error("invalidEmail", &why, Some(vec!["from".into()])),
        Refusal::UnknownRecipients(v) => {
            let mut e = set_error("invalidRecipients", &why, None);
            e["invalidRecipients"] = json!(v);
            e
        }
        Refusal::RemoteRecipients(_) => set_error("forbiddenToSend", &why, None),
        Refusal::RateLimited(_) => set_error("rateLimit", &why, None),
    }
}
