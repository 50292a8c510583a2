//! One IMAP connection: its state, framing (imap-codec's Fragmentizer: lines, literals and
//! the `+` continuation a synchronising literal waits for, the size cap), the read loop
//! (commands, SASL responses, IDLE), and reporting changes made elsewhere. Commands are
//! dispatched in `dispatch.rs`, output is written by `output.rs`, replies are `reply.rs`'s.

use std::net::SocketAddr;
use std::sync::Arc;

use imap_codec::encode::Encoder;
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::core::{LiteralMode, Tag, Vec1};
use imap_codec::imap_types::response::{Capability, Code, Data, Greeting};
use imap_codec::{AuthenticateDataCodec, CommandCodec, GreetingCodec, IdleDoneCodec};
use mailroom_core::Account;
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::net::TcpStream;

use crate::Shared;
use crate::extended::{Pre, SearchReturn};
use crate::reply::{Reply, code, syntax_hint};
use crate::selected::Selected;
use mailroom_net::Conn;

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
/// While idling only `DONE` is expected: thousands of IDLE sessions each keep this much.
const IDLE_READ: usize = 64;
/// The longest command line accepted, literals not counted.
const MAX_LINE: usize = 64 * 1024;
const LARGE_READ: usize = 64 * 1024;

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
    pub(crate) out: Vec<u8>,
    /// The write half of the connection (the serve loop reads the other half), so a long
    /// response (FETCH 1:* BODY[]) goes out as it is made instead of piling up in memory.
    pub(crate) writer: Option<WriteHalf<Conn>>,
    /// A write failed: the connection is gone; what follows is not sent.
    pub(crate) broken: bool,
    /// COMPRESS=DEFLATE is active.
    pub(crate) deflate: Option<Box<crate::compress::Deflate>>,
    pub(crate) errors: u32,
    /// IMAP4rev2 is enabled (RFC 9051): ESEARCH answers, UTF-8 names, no \Recent.
    pub rev2: bool,
    /// SEARCH's RETURN options for the command being run (read by `extended.rs`).
    pub(crate) search_return: Option<SearchReturn>,
    /// The command changed nothing the selected mailbox shows (an APPEND elsewhere): no
    /// catch-up before its tagged reply; the next command reports as usual.
    pub(crate) no_report: bool,
}

pub(crate) async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut tls = false;
    let conn = if shared.implicit_tls {
        let Some(config) = shared.config.tls.clone() else {
            return;
        };
        match Conn::tls(stream, config, shared.config.login_timeout).await {
            Ok(c) => {
                tls = true;
                c
            }
            Err(_) => return,
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
        rev2: false,
        search_return: None,
        no_report: false,
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
        let mut c = vec![
            Capability::Imap4Rev1,
            Capability::try_from("IMAP4rev2").expect("valid capability"),
            Capability::LiteralPlus,
        ];
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
            for other in [
                "CHILDREN",
                "SPECIAL-USE",
                "ESEARCH",
                "SEARCHRES",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "QUOTA",
                "QUOTA=RES-STORAGE",
            ] {
                c.push(Capability::try_from(other).expect("valid capability"));
            }
        }
        c.push(Capability::Id);
        Vec1::try_from(c).expect("not empty")
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
                    Mode::Command => match self.preparse(&fz) {
                        Pre::Plain => match fz.decode_message(&CommandCodec::new()) {
                            Ok(cmd) => {
                                let cmd = cmd.into_static();
                                // Boxed: the largest state machine (every handler's) is
                                // allocated while a command runs, not for the session's life.
                                Box::pin(self.command(cmd)).await
                            }
                            Err(DecodeMessageError::MessagePoisoned { .. }) => {
                                match fz.decode_tag() {
                                    Some(tag) => self.tagged(
                                        tag.into_static(),
                                        Reply::Bad(
                                            Some(Code::TooBig),
                                            "command line too long".into(),
                                        ),
                                    ),
                                    None => self.untagged_bad("command line too long"),
                                }
                            }
                            Err(DecodeMessageError::MessageTooLong { .. }) => match fz.decode_tag()
                            {
                                Some(tag) => self.tagged(
                                    tag.into_static(),
                                    Reply::Bad(Some(Code::TooBig), "command too large".into()),
                                ),
                                None => self.untagged_bad("command too large"),
                            },
                            Err(_) => match fz.decode_tag() {
                                Some(tag) => {
                                    let tag = tag.into_static();
                                    self.tagged(
                                        tag,
                                        Reply::Bad(None, syntax_hint(fz.message_bytes())),
                                    )
                                }
                                None => self.untagged_bad("unreadable command"),
                            },
                        },
                        other => Box::pin(self.preparsed(other)).await,
                    },
                    Mode::Sasl(tag, mechanism) => {
                        match fz.decode_message(&AuthenticateDataCodec::new()) {
                            Ok(data) => {
                                let data = data.into_static();
                                // Boxed: an argon2 check's future would size every session by it.
                                let r = Box::pin(self.sasl_response(mechanism, data)).await;
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
                    let Ok(conn) = Conn::tls(tcp, config, self.shared.config.login_timeout).await
                    else {
                        return;
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
            if fz.is_message_complete() {
                let want = if idling { IDLE_READ } else { SMALL_READ };
                if buf.len() != want {
                    buf = vec![0u8; want];
                }
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
            }
        }
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
        if let Some(n) = delta.recent
            && !self.rev2
        {
            self.data(Data::Recent(n));
        }
        for (seq, uid, keywords, modseq) in delta.changed {
            self.fetch_flags(seq, uid, &keywords, modseq);
        }
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
