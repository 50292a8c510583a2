//! SORT (RFC 5256, with SORT=DISPLAY from RFC 5957) and THREAD=REFERENCES /
//! THREAD=ORDEREDSUBJECT: the matching messages' stored metadata (addresses, Date, subject,
//! Message-ID, References), ordered and threaded here as the RFCs define — including their
//! base-subject rules, which are IMAP's own.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{Charset, Vec1, Vec2};
use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_codec::imap_types::extensions::thread::{Thread, ThreadingAlgorithm};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;
use mailroom_core::mail::AddressField;

use crate::reply::{Handled, Reply};
use crate::selected::nz;
use crate::session::Session;

/// Levels of a thread tree kept nested (every walk of the tree recurses once per level).
const MAX_THREAD_DEPTH: usize = 100;
/// References of one message used for threading (the nearest ancestors).
const MAX_REFERENCES: usize = 100;

/// What ordering and threading read of one message.
struct Facts {
    /// Index in the selected view (sequence number − 1).
    index: usize,
    uid: u32,
    arrival: i64,
    /// The Date: header, or the arrival time without one (RFC 5256 §2.2).
    date: i64,
    size: u32,
    subject: String,
    /// Whether the subject had a reply/forward marker (for THREAD's subject merging).
    is_reply: bool,
    from: String,
    to: String,
    cc: String,
    display_from: String,
    display_to: String,
    message_id: Option<String>,
    /// References, or the first In-Reply-To when there are none.
    references: Vec<String>,
}

/// RFC 5256 §2.1 base subject: without reply/forward markers, `[blob]` prefixes and
/// `(fwd)` trailers, whitespace collapsed, compared case-insensitively. Also whether any
/// reply or forward marker was removed.
pub(crate) fn base_subject(s: &str) -> (String, bool) {
    let mut s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut marked = false;
    loop {
        let before = s.clone();
        // (2) trailing "(fwd)".
        while s.to_ascii_lowercase().ends_with("(fwd)") {
            s.truncate(s.len() - 5);
            s = s.trim_end().to_string();
            marked = true;
        }
        // (3)/(4) leading "re:", "fw:", "fwd:" with optional [blob]s, and [blob]s before them.
        loop {
            let t = s.trim_start();
            let lower = t.to_ascii_lowercase();
            let mut rest = None;
            for p in ["re", "fwd", "fw"] {
                if lower.starts_with(p) {
                    let after_blob = skip_blobs(&t[p.len()..]);
                    if let Some(x) = after_blob.strip_prefix(':') {
                        rest = Some(x.to_string());
                        break;
                    }
                }
            }
            match rest {
                Some(r) => {
                    s = r.trim_start().to_string();
                    marked = true;
                }
                None => {
                    let skipped = skip_blobs(t);
                    if skipped.len() < t.len() && !skipped.trim().is_empty() {
                        s = skipped.trim_start().to_string();
                    } else {
                        break;
                    }
                }
            }
        }
        // (6) "[fwd: … ]" wrapper.
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_string();
            marked = true;
        }
        if s == before {
            break;
        }
    }
    (s.to_lowercase(), marked)
}

/// The text after any leading `[…]` blobs.
fn skip_blobs(mut t: &str) -> &str {
    loop {
        let trimmed = t.trim_start();
        if trimmed.starts_with('[')
            && let Some(end) = trimmed.find(']')
        {
            t = &trimmed[end + 1..];
            continue;
        }
        return t;
    }
}

fn first_address(v: &serde_json::Value) -> (String, String) {
    let first = v.as_array().and_then(|a| a.first());
    let email = first
        .and_then(|a| a.get("email"))
        .and_then(|e| e.as_str())
        .unwrap_or_default();
    let name = first
        .and_then(|a| a.get("name"))
        .and_then(|e| e.as_str())
        .unwrap_or_default();
    // RFC 5256: the addr-mailbox (local part); RFC 5957: the display name, else the address.
    let mailbox = email.split('@').next().unwrap_or_default().to_lowercase();
    let display = if name.trim().is_empty() { email } else { name };
    (mailbox, display.to_lowercase())
}

fn id_list(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(json).unwrap_or_default()
}

impl Session {
    /// The facts of the selected mailbox's messages matching `criteria`.
    async fn facts(&mut self, criteria: &Vec1<SearchKey<'static>>) -> Result<Vec<Facts>, Reply> {
        let ids = self.search_ids(self.criteria(criteria)?).await?;
        let account = self.user.as_ref().expect("authenticated").id;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let views = self.shared.core.emails(account, chunk).await?;
            let sel = self.selected.as_ref().expect("selected");
            for v in views {
                let Some(index) = sel.view.position(v.row.id) else {
                    continue;
                };
                let m = &v.row.meta;
                let (subject, is_reply) = base_subject(m.subject.as_deref().unwrap_or_default());
                let (from, display_from) = first_address(m.addresses(AddressField::From));
                let (to, display_to) = first_address(m.addresses(AddressField::To));
                let (cc, _) = first_address(m.addresses(AddressField::Cc));
                let mut references = id_list(&m.references);
                if references.is_empty() {
                    references = id_list(&m.in_reply_to).into_iter().take(1).collect();
                }
                if references.len() > MAX_REFERENCES {
                    references.drain(..references.len() - MAX_REFERENCES);
                }
                out.push(Facts {
                    index,
                    uid: sel.view.uids[index],
                    arrival: v.row.received_at,
                    date: m.sent_at.unwrap_or(v.row.received_at),
                    size: v.row.size as u32,
                    subject,
                    is_reply,
                    from,
                    to,
                    cc,
                    display_from,
                    display_to,
                    message_id: m.message_id.clone(),
                    references,
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn sort(
        &mut self,
        criteria: Vec1<SortCriterion>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> Handled {
        crate::search::charset_ok(&charset)?;
        let mut facts = self.facts(&search).await?;
        facts.sort_by(|a, b| {
            for c in criteria.as_ref() {
                let o = match c.key {
                    SortKey::Arrival => a.arrival.cmp(&b.arrival),
                    SortKey::Date => a.date.cmp(&b.date),
                    SortKey::Size => a.size.cmp(&b.size),
                    SortKey::Subject => a.subject.cmp(&b.subject),
                    SortKey::From => a.from.cmp(&b.from),
                    SortKey::To => a.to.cmp(&b.to),
                    SortKey::Cc => a.cc.cmp(&b.cc),
                    SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
                    SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
                };
                let o = if c.reverse { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            // RFC 5256 §3: ties go by sequence number.
            a.index.cmp(&b.index)
        });
        let out: Vec<NonZeroU32> = facts
            .iter()
            .map(|f| nz(if uid { f.uid } else { f.index as u32 + 1 }))
            .collect();
        self.data(Data::Sort(out, None));
        Ok(Reply::Ok(None, "SORT completed".into()))
    }

    pub(crate) async fn thread(
        &mut self,
        algorithm: ThreadingAlgorithm<'static>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> Handled {
        crate::search::charset_ok(&charset)?;
        let facts = self.facts(&search).await?;
        let tree = match algorithm {
            ThreadingAlgorithm::References => references(&facts),
            ThreadingAlgorithm::OrderedSubject => ordered_subject(&facts),
            ThreadingAlgorithm::Other(_) => {
                return Err(Reply::Bad(None, "unknown threading algorithm".into()));
            }
        };
        let number = |i: usize| {
            nz(if uid {
                facts[i].uid
            } else {
                facts[i].index as u32 + 1
            })
        };
        let threads = tree.iter().map(|n| to_thread(n, &number)).collect();
        self.data(Data::Thread(threads));
        Ok(Reply::Ok(None, "THREAD completed".into()))
    }
}

/// A thread tree node: a message (index into the facts) or a dummy with children.
#[derive(Debug, Clone)]
struct Node {
    message: Option<usize>,
    children: Vec<Node>,
}

fn to_thread(n: &Node, number: &impl Fn(usize) -> NonZeroU32) -> Thread {
    // A chain of single children is one prefix; a branching is `answers`.
    let mut prefix = Vec::new();
    let mut at = n;
    loop {
        if let Some(m) = at.message {
            prefix.push(number(m));
        }
        if at.children.len() == 1 {
            at = &at.children[0];
            continue;
        }
        break;
    }
    let answers = match at.children.len() {
        0 | 1 => None,
        _ => Some(
            Vec2::try_from(
                at.children
                    .iter()
                    .map(|c| to_thread(c, number))
                    .collect::<Vec<_>>(),
            )
            .expect("two or more"),
        ),
    };
    match (Vec1::try_from(prefix), answers) {
        (Ok(prefix), answers) => Thread::Members { prefix, answers },
        (Err(_), Some(answers)) => Thread::Nested { answers },
        // A dummy with no message and fewer than two children is pruned before this.
        (Err(_), None) => Thread::Members {
            prefix: Vec1::from(nz(1)),
            answers: None,
        },
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §2.1): by base subject, each thread ordered by date, the
/// first message the parent of the rest; threads by their first message's date.
fn ordered_subject(facts: &[Facts]) -> Vec<Node> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        (&facts[a].subject, facts[a].date, facts[a].index).cmp(&(
            &facts[b].subject,
            facts[b].date,
            facts[b].index,
        ))
    });
    let mut threads: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && facts[order[j]].subject == facts[order[i]].subject {
            j += 1;
        }
        threads.push(Node {
            message: Some(order[i]),
            children: order[i + 1..j]
                .iter()
                .map(|&m| Node {
                    message: Some(m),
                    children: vec![],
                })
                .collect(),
        });
        i = j;
    }
    threads.sort_by_key(|t| {
        let m = t.message.expect("a message");
        (facts[m].date, facts[m].index)
    });
    threads
}

/// THREAD=REFERENCES (RFC 5256 §2.2), steps (1)–(5).
fn references(facts: &[Facts]) -> Vec<Node> {
    // Containers by Message-ID; messages without one (or a duplicate one) get their own.
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut message: Vec<Option<usize>> = Vec::new();
    let mut parent: Vec<Option<usize>> = Vec::new();
    fn container_of(
        ids: &mut HashMap<String, usize>,
        key: Option<String>,
        message: &mut Vec<Option<usize>>,
        parent: &mut Vec<Option<usize>>,
    ) -> usize {
        if let Some(k) = &key
            && let Some(&c) = ids.get(k)
        {
            return c;
        }
        message.push(None);
        parent.push(None);
        let c = message.len() - 1;
        if let Some(k) = key {
            ids.insert(k, c);
        }
        c
    }
    let is_ancestor = |parent: &[Option<usize>], a: usize, mut b: usize| -> bool {
        // Whether `a` is `b` or one of its ancestors.
        let mut hops = 0;
        loop {
            if a == b {
                return true;
            }
            match parent[b] {
                // Past this, assume a loop (and do not link): bounded work per link on
                // any chain a sender can craft.
                _ if hops > 256 => return true,
                Some(p) => {
                    b = p;
                    hops += 1;
                }
                _ => return false,
            }
        }
    };
    for (i, f) in facts.iter().enumerate() {
        let key = f
            .message_id
            .as_ref()
            .map(|m| m.to_lowercase())
            .filter(|k| ids.get(k).is_none_or(|&c| message[c].is_none()));
        let me = container_of(&mut ids, key, &mut message, &mut parent);
        message[me] = Some(i);
        // (1A) link the References chain, parent before child, without loops or
        // re-parenting.
        let chain: Vec<usize> = f
            .references
            .iter()
            .map(|r| container_of(&mut ids, Some(r.to_lowercase()), &mut message, &mut parent))
            .collect();
        for w in chain.windows(2) {
            let (p, c) = (w[0], w[1]);
            if parent[c].is_none() && !is_ancestor(&parent, c, p) {
                parent[c] = Some(p);
            }
        }
        // (1B) this message's parent is the last reference.
        parent[me] = None;
        if let Some(&last) = chain.last()
            && !is_ancestor(&parent, me, last)
        {
            parent[me] = Some(last);
        }
    }
    // (2)–(3) the tree, dummies pruned.
    let n = message.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut roots = Vec::new();
    for (c, p) in parent.iter().enumerate().take(n) {
        match *p {
            Some(p) => children[p].push(c),
            None => roots.push(c),
        }
    }
    fn build(
        c: usize,
        message: &[Option<usize>],
        children: &[Vec<usize>],
        depth: usize,
    ) -> Vec<Node> {
        let kids: Vec<Node> = if depth < MAX_THREAD_DEPTH {
            children[c]
                .iter()
                .flat_map(|&k| build(k, message, children, depth + 1))
                .collect()
        } else {
            // Deeper than any real conversation (a crafted References chain): the rest of
            // the branch hangs flat here, walked without recursion.
            let mut flat = Vec::new();
            let mut stack: Vec<usize> = children[c].clone();
            while let Some(k) = stack.pop() {
                if let Some(m) = message[k] {
                    flat.push(Node {
                        message: Some(m),
                        children: vec![],
                    });
                }
                stack.extend(children[k].iter().copied());
            }
            flat
        };
        match message[c] {
            Some(m) => vec![Node {
                message: Some(m),
                children: kids,
            }],
            // A dummy: dropped with no children, replaced by its children otherwise (a
            // root dummy keeps several children, below).
            None => kids,
        }
    }
    let mut top: Vec<Node> = Vec::new();
    for r in roots {
        let kids: Vec<Node> = children[r]
            .iter()
            .flat_map(|&k| build(k, &message, &children, 1))
            .collect();
        match message[r] {
            Some(m) => top.push(Node {
                message: Some(m),
                children: kids,
            }),
            None if kids.len() > 1 => top.push(Node {
                message: None,
                children: kids,
            }),
            None => top.extend(kids),
        }
    }
    // (4) children by date; (5) subject merging of the roots; then roots by date.
    fn first_date(n: &Node, facts: &[Facts]) -> (i64, usize) {
        match n.message {
            Some(m) => (facts[m].date, facts[m].index),
            None => n
                .children
                .iter()
                .map(|c| first_date(c, facts))
                .min()
                .unwrap_or((i64::MAX, usize::MAX)),
        }
    }
    fn sort_children(n: &mut Node, facts: &[Facts]) {
        for c in &mut n.children {
            sort_children(c, facts);
        }
        n.children.sort_by_key(|c| first_date(c, facts));
    }
    for t in &mut top {
        sort_children(t, facts);
    }
    let subject_of = |n: &Node| -> (String, bool) {
        let m = n
            .message
            .or_else(|| n.children.first().and_then(|c| c.message));
        m.map(|m| (facts[m].subject.clone(), facts[m].is_reply))
            .unwrap_or_default()
    };
    // Grouped in date order (step 4 before 5), so the earliest message of a subject is the
    // one the others meet in the table.
    top.sort_by_key(|t| first_date(t, facts));
    let mut merged: Vec<Node> = Vec::new();
    let mut by_subject: HashMap<String, usize> = HashMap::new();
    for t in top {
        let (subject, reply) = subject_of(&t);
        let Some(&at) = by_subject.get(&subject).filter(|_| !subject.is_empty()) else {
            by_subject.insert(subject, merged.len());
            merged.push(t);
            continue;
        };
        let other = &mut merged[at];
        let (_, other_reply) = subject_of(other);
        if other.message.is_none() && t.message.is_none() {
            other.children.extend(t.children);
        } else if other.message.is_none() {
            other.children.push(t);
        } else if t.message.is_none() {
            let mut t = t;
            t.children.push(std::mem::replace(
                other,
                Node {
                    message: None,
                    children: vec![],
                },
            ));
            *other = t;
        } else if reply && !other_reply {
            other.children.push(t);
        } else if other_reply && !reply {
            let old = std::mem::replace(other, t);
            other.children.push(old);
        } else {
            let old = std::mem::replace(
                other,
                Node {
                    message: None,
                    children: vec![],
                },
            );
            other.children = vec![old, t];
        }
        sort_children(&mut merged[at], facts);
    }
    merged.sort_by_key(|t| first_date(t, facts));
    merged
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn base_subjects() {
        assert_eq!(
            base_subject("Re: Fwd: [list] Hello  World"),
            ("hello world".into(), true)
        );
        assert_eq!(base_subject("hello (fwd)"), ("hello".into(), true));
        assert_eq!(base_subject("[Fwd: plans]"), ("plans".into(), true));
        assert_eq!(base_subject("RE [x]: status"), ("status".into(), true));
        assert_eq!(base_subject("Plain"), ("plain".into(), false));
        assert_eq!(
            base_subject("[only a blob]"),
            ("[only a blob]".into(), false)
        );
    }
}
