//! Building a MIME message from fields (the REST send endpoint, and later drafts): what a
//! script gives as JSON or form fields becomes an RFC 5322 message with mail-builder.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as MbAddress;

use crate::address::Address;
use crate::{Error, Result};

/// A message to compose. Addresses are `addr@domain` or `Display Name <addr@domain>`.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Clone, Debug)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A named address, parsed and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: Address,
}

impl Mailbox {
    pub fn parse(s: &str) -> Result<Mailbox> {
        let s = s.trim();
        if s.chars().any(|c| c == '\r' || c == '\n') {
            return Err(Error::Invalid(format!("{s:?}: line breaks in an address")));
        }
        match (s.rfind('<'), s.ends_with('>')) {
            (Some(lt), true) => {
                let name = s[..lt].trim().trim_matches('"').trim();
                Ok(Mailbox {
                    name: (!name.is_empty()).then(|| name.to_string()),
                    address: Address::parse(&s[lt + 1..s.len() - 1])?,
                })
            }
            _ => Ok(Mailbox {
                name: None,
                address: Address::parse(s)?,
            }),
        }
    }

    fn builder(&self) -> MbAddress<'static> {
        MbAddress::new_address(self.name.clone(), self.address.as_str().to_string())
    }
}

fn list(v: &[Mailbox]) -> MbAddress<'static> {
    MbAddress::new_list(v.iter().map(Mailbox::builder).collect())
}

/// A composed message: the bytes to send (no Bcc header) and the copy to keep in Sent (with
/// it), plus the parsed envelope.
pub struct Composed {
    pub raw: Vec<u8>,
    pub sent_copy: Vec<u8>,
    pub from: Mailbox,
    pub recipients: Vec<Address>,
    pub message_id: String,
}

/// Attachments and bodies together may not pass this (bytes, before base64).
pub const MAX_MESSAGE_SIZE: usize = 25 * 1024 * 1024;

pub fn compose(d: &Draft) -> Result<Composed> {
    let from = Mailbox::parse(&d.from)?;
    let parse_all = |v: &[String]| {
        v.iter()
            .map(|s| Mailbox::parse(s))
            .collect::<Result<Vec<_>>>()
    };
    let (to, cc, bcc) = (parse_all(&d.to)?, parse_all(&d.cc)?, parse_all(&d.bcc)?);
    let mut recipients: Vec<Address> = Vec::new();
    for m in to.iter().chain(&cc).chain(&bcc) {
        if !recipients.contains(&m.address) {
            recipients.push(m.address.clone());
        }
    }
    if recipients.is_empty() {
        return Err(Error::Invalid(
            "a message needs at least one recipient in to, cc or bcc".into(),
        ));
    }
    if d.subject.chars().any(|c| c == '\r' || c == '\n') {
        return Err(Error::Invalid(
            "the subject may not contain line breaks".into(),
        ));
    }
    let size = d.text.as_ref().map_or(0, String::len)
        + d.html.as_ref().map_or(0, String::len)
        + d.attachments.iter().map(|a| a.data.len()).sum::<usize>();
    if size > MAX_MESSAGE_SIZE {
        return Err(Error::Invalid(format!(
            "the message is {size} bytes; the limit is {MAX_MESSAGE_SIZE}"
        )));
    }
    let message_id = format!("{}@{}", random_hex(), from.address.domain());
    let build = |with_bcc: bool| -> Result<Vec<u8>> {
        let mut b = MessageBuilder::new()
            .from(from.builder())
            .subject(d.subject.clone())
            .message_id(message_id.clone());
        if !to.is_empty() {
            b = b.to(list(&to));
        }
        if !cc.is_empty() {
            b = b.cc(list(&cc));
        }
        if with_bcc && !bcc.is_empty() {
            b = b.bcc(list(&bcc));
        }
        if let Some(r) = &d.reply_to {
            b = b.reply_to(Mailbox::parse(r)?.builder());
        }
        match (&d.text, &d.html) {
            (None, None) => b = b.text_body(String::new()),
            (t, h) => {
                if let Some(t) = t {
                    b = b.text_body(t.clone());
                }
                if let Some(h) = h {
                    b = b.html_body(h.clone());
                }
            }
        }
        for a in &d.attachments {
            let name = a.filename.trim();
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(Error::Invalid(
                    "an attachment needs a filename without control characters".into(),
                ));
            }
            if !valid_content_type(&a.content_type) {
                return Err(Error::Invalid(format!(
                    "{:?} is not a content type (type/subtype)",
                    a.content_type
                )));
            }
            b = b.attachment(a.content_type.clone(), name.to_string(), a.data.clone());
        }
        b.write_to_vec()
            .map_err(|e| Error::Internal(format!("composing: {e}")))
    };
    Ok(Composed {
        raw: build(false)?,
        sent_copy: build(true)?,
        from,
        recipients,
        message_id,
    })
}

/// `type/subtype`, both RFC 2045 tokens.
pub(crate) fn valid_content_type(s: &str) -> bool {
    let Some((t, st)) = s.split_once('/') else {
        return false;
    };
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    token(t) && token(st)
}

/// 32 random hex digits (Message-IDs, not secrets).
pub(crate) fn random_id() -> String {
    random_hex()
}

fn random_hex() -> String {
    let mut b = [0u8; 16];
    // Uniqueness, not secrecy: fall back to the clock if the OS has no randomness to give.
    if getrandom::fill(&mut b).is_err() {
        b[..16].copy_from_slice(
            &chrono::Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_le_bytes()
                .repeat(2),
        );
    }
    hex::encode(b)
}
