//! The command syntaxes imap-codec 2.0 (alpha) does not parse yet, read before it: SEARCH
//! RETURN (ESEARCH, RFC 4731 / RFC 9051 §6.4.4), the saved search result `$` (SEARCHRES,
//! RFC 5182) and LIST's selection and return options and pattern lists (LIST-EXTENDED,
//! RFC 5258; LIST-STATUS, RFC 5819). SEARCH and the commands taking `$` are rewritten into
//! what the codec parses, with what was taken out kept aside; an extended LIST is read here
//! whole. Every other command goes to the codec untouched.

/// The parts of a command line: spans of the message's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Atom,
    Quoted,
    /// `{n}`/`{n+}`/`~{n}` and its bytes: the span covers both.
    Literal {
        data: usize,
    },
    Open,
    Close,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Splits a complete command (literals included) into tokens. `[...]` is part of an atom
/// even with spaces inside (`BODY[HEADER.FIELDS (A B)]`). `None` when it cannot be split.
fn tokens(msg: &[u8]) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = msg.len();
    while i < n {
        match msg[i] {
            b' ' | b'\r' | b'\n' => i += 1,
            b'(' => {
                out.push(Token {
                    kind: Kind::Open,
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b')' => {
                out.push(Token {
                    kind: Kind::Close,
                    start: i,
                    end: i + 1,
                });
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                loop {
                    match *msg.get(i)? {
                        b'\\' => i += 2,
                        b'"' => break,
                        b'\r' | b'\n' => return None,
                        _ => i += 1,
                    }
                }
                i += 1;
                out.push(Token {
                    kind: Kind::Quoted,
                    start,
                    end: i,
                });
            }
            _ => {
                let start = i;
                let mut depth = 0u32;
                while i < n {
                    match msg[i] {
                        // Only FETCH's section names hold spaces inside brackets.
                        b'[' if depth > 0 || is_section_item(&msg[start..i]) => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        b'\r' | b'\n' => break,
                        b' ' | b'(' | b')' if depth == 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
                let word = &msg[start..i];
                let announced = word.last() == Some(&b'}')
                    && msg.get(i..i + 2) == Some(b"\r\n")
                    && (word.first() == Some(&b'{') || word.starts_with(b"~{"));
                if announced {
                    let open = word.iter().position(|&b| b == b'{')?;
                    let digits: &[u8] = &word[open + 1..word.len() - 1];
                    let digits = digits
                        .strip_suffix(b"+")
                        .or(digits.strip_suffix(b"-"))
                        .unwrap_or(digits);
                    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                    let data = i + 2;
                    let end = data.checked_add(len).filter(|&e| e <= n)?;
                    out.push(Token {
                        kind: Kind::Literal { data },
                        start,
                        end,
                    });
                    i = end;
                } else {
                    out.push(Token {
                        kind: Kind::Atom,
                        start,
                        end: i,
                    });
                }
            }
        }
    }
    Some(out)
}

fn is_section_item(word: &[u8]) -> bool {
    ["BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w.as_bytes()))
}

/// A string token's value: an atom as it is, a quoted string unescaped, a literal's bytes.
fn value(msg: &[u8], t: &Token) -> Option<Vec<u8>> {
    Some(match t.kind {
        Kind::Atom => msg[t.start..t.end].to_vec(),
        Kind::Quoted => {
            let mut v = Vec::new();
            let mut escaped = false;
            for &b in &msg[t.start + 1..t.end - 1] {
                if b == b'\\' && !escaped {
                    escaped = true;
                } else {
                    v.push(b);
                    escaped = false;
                }
            }
            v
        }
        Kind::Literal { data } => msg[data..t.end].to_vec(),
        Kind::Open | Kind::Close => return None,
    })
}

fn is(msg: &[u8], t: Option<&Token>, word: &str) -> bool {
    t.is_some_and(|t| {
        t.kind == Kind::Atom && msg[t.start..t.end].eq_ignore_ascii_case(word.as_bytes())
    })
}

/// A parenthesised list of options at `toks[*i]`: upper-cased atoms, each optionally with
/// its own list of atoms (`STATUS (MESSAGES UNSEEN)`). Leaves `*i` after the closing `)`.
type Options = Vec<(String, Option<Vec<String>>)>;

fn options(msg: &[u8], toks: &[Token], i: &mut usize, what: &str) -> Result<Options, String> {
    option_list(msg, toks, i, what, true)
}

/// [`options`], where `nested` says whether an option may carry its own list (one level).
fn option_list(
    msg: &[u8],
    toks: &[Token],
    i: &mut usize,
    what: &str,
    nested: bool,
) -> Result<Options, String> {
    open(toks, i, what)?;
    let mut out = Vec::new();
    loop {
        match toks.get(*i) {
            None => return Err(format!("unclosed {what}")),
            Some(t) if t.kind == Kind::Close => {
                *i += 1;
                return Ok(out);
            }
            Some(t) if t.kind == Kind::Atom => {
                *i += 1;
                let sub = if nested && toks.get(*i).is_some_and(|t| t.kind == Kind::Open) {
                    let words = option_list(msg, toks, i, what, false)?;
                    Some(words.into_iter().map(|(w, _)| w).collect())
                } else {
                    None
                };
                out.push((upper(msg, t), sub));
            }
            Some(_) => return Err(format!("{what}: options are words")),
        }
    }
}

fn open(toks: &[Token], i: &mut usize, what: &str) -> Result<(), String> {
    if !toks.get(*i).is_some_and(|t| t.kind == Kind::Open) {
        return Err(format!("{what} needs a list"));
    }
    *i += 1;
    Ok(())
}

fn upper(msg: &[u8], t: &Token) -> String {
    String::from_utf8_lossy(&msg[t.start..t.end]).to_ascii_uppercase()
}

/// SEARCH's RETURN options (RFC 4731, RFC 5182's SAVE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SearchReturn {
    pub tag: String,
    pub min: bool,
    pub max: bool,
    pub count: bool,
    pub all: bool,
    pub save: bool,
}

impl SearchReturn {
    /// `RETURN ()` and IMAP4rev2's plain SEARCH: ALL, as ESEARCH.
    pub fn all(tag: &str) -> SearchReturn {
        SearchReturn {
            tag: tag.into(),
            all: true,
            ..Default::default()
        }
    }
}

/// LIST's selection options (RFC 5258 §3.1, RFC 6154 §5.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListSelect {
    pub subscribed: bool,
    pub special_use: bool,
    pub recursive_match: bool,
}

/// LIST's return options (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListReturn {
    pub subscribed: bool,
    /// STATUS items (upper-cased atoms) after each selectable mailbox.
    pub status: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListExtended {
    pub tag: String,
    pub select: ListSelect,
    pub reference: Vec<u8>,
    pub patterns: Vec<Vec<u8>>,
    pub returns: ListReturn,
}

/// The saved search result (`$`) as the command would name it: UIDs or sequence numbers.
pub(crate) trait Saved {
    /// The set as sequence-set text, `None` when it names no message.
    fn text(&self, uid: bool) -> Option<String>;
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pre {
    /// The codec parses the command as it is.
    Plain,
    /// The codec parses these bytes instead; SEARCH's RETURN options taken out, if any.
    Rewritten {
        bytes: Vec<u8>,
        search_return: Option<SearchReturn>,
    },
    List(ListExtended),
    /// `$` names no messages: the command has nothing to act on (RFC 5182 §2.1).
    Nothing {
        tag: String,
        name: String,
        bytes: Vec<u8>,
    },
    Bad {
        tag: String,
        text: String,
    },
}

/// Search keys followed by arguments, and how many.
fn key_args(key: &[u8]) -> usize {
    const ONE: [&str; 19] = [
        "BCC",
        "BEFORE",
        "BODY",
        "CC",
        "FROM",
        "KEYWORD",
        "LARGER",
        "ON",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
        "SINCE",
        "SMALLER",
        "SUBJECT",
        "TEXT",
        "TO",
        "UNKEYWORD",
        "OLDER",
        "YOUNGER",
    ];
    if key.eq_ignore_ascii_case(b"HEADER") {
        2
    } else if ONE.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes())) {
        1
    } else {
        0
    }
}

/// Reads what the codec cannot; `Plain` for everything else (the common case costs a look
/// at the first three words).
pub(crate) fn preparse(msg: &[u8], saved: Option<&dyn Saved>) -> Pre {
    // Only the command's first line decides; APPEND's message is never split.
    let head_end = msg.iter().position(|&b| b == b'\n').unwrap_or(msg.len());
    let head = &msg[..head_end];
    let words: Vec<&[u8]> = head.splitn(4, |&b| b == b' ').collect();
    if words.len() < 2 {
        return Pre::Plain;
    }
    let (uid, name) = if words[1].eq_ignore_ascii_case(b"UID") && words.len() > 2 {
        (true, words[2])
    } else {
        (false, words[1])
    };
    let name = name
        .strip_suffix(b"\r")
        .unwrap_or(name)
        .to_ascii_uppercase();
    let takes_set =
        matches!(&name[..], b"FETCH" | b"STORE" | b"COPY" | b"MOVE") || (uid && name == b"EXPUNGE");
    // SEARCH and LIST are read whole: with a synchronising literal the first line does not
    // show what follows it.
    let interesting = match &name[..] {
        b"SEARCH" | b"SORT" | b"THREAD" => true,
        b"LIST" => !uid,
        _ => takes_set && head.contains(&b'$'),
    };
    if !interesting {
        return Pre::Plain;
    }
    let Some(toks) = tokens(msg) else {
        return Pre::Plain;
    };
    let tag = String::from_utf8_lossy(words[0]).into_owned();
    let name_at = if uid { 2 } else { 1 };
    match &name[..] {
        b"SEARCH" => search(msg, &toks, name_at, tag, saved, true),
        b"SORT" | b"THREAD" => search(msg, &toks, name_at, tag, saved, false),
        b"LIST" => list(msg, &toks, tag),
        _ => {
            let Some(set) = toks.get(name_at + 1) else {
                return Pre::Plain;
            };
            if !(set.kind == Kind::Atom && &msg[set.start..set.end] == b"$") {
                return Pre::Plain;
            }
            match saved.and_then(|s| s.text(uid)) {
                Some(text) => Pre::Rewritten {
                    bytes: splice(msg, &[(set.start, set.end, text.into_bytes())]),
                    search_return: None,
                },
                // Checked for syntax with a stand-in set, then answered without acting.
                None => Pre::Nothing {
                    tag,
                    name: String::from_utf8_lossy(&name).into_owned(),
                    bytes: splice(msg, &[(set.start, set.end, b"1".to_vec())]),
                },
            }
        }
    }
}

/// The message with `edits` (start, end, replacement; ascending, disjoint) applied.
fn splice(msg: &[u8], edits: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len());
    let mut at = 0;
    for (start, end, with) in edits {
        out.extend_from_slice(&msg[at..*start]);
        out.extend_from_slice(with);
        at = *end;
    }
    out.extend_from_slice(&msg[at..]);
    out
}

/// SEARCH (RETURN options and `$`), SORT and THREAD (`$`).
fn search(
    msg: &[u8],
    toks: &[Token],
    name_at: usize,
    tag: String,
    saved: Option<&dyn Saved>,
    returns: bool,
) -> Pre {
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    let mut i = name_at + 1;
    let mut search_return = None;
    if returns && is(msg, toks.get(i), "RETURN") {
        let mut j = i + 1;
        let opts = match options(msg, toks, &mut j, "RETURN options") {
            Ok(o) => o,
            Err(text) => return Pre::Bad { tag, text },
        };
        let mut r = SearchReturn {
            tag: tag.clone(),
            ..Default::default()
        };
        for (name, sub) in opts {
            match (name.as_str(), sub) {
                ("MIN", None) => r.min = true,
                ("MAX", None) => r.max = true,
                ("COUNT", None) => r.count = true,
                ("ALL", None) => r.all = true,
                ("SAVE", None) => r.save = true,
                _ => {
                    return Pre::Bad {
                        tag,
                        text: format!("unknown RETURN option {name}"),
                    };
                }
            }
        }
        // RFC 4731 §3.1: no option means ALL.
        if !(r.min || r.max || r.count || r.all || r.save) {
            r.all = true;
        }
        // The options and the space after them go.
        let end = toks.get(j).map_or(toks[j - 1].end, |t| t.start);
        edits.push((toks[i].start, end, Vec::new()));
        search_return = Some(r);
        i = j;
    }
    // `$` as a search key (or UID's argument): the saved messages, as a UID key.
    let replacement = || match saved.and_then(|s| s.text(true)) {
        Some(set) => format!("(UID {set})").into_bytes(),
        None => b"NOT ALL".to_vec(),
    };
    let is_dollar = |t: &Token| t.kind == Kind::Atom && &msg[t.start..t.end] == b"$";
    while i < toks.len() {
        let t = &toks[i];
        if t.kind == Kind::Atom {
            let word = &msg[t.start..t.end];
            if word.eq_ignore_ascii_case(b"CHARSET") {
                i += 2;
                continue;
            }
            if word.eq_ignore_ascii_case(b"UID") && toks.get(i + 1).is_some_and(is_dollar) {
                edits.push((t.start, toks[i + 1].end, replacement()));
                i += 2;
                continue;
            }
            if is_dollar(t) {
                edits.push((t.start, t.end, replacement()));
                i += 1;
                continue;
            }
            if word.eq_ignore_ascii_case(b"MODSEQ") {
                // MODSEQ [entry-name entry-type] value
                i += if toks.get(i + 1).is_some_and(|t| t.kind == Kind::Quoted) {
                    4
                } else {
                    2
                };
                continue;
            }
            i += 1 + key_args(word);
            continue;
        }
        i += 1;
    }
    if edits.is_empty() {
        return Pre::Plain;
    }
    Pre::Rewritten {
        bytes: splice(msg, &edits),
        search_return,
    }
}

/// `LIST [(selection)] reference (pattern | (patterns)) [RETURN (options)]`.
fn list(msg: &[u8], toks: &[Token], tag: String) -> Pre {
    let bad = |text: &str| Pre::Bad {
        tag: tag.clone(),
        text: text.into(),
    };
    let mut i = 2;
    let mut select = ListSelect::default();
    let mut remote = false;
    // Selection options, a pattern list or RETURN: otherwise the codec reads it.
    let mut extended = false;
    if toks.get(i).is_some_and(|t| t.kind == Kind::Open) {
        extended = true;
        let opts = match options(msg, toks, &mut i, "selection options") {
            Ok(o) => o,
            Err(text) => return bad(&text),
        };
        for (name, sub) in opts {
            match (name.as_str(), sub) {
                ("SUBSCRIBED", None) => select.subscribed = true,
                ("REMOTE", None) => remote = true,
                ("RECURSIVEMATCH", None) => select.recursive_match = true,
                ("SPECIAL-USE", None) => select.special_use = true,
                _ => return bad("unknown LIST selection option"),
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH only modifies another option.
        if select.recursive_match && !select.subscribed {
            return bad("RECURSIVEMATCH needs SUBSCRIBED");
        }
    }
    let _ = remote;
    let Some(reference) = toks.get(i).and_then(|t| value(msg, t)) else {
        return bad("LIST needs a reference name");
    };
    i += 1;
    let mut patterns = Vec::new();
    match toks.get(i) {
        Some(t) if t.kind == Kind::Open => {
            extended = true;
            i += 1;
            loop {
                let Some(t) = toks.get(i) else {
                    return bad("unclosed pattern list");
                };
                i += 1;
                if t.kind == Kind::Close {
                    break;
                }
                match value(msg, t) {
                    Some(v) => patterns.push(v),
                    None => return bad("patterns are strings"),
                }
            }
            if patterns.is_empty() {
                return bad("empty pattern list");
            }
        }
        Some(t) => match value(msg, t) {
            Some(v) => {
                patterns.push(v);
                i += 1;
            }
            None => return bad("LIST needs a mailbox pattern"),
        },
        None => return bad("LIST needs a mailbox pattern"),
    }
    let mut returns = ListReturn::default();
    if is(msg, toks.get(i), "RETURN") {
        extended = true;
        i += 1;
        let opts = match options(msg, toks, &mut i, "RETURN options") {
            Ok(o) => o,
            Err(text) => return bad(&text),
        };
        for (name, sub) in opts {
            match (name.as_str(), sub) {
                ("SUBSCRIBED", None) => returns.subscribed = true,
                // Always returned: \HasChildren / \HasNoChildren and special uses.
                ("CHILDREN" | "SPECIAL-USE", None) => {}
                ("STATUS", Some(items)) => returns.status = Some(items),
                _ => return bad("unknown LIST return option"),
            }
        }
    }
    if i != toks.len() {
        return bad("unexpected text after LIST");
    }
    if !extended {
        return Pre::Plain;
    }
    Pre::List(ListExtended {
        tag,
        select,
        reference,
        patterns,
        returns,
    })
}

/// A sorted list of numbers as sequence-set text (`1:3,7`), `None` when empty.
pub(crate) fn set_text(sorted: &[u32]) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let mut k = 0;
    while k < sorted.len() {
        let mut j = k;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j == k {
            let _ = write!(out, "{}", sorted[k]);
        } else {
            let _ = write!(out, "{}:{}", sorted[k], sorted[j]);
        }
        k = j + 1;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Option<&'static str>);
    impl Saved for Fixed {
        fn text(&self, uid: bool) -> Option<String> {
            self.0
                .map(|s| if uid { format!("u{s}") } else { s.to_string() })
        }
    }

    fn rewritten(p: Pre) -> (String, Option<SearchReturn>) {
        match p {
            Pre::Rewritten {
                bytes,
                search_return,
            } => (String::from_utf8(bytes).unwrap(), search_return),
            other => panic!("not rewritten: {other:?}"),
        }
    }

    #[test]
    fn plain_commands_are_left_alone() {
        for c in [
            "a1 FETCH 1:* (FLAGS)\r\n",
            "a2 LIST \"\" *\r\n",
            "a3 SEARCH FROM x\r\n",
            "a4 APPEND INBOX {5}\r\n$ ( )\r\n",
            "a5 UID STORE 1 +FLAGS ($Seen)\r\n",
        ] {
            assert_eq!(preparse(c.as_bytes(), None), Pre::Plain, "{c}");
        }
    }

    #[test]
    fn search_return_is_taken_out() {
        let (bytes, r) = rewritten(preparse(
            b"t UID SEARCH RETURN (MIN count) FROM \"a b\"\r\n",
            None,
        ));
        assert_eq!(bytes, "t UID SEARCH FROM \"a b\"\r\n");
        let r = r.unwrap();
        assert!(r.min && r.count && !r.max && !r.all && !r.save);
        let (_, r) = rewritten(preparse(b"t SEARCH RETURN () ALL\r\n", None));
        assert!(r.unwrap().all);
        assert!(matches!(
            preparse(b"t SEARCH RETURN (BOGUS) ALL\r\n", None),
            Pre::Bad { .. }
        ));
    }

    #[test]
    fn dollar_names_the_saved_result() {
        let saved = Fixed(Some("1:3"));
        let (b, _) = rewritten(preparse(b"t FETCH $ (FLAGS)\r\n", Some(&saved)));
        assert_eq!(b, "t FETCH 1:3 (FLAGS)\r\n");
        let (b, _) = rewritten(preparse(b"t UID COPY $ Trash\r\n", Some(&saved)));
        assert_eq!(b, "t UID COPY u1:3 Trash\r\n");
        let (b, _) = rewritten(preparse(b"t SEARCH FROM $ NOT $ UID $\r\n", Some(&saved)));
        assert_eq!(b, "t SEARCH FROM $ NOT (UID u1:3) (UID u1:3)\r\n");
        let empty = Fixed(None);
        assert!(matches!(
            preparse(b"t UID EXPUNGE $\r\n", Some(&empty)),
            Pre::Nothing { .. }
        ));
        let (b, _) = rewritten(preparse(b"t SEARCH $\r\n", Some(&empty)));
        assert_eq!(b, "t SEARCH NOT ALL\r\n");
    }

    #[test]
    fn extended_list() {
        let p = preparse(
            b"t LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" {3}\r\nA/% *) RETURN (CHILDREN STATUS (MESSAGES unseen))\r\n",
            None,
        );
        let Pre::List(l) = p else { panic!("{p:?}") };
        assert!(l.select.subscribed && l.select.recursive_match);
        assert_eq!(
            l.patterns,
            vec![b"INBOX".to_vec(), b"A/%".to_vec(), b"*".to_vec()]
        );
        assert_eq!(
            l.returns.status,
            Some(vec!["MESSAGES".into(), "UNSEEN".into()])
        );
        assert!(matches!(
            preparse(b"t LIST (RECURSIVEMATCH) \"\" *\r\n", None),
            Pre::Bad { .. }
        ));
        assert!(matches!(
            preparse(b"t LIST \"\" * RETURN (NOPE)\r\n", None),
            Pre::Bad { .. }
        ));
    }

    #[test]
    fn literals_and_brackets() {
        // A synchronising literal ends the first line; what follows still counts.
        let p = preparse(
            b"t LIST \"\" {9}\r\nEntw\xc3\xbcrfe RETURN (STATUS (UNSEEN))\r\n",
            None,
        );
        let Pre::List(l) = p else { panic!("{p:?}") };
        assert_eq!(l.patterns, vec!["Entwürfe".as_bytes().to_vec()]);
        assert_eq!(preparse(b"t LIST \"\" {1}\r\n*\r\n", None), Pre::Plain);
        // `[` in a search string is not a section.
        let saved = Fixed(Some("4"));
        let (b, _) = rewritten(preparse(b"t SEARCH SUBJECT [wip UID $\r\n", Some(&saved)));
        assert_eq!(b, "t SEARCH SUBJECT [wip (UID u4)\r\n");
        let (b, _) = rewritten(preparse(b"t UID SORT (DATE) UTF-8 $\r\n", Some(&saved)));
        assert_eq!(b, "t UID SORT (DATE) UTF-8 (UID u4)\r\n");
    }

    /// Whatever arrives, the reader answers (Plain, Rewritten, List, Nothing or Bad) and
    /// never panics: random commands from the pieces these syntaxes are made of.
    #[test]
    fn random_input_never_panics() {
        const PIECES: &[&str] = &[
            "t",
            " ",
            "UID",
            "SEARCH",
            "LIST",
            "FETCH",
            "SORT",
            "RETURN",
            "(",
            ")",
            "$",
            "\"",
            "\\",
            "{3}\r\nabc",
            "{0}\r\n",
            "{99}\r\n",
            "~{2}\r\nxy",
            "{2+}\r\n",
            "[",
            "]",
            "BODY[",
            "MIN",
            "STATUS",
            "UID $",
            "*",
            "%",
            "\r\n",
            "\r",
            "\n",
            "x",
            "CHARSET",
            "MODSEQ",
            "HEADER",
            "SUBSCRIBED",
            "RECURSIVEMATCH",
            "1:*",
            "\u{e9}",
        ];
        let saved = Fixed(Some("1:2"));
        let empty = Fixed(None);
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..20_000 {
            let heads = [
                "t SEARCH ",
                "t UID SEARCH ",
                "t LIST ",
                "t FETCH ",
                "t UID SORT ",
                "t ",
            ];
            let mut cmd = heads[n % heads.len()].to_string();
            for _ in 0..(n % 13) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                cmd.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            cmd.push_str("\r\n");
            let s: &dyn Saved = if n % 2 == 0 { &saved } else { &empty };
            let _ = preparse(cmd.as_bytes(), Some(s));
            let _ = preparse(cmd.as_bytes(), None);
        }
    }

    #[test]
    fn sets_are_compressed() {
        assert_eq!(set_text(&[1, 2, 3, 5, 7, 8]).as_deref(), Some("1:3,5,7:8"));
        assert_eq!(set_text(&[]), None);
    }
}
