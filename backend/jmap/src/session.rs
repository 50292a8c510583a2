//! The JMAP Session resource (RFC 8620 §2).

use serde_json::{Value, json};

use crate::{
    CORE, Caller, MAIL, MAX_CALLS_IN_REQUEST, MAX_OBJECTS_IN_GET, MAX_OBJECTS_IN_SET,
    MAX_SIZE_REQUEST, MAX_SIZE_UPLOAD, QUOTA, SUBMISSION, VACATION, id,
};

/// The Session object's state (RFC 8620 §2): it changes when what the Session says changes
/// (the account and its name), not with the mail, so clients do not re-fetch the Session
/// after every delivery. A hash, stable across restarts of the same build.
pub fn state(caller: &Caller) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        caller.account_id,
        &caller.address,
        MAX_SIZE_UPLOAD,
        MAX_OBJECTS_IN_SET,
    )
        .hash(&mut h);
    format!("{:x}", h.finish())
}

/// The Session object for `caller`; `base` is the server's URL prefix (e.g. `http://host:8080`).
pub fn session(caller: &Caller, base: &str) -> Value {
    let account = id::account(caller.account_id);
    json!({
        "capabilities": {
            CORE: {
                "maxSizeUpload": MAX_SIZE_UPLOAD,
                "maxConcurrentUpload": 1,
                "maxSizeRequest": MAX_SIZE_REQUEST,
                "maxConcurrentRequests": 16,
                "maxCallsInRequest": MAX_CALLS_IN_REQUEST,
                "maxObjectsInGet": MAX_OBJECTS_IN_GET,
                "maxObjectsInSet": MAX_OBJECTS_IN_SET,
                "collationAlgorithms": ["i;ascii-casemap", "i;unicode-casemap"]
            },
            MAIL: {},
            SUBMISSION: {},
            VACATION: {},
            QUOTA: {}
        },
        "accounts": {
            account.clone(): {
                "name": caller.address,
                "isPersonal": true,
                "isReadOnly": false,
                "accountCapabilities": {
                    CORE: {},
                    MAIL: {
                        "maxMailboxesPerEmail": null,
                        "maxMailboxDepth": null,
                        "maxSizeMailboxName": 255,
                        "maxSizeAttachmentsPerEmail": mailroom_core::build::MAX_BUILT_SIZE,
                        "emailQuerySortOptions": ["receivedAt", "sentAt", "size", "from", "to", "subject", "hasKeyword"],
                        "mayCreateTopLevelMailbox": true
                    },
                    // Every message is sent at once: no delayed sending, no undo.
                    SUBMISSION: {
                        "maxDelayedSend": 0,
                        "submissionExtensions": {}
                    },
                    VACATION: {},
                    QUOTA: {}
                }
            }
        },
        "primaryAccounts": { CORE: account.clone(), MAIL: account.clone(), SUBMISSION: account.clone(), VACATION: account.clone(), QUOTA: account },
        "username": caller.address,
        "apiUrl": format!("{base}/jmap/api"),
        "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}"),
        "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
        "eventSourceUrl": format!("{base}/jmap/eventsource?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
        "state": state(caller)
    })
}
