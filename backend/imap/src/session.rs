//! One IMAP connection: framing (imap-codec's Fragmentizer: lines, literals and the `+`
//! continuation a synchronising literal waits for, the size cap), the session's state, and
//! dispatching each command to the file that handles it. Every handler returns a [`Reply`];
//! the tagged answer is written here, after the untagged reports of changes made elsewhere.

use std::net::SocketAddr;
use std::sync::Arc;

use imap_codec::encode::Encoder;
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{LiteralMode, Tag, Vec1};
use imap_codec::imap_types::response::{
    Capability, Code, CodeOther, CommandContinuationRequest, Data, Greeting, Response, Status,
};
use imap_codec::{
    AuthenticateDataCodec, CommandCodec, GreetingCodec, IdleDoneCodec, ResponseCodec,
};
use mailroom_core::Account;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::net::TcpStream;

use crate::Shared;
use crate::selected::Selected;
use mailroom_net::Conn;

/// How a command ended, for the tagged response.
pub(crate) enum Reply {
    Ok(Option<Code<'static>>, String),
    No(Option<Code<'static>>, String),
    Bad(Option<Code<'static>>, String),
    /// The handler answered already (or will, later); what the connection does next.
    Then(Next),
}

pub(crate) type Handled = std::result::Result<Reply, Reply>;

pub(crate) enum Next {
    Continue,
    Close,
    StartTls,
    /// COMPRESS: deflate both directions from now on.
    Compress,
    /// IDLE: reading `DONE` next.
    Idle(Tag<'static>),
    /// AUTHENTICATE: reading a SASL response next.
    Sasl(Tag<'static>, AuthMechanism<'static>),
}

enum Mode {
    Command,
    Idle(Tag<'static>),
    Sasl(Tag<'static>, AuthMechanism<'static>),
}

/// Read buffer sizes: between commands, and while a large literal arrives.
const SMALL_READ: usize = 1024;
/// The longest command line accepted, literals not counted.
const MAX_LINE: usize = 64 * 1024;
const LARGE_READ: usize = 64 * 1024;

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

pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    pub tls: bool,
    pub user: Option<Account>,
    pub selected: Option<Selected>,
    /// CONDSTORE is on (RFC 7162 §3.1: ENABLE, or a command that uses it): FETCH responses
    /// carry MODSEQ.
    pub condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE.
    pub qresync: bool,
    /// UTF8=ACCEPT is enabled (RFC 6855): mailbox names in UTF-8, not modified UTF-7.
    pub utf8: bool,
    out: Vec<u8>,
    /// The write half of the connection (the serve loop reads the other half), so a long
    /// response (FETCH 1:* BODY[]) goes out as it is made instead of piling up in memory.
    writer: Option<WriteHalf<Conn>>,
    /// A write failed: the connection is gone; what follows is not sent.
    broken: bool,
    /// COMPRESS=DEFLATE is active.
    deflate: Option<Box<crate::compress::Deflate>>,
    errors: u32,
}

pub(crate) async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut tls = false;
    let conn = if shared.implicit_tls {
        let Some(config) = shared.config.tls.clone() else {
            return;
        };
        // Boxed: a TLS handshake's state is large, and an unboxed await would size every
        // session's future (for its whole life) by it.
        let accept = Box::pin(tokio_rustls::TlsAcceptor::from(config).accept(stream));
        match tokio::time::timeout(shared.config.login_timeout, accept).await {
            Ok(Ok(s)) => {
                tls = true;
                Conn::Tls(Box::new(s))
            }
            _ => return,
        }
    } else {
        Conn::Plain(stream)
    };
    let mut s = Session {
        shared,
        peer,
        tls,
        user: None,
        selected: None,
        condstore: false,
        qresync: false,
        utf8: false,
        out: Vec::new(),
        writer: None,
        broken: false,
        deflate: None,
        errors: 0,
    };
    let caps = s.capabilities();
    let greeting =
        Greeting::ok(Some(Code::Capability(caps)), "mailroom IMAP ready").expect("valid greeting");
    s.out.extend(GreetingCodec::new().encode(&greeting).dump());
    s.serve(conn).await;
    if let Some(u) = &s.user {
        tracing::debug!(user = %u.address, "imap session ended");
    }
}

impl Session {
    /// Connections inside TLS, or from loopback when so configured, may log in.
    pub fn secure(&self) -> bool {
        self.tls || (self.shared.config.loopback_is_secure && self.peer.ip().is_loopback())
    }

    pub fn capabilities(&self) -> Vec1<Capability<'static>> {
        let mut c = vec![Capability::Imap4Rev1, Capability::LiteralPlus];
        if self.shared.config.tls.is_some()
            && !self.tls
            && !self.shared.implicit_tls
            && self.user.is_none()
        {
            c.push(Capability::StartTls);
        }
        if self.user.is_none() {
            if self.secure() {
                c.push(Capability::Auth(AuthMechanism::Plain));
            } else {
                c.push(Capability::LoginDisabled);
            }
            c.push(Capability::SaslIr);
        } else {
            c.extend([
                Capability::Idle,
                Capability::Namespace,
                Capability::UidPlus,
                Capability::Move,
                Capability::Unselect,
                Capability::Enable,
                Capability::StatusSize,
                Capability::CondStore,
                Capability::QResync,
                Capability::Binary,
                Capability::Utf8(imap_codec::imap_types::extensions::utf8::Utf8Kind::Accept),
                Capability::Compress {
                    algorithm:
                        imap_codec::imap_types::extensions::compress::CompressionAlgorithm::Deflate,
                },
                Capability::Sort(None),
                Capability::Sort(Some(
                    imap_codec::imap_types::extensions::sort::SortAlgorithm::Display,
                )),
                Capability::Thread(
                    imap_codec::imap_types::extensions::thread::ThreadingAlgorithm::References,
                ),
                Capability::Thread(
                    imap_codec::imap_types::extensions::thread::ThreadingAlgorithm::OrderedSubject,
                ),
            ]);
            for other in ["CHILDREN", "SPECIAL-USE"] {
                c.push(Capability::try_from(other).expect("valid capability"));
            }
        }
        c.push(Capability::Id);
        Vec1::try_from(c).expect("not empty")
    }

    pub fn send(&mut self, r: &Response<'_>) {
        for f in ResponseCodec::new().encode(r) {
            match f {
                imap_codec::encode::Fragment::Line { data }
                | imap_codec::encode::Fragment::Literal { data, .. } => {
                    self.out.extend_from_slice(&data)
                }
            }
        }
    }

    /// Bytes already encoded (a FETCH line built around cached items).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn data(&mut self, d: Data<'_>) {
        self.send(&Response::Data(d));
    }

    pub fn continue_req(&mut self, text: &str) {
        let r = CommandContinuationRequest::basic(None, text).expect("valid continuation");
        self.send(&Response::CommandContinuationRequest(r));
    }

    pub fn untagged_ok(&mut self, code: Option<Code<'static>>, text: &str) {
        let s = Status::ok(None, code, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
    }

    fn tagged(&mut self, tag: Tag<'static>, reply: Reply) -> Next {
        let status = match reply {
            Reply::Then(next) => return next,
            Reply::Ok(code, text) => Status::ok(Some(tag), code, clean(&text)),
            Reply::No(code, text) => Status::no(Some(tag), code, clean(&text)),
            Reply::Bad(code, text) => {
                self.errors += 1;
                Status::bad(Some(tag), code, clean(&text))
            }
        }
        .expect("clean text");
        self.send(&Response::Status(status));
        if self.errors > self.shared.config.max_errors {
            self.bye("Too many bad commands");
            return Next::Close;
        }
        Next::Continue
    }

    pub fn bye(&mut self, text: &str) {
        let s = Status::bye(None, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
    }

    /// Sends what is pending; returns false once the connection is gone.
    async fn flush(&mut self) -> bool {
        if !self.out.is_empty() && !self.broken {
            let compressed = match self.deflate.as_mut() {
                Some(d) => match d.compress(&self.out) {
                    Ok(z) => Some(z),
                    Err(_) => {
                        self.broken = true;
                        return false;
                    }
                },
                None => None,
            };
            let Some(w) = self.writer.as_mut() else {
                return false;
            };
            let bytes = compressed.as_deref().unwrap_or(&self.out);
            if w.write_all(bytes).await.is_err() || w.flush().await.is_err() {
                self.broken = true;
            }
        }
        self.out.clear();
        // A session between commands keeps no output buffer of any size (thousands of IDLE
        // sessions each would): the next response allocates again.
        if self.out.capacity() > 4 * 1024 {
            self.out = Vec::new();
        }
        !self.broken
    }

    /// Bytes for the output: copied if small, else written to the socket straight after
    /// what is pending (no copy of a large message into the output buffer).
    pub async fn push_large(&mut self, bytes: &[u8]) {
        if bytes.len() < 16 * 1024 || self.deflate.is_some() {
            self.out.extend_from_slice(bytes);
            return;
        }
        if !self.flush().await {
            return;
        }
        if let Some(w) = self.writer.as_mut()
            && w.write_all(bytes).await.is_err()
        {
            self.broken = true;
        }
    }

    /// Sends pending output once it is large: for handlers that produce a lot.
    pub async fn flush_if_large(&mut self) {
        if self.out.len() >= 256 * 1024 {
            self.flush().await;
        }
    }

    fn fragmentizer(&self) -> Fragmentizer {
        Fragmentizer::new(self.shared.config.max_literal.saturating_add(64 * 1024))
    }

    async fn serve(&mut self, conn: Conn) {
        let (mut reader, writer) = tokio::io::split(conn);
        self.writer = Some(writer);
        let mut fz = self.fragmentizer();
        // Small while commands are small; grown while a large literal streams in, and
        // dropped again afterwards (thousands of idle sessions each keep only this).
        let mut buf = vec![0u8; SMALL_READ];
        let mut mode = Mode::Command;
        let mut shutdown = self.shared.shutdown.clone();
        let mut events = self.shared.core.subscribe();
        loop {
            let mut next = Next::Continue;
            while let Some(info) = fz.progress() {
                // A command line (literals aside) is short; a huge one is refused instead of
                // being parsed (RFC 9051 §4: servers may limit line length).
                if let FragmentInfo::Line { start, end, .. } = info
                    && end - start > MAX_LINE
                {
                    fz.poison_message();
                }
                if let FragmentInfo::Line {
                    announcement:
                        Some(LiteralAnnouncement {
                            mode: LiteralMode::Sync,
                            length,
                        }),
                    ..
                } = info
                {
                    let room = self
                        .shared
                        .config
                        .max_literal
                        .saturating_sub(fz.message_bytes().len() as u32);
                    if length > room {
                        match fz.decode_tag() {
                            Some(tag) => {
                                let tag = tag.into_static();
                                // The client waits for "+", so the literal never comes.
                                fz.skip_message();
                                next = self.tagged(
                                    tag,
                                    Reply::No(Some(Code::TooBig), "literal too large".into()),
                                );
                            }
                            None => fz.poison_message(),
                        }
                    } else {
                        self.continue_req("Ready for literal data");
                    }
                    if !matches!(next, Next::Continue) {
                        break;
                    }
                    continue;
                }
                if !fz.is_message_complete() {
                    continue;
                }
                next = match std::mem::replace(&mut mode, Mode::Command) {
                    Mode::Command => match fz.decode_message(&CommandCodec::new()) {
                        Ok(cmd) => {
                            let cmd = cmd.into_static();
                            // Boxed: the largest state machine (every handler's) is
                            // allocated while a command runs, not for the session's life.
                            Box::pin(self.command(cmd)).await
                        }
                        Err(DecodeMessageError::MessagePoisoned { .. }) => match fz.decode_tag() {
                            Some(tag) => self.tagged(
                                tag.into_static(),
                                Reply::Bad(Some(Code::TooBig), "command line too long".into()),
                            ),
                            None => self.untagged_bad("command line too long"),
                        },
                        Err(DecodeMessageError::MessageTooLong { .. }) => match fz.decode_tag() {
                            Some(tag) => self.tagged(
                                tag.into_static(),
                                Reply::Bad(Some(Code::TooBig), "command too large".into()),
                            ),
                            None => self.untagged_bad("command too large"),
                        },
                        Err(_) => match fz.decode_tag() {
                            Some(tag) => {
                                let tag = tag.into_static();
                                self.tagged(tag, Reply::Bad(None, syntax_hint(fz.message_bytes())))
                            }
                            None => self.untagged_bad("unreadable command"),
                        },
                    },
                    Mode::Sasl(tag, mechanism) => {
                        match fz.decode_message(&AuthenticateDataCodec::new()) {
                            Ok(data) => {
                                let data = data.into_static();
                                let r = self.sasl_response(mechanism, data).await;
                                self.tagged(tag, r)
                            }
                            Err(_) => self.tagged(
                                tag,
                                Reply::Bad(None, "the SASL response is not base64".into()),
                            ),
                        }
                    }
                    Mode::Idle(tag) => match fz.decode_message(&IdleDoneCodec::new()) {
                        Ok(_) => self.tagged(tag, Reply::Ok(None, "IDLE terminated".into())),
                        Err(_) => self.tagged(tag, Reply::Bad(None, "expected DONE".into())),
                    },
                };
                match next {
                    Next::Idle(ref tag) => {
                        mode = Mode::Idle(tag.clone());
                        // Notifications queued so far are dropped, then the view catches up
                        // once more: a change committed while IDLE's own catch-up ran is
                        // reported now, not at the next poll.
                        while events.try_recv().is_ok() {}
                        Box::pin(self.report(true)).await;
                        // Idling: nothing pending is kept (flushed just below).
                        next = Next::Continue;
                    }
                    Next::Sasl(ref tag, ref m) => {
                        mode = Mode::Sasl(tag.clone(), m.clone());
                        next = Next::Continue;
                    }
                    Next::Continue => {}
                    Next::Close | Next::StartTls | Next::Compress => break,
                }
            }
            if !self.flush().await {
                return;
            }
            if matches!(mode, Mode::Idle(_)) {
                self.out = Vec::new();
            }
            match next {
                Next::Close => {
                    if let Some(w) = self.writer.as_mut() {
                        let _ = w.shutdown().await;
                    }
                    return;
                }
                Next::Compress => {
                    // The OK went out uncompressed; everything after it is deflated, and the
                    // client sends nothing before reading the OK.
                    self.deflate = Some(Box::new(crate::compress::Deflate::new()));
                    fz = self.fragmentizer();
                    continue;
                }
                Next::StartTls => {
                    let Some(writer) = self.writer.take() else {
                        return;
                    };
                    let (Conn::Plain(tcp), Some(config)) =
                        (reader.unsplit(writer), self.shared.config.tls.clone())
                    else {
                        return;
                    };
                    let accept = Box::pin(tokio_rustls::TlsAcceptor::from(config).accept(tcp));
                    let conn = match tokio::time::timeout(self.shared.config.login_timeout, accept)
                        .await
                    {
                        Ok(Ok(s)) => Conn::Tls(Box::new(s)),
                        _ => return,
                    };
                    let (r, w) = tokio::io::split(conn);
                    reader = r;
                    self.writer = Some(w);
                    self.tls = true;
                    // Anything pipelined after STARTTLS in plain text is dropped (RFC 9051 §6.2.1).
                    fz = self.fragmentizer();
                    continue;
                }
                _ => {}
            }
            // Compressed input not inflated yet (it is inflated a bounded piece at a time):
            // parse what is there before reading more.
            if let Some(d) = self.deflate.as_mut()
                && d.has_more()
            {
                match d.decompress(&[]) {
                    Ok(plain) => fz.enqueue_bytes(&plain),
                    Err(_) => return,
                }
                continue;
            }
            let idling = matches!(mode, Mode::Idle(_));
            let wait = if idling {
                self.shared.config.idle_timeout * 2
            } else if self.user.is_none() {
                self.shared.config.login_timeout
            } else {
                self.shared.config.idle_timeout
            };
            if fz.is_message_complete() && buf.len() > SMALL_READ {
                buf = vec![0u8; SMALL_READ];
            }
            tokio::select! {
                r = tokio::time::timeout(wait, reader.read(&mut buf)) => match r {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(n)) => {
                        match self.deflate.as_mut() {
                            None => fz.enqueue_bytes(&buf[..n]),
                            Some(d) => match d.decompress(&buf[..n]) {
                                Ok(plain) => fz.enqueue_bytes(&plain),
                                Err(_) => return,
                            },
                        }
                        if n == buf.len() && buf.len() < LARGE_READ {
                            buf = vec![0u8; LARGE_READ];
                        }
                    }
                    Err(_) => {
                        self.bye("Autologout; idle for too long");
                        self.flush().await;
                        return;
                    }
                },
                _ = shutdown.changed() => {
                    self.bye("Server shutting down");
                    self.flush().await;
                    return;
                }
                ev = events.recv(), if idling => {
                    match ev {
                        Ok(ev) if self.user.as_ref().is_some_and(|u| u.id == ev.account_id) => {
                            Box::pin(self.report_at(true, Some(ev.seq))).await
                        }
                        Ok(_) => {}
                        // Fell behind: look anyway.
                        Err(_) => Box::pin(self.report(true)).await,
                    }
                }
                // Changes made by another process (a CLI import) are not notified here.
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)), if idling => {
                    Box::pin(self.report(true)).await;
                }
            }
        }
    }

    fn untagged_bad(&mut self, text: &str) -> Next {
        self.errors += 1;
        let s = Status::bad(None, None, clean(text)).expect("clean text");
        self.send(&Response::Status(s));
        if self.errors > self.shared.config.max_errors {
            self.bye("Too many bad commands");
            return Next::Close;
        }
        Next::Continue
    }

    /// Reports changes to the selected mailbox made elsewhere as untagged responses.
    /// `expunge_allowed`: see [`Selected::sync`].
    pub async fn report(&mut self, expunge_allowed: bool) {
        self.report_at(expunge_allowed, None).await
    }

    /// [`report`](Self::report), told of the change seq that prompted it.
    pub async fn report_at(&mut self, expunge_allowed: bool, seq: Option<i64>) {
        let (Some(sel), Some(user)) = (self.selected.as_mut(), self.user.as_ref()) else {
            return;
        };
        let core = self.shared.core.clone();
        let delta = match sel.sync(&core, user.id, expunge_allowed, seq).await {
            Ok(d) => d,
            Err(mailroom_core::Error::NotFound(_)) => {
                // The mailbox was deleted (by another client, or over JMAP).
                self.selected = None;
                self.untagged_ok(Some(code("CLOSED")), "mailbox deleted");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "imap: following changes failed");
                return;
            }
        };
        if self.qresync {
            // RFC 7162 §3.2.10: VANISHED (by UID) instead of EXPUNGE.
            if let Some(set) = crate::selected::uid_ranges(&delta.vanished) {
                self.data(Data::Vanished {
                    earlier: false,
                    known_uids: set,
                });
            }
        } else {
            for n in delta.expunged {
                self.data(Data::Expunge(crate::selected::nz(n)));
            }
        }
        if let Some(n) = delta.exists {
            self.data(Data::Exists(n));
        }
        if let Some(n) = delta.recent {
            self.data(Data::Recent(n));
        }
        for (seq, uid, keywords, modseq) in delta.changed {
            self.fetch_flags(seq, uid, &keywords, modseq);
        }
    }

    async fn command(&mut self, cmd: Command<'static>) -> Next {
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
            _ => Err(Reply::Bad(None, format!("{name} is not supported"))),
        };
        let reply = match handled {
            Ok(r) | Err(r) => r,
        };
        if matches!(reply, Reply::Ok(..) | Reply::No(..)) {
            self.report(expunge_allowed).await;
        }
        self.tagged(tag, reply)
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
fn syntax_hint(bytes: &[u8]) -> String {
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

#[cfg(test)]
mod size_tests {
    /// The session's future is allocated for each connection's whole life: keep it small
    /// (commands run in a boxed future of their own).
    #[tokio::test]
    async fn session_future_is_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = l.accept().await.unwrap();
        let dir = std::env::temp_dir().join(format!("mailroom-size-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let config = mailroom_core::CoreConfig {
            database_url: format!("sqlite://{}/t.db?mode=rwc", dir.display()),
            blobs: mailroom_core::BlobConfig::Local {
                root: dir.join("blobs"),
                sync: mailroom_core::BlobSync::File,
            },
            max_messages_per_hour: 0,
            remote_delivery: false,
        };
        let core = mailroom_core::Core::open(&config).await.unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let shared = std::sync::Arc::new(crate::Shared {
            core,
            config: crate::ImapConfig::default(),
            implicit_tls: false,
            shutdown: rx,
        });
        let fut = super::run(stream, peer, shared);
        let size = std::mem::size_of_val(&fut);
        eprintln!("session future: {size} bytes");
        assert!(size < 4096, "session future is {size} bytes");
        drop(fut);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
