//! SEARCH and UID SEARCH: the IMAP search keys as core's filter (stored facts in SQL, text
//! checked exactly), restricted to the selected mailbox; results as sequence numbers or UIDs.

use chrono::NaiveDate;
use imap_codec::imap_types::core::{AString, Charset, Vec1};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::search::SearchKey;
use mailroom_core::filter::{Cond, Filter, TextField};

use crate::selected::{nz, nz64};

fn criteria_use_modseq(keys: &Vec1<SearchKey<'_>>) -> bool {
    fn uses(k: &SearchKey<'_>) -> bool {
        match k {
            SearchKey::ModSequence { .. } => true,
            SearchKey::Not(k) => uses(k),
            SearchKey::Or(a, b) => uses(a) || uses(b),
            SearchKey::And(v) => v.as_ref().iter().any(uses),
            _ => false,
        }
    }
    keys.as_ref().iter().any(uses)
}
use crate::extended::SearchReturn;
use crate::reply::{Handled, Reply};
use crate::session::Session;

fn kw(k: &str) -> Filter {
    Filter::Cond(Cond::HasKeyword(k.into()))
}

fn not(f: Filter) -> Filter {
    Filter::Not(vec![f])
}

fn text(field: TextField, s: &AString<'_>) -> Filter {
    Filter::Text(field, String::from_utf8_lossy(s.as_ref()).into_owned())
}

/// Midnight UTC starting the day.
fn day(d: &NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
}

/// Only UTF-8 (and its subset US-ASCII) are searched in (RFC 9051 §6.4.4: [BADCHARSET]).
pub(crate) fn charset_ok(charset: &Charset<'_>) -> Result<(), Reply> {
    let c = charset.as_ref();
    if c.eq_ignore_ascii_case("utf-8") || c.eq_ignore_ascii_case("us-ascii") {
        return Ok(());
    }
    Err(Reply::No(
        Some(Code::badcharset(vec![
            Charset::try_from("UTF-8").expect("valid charset"),
            Charset::try_from("US-ASCII").expect("valid charset"),
        ])),
        "unsupported charset".into(),
    ))
}

impl Session {
    /// The search keys (ANDed, as at the top of SEARCH) as one filter.
    pub(crate) fn criteria(&self, keys: &Vec1<SearchKey<'_>>) -> Result<Filter, Reply> {
        Ok(Filter::And(
            keys.as_ref()
                .iter()
                .map(|k| self.filter(k))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// The messages \Recent in this session.
    fn recent_filter(&self) -> Filter {
        let sel = self.selected.as_ref().expect("selected");
        let ranges: Vec<(u32, u32)> = sel
            .recent
            .iter()
            .filter(|(a, b)| a < b)
            .map(|&(a, b)| (a, b - 1))
            .collect();
        Filter::Cond(Cond::UidRanges {
            mailbox_id: sel.mailbox_id,
            ranges,
        })
    }

    pub(crate) fn filter(&self, k: &SearchKey<'_>) -> Result<Filter, Reply> {
        let sel = self.selected.as_ref().expect("selected");
        Ok(match k {
            SearchKey::All => Filter::And(vec![]),
            SearchKey::Old => not(self.recent_filter()),
            SearchKey::Recent => self.recent_filter(),
            SearchKey::New => Filter::And(vec![self.recent_filter(), not(kw("$seen"))]),
            SearchKey::Answered => kw("$answered"),
            SearchKey::Unanswered => not(kw("$answered")),
            SearchKey::Deleted => kw("$deleted"),
            SearchKey::Undeleted => not(kw("$deleted")),
            SearchKey::Draft => kw("$draft"),
            SearchKey::Undraft => not(kw("$draft")),
            SearchKey::Flagged => kw("$flagged"),
            SearchKey::Unflagged => not(kw("$flagged")),
            SearchKey::Seen => kw("$seen"),
            SearchKey::Unseen => not(kw("$seen")),
            SearchKey::Keyword(a) => kw(&a.inner().to_ascii_lowercase()),
            SearchKey::Unkeyword(a) => not(kw(&a.inner().to_ascii_lowercase())),
            SearchKey::Before(d) => Filter::Cond(Cond::Before(day(d.as_ref()))),
            SearchKey::On(d) => Filter::And(vec![
                Filter::Cond(Cond::After(day(d.as_ref()))),
                Filter::Cond(Cond::Before(day(d.as_ref()) + 86_400)),
            ]),
            SearchKey::Since(d) => Filter::Cond(Cond::After(day(d.as_ref()))),
            SearchKey::SentBefore(d) => Filter::Cond(Cond::SentBefore(day(d.as_ref()))),
            SearchKey::SentOn(d) => Filter::And(vec![
                Filter::Cond(Cond::SentAfter(day(d.as_ref()))),
                Filter::Cond(Cond::SentBefore(day(d.as_ref()) + 86_400)),
            ]),
            SearchKey::SentSince(d) => Filter::Cond(Cond::SentAfter(day(d.as_ref()))),
            SearchKey::Larger(n) => Filter::Cond(Cond::MinSize(*n as i64 + 1)),
            SearchKey::Smaller(n) => Filter::Cond(Cond::MaxSize(*n as i64)),
            SearchKey::From(s) => text(TextField::From, s),
            SearchKey::To(s) => text(TextField::To, s),
            SearchKey::Cc(s) => text(TextField::Cc, s),
            SearchKey::Bcc(s) => text(TextField::Bcc, s),
            SearchKey::Subject(s) => text(TextField::Subject, s),
            SearchKey::Body(s) => text(TextField::Body, s),
            SearchKey::Text(s) => text(TextField::HeadersOrBody, s),
            SearchKey::Header(name, value) => text(
                TextField::Header(String::from_utf8_lossy(name.as_ref()).into_owned()),
                value,
            ),
            SearchKey::Not(k) => not(self.filter(k)?),
            SearchKey::Or(a, b) => Filter::Or(vec![self.filter(a)?, self.filter(b)?]),
            SearchKey::And(v) => Filter::And(
                v.as_ref()
                    .iter()
                    .map(|k| self.filter(k))
                    .collect::<Result<_, _>>()?,
            ),
            SearchKey::SequenceSet(set) | SearchKey::Uid(set) => {
                let uid = matches!(k, SearchKey::Uid(_));
                let idx = sel
                    .resolve(set, uid)
                    .ok_or_else(|| Reply::Bad(None, "no such message sequence number".into()))?;
                if idx.len() == sel.view.len() {
                    Filter::And(vec![])
                } else {
                    // Runs of consecutive messages are UID ranges of the mailbox.
                    let mut ranges: Vec<(u32, u32)> = Vec::new();
                    let mut k = 0;
                    while k < idx.len() {
                        let mut j = k;
                        while j + 1 < idx.len() && idx[j + 1] == idx[j] + 1 {
                            j += 1;
                        }
                        ranges.push((sel.view.uids[idx[k]], sel.view.uids[idx[j]]));
                        k = j + 1;
                    }
                    Filter::Cond(Cond::UidRanges {
                        mailbox_id: sel.mailbox_id,
                        ranges,
                    })
                }
            }
            // Per-flag entries (RFC 7162 §3.1.5) name the modseq of one flag's change; this
            // server keeps one modseq per message, which bounds every entry.
            SearchKey::ModSequence { modseq, .. } => Filter::Cond(Cond::MinModseq(*modseq as i64)),
        })
    }

    pub(crate) async fn search(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> Handled {
        let ret = self.search_return.take();
        if ret.as_ref().is_some_and(|r| r.save) {
            // RFC 5182 §2.1: a failed SEARCH leaves `$` empty.
            self.selected.as_mut().expect("selected").saved.clear();
        }
        if let Some(c) = &charset {
            charset_ok(c)?;
        }
        let ids = self.search_ids(self.criteria(&criteria)?).await?;
        let sel = self.selected.as_ref().expect("selected");
        // Indexes into the view, ascending (the same order for sequence numbers and UIDs).
        let mut hits: Vec<usize> = ids.iter().filter_map(|&id| sel.view.position(id)).collect();
        hits.sort_unstable();
        let found: Vec<u32> = hits
            .iter()
            .map(|&i| if uid { sel.view.uids[i] } else { i as u32 + 1 })
            .collect();
        // RFC 7162 §3.1.5: a search with MODSEQ answers with the highest modseq found.
        // With MIN and/or MAX alone, of the messages returned (RFC 7162 §3.1.5).
        let returned: Vec<usize> = match &ret {
            Some(r) if (r.min || r.max) && !r.all && !r.count => {
                let mut v: Vec<usize> = [r.min.then(|| hits.first()), r.max.then(|| hits.last())]
                    .into_iter()
                    .flatten()
                    .flatten()
                    .copied()
                    .collect();
                v.dedup();
                v
            }
            _ => hits.clone(),
        };
        let highest = criteria_use_modseq(&criteria)
            .then(|| {
                let sel = self.selected.as_ref().expect("selected");
                returned.iter().map(|&i| sel.modseq(i)).max()
            })
            .flatten()
            .map(nz64);
        if highest.is_some() {
            self.condstore = true;
        }
        match ret {
            None => self.data(Data::Search(found.into_iter().map(nz).collect(), highest)),
            Some(r) => {
                if r.save {
                    let sel = self.selected.as_mut().expect("selected");
                    // SAVE with MIN and/or MAX alone keeps just those (RFC 5182 §2.4).
                    sel.saved = returned.iter().map(|&i| sel.view.uids[i]).collect();
                }
                if r.min || r.max || r.count || r.all {
                    let line = esearch(&r, uid, &found, highest.map(|h| h.get()));
                    self.push_raw(line.as_bytes());
                }
            }
        }
        Ok(Reply::Ok(None, "SEARCH completed".into()))
    }
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [MODSEQ n]` (RFC 4731 §3.1;
/// results that do not exist, MIN of nothing, are left out).
fn esearch(r: &SearchReturn, uid: bool, found: &[u32], modseq: Option<u64>) -> String {
    use std::fmt::Write;
    let mut line = format!("* ESEARCH (TAG \"{}\")", r.tag);
    if uid {
        line.push_str(" UID");
    }
    if r.min
        && let Some(n) = found.first()
    {
        let _ = write!(line, " MIN {n}");
    }
    if r.max
        && let Some(n) = found.last()
    {
        let _ = write!(line, " MAX {n}");
    }
    if r.count {
        let _ = write!(line, " COUNT {}", found.len());
    }
    if r.all
        && let Some(set) = crate::extended::set_text(found)
    {
        let _ = write!(line, " ALL {set}");
    }
    if let Some(m) = modseq {
        let _ = write!(line, " MODSEQ {m}");
    }
    line.push_str("\r\n");
    line
}
