//! The readable parts of a message: its text and HTML bodies and its attachments, as
//! mail-parser finds them (RFC 8621 §4.1.4 rules: the first text/plain and text/html of the
//! body, everything else that is not inline text is an attachment).

use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::{Core, Error, Result};

/// One attachment: `index` is its position in [`Body::attachments`], stable for a message.
#[derive(Clone, Debug)]
pub struct AttachmentInfo {
    pub index: usize,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Body {
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(st) => format!("{}/{}", ct.ctype(), st).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// Text and HTML bodies and the attachment list of a raw message.
pub fn body_of(raw: &[u8]) -> Body {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Body::default();
    };
    Body {
        text: msg.body_text(0).map(|t| t.into_owned()),
        html: msg.body_html(0).map(|t| t.into_owned()),
        attachments: msg
            .attachments()
            .enumerate()
            .map(|(index, p)| AttachmentInfo {
                index,
                filename: p.attachment_name().map(str::to_string),
                content_type: content_type(p),
                size: p.contents().len(),
            })
            .collect(),
    }
}

/// The decoded bytes of attachment `index`, with its info.
pub fn attachment_of(raw: &[u8], index: usize) -> Option<(AttachmentInfo, Vec<u8>)> {
    let msg = MessageParser::default().parse(raw)?;
    let p = msg.attachments().nth(index)?;
    let bytes = match &p.body {
        // An attached message is given whole, as message/rfc822.
        PartType::Message(m) => m.raw_message().to_vec(),
        _ => p.contents().to_vec(),
    };
    Some((
        AttachmentInfo {
            index,
            filename: p.attachment_name().map(str::to_string),
            content_type: content_type(p),
            size: bytes.len(),
        },
        bytes,
    ))
}

impl Core {
    pub async fn email_body(&self, account_id: i64, email_id: i64) -> Result<Body> {
        let raw = self.email_raw(account_id, email_id).await?;
        tokio::task::spawn_blocking(move || body_of(&raw))
            .await
            .map_err(|e| Error::Internal(format!("parsing: {e}")))
    }

    pub async fn email_attachment(
        &self,
        account_id: i64,
        email_id: i64,
        index: usize,
    ) -> Result<(AttachmentInfo, Vec<u8>)> {
        let raw = self.email_raw(account_id, email_id).await?;
        tokio::task::spawn_blocking(move || attachment_of(&raw, index))
            .await
            .map_err(|e| Error::Internal(format!("parsing: {e}")))?
            .ok_or_else(|| Error::NotFound(format!("attachment {index}")))
    }
}
