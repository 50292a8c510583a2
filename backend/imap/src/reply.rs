//! How a command ends: the tagged reply a handler returns ([`Reply`]), core's errors as IMAP
//! response codes, and response text made safe for the wire.

use imap_codec::imap_types::response::{Code, CodeOther};

use crate::session::Next;

/// How a command ended, for the tagged response.
pub(crate) enum Reply {
    Ok(Option<Code<'static>>, String),
    No(Option<Code<'static>>, String),
    Bad(Option<Code<'static>>, String),
    /// The handler answered already (or will, later); what the connection does next.
    Then(Next),
}

pub(crate) type Handled = std::result::Result<Reply, Reply>;

pub(crate) fn code(name: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(name.as_bytes()))
}

impl From<mailroom_core::Error> for Reply {
    fn from(e: mailroom_core::Error) -> Reply {
        use mailroom_core::Error as E;
        let (c, text) = match &e {
            E::NotFound(_) => ("NONEXISTENT", e.to_string()),
            E::Invalid(_) => ("CANNOT", e.to_string()),
            E::AlreadyExists(_) => ("ALREADYEXISTS", e.to_string()),
            E::Modified(_) => ("MODIFIED", e.to_string()),
            E::Forbidden(_) => ("NOPERM", e.to_string()),
            E::OverQuota(_) => ("OVERQUOTA", e.to_string()),
            E::RateLimited(_) => ("LIMIT", e.to_string()),
            E::Unavailable(_) => {
                tracing::warn!(error = %e, "imap command failed");
                ("UNAVAILABLE", "temporarily unavailable, try again".into())
            }
            E::Internal(_) => {
                tracing::error!(error = %e, "imap command failed");
                ("SERVERBUG", "internal error".into())
            }
        };
        Reply::No(Some(code(c)), text)
    }
}

/// Response text: ASCII without CR/LF, never empty, never starting with `[`.
pub(crate) fn clean(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let t = t.trim_start_matches('[').trim();
    if t.is_empty() {
        "-".into()
    } else {
        t.to_string()
    }
}

/// A hint for a command that did not parse.
pub(crate) fn syntax_hint(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').take(3).collect();
    let name = String::from_utf8_lossy(words.get(1).copied().unwrap_or_default()).to_uppercase();
    match name.as_str() {
        "" => "missing command".into(),
        "UID" => {
            "UID needs COPY, MOVE, FETCH, SEARCH, STORE or EXPUNGE with valid arguments".into()
        }
        n if n.chars().all(|c| c.is_ascii_alphanumeric()) && n.len() < 20 => {
            format!("unknown command or bad arguments for {n}")
        }
        _ => "unknown command or bad arguments".into(),
    }
}
