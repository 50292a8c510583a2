//! Which state each command needs, and the command handed to the file that handles it; the
//! tagged answer goes out after the untagged reports of changes made elsewhere.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::fragmentizer::Fragmentizer;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Tag, Vec1};
use imap_codec::imap_types::response::{Code, Data};

use crate::extended::{Pre, Saved, SearchReturn};
use crate::reply::{Handled, Reply, syntax_hint};
use crate::session::{Next, Session};

impl Session {
    pub(crate) async fn command(&mut self, cmd: Command<'static>) -> Next {
        let Command { tag, body } = cmd;
        let authenticated = self.user.is_some();
        let selected = self.selected.is_some();
        let needs = match &body {
            CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Logout
            | CommandBody::Id { .. } => None,
            CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. } => Some("not authenticated"),
            CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::ExpungeUid { .. }
            | CommandBody::Search { .. }
            | CommandBody::Fetch { .. }
            | CommandBody::Store { .. }
            | CommandBody::Copy { .. }
            | CommandBody::Move { .. }
            | CommandBody::Sort { .. }
            | CommandBody::Thread { .. } => Some("selected"),
            _ => Some("authenticated"),
        };
        let allowed = match needs {
            None => true,
            Some("not authenticated") => !authenticated,
            Some("selected") => selected,
            _ => authenticated,
        };
        if !allowed {
            let text = match needs {
                Some("not authenticated") => "already authenticated",
                Some("selected") if authenticated => "no mailbox selected",
                _ => "log in first",
            };
            return self.tagged(tag, Reply::Bad(None, text.into()));
        }
        // EXPUNGE responses may not be sent while answering FETCH, STORE or SEARCH by
        // sequence number (RFC 9051 §7.5.1).
        let expunge_allowed = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
                | CommandBody::Sort { uid: false, .. }
                | CommandBody::Thread { uid: false, .. }
        );
        let name = body.name();
        if self.rev2 && self.search_return.is_none() && matches!(body, CommandBody::Search { .. }) {
            // RFC 9051 §6.4.4: IMAP4rev2 answers SEARCH with ESEARCH.
            self.search_return = Some(SearchReturn::all(tag.inner()));
        }
        let handled: Handled = match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.data(Data::Capability(caps));
                Ok(Reply::Ok(None, "CAPABILITY completed".into()))
            }
            CommandBody::Noop | CommandBody::Check => {
                Ok(Reply::Ok(None, format!("{name} completed")))
            }
            CommandBody::Logout => {
                self.bye("Logging out");
                self.tagged(tag, Reply::Ok(None, "LOGOUT completed".into()));
                return Next::Close;
            }
            CommandBody::Id { .. } => self.id(),
            CommandBody::Compress { .. } => {
                if self.deflate.is_some() {
                    Err(Reply::No(
                        Some(Code::CompressionActive),
                        "compression is already active".into(),
                    ))
                } else {
                    self.tagged(tag, Reply::Ok(None, "DEFLATE active".into()));
                    return Next::Compress;
                }
            }
            CommandBody::StartTLS => match self.starttls() {
                Ok(()) => {
                    self.tagged(tag, Reply::Ok(None, "Begin TLS negotiation now".into()));
                    return Next::StartTls;
                }
                Err(r) => Err(r),
            },
            CommandBody::Login { username, password } => self.login(username, password).await,
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(&tag, mechanism, initial_response).await,
            CommandBody::Enable { capabilities } => self.enable(capabilities),
            CommandBody::Namespace => self.namespace(),
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.select(mailbox, parameters, false).await,
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.select(mailbox, parameters, true).await,
            CommandBody::Create { mailbox } => self.create(mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(mailbox).await,
            CommandBody::Rename { from, to } => self.rename(from, to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(mailbox, false).await,
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => self.list(reference, mailbox_wildcard, false).await,
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.list(reference, mailbox_wildcard, true).await,
            CommandBody::Status {
                mailbox,
                item_names,
            } => self.status(mailbox, &item_names).await,
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(mailbox, flags, date, message).await,
            CommandBody::Close => self.close(true).await,
            CommandBody::Unselect => self.close(false).await,
            CommandBody::Expunge => self.expunge(None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(Some(sequence_set)).await,
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(charset, criteria, uid).await,
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.fetch(sequence_set, macro_or_item_names, uid, modifiers)
                    .await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.store(sequence_set, kind, response, flags, uid, modifiers)
                    .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(sequence_set, mailbox, uid, false).await,
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy(sequence_set, mailbox, uid, true).await,
            CommandBody::Idle => self.idle(&tag).await,
            CommandBody::GetQuotaRoot { mailbox } => self.get_quota_root(mailbox).await,
            CommandBody::GetQuota { root } => self.get_quota(root).await,
            CommandBody::SetQuota { .. } => self.set_quota(),
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => {
                self.sort(sort_criteria, charset, search_criteria, uid)
                    .await
            }
            CommandBody::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => self.thread(algorithm, charset, search_criteria, uid).await,
        };
        let reply = match handled {
            Ok(r) | Err(r) => r,
        };
        if matches!(reply, Reply::Ok(..) | Reply::No(..)) && !std::mem::take(&mut self.no_report) {
            self.report(expunge_allowed).await;
        }
        self.tagged(tag, reply)
    }

    /// Reads the syntaxes the codec does not know yet (see `extended.rs`).
    pub(crate) fn preparse(&self, fz: &Fragmentizer) -> Pre {
        if fz.is_message_poisoned() || fz.is_max_message_size_exceeded() {
            return Pre::Plain;
        }
        let saved = self.selected.as_ref().map(|s| s as &dyn Saved);
        crate::extended::preparse(fz.message_bytes(), saved)
    }

    /// Runs a command `extended.rs` read.
    pub(crate) async fn preparsed(&mut self, pre: Pre) -> Next {
        let tag_of = |t: &str| Tag::try_from(t.to_string()).ok();
        match pre {
            Pre::Plain => Next::Continue,
            Pre::Rewritten {
                bytes,
                search_return,
            } => match CommandCodec::new().decode(&bytes) {
                Ok((_, cmd)) => {
                    self.search_return = search_return;
                    let next = self.command(cmd.into_static()).await;
                    self.search_return = None;
                    next
                }
                Err(_) => match bytes
                    .split(|&b| b == b' ')
                    .next()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(tag_of)
                {
                    Some(tag) => self.tagged(tag, Reply::Bad(None, syntax_hint(&bytes))),
                    None => self.untagged_bad("unreadable command"),
                },
            },
            Pre::List(l) => {
                let Some(tag) = tag_of(&l.tag) else {
                    return self.untagged_bad("unreadable command");
                };
                if self.user.is_none() {
                    return self.tagged(tag, Reply::Bad(None, "log in first".into()));
                }
                let reply = match self.list_extended(l).await {
                    Ok(r) | Err(r) => r,
                };
                self.report(true).await;
                self.tagged(tag, reply)
            }
            Pre::Nothing { tag, name, bytes } => match tag_of(&tag) {
                Some(tag) if CommandCodec::new().decode(&bytes).is_err() => {
                    self.tagged(tag, Reply::Bad(None, syntax_hint(&bytes)))
                }
                Some(tag) if self.selected.is_some() => self.tagged(
                    tag,
                    Reply::Ok(None, format!("{name} completed (no saved messages)")),
                ),
                Some(tag) => self.tagged(tag, Reply::Bad(None, "no mailbox selected".into())),
                None => self.untagged_bad("unreadable command"),
            },
            Pre::Bad { tag, text } => match tag_of(&tag) {
                Some(tag) => self.tagged(tag, Reply::Bad(None, text)),
                None => self.untagged_bad("unreadable command"),
            },
        }
    }

    fn id(&mut self) -> Handled {
        use imap_codec::imap_types::core::{IString, NString};
        let pair = |k: &str, v: &str| {
            (
                IString::try_from(k.to_string()).expect("ascii"),
                NString(Some(IString::try_from(v.to_string()).expect("ascii"))),
            )
        };
        self.data(Data::Id {
            parameters: Some(vec![
                pair("name", "mailroom"),
                pair("version", env!("CARGO_PKG_VERSION")),
            ]),
        });
        Ok(Reply::Ok(None, "ID completed".into()))
    }

    fn enable(
        &mut self,
        capabilities: Vec1<imap_codec::imap_types::extensions::enable::CapabilityEnable<'static>>,
    ) -> Handled {
        use imap_codec::imap_types::extensions::enable::CapabilityEnable;
        // RFC 5161: what is not offered (QRESYNC, UTF8=ACCEPT yet) is ignored.
        let mut enabled = vec![];
        for c in capabilities.into_iter() {
            if matches!(c, CapabilityEnable::CondStore) && !self.condstore {
                self.condstore = true;
                enabled.push(c);
            } else if matches!(
                c,
                CapabilityEnable::Utf8(imap_codec::imap_types::extensions::utf8::Utf8Kind::Accept)
            ) && !self.utf8
            {
                self.utf8 = true;
                enabled.push(c);
            } else if c.to_string().eq_ignore_ascii_case("IMAP4rev2") && !self.rev2 {
                // RFC 9051: UTF-8 mailbox names, ESEARCH for SEARCH, no \Recent.
                self.rev2 = true;
                self.utf8 = true;
                if let Some(sel) = self.selected.as_mut() {
                    sel.claims_recent = false;
                    sel.recent.clear();
                }
                enabled.push(c);
            } else if c.to_string().eq_ignore_ascii_case("QRESYNC") && !self.qresync {
                // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                self.qresync = true;
                self.condstore = true;
                enabled.push(c);
            }
        }
        self.data(Data::Enabled {
            capabilities: enabled,
        });
        Ok(Reply::Ok(None, "ENABLE completed".into()))
    }
}
