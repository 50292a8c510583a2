//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, NAMESPACE: the
//! account's mailbox tree through core's mailbox rules. Names arrive in modified UTF-7
//! (RFC 3501 §5.1.3) and are stored as UTF-8, so JMAP and the webmail show the same name.

use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::core::{IString, QuotedChar};
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as ImapMailbox};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use mailroom_core::mail::MailboxView;
use mailroom_core::mailboxes::{MailboxPatch, MailboxRefusal};

use crate::extended::{ListExtended, ListReturn, ListSelect};
use crate::names::{self, DELIMITER, Folder};
use crate::reply::{Handled, Reply, code};
use crate::selected::nz;
use crate::session::Session;

fn refusal(r: MailboxRefusal) -> Reply {
    let (c, text) = match r {
        MailboxRefusal::NotFound => ("NONEXISTENT", "no such mailbox"),
        MailboxRefusal::BadParent => ("CANNOT", "no such parent mailbox"),
        MailboxRefusal::NameTaken => ("ALREADYEXISTS", "a mailbox with that name exists"),
        MailboxRefusal::HasChild => (
            "HASCHILDREN",
            "the mailbox has child mailboxes; delete them first",
        ),
        MailboxRefusal::HasEmail => ("INUSE", "the mailbox is not empty"),
        MailboxRefusal::HasRole => ("CANNOT", "a special mailbox cannot be renamed or deleted"),
    };
    Reply::No(Some(code(c)), text.into())
}

fn special_use(role: Option<&str>) -> Option<&'static str> {
    Some(match role? {
        "sent" => "Sent",
        "drafts" => "Drafts",
        "trash" => "Trash",
        "junk" => "Junk",
        "archive" => "Archive",
        "all" => "All",
        "flagged" => "Flagged",
        _ => return None,
    })
}

/// What a LIST asks for, whichever syntax it came in.
struct ListQuery {
    reference: String,
    patterns: Vec<String>,
    lsub: bool,
    select: ListSelect,
    returns: ListReturn,
}

/// STATUS item names given as words (LIST's RETURN (STATUS (...))).
fn status_names(items: &[String]) -> Result<Vec<StatusDataItemName>, Reply> {
    items
        .iter()
        .map(|i| {
            Ok(match i.as_str() {
                "MESSAGES" => StatusDataItemName::Messages,
                "RECENT" => StatusDataItemName::Recent,
                "UIDNEXT" => StatusDataItemName::UidNext,
                "UIDVALIDITY" => StatusDataItemName::UidValidity,
                "UNSEEN" => StatusDataItemName::Unseen,
                "DELETED" => StatusDataItemName::Deleted,
                "DELETED-STORAGE" => StatusDataItemName::DeletedStorage,
                "SIZE" => StatusDataItemName::Size,
                "HIGHESTMODSEQ" => StatusDataItemName::HighestModSeq,
                _ => return Err(Reply::Bad(None, format!("unknown STATUS item {i}"))),
            })
        })
        .collect()
}

fn attr(name: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::try_from(name.to_string()).expect("valid attribute"))
}

/// A mailbox's LIST attributes: children and special use.
fn attrs(f: &Folder) -> Vec<FlagNameAttribute<'static>> {
    let mut items = vec![attr(if f.has_children {
        "HasChildren"
    } else {
        "HasNoChildren"
    })];
    if let Some(u) = special_use(f.mailbox.role.as_deref()) {
        items.push(attr(u));
    }
    items
}

impl Session {
    /// A mailbox name as UTF-8: from the wire's modified UTF-7, or as it is once the client
    /// enabled UTF8=ACCEPT (RFC 6855). Names with 8-bit characters are UTF-8 either way.
    pub(crate) fn name_of(&self, m: &ImapMailbox<'_>) -> Result<String, Reply> {
        match m {
            ImapMailbox::Inbox => Ok("INBOX".into()),
            ImapMailbox::Other(o) => self.utf8_name(o.as_ref(), false),
        }
    }

    /// A name as the client reads it: modified UTF-7, or UTF-8 under UTF8=ACCEPT.
    pub(crate) fn wire_name(&self, name: &str) -> ImapMailbox<'static> {
        use imap_codec::imap_types::core::AString;
        use imap_codec::imap_types::extensions::utf8::QuotedUtf8;
        use imap_codec::imap_types::mailbox::MailboxOther;
        if self.utf8 && !name.is_ascii() {
            let quoted = QuotedUtf8::try_from(name.to_string())
                .ok()
                .and_then(|q| MailboxOther::try_from(AString::String(IString::QuotedUtf8(q))).ok());
            if let Some(m) = quoted {
                return ImapMailbox::Other(m);
            }
        }
        // Under UTF-8 names an ASCII name goes as it is (`&` stays `&`).
        let wire = if self.utf8 {
            name.to_string()
        } else {
            names::to_utf7(name)
        };
        ImapMailbox::try_from(wire).unwrap_or(ImapMailbox::Inbox)
    }

    fn account_id(&self) -> i64 {
        self.user.as_ref().expect("authenticated").id
    }

    pub(crate) async fn folders(&self) -> Result<Vec<Folder>, Reply> {
        let list = self.shared.core.mailbox_list(self.account_id()).await?;
        Ok(names::folders(&list))
    }

    /// The folder a name names, or `NO [NONEXISTENT]`.
    pub(crate) async fn folder(&self, m: &ImapMailbox<'_>) -> Result<Folder, Reply> {
        let name = self.name_of(m)?;
        names::find(&self.folders().await?, &name)
            .cloned()
            .ok_or_else(|| Reply::No(Some(code("NONEXISTENT")), format!("no mailbox {name}")))
    }

    /// The folder APPEND files into, if there is one: found in the account's tree as last
    /// read (no read per APPEND; its counters may be behind, which a destination does not
    /// use), or with `fresh` (or when the name is not there) read afresh.
    pub(crate) async fn destination(
        &self,
        m: &ImapMailbox<'_>,
        fresh: bool,
    ) -> Result<Option<Folder>, Reply> {
        let name = self.name_of(m)?;
        if !fresh {
            let tree = self.shared.core.mailbox_tree(self.account_id()).await?;
            if let Some(f) = names::find(&names::folders(&tree), &name) {
                return Ok(Some(f.clone()));
            }
        }
        Ok(names::find(&self.folders().await?, &name).cloned())
    }

    /// Creates `name` and any missing parents; returns the new mailbox's id.
    async fn create_path(&self, name: &str) -> Result<i64, Reply> {
        let account = self.account_id();
        let mut folders = self.folders().await?;
        let levels: Vec<&str> = name.split(DELIMITER).collect();
        let mut parent: Option<i64> = None;
        let mut id = None;
        for i in 0..levels.len() {
            let path = levels[..=i].join("/");
            if let Some(f) = names::find(&folders, &path) {
                if i == levels.len() - 1 {
                    return Err(Reply::No(
                        Some(code("ALREADYEXISTS")),
                        "mailbox exists".into(),
                    ));
                }
                parent = Some(f.mailbox.id);
                continue;
            }
            let m = self
                .shared
                .core
                .mailbox_create(account, levels[i], parent, 0, true)
                .await?
                .map_err(refusal)?;
            // Subscribed as a name before: now the mailbox's own subscription.
            self.shared
                .core
                .subscribe_name(account, &path, false)
                .await?;
            parent = Some(m.id);
            id = Some(m.id);
            folders = self.folders().await?;
        }
        id.ok_or_else(|| Reply::No(Some(code("ALREADYEXISTS")), "mailbox exists".into()))
    }

    pub(crate) async fn create(&mut self, mailbox: ImapMailbox<'static>) -> Handled {
        let name = names::normalise(&self.name_of(&mailbox)?);
        if let Some(p) = names::problem(&name) {
            return Err(Reply::No(Some(code("CANNOT")), p));
        }
        self.create_path(&name).await?;
        Ok(Reply::Ok(None, "CREATE completed".into()))
    }

    pub(crate) async fn delete(&mut self, mailbox: ImapMailbox<'static>) -> Handled {
        let f = self.folder(&mailbox).await?;
        if f.name == "INBOX" {
            return Err(Reply::No(
                Some(code("CANNOT")),
                "INBOX cannot be deleted".into(),
            ));
        }
        if f.has_children {
            return Err(refusal(MailboxRefusal::HasChild));
        }
        self.shared
            .core
            .mailbox_destroy(self.account_id(), f.mailbox.id, true)
            .await?
            .map_err(refusal)?;
        // The name stays subscribed (RFC 9051 §6.3.9); LSUB shows it as \NonExistent.
        if f.mailbox.subscribed {
            self.shared
                .core
                .subscribe_name(self.account_id(), &f.name, true)
                .await?;
        }
        if self
            .selected
            .as_ref()
            .is_some_and(|s| s.mailbox_id == f.mailbox.id)
        {
            self.selected = None;
        }
        Ok(Reply::Ok(None, "DELETE completed".into()))
    }

    pub(crate) async fn rename(
        &mut self,
        from: ImapMailbox<'static>,
        to: ImapMailbox<'static>,
    ) -> Handled {
        let source = self.folder(&from).await?;
        let to = names::normalise(&self.name_of(&to)?);
        if let Some(p) = names::problem(&to) {
            return Err(Reply::No(Some(code("CANNOT")), p));
        }
        let folders = self.folders().await?;
        if names::find(&folders, &to).is_some() {
            return Err(Reply::No(
                Some(code("ALREADYEXISTS")),
                "target mailbox exists".into(),
            ));
        }
        if to.starts_with(&format!("{}/", source.name)) {
            return Err(Reply::No(
                Some(code("CANNOT")),
                "a mailbox cannot move into itself".into(),
            ));
        }
        let account = self.account_id();
        if source.name == "INBOX" {
            // RFC 9051 §6.3.6: renaming INBOX moves its messages into a new mailbox and
            // leaves INBOX, empty, in place.
            let target = self.create_path(&to).await?;
            let ids = self.all_email_ids(source.mailbox.id).await?;
            self.shared
                .core
                .move_emails(account, &ids, source.mailbox.id, target)
                .await?;
            return Ok(Reply::Ok(None, "RENAME completed".into()));
        }
        let (parent_path, leaf) = match to.rsplit_once(DELIMITER) {
            Some((p, l)) => (Some(p.to_string()), l.to_string()),
            None => (None, to.clone()),
        };
        let parent = match parent_path {
            None => None,
            Some(p) => Some(match names::find(&folders, &p) {
                Some(f) => f.mailbox.id,
                None => self.create_path(&p).await?,
            }),
        };
        let patch = MailboxPatch {
            name: Some(leaf),
            parent_id: Some(parent),
            ..MailboxPatch::default()
        };
        self.shared
            .core
            .mailbox_update(account, source.mailbox.id, &patch)
            .await?
            .map_err(refusal)?;
        Ok(Reply::Ok(None, "RENAME completed".into()))
    }

    pub(crate) async fn all_email_ids(&self, mailbox_id: i64) -> Result<Vec<i64>, Reply> {
        Ok(self
            .shared
            .core
            .members_since(self.account_id(), mailbox_id, -1)
            .await?
            .into_iter()
            .map(|m| m.email_id)
            .collect())
    }

    /// A mailbox's subscription is the mailbox's (JMAP's `isSubscribed`); a name with no
    /// mailbox can be subscribed too (RFC 9051 §6.3.9), and unsubscribed while it has none.
    pub(crate) async fn subscribe(&mut self, mailbox: ImapMailbox<'static>, on: bool) -> Handled {
        let name = names::normalise(&self.name_of(&mailbox)?);
        let account = self.account_id();
        match names::find(&self.folders().await?, &name) {
            Some(f) => {
                let patch = MailboxPatch {
                    subscribed: Some(on),
                    ..MailboxPatch::default()
                };
                self.shared
                    .core
                    .mailbox_update(account, f.mailbox.id, &patch)
                    .await?
                    .map_err(refusal)?;
            }
            None if on => {
                if let Some(p) = names::problem(&name) {
                    return Err(Reply::No(Some(code("CANNOT")), p));
                }
                self.shared
                    .core
                    .subscribe_name(account, &name, true)
                    .await?;
            }
            None => {
                if !self
                    .shared
                    .core
                    .subscribe_name(account, &name, false)
                    .await?
                {
                    return Err(Reply::No(
                        Some(code("NONEXISTENT")),
                        format!("not subscribed to {name}"),
                    ));
                }
            }
        }
        Ok(Reply::Ok(
            None,
            format!("{} completed", if on { "SUBSCRIBE" } else { "UNSUBSCRIBE" }),
        ))
    }

    /// LIST and LSUB as RFC 3501 has them.
    pub(crate) async fn list(
        &mut self,
        reference: ImapMailbox<'static>,
        pattern: ListMailbox<'static>,
        lsub: bool,
    ) -> Handled {
        let reference = match &reference {
            ImapMailbox::Inbox => "INBOX".to_string(),
            other => self.name_of(other)?,
        };
        let pattern = match &pattern {
            ListMailbox::Token(t) => t.as_ref().to_vec(),
            ListMailbox::String(s) => s.as_ref().to_vec(),
        };
        let query = ListQuery {
            reference,
            patterns: vec![self.pattern_of(&pattern)?],
            lsub,
            select: ListSelect::default(),
            returns: ListReturn::default(),
        };
        self.run_list(query).await
    }

    /// LIST with RFC 5258 selection and return options, several patterns, RFC 5819 STATUS.
    pub(crate) async fn list_extended(&mut self, l: ListExtended) -> Handled {
        let reference = if l.reference.eq_ignore_ascii_case(b"INBOX") {
            "INBOX".to_string()
        } else {
            self.pattern_of(&l.reference)?
        };
        let patterns = l
            .patterns
            .iter()
            .map(|p| self.pattern_of(p))
            .collect::<Result<_, _>>()?;
        let query = ListQuery {
            reference,
            patterns,
            lsub: false,
            select: l.select,
            returns: l.returns,
        };
        self.run_list(query).await
    }

    /// A LIST pattern from the wire as UTF-8 (see [`Self::utf8_name`]; a pattern that is not
    /// valid modified UTF-7 is taken as it is).
    fn pattern_of(&self, bytes: &[u8]) -> Result<String, Reply> {
        self.utf8_name(bytes, true)
    }

    /// Wire bytes as a UTF-8 name: modified UTF-7 decoded unless the client uses UTF-8
    /// names; bad UTF-7 is BAD, or (`lenient`) the text as it is.
    fn utf8_name(&self, bytes: &[u8], lenient: bool) -> Result<String, Reply> {
        let s = std::str::from_utf8(bytes)
            .map_err(|_| Reply::Bad(None, "mailbox names are UTF-7 or UTF-8".into()))?;
        if self.utf8 || !s.is_ascii() {
            return Ok(s.to_string());
        }
        match names::from_utf7(s) {
            Some(n) => Ok(n),
            None if lenient => Ok(s.to_string()),
            None => Err(Reply::Bad(
                None,
                "bad modified UTF-7 in mailbox name".into(),
            )),
        }
    }

    async fn run_list(&mut self, q: ListQuery) -> Handled {
        let what = if q.lsub { "LSUB" } else { "LIST" };
        let status_items = q.returns.status.as_deref().map(status_names).transpose()?;
        let delimiter = QuotedChar::try_from(DELIMITER).expect("valid delimiter");
        if q.patterns.len() == 1 && q.patterns[0].is_empty() {
            // The hierarchy delimiter and the root (RFC 9051 §6.3.9).
            let data = Data::List {
                items: vec![FlagNameAttribute::Noselect],
                delimiter: Some(delimiter),
                mailbox: ImapMailbox::try_from("").expect("empty name"),
            };
            if !q.lsub {
                self.data(data);
            }
            return Ok(Reply::Ok(None, format!("{what} completed")));
        }
        let folders = self.folders().await?;
        let status = match status_items {
            Some(names) => Some((names, self.shared.core.mailboxes(self.account_id()).await?)),
            None => None,
        };
        let full: Vec<String> = q
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| format!("{}{p}", q.reference))
            .collect();
        let subscribed_only = q.lsub || q.select.subscribed;
        // Subscribed names with no mailbox: listed where subscriptions are.
        let orphans = if subscribed_only {
            self.shared.core.subscribed_names(self.account_id()).await?
        } else {
            Vec::new()
        };
        for f in &folders {
            if !full.iter().any(|p| names::matches(p, &f.name)) {
                continue;
            }
            let special = special_use(f.mailbox.role.as_deref());
            if q.select.special_use && special.is_none() {
                continue;
            }
            // RECURSIVEMATCH: a parent is listed for its subscribed descendants (RFC 5258
            // §3.5), marked with CHILDINFO.
            // A parent that is not itself selected is listed only for descendants the
            // patterns leave out (RFC 5258 §3.5: they would be listed anyway).
            let prefix = format!("{}{DELIMITER}", f.name);
            let subscribed_below = |unlisted_only: bool| {
                let subscribed = folders
                    .iter()
                    .filter(|c| c.mailbox.subscribed)
                    .map(|c| c.name.as_str())
                    .chain(orphans.iter().map(String::as_str));
                subscribed.into_iter().any(|c| {
                    c.starts_with(&prefix)
                        && !(unlisted_only && full.iter().any(|p| names::matches(p, c)))
                })
            };
            let selected = !subscribed_only || f.mailbox.subscribed;
            // LSUB lists such a parent too, as \Noselect (RFC 3501 §6.3.9).
            let child_subscribed =
                (q.select.recursive_match || q.lsub) && subscribed_below(!f.mailbox.subscribed);
            if !selected && !child_subscribed {
                continue;
            }
            let mut items = if q.lsub && !selected {
                vec![FlagNameAttribute::Noselect]
            } else {
                attrs(f)
            };
            if (q.select.subscribed || q.returns.subscribed) && f.mailbox.subscribed {
                items.push(attr("Subscribed"));
            }
            let mailbox = self.wire_name(&f.name);
            let delimiter = Some(delimiter);
            let data = if q.lsub {
                Data::Lsub {
                    items,
                    delimiter,
                    mailbox,
                }
            } else {
                Data::List {
                    items,
                    delimiter,
                    mailbox,
                }
            };
            if child_subscribed && !q.lsub {
                self.data_with(data, b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            } else {
                self.data(data);
            }
            // RFC 5819 §2: STATUS for the mailboxes the selection matched; one that cannot
            // be read (deleted meanwhile) goes without.
            if let Some((names, views)) = &status
                && selected
                && let Ok(items) = self.status_items(f, views, names).await
            {
                self.data(Data::Status {
                    mailbox: self.wire_name(&f.name),
                    items: items.into(),
                });
            }
        }
        for name in &orphans {
            if !full.iter().any(|p| names::matches(p, name))
                || q.select.special_use
                || names::find(&folders, name).is_some()
            {
                continue;
            }
            let mailbox = self.wire_name(name);
            let delimiter = Some(delimiter);
            // RFC 5258 §3: \NonExistent (which implies \Noselect) where LIST-EXTENDED
            // speaks; LSUB has only \Noselect.
            let data = if q.lsub {
                Data::Lsub {
                    items: vec![FlagNameAttribute::Noselect],
                    delimiter,
                    mailbox,
                }
            } else {
                Data::List {
                    items: vec![attr("NonExistent"), attr("Subscribed")],
                    delimiter,
                    mailbox,
                }
            };
            self.data(data);
        }
        if q.lsub || q.select.recursive_match {
            self.nonexistent_parents(&full, &folders, &orphans, q.lsub);
        }
        Ok(Reply::Ok(None, format!("{what} completed")))
    }

    /// The parents that do not exist of subscribed names the patterns leave out, where the
    /// patterns match them: LSUB shows them \Noselect (RFC 3501 §6.3.9), LIST (SUBSCRIBED
    /// RECURSIVEMATCH) \NonExistent with CHILDINFO (RFC 5258 §3.5).
    fn nonexistent_parents(
        &mut self,
        full: &[String],
        folders: &[Folder],
        orphans: &[String],
        lsub: bool,
    ) {
        let mut parents = std::collections::BTreeSet::new();
        for name in orphans {
            if full.iter().any(|p| names::matches(p, name)) {
                continue;
            }
            for (i, _) in name.match_indices(DELIMITER) {
                let parent = &name[..i];
                if names::find(folders, parent).is_none()
                    && !orphans.iter().any(|o| o == parent)
                    && full.iter().any(|p| names::matches(p, parent))
                {
                    parents.insert(parent);
                }
            }
        }
        let delimiter = QuotedChar::try_from(DELIMITER).expect("valid delimiter");
        for parent in parents {
            let mailbox = self.wire_name(parent);
            if lsub {
                self.data(Data::Lsub {
                    items: vec![FlagNameAttribute::Noselect],
                    delimiter: Some(delimiter),
                    mailbox,
                });
            } else {
                let data = Data::List {
                    items: vec![attr("NonExistent")],
                    delimiter: Some(delimiter),
                    mailbox,
                };
                self.data_with(data, b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
        }
    }

    /// The mailbox's LIST line (IMAP4rev2 SELECT).
    pub(crate) fn list_one(&mut self, f: &Folder) {
        let items = attrs(f);
        self.data(Data::List {
            items,
            delimiter: Some(QuotedChar::try_from(DELIMITER).expect("valid delimiter")),
            mailbox: self.wire_name(&f.name),
        });
    }

    pub(crate) async fn status(
        &mut self,
        mailbox: ImapMailbox<'static>,
        names: &[StatusDataItemName],
    ) -> Handled {
        let f = self.folder(&mailbox).await?;
        let views = self.shared.core.mailboxes(self.account_id()).await?;
        let items = self.status_items(&f, &views, names).await?;
        self.data(Data::Status {
            mailbox: self.wire_name(&f.name),
            items: items.into(),
        });
        Ok(Reply::Ok(None, "STATUS completed".into()))
    }

    async fn status_items(
        &mut self,
        f: &Folder,
        views: &[MailboxView],
        names: &[StatusDataItemName],
    ) -> Result<Vec<StatusDataItem>, Reply> {
        let account = self.account_id();
        let counts = views
            .iter()
            .find(|v| v.mailbox.id == f.mailbox.id)
            .map(|v| v.counts.clone())
            .ok_or_else(|| Reply::No(Some(code("NONEXISTENT")), "no such mailbox".into()))?;
        // The members, read once, for the items counted from them.
        let view = if names.iter().any(|n| {
            matches!(
                n,
                StatusDataItemName::Recent
                    | StatusDataItemName::Deleted
                    | StatusDataItemName::DeletedStorage
            )
        }) {
            Some(
                self.shared
                    .core
                    .mailbox_snapshot(account, f.mailbox.id, None)
                    .await?,
            )
        } else {
            None
        };
        let mut items = Vec::new();
        for n in names {
            items.push(match n {
                StatusDataItemName::Messages => {
                    StatusDataItem::Messages(counts.total_emails as u32)
                }
                StatusDataItemName::Unseen => StatusDataItem::Unseen(counts.unread_emails as u32),
                // IMAP4rev2 has no \Recent (RFC 9051 Appendix E).
                StatusDataItemName::Recent if self.rev2 => {
                    return Err(Reply::Bad(None, "IMAP4rev2 has no RECENT".into()));
                }
                // Messages no session has been shown yet.
                StatusDataItemName::Recent => {
                    let mark = self.shared.core.recent_mark(f.mailbox.id).await?;
                    let view = view.as_ref().expect("read above");
                    StatusDataItem::Recent(
                        (view.len() - view.uids.partition_point(|&u| u < mark)) as u32,
                    )
                }
                // Messages marked \Deleted (RFC 9051 §6.3.11).
                StatusDataItemName::Deleted => {
                    let view = view.as_ref().expect("read above");
                    let n = view
                        .keywords
                        .iter()
                        .filter(|k| crate::flags::has(k, "$deleted"))
                        .count();
                    StatusDataItem::Deleted(n as u32)
                }
                // Bytes of the messages marked \Deleted (RFC 9208 §4.2.2).
                StatusDataItemName::DeletedStorage => {
                    let view = view.as_ref().expect("read above");
                    let bytes: u64 = view
                        .keywords
                        .iter()
                        .zip(view.sizes.iter())
                        .filter(|(k, _)| crate::flags::has(k, "$deleted"))
                        .map(|(_, &s)| s as u64)
                        .sum();
                    StatusDataItem::DeletedStorage(bytes)
                }
                StatusDataItemName::UidNext => StatusDataItem::UidNext(nz(f.mailbox.uid_next)),
                StatusDataItemName::UidValidity => {
                    StatusDataItem::UidValidity(nz(f.mailbox.uid_validity))
                }
                StatusDataItemName::Size => StatusDataItem::Size(
                    self.shared.core.mailbox_size(account, f.mailbox.id).await?,
                ),
                StatusDataItemName::HighestModSeq => {
                    self.condstore = true;
                    StatusDataItem::HighestModSeq(
                        self.shared.core.state(account).await?.max(1) as u64
                    )
                }
            });
        }
        Ok(items)
    }

    pub(crate) fn namespace(&mut self) -> Handled {
        let personal = vec![Namespace {
            prefix: IString::try_from("").expect("empty"),
            delimiter: Some(QuotedChar::try_from(DELIMITER).expect("valid delimiter")),
            extensions: vec![],
        }];
        self.data(Data::Namespace {
            personal,
            other: vec![],
            shared: vec![],
        });
        Ok(Reply::Ok(None, "NAMESPACE completed".into()))
    }
}
