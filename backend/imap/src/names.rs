//! The account's mailboxes as IMAP names: a path of names joined by `/`, the inbox (the
//! mailbox with the inbox role) as `INBOX` whatever its name; LIST wildcards.

use mailroom_core::Mailbox;

/// The hierarchy delimiter.
pub(crate) const DELIMITER: char = '/';

/// One mailbox with its IMAP name.
#[derive(Clone, Debug)]
pub(crate) struct Folder {
    pub mailbox: Mailbox,
    pub name: String,
    pub has_children: bool,
}

/// Every mailbox of the account with its full name, parents before children.
pub(crate) fn folders(list: &[Mailbox]) -> Vec<Folder> {
    let by_id: std::collections::HashMap<i64, &Mailbox> = list.iter().map(|m| (m.id, m)).collect();
    let mut out: Vec<Folder> = list
        .iter()
        .map(|m| {
            let mut parts = vec![own_name(m)];
            let mut at = m.parent_id;
            let mut hops = 0;
            while let Some(p) = at.and_then(|id| by_id.get(&id)) {
                parts.push(own_name(p));
                at = p.parent_id;
                hops += 1;
                if hops > 64 {
                    break;
                }
            }
            parts.reverse();
            Folder {
                mailbox: m.clone(),
                name: parts.join("/"),
                has_children: list.iter().any(|c| c.parent_id == Some(m.id)),
            }
        })
        .collect();
    out.sort_by(|a, b| (!is_inbox(&a.mailbox), &a.name).cmp(&(!is_inbox(&b.mailbox), &b.name)));
    out
}

fn is_inbox(m: &Mailbox) -> bool {
    m.parent_id.is_none() && m.role.as_deref() == Some("inbox")
}

fn own_name(m: &Mailbox) -> String {
    if is_inbox(m) {
        "INBOX".into()
    } else {
        m.name.clone()
    }
}

/// Names compare exactly, except that `INBOX` (as a whole or as the first level) is
/// case-insensitive (RFC 9051 §5.1).
pub(crate) fn normalise(name: &str) -> String {
    let name = name.trim_end_matches(DELIMITER);
    match name.split_once(DELIMITER) {
        Some((first, rest)) if first.eq_ignore_ascii_case("inbox") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("inbox") => "INBOX".into(),
        _ => name.to_string(),
    }
}

pub(crate) fn find<'a>(folders: &'a [Folder], name: &str) -> Option<&'a Folder> {
    let name = normalise(name);
    folders.iter().find(|f| f.name == name)
}

/// Whether `name` matches a LIST pattern: `*` matches anything, `%` anything but the
/// delimiter; the INBOX rule as in [`normalise`].
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = normalise_pattern(pattern).chars().collect();
    let n: Vec<char> = name.chars().collect();
    wildcard(&p, &n)
}

fn normalise_pattern(p: &str) -> String {
    match p.split_once(DELIMITER) {
        Some((first, rest)) if first.eq_ignore_ascii_case("inbox") => format!("INBOX/{rest}"),
        None if p.eq_ignore_ascii_case("inbox") => "INBOX".into(),
        _ => p.to_string(),
    }
}

/// Pattern matching in O(|p|·|n|) (a table of which pattern prefixes match which name
/// prefixes), so no pattern a client sends can make it backtrack exponentially.
fn wildcard(p: &[char], n: &[char]) -> bool {
    // ok[j]: the pattern so far matches the first j characters of the name.
    let mut ok = vec![false; n.len() + 1];
    ok[0] = true;
    for &c in p {
        let mut next = vec![false; n.len() + 1];
        match c {
            '*' => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= ok[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=n.len() {
                    if j > 0 && n[j - 1] == DELIMITER {
                        any = false;
                    }
                    any |= ok[j];
                    next[j] = any;
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = ok[j - 1] && n[j - 1] == c;
                }
            }
        }
        ok = next;
    }
    ok[n.len()]
}

/// Why a name given to CREATE or RENAME cannot be used, or `None`.
pub(crate) fn problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a mailbox name cannot be empty".into());
    }
    if name.contains('*') || name.contains('%') {
        return Some("a mailbox name cannot contain * or %".into());
    }
    for level in name.split(DELIMITER) {
        if level == "." || level == ".." {
            return Some("\".\" and \"..\" are not mailbox names".into());
        }
        if let Some(p) = mailroom_core::mailboxes::name_problem(level) {
            return Some(p.into());
        }
    }
    None
}

/// Modified UTF-7 (RFC 3501 §5.1.3) to UTF-8, for clients that have not enabled UTF8=ACCEPT.
pub(crate) fn from_utf7(s: &str) -> Option<String> {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find('-')?;
        let chunk = &after[..end];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let b64 = chunk.replace(',', "/");
            let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64)
                .ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// UTF-8 to modified UTF-7.
pub(crate) fn to_utf7(s: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
        out.push('&');
        out.push_str(&b64.replace('/', ","));
        out.push('-');
        pending.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b"));
        assert!(!matches("%", "a/b"));
        assert!(matches("%", "a"));
        assert!(matches("a/%", "a/b"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/*", "INBOX/x/y"));
        assert!(!matches("a", "ab"));
        assert!(matches("a%c", "abc") && !matches("a%c", "a/c"));
        assert!(matches("*/%", "x/y/z") && !matches("%/%", "x/y/z"));
        // No backtracking blow-up.
        let p = format!("{}x", "*".repeat(40));
        assert!(!matches(&p, &"a".repeat(200)));
    }

    #[test]
    fn utf7_round_trip() {
        for s in ["Entwürfe", "日本語", "a&b", "plain", "Ünïcödé 😀 x"] {
            assert_eq!(from_utf7(&to_utf7(s)).as_deref(), Some(s), "{}", to_utf7(s));
        }
        assert_eq!(to_utf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(from_utf7("&ZeVnLIqe-").as_deref(), Some("日本語"));
    }

    #[test]
    fn names_are_checked() {
        assert!(problem("a/../b").is_some());
        assert!(problem("x*").is_some());
        assert!(problem("ok/fine").is_none());
    }
}
