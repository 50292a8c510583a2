//! One SMTP connection: read, parse, answer, in order.
//!
//! Bytes feed smtp-proto's receivers, so a read that ends mid-command or mid-message loses
//! nothing. Replies are gathered and written when the input runs dry, which is what
//! PIPELINING (RFC 2920) needs: every reply, in order, no reply held back while we wait.
//!
//! ```text
//!            ┌────────── RSET / delivered ──────────┐
//!            v                                      │
//!  Command ──DATA──> Data ──<CRLF>.<CRLF>──> deliver ┘
//!     │                                              ^
//!     └──BDAT n──> Bdat ──n octets──> (LAST? deliver)┘
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use smtp_proto::request::receiver::{BdatReceiver, RequestReceiver};

use super::auth::{AuthStep, MAX_AUTH_LINE};
use super::dot::DotReader;
use smtp_proto::{Error as ProtoError, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use mailroom_net::Conn;
use tracing::Instrument;

use crate::Shared;
use crate::reply;

/// What the bytes on the wire are right now. Each state owns its receiver, so message
/// bytes are never parsed as commands.
pub(super) enum State {
    Command,
    Data(DotReader),
    Bdat(BdatReceiver),
    /// Inside an AUTH exchange: the next line is a SASL response (gathered here).
    Auth(AuthStep, Vec<u8>),
}

/// The client's greeting.
pub(super) struct Helo {
    pub name: String,
    pub extended: bool,
}

/// A mail transaction: from MAIL to the end of the message.
#[derive(Default)]
pub(super) struct Transaction {
    pub from: String,
    pub smtputf8: bool,
    pub rcpts: Vec<String>,
    pub accounts: Vec<i64>,
    /// The message as received so far (DATA or BDAT chunks).
    pub body: Vec<u8>,
    /// Set once the body passed the size limit; the rest is read and dropped.
    pub too_big: bool,
    /// A BDAT chunk was received; DATA is no longer allowed (RFC 3030 §2).
    pub bdat_started: bool,
    /// Why a BDAT transaction that could not start is refused, once its chunk is read.
    pub refused: Option<&'static str>,
}

pub(super) struct Session {
    pub shared: Arc<Shared>,
    pub peer: SocketAddr,
    pub id: u64,
    pub helo: Option<Helo>,
    pub tx: Option<Transaction>,
    pub state: State,
    pub out: Vec<u8>,
    pub errors: u32,
    pub quit: bool,
    /// Messages delivered in this session, for ids and logs.
    pub delivered: u32,
    /// Inside a command line that is too long: drop bytes up to its end.
    pub skipping_line: bool,
    /// STARTTLS was answered 220: the handshake comes next, and nothing read after the
    /// command in plain text is kept (RFC 3207 §4.2: it could be injected).
    pub starting_tls: bool,
    /// The connection is TLS.
    pub tls: bool,
    /// The authenticated user (submission only).
    pub user: Option<mailroom_core::Account>,
}

/// The longest command line accepted (RFC 5321 §4.5.3.1.4 asks for at least 512 octets;
/// SMTPUTF8 addresses and ESMTP parameters need more).
const MAX_COMMAND_LINE: usize = smtp_proto::request::receiver::MAX_LINE_LENGTH;

pub(crate) async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, id: u64) {
    let span = tracing::info_span!("smtp", %peer, conn_id = id);
    let mut s = Session {
        shared,
        peer,
        id,
        helo: None,
        tx: None,
        state: State::Command,
        out: Vec::with_capacity(512),
        errors: 0,
        quit: false,
        delivered: 0,
        skipping_line: false,
        starting_tls: false,
        tls: false,
        user: None,
    };
    if let Err(e) = s.serve(stream).instrument(span.clone()).await {
        span.in_scope(|| tracing::debug!(error = %e, "smtp connection ended"));
    }
}

impl Session {
    async fn serve(&mut self, stream: TcpStream) -> std::io::Result<()> {
        let mut stream = Conn::Plain(stream);
        if let crate::Role::Submission { implicit_tls: true } = self.shared.role {
            let Some(config) = self.shared.config.tls.clone() else {
                return Ok(());
            };
            let Conn::Plain(tcp) = stream else {
                unreachable!("just accepted in plain text")
            };
            stream = match Conn::tls(tcp, config, self.shared.config.command_timeout).await {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(()),
                r => r?,
            };
            self.tls = true;
        }
        let greeting = format!("220 {} ESMTP mailroom\r\n", self.shared.config.hostname);
        self.write(&mut stream, greeting.as_bytes()).await?;
        let mut shutdown = self.shared.shutdown.clone();
        let mut commands = RequestReceiver::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                self.write(&mut stream, &out).await?;
                self.out = out;
                self.out.clear();
            }
            if self.quit {
                return Ok(());
            }
            if self.starting_tls {
                self.starting_tls = false;
                let (Conn::Plain(tcp), Some(config)) = (stream, self.shared.config.tls.clone())
                else {
                    return Ok(());
                };
                stream = match Conn::tls(tcp, config, self.shared.config.command_timeout).await {
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Ok(()),
                    r => r?,
                };
                // A fresh start: the client greets again (RFC 3207 §4.2).
                commands = RequestReceiver::default();
                self.tls = true;
                self.helo = None;
                self.tx = None;
                self.user = None;
                continue;
            }
            if *shutdown.borrow() {
                self.write(&mut stream, reply::SHUTTING_DOWN.as_bytes())
                    .await?;
                return Ok(());
            }
            let limit = match self.state {
                State::Command => self.shared.config.command_timeout,
                _ => self.shared.config.data_timeout,
            };
            let n = tokio::select! {
                r = tokio::time::timeout(limit, stream.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => {
                        self.write(&mut stream, reply::TIMEOUT.as_bytes()).await?;
                        return Ok(());
                    }
                },
                _ = shutdown.changed() => continue,
            };
            if n == 0 {
                return Ok(());
            }
            self.ingest(&mut commands, &buf[..n]).await;
        }
    }

    /// Writes with a deadline: a client that stops reading cannot hold its slot forever.
    async fn write(&self, stream: &mut Conn, bytes: &[u8]) -> std::io::Result<()> {
        // Flushed: inside TLS, a reply may otherwise wait in the record layer.
        let send = async {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.shared.config.command_timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client stopped reading",
            )),
        }
    }

    /// Feeds one read's bytes through whichever receiver the state calls for.
    async fn ingest(&mut self, commands: &mut RequestReceiver, bytes: &[u8]) {
        let mut it = bytes.iter();
        while !self.quit && !self.starting_tls {
            match &mut self.state {
                State::Command => {
                    let rest = it.as_slice();
                    if rest.is_empty() {
                        return;
                    }
                    // smtp-proto bounds a command line only when it spans reads; bound it
                    // here for a line that arrives whole, and skip the rest of an overlong one.
                    let newline = rest.iter().position(|&b| b == b'\n');
                    if self.skipping_line || newline.unwrap_or(rest.len()) > MAX_COMMAND_LINE {
                        match newline {
                            Some(p) => {
                                it = rest[p + 1..].iter();
                                self.skipping_line = false;
                                self.error(reply::LINE_TOO_LONG);
                            }
                            None => {
                                self.skipping_line = true;
                                return;
                            }
                        }
                        continue;
                    }
                    match commands.ingest(&mut it) {
                        Ok(req) => {
                            let req = req.into_owned();
                            self.command(req).await;
                        }
                        Err(ProtoError::NeedsMoreData { .. }) => return,
                        Err(e) => self.protocol_error(e),
                    }
                }
                State::Data(rx) => {
                    let tx = self.tx.as_mut().expect("DATA only with a transaction");
                    let done = rx.ingest(&mut it, &mut tx.body);
                    enforce_size(tx, self.shared.config.max_message_size);
                    if !done {
                        return;
                    }
                    self.state = State::Command;
                    self.finish_message().await;
                }
                State::Auth(_, line) => {
                    let rest = it.as_slice();
                    if rest.is_empty() {
                        return;
                    }
                    let newline = rest.iter().position(|&b| b == b'\n');
                    let end = newline.map_or(rest.len(), |p| p + 1);
                    line.extend_from_slice(&rest[..end]);
                    it = rest[end..].iter();
                    if line.len() > MAX_AUTH_LINE + 2 {
                        // Too long to be a response: drop the exchange and the rest of the line.
                        // (Command state then answers once the line ends.)
                        self.state = State::Command;
                        if newline.is_none() {
                            self.skipping_line = true;
                        } else {
                            self.error(reply::LINE_TOO_LONG);
                        }
                        continue;
                    }
                    if newline.is_none() {
                        return;
                    }
                    let State::Auth(step, line) =
                        std::mem::replace(&mut self.state, State::Command)
                    else {
                        unreachable!("matched above")
                    };
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\r', '\n']).to_string();
                    self.auth_response(step, &text).await;
                }
                State::Bdat(rx) => {
                    let tx = self.tx.as_mut().expect("BDAT always has a transaction");
                    let done = rx.ingest(&mut it, &mut tx.body);
                    let last = rx.is_last;
                    enforce_size(tx, self.shared.config.max_message_size);
                    if !done {
                        return;
                    }
                    self.state = State::Command;
                    self.finish_chunk(last).await;
                }
            }
        }
    }

    async fn command(&mut self, req: Request<String>) {
        tracing::trace!(cmd = req.name(), "command");
        match req {
            Request::Ehlo { host } => self.ehlo(host, true),
            Request::Helo { host } => self.ehlo(host, false),
            Request::Mail { from } => self.mail(from).await,
            Request::Rcpt { to } => self.rcpt(to).await,
            Request::Data => self.data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                self.tx = None;
                self.reply(reply::RESET);
            }
            Request::Noop { .. } => self.reply(reply::OK),
            Request::Vrfy { .. } => self.reply(reply::VRFY),
            Request::Help { .. } => self.reply(reply::HELP),
            Request::Quit => {
                self.reply(reply::GOODBYE);
                self.quit = true;
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Request::StartTls => self.starttls(),
            // Not advertised, so RFC 5321 §4.2.4's 502 is the honest answer.
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::Lhlo { .. } => self.error(reply::NOT_IMPLEMENTED),
        }
    }

    /// RFC 3207: 220 and the handshake, or why not.
    fn starttls(&mut self) {
        if self.shared.config.tls.is_none() {
            self.error(reply::NOT_IMPLEMENTED);
        } else if self.tls {
            self.error(reply::ALREADY_TLS);
        } else {
            self.reply(reply::START_TLS);
            self.starting_tls = true;
        }
    }

    fn protocol_error(&mut self, e: ProtoError) {
        let line = match e {
            ProtoError::ResponseTooLong => reply::LINE_TOO_LONG.to_string(),
            ProtoError::UnknownCommand => reply::UNKNOWN_COMMAND.to_string(),
            ProtoError::InvalidSenderAddress => reply::BAD_SENDER.to_string(),
            ProtoError::InvalidRecipientAddress => reply::BAD_RECIPIENT.to_string(),
            ProtoError::SyntaxError { syntax } => reply::syntax(syntax),
            ProtoError::InvalidParameter { param } => {
                reply::syntax(&format!("invalid value for {param}"))
            }
            ProtoError::UnsupportedParameter { param } => reply::unsupported_param(&param),
            ProtoError::NeedsMoreData { .. } | ProtoError::InvalidResponse { .. } => {
                reply::UNKNOWN_COMMAND.to_string()
            }
        };
        self.error(&line);
    }

    pub(super) fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
    }

    /// A reply to a client mistake; too many and the session ends.
    pub(super) fn error(&mut self, line: &str) {
        self.reply(line);
        self.errors += 1;
        if self.errors >= self.shared.config.max_errors {
            self.reply(reply::TOO_MANY_ERRORS);
            self.quit = true;
        }
    }
}

/// Past the limit, keep reading to stay in step with the client but keep nothing.
fn enforce_size(tx: &mut Transaction, max: usize) {
    if tx.body.len() > max {
        tx.too_big = true;
        tx.body.clear();
        tx.body.shrink_to(64 * 1024);
    }
}
