//! Extracting the metadata row from raw message bytes with mail-parser.
//!
//! A message mail-parser cannot make sense of still gets a row (its size, and whatever headers
//! it could read): mailroom never refuses mail for MIME oddities, it stores the bytes as sent.

use mail_parser::{Address, HeaderValue, MessageParser};
use mailroom_store::model::MessageMeta;

/// Characters of body text kept as the preview (JMAP asks for up to 256).
const PREVIEW_CHARS: usize = 256;

pub(crate) fn message_meta(raw: &[u8]) -> MessageMeta {
    let mut meta = MessageMeta {
        size: raw.len() as i64,
        ..Default::default()
    };
    meta.from = "[]".into();
    meta.to = "[]".into();
    meta.cc = "[]".into();
    meta.reply_to = "[]".into();
    let Some(msg) = MessageParser::default().parse(raw) else {
        return meta;
    };
    meta.message_id = msg.message_id().map(clean_id).filter(|s| !s.is_empty());
    meta.subject = msg.subject().map(text);
    meta.base_subject = msg
        .thread_name()
        .map(|s| text(s).trim().to_lowercase())
        .filter(|s| !s.is_empty());
    // A prefix was stripped: the thread name is shorter than the subject itself.
    meta.is_reply = match (msg.subject(), msg.thread_name()) {
        (Some(subject), Some(name)) => name.trim().len() < subject.trim().len(),
        _ => false,
    };
    meta.from = addresses(msg.from());
    meta.to = addresses(msg.to());
    meta.cc = addresses(msg.cc());
    meta.reply_to = addresses(msg.reply_to());
    meta.index_text = [
        index_lines(msg.from()),
        index_lines(msg.to()),
        index_lines(msg.cc()),
        meta.subject.as_deref().unwrap_or_default().to_lowercase(),
    ];
    meta.sent_at = msg.date().map(|d| d.to_timestamp());
    meta.in_reply_to = ids(msg.in_reply_to());
    meta.references = ids(msg.references());
    meta.has_attachment = msg.attachment_count() > 0;
    meta.preview = msg
        .body_preview(PREVIEW_CHARS)
        .map(|p| text(&p).split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    meta
}

/// One stored address (the JSON form `from_addr` and the others hold: name, then email).
#[derive(serde::Serialize)]
struct StoredAddress {
    name: Option<String>,
    email: Option<String>,
}

fn addresses(a: Option<&Address>) -> String {
    let list: Vec<StoredAddress> = a
        .into_iter()
        .flat_map(|a| a.iter())
        .map(|a| StoredAddress {
            name: a.name().map(text),
            email: a.address().map(text),
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

/// The names and addresses `addresses` stores, lowercased, a line each: what the text index
/// holds, so it finds what the exact check (on the stored names and addresses) finds.
fn index_lines(a: Option<&Address>) -> String {
    let mut out = String::new();
    for a in a.into_iter().flat_map(|a| a.iter()) {
        for s in [a.name(), a.address()].into_iter().flatten() {
            out.push_str(&text(s).to_lowercase());
            out.push('\n');
        }
    }
    out
}

fn ids(v: &HeaderValue) -> Vec<String> {
    let mut out: Vec<String> = match v {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean_id(t)).collect(),
        _ => vec![],
    };
    out.retain(|s| !s.is_empty());
    out
}

/// Message-IDs are compared without brackets and surrounding space; they are case-sensitive.
fn clean_id(s: &str) -> String {
    text(
        s.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim(),
    )
    .chars()
    .take(250)
    .collect()
}

/// Header text as the metadata row keeps it: control characters (NUL above all, which
/// Postgres text cannot hold) become spaces, tab and newline aside. The raw message keeps
/// every byte; this is only the parsed summary.
fn text(s: &str) -> String {
    let dropped = |c: char| c.is_control() && c != '\t' && c != '\n';
    // Nearly always there is nothing to replace: one copy, not a char at a time.
    if !s.chars().any(dropped) {
        return s.to_string();
    }
    s.chars()
        .map(|c| if dropped(c) { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_text_is_lines_of_lowercase_names_and_addresses() {
        let raw = "From: =?UTF-8?Q?Neil_BR=C3=96WN?= <NeilB@Suse.de>\r\n\
                   To: x@\u{130}.test\r\nSubject: Hello THERE\r\n\r\nbody\r\n";
        let meta = message_meta(raw.as_bytes());
        assert_eq!(
            meta.index_text,
            [
                "neil bröwn\nneilb@suse.de\n".to_string(),
                "x@i\u{307}.test\n".to_string(),
                String::new(),
                "hello there".to_string(),
            ]
        );
    }

    #[test]
    fn extracts_threading_headers() {
        let raw = b"From: A <a@x.test>\r\nTo: b@y.test, C <c@y.test>\r\nSubject: Re: Fwd: Hello\r\n\
            Message-ID: <m2@x.test>\r\nIn-Reply-To: <m1@x.test>\r\nReferences: <m0@x.test> <m1@x.test>\r\n\
            Date: Tue, 24 Nov 2026 07:00:00 +0000\r\n\r\nBody  text\r\n  here\r\n";
        let m = message_meta(raw);
        assert_eq!(m.message_id.as_deref(), Some("m2@x.test"));
        assert_eq!(m.in_reply_to, vec!["m1@x.test"]);
        assert_eq!(m.references, vec!["m0@x.test", "m1@x.test"]);
        assert_eq!(m.base_subject.as_deref(), Some("hello"));
        assert!(m.is_reply);
        assert!(!message_meta(b"Subject: Weekly Digest\r\n\r\nx\r\n").is_reply);
        assert_eq!(m.preview, "Body text here");
        assert_eq!(m.sent_at, Some(1795503600));
        let to: serde_json::Value = serde_json::from_str(&m.to).unwrap();
        assert_eq!(to[1]["email"], "c@y.test");
    }

    #[test]
    fn addresses_are_stored_as_json_name_then_email() {
        let raw = b"From: \"A \\\"Q\\\"\" <a@x.test>\r\nTo: b@y.test\r\n\r\nx\r\n";
        let m = message_meta(raw);
        assert_eq!(m.from, r#"[{"name":"A \"Q\"","email":"a@x.test"}]"#);
        assert_eq!(m.to, r#"[{"name":null,"email":"b@y.test"}]"#);
        assert_eq!(m.cc, "[]");
    }

    #[test]
    fn control_characters_leave_the_metadata() {
        let m = message_meta(b"Subject: a\x00b\r\nMessage-ID: <x\x00y@z>\r\n\r\nnul\x00here\r\n");
        assert_eq!(m.subject.as_deref(), Some("a b"));
        assert_eq!(m.message_id.as_deref(), Some("x y@z"));
        assert!(!m.preview.contains('\0'));
    }

    #[test]
    fn garbage_still_has_a_size() {
        let m = message_meta(b"\x00\xff not a message");
        assert_eq!(m.size, 16);
    }
}
