//! Plain records handed to the service layer. They mirror rows but carry no sea-orm types.

use crate::BlobId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    pub id: i64,
    pub name: String,
    pub catch_all_account_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub address: String,
    pub domain_id: i64,
    pub password_hash: String,
    pub change_seq: i64,
    pub is_admin: bool,
    /// Storage limit in bytes; `None`: unlimited.
    pub quota_bytes: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub address: String,
    pub account_id: i64,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub id: i64,
    pub account_id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub role: Option<String>,
    pub sort_order: i32,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub subscribed: bool,
}

/// Parsed metadata of one message, stored once per blob whatever the number of recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageMeta {
    pub size: i64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    /// The subject without reply/forward prefixes, lowercased, for threading.
    pub base_subject: Option<String>,
    /// The subject had a reply/forward prefix (Re:, Fwd:, AW: …). Not stored.
    pub is_reply: bool,
    /// JSON arrays of `{"name":…, "email":…}`.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub reply_to: String,
    pub sent_at: Option<i64>,
    /// Message-IDs, without angle brackets.
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub has_attachment: bool,
    pub preview: String,
    /// From, To, Cc and Subject as the text index holds them: lowercased by Rust's rules,
    /// a line per name and per address (see `email_text.rs`). Not a column of `messages`.
    pub index_text: [String; 4],
}

/// One message in one mailbox, as listed for export or an IMAP view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxEntry {
    pub uid: u32,
    pub email_id: i64,
    pub blob_id: BlobId,
    pub received_at: i64,
    pub size: i64,
    pub keywords: String,
    pub modseq: i64,
}

/// What kind of object a change-log row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum ObjectType {
    Email = 1,
    Mailbox = 2,
    Thread = 3,
    EmailSubmission = 4,
    Identity = 5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum ChangeOp {
    Created = 1,
    Updated = 2,
    Destroyed = 3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub object_type: ObjectType,
    pub object_id: i64,
    pub op: ChangeOp,
}

impl ObjectType {
    pub(crate) fn from_i16(v: i16) -> Option<ObjectType> {
        match v {
            1 => Some(ObjectType::Email),
            2 => Some(ObjectType::Mailbox),
            3 => Some(ObjectType::Thread),
            4 => Some(ObjectType::EmailSubmission),
            5 => Some(ObjectType::Identity),
            _ => None,
        }
    }
}

impl ChangeOp {
    pub(crate) fn from_i16(v: i16) -> Option<ChangeOp> {
        match v {
            1 => Some(ChangeOp::Created),
            2 => Some(ChangeOp::Updated),
            3 => Some(ChangeOp::Destroyed),
            _ => None,
        }
    }
}
