//! IMAP flags and the service layer's keywords: the system flags are JMAP's `$seen`,
//! `$answered`, `$flagged`, `$draft` (RFC 8621 §4.1.1) and `$deleted`; other keywords are
//! shared as they are (stored lower case, as keywords compare case-insensitively).

use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagPerm};

/// The keyword a flag is stored as, or `None` for flags that are not stored (`\Recent`, other
/// `\` extensions).
pub(crate) fn keyword(flag: &Flag<'_>) -> Option<String> {
    Some(match flag {
        Flag::Seen => "$seen".into(),
        Flag::Answered => "$answered".into(),
        Flag::Flagged => "$flagged".into(),
        Flag::Draft => "$draft".into(),
        Flag::Deleted => "$deleted".into(),
        Flag::Keyword(a) => a.inner().to_ascii_lowercase(),
        Flag::Extension(_) => return None,
    })
}

/// The flags of an email from its keywords (space-separated).
pub(crate) fn flags(keywords: &str) -> Vec<FlagFetch<'static>> {
    keywords
        .split_whitespace()
        .filter_map(flag)
        .map(FlagFetch::Flag)
        .collect()
}

/// [`flags`] and, for a message recent to this session, `\Recent`.
pub(crate) fn flags_of(keywords: &str, recent: bool) -> Vec<FlagFetch<'static>> {
    let mut v = flags(keywords);
    if recent {
        v.push(FlagFetch::Recent);
    }
    v
}

fn flag(k: &str) -> Option<Flag<'static>> {
    Some(match k {
        "$seen" => Flag::Seen,
        "$answered" => Flag::Answered,
        "$flagged" => Flag::Flagged,
        "$draft" => Flag::Draft,
        "$deleted" => Flag::Deleted,
        k => Flag::Keyword(Atom::try_from(k.to_string()).ok()?),
    })
}

/// The FLAGS response of a mailbox: the system flags and the common keywords clients set.
pub(crate) fn defined() -> Vec<Flag<'static>> {
    let mut v = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    for k in ["$forwarded", "$junk", "$notjunk", "$phishing", "$mdnsent"] {
        v.extend(flag(k));
    }
    v
}

/// PERMANENTFLAGS: the defined ones, and any new keyword (`\*`).
pub(crate) fn permanent() -> Vec<FlagPerm<'static>> {
    let mut v: Vec<FlagPerm<'static>> = defined().into_iter().map(FlagPerm::Flag).collect();
    v.push(FlagPerm::Asterisk);
    v
}

pub(crate) fn has(keywords: &str, k: &str) -> bool {
    keywords.split_whitespace().any(|x| x == k)
}
