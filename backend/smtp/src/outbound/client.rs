//! The SMTP client side (RFC 5321): transactions to one server address — greeting, EHLO,
//! STARTTLS when offered (opportunistic, RFC 3207 / RFC 7435: encrypted whenever the peer
//! can, certificate not required to verify), MAIL, one RCPT per recipient, DATA — with a
//! reply per recipient. Commands are pipelined when the server offers PIPELINING (RFC 2920),
//! and a session that ended its transaction cleanly waits in a [`Pool`] for the next message
//! to the same server, so a burst to one destination costs one connection and one TLS
//! handshake, not one per message. Every read and write has a deadline, so a peer that
//! never answers costs one worker slot for a bounded time and nothing else.
//!
//! A host may require more than opportunistic TLS ([`Required`]: MTA-STS in enforce mode, or
//! DANE); then a missing STARTTLS, a failed handshake or an unauthenticated certificate
//! sends nothing, and pooled sessions are reused only under the policy they were opened with.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

use super::dane::DaneRecords;
use super::dane_verify::DaneVerifier;

/// A server reply: its code and its text (lines joined with spaces).
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.code)
    }
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
    /// As logged and reported: "550 5.1.1 no such user".
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text)
    }
}

/// Why a whole attempt on an address ended early.
#[derive(Debug)]
pub enum Failure {
    /// Connection trouble or a timeout: try the next address, or later.
    Network(String),
    /// The server refused the session or the sender (greeting, EHLO, MAIL).
    Refused(Reply),
    /// A pooled session turned out closed before anything of the transaction was accepted:
    /// open a new one.
    Stale,
    /// The TLS that `by` ("DANE", "MTA-STS") requires could not be had: nothing was sent.
    /// Try another host, or later; never in plain text.
    Required { by: &'static str, why: String },
}

/// TLS a host must be reached with, beyond opportunistic STARTTLS.
#[derive(Clone, Debug)]
pub enum Required {
    /// An MTA-STS policy in enforce mode (RFC 8461 §4.2): a certificate that verifies for
    /// the host name with this configuration.
    MtaSts(Arc<rustls::ClientConfig>),
    /// DANE (RFC 7672 §3): a certificate these TLSA records vouch for.
    Dane(Arc<DaneRecords>),
    /// A secure TLSA RRset without a usable record: encrypted, the certificate unchecked
    /// (RFC 7672 §2.2).
    DaneEncrypt,
}

impl Required {
    /// Who requires it, as failures are reported.
    pub fn by(&self) -> &'static str {
        match self {
            Required::MtaSts(_) => "MTA-STS",
            Required::Dane(_) | Required::DaneEncrypt => "DANE",
        }
    }

    fn failed(&self, why: impl Into<String>) -> Failure {
        Failure::Required {
            by: self.by(),
            why: why.into(),
        }
    }
}

/// The TLS policy a session was opened under, part of its pool key: a session opened
/// opportunistically (or for other TLSA records) must never carry a message DANE protects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Policy {
    Opportunistic,
    MtaSts,
    DaneEncrypt,
    Dane(Arc<DaneRecords>),
}

/// What one transaction needs.
pub struct Envelope<'a> {
    pub helo: &'a str,
    /// "" for the null reverse-path.
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
    pub message: &'a [u8],
}

pub struct Client<'p> {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Opportunistic TLS; `None` never starts TLS (unless required).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Required TLS: a server that does not offer STARTTLS, or whose certificate does not
    /// authenticate as required, gets nothing.
    pub required: Option<Required>,
    /// Log in with these (the relay's user name and password): only inside TLS, or to a
    /// loopback address.
    pub auth: Option<(&'p str, &'p str)>,
    pub pool: &'p Pool,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open session between transactions: greeted, EHLO done, inside TLS if it was started.
pub struct Conn {
    s: BufStream<Box<dyn Io>>,
    pipelining: bool,
    opened: Instant,
    transactions: u32,
}

/// How long a session may wait for the next message (Postfix waits 2 s by default; the
/// server's own idle limit is minutes, RFC 5321 §4.5.3.2.7).
pub const IDLE: Duration = Duration::from_secs(5);
/// A session is closed after this many transactions or this long, whichever comes first,
/// so one slow-to-notice server change (a new certificate, a new address) is picked up.
const MAX_TRANSACTIONS: u32 = 100;
const MAX_AGE: Duration = Duration::from_secs(300);

/// A server: its name (for TLS), address, the TLS policy, and whether the session logged in.
type Server = (String, SocketAddr, Policy, bool);

/// Idle sessions by server, each with the time it went idle.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Server, Vec<(Instant, Conn)>>>,
}

impl Pool {
    fn take(&self, server: Server) -> Option<Conn> {
        let mut idle = self.idle.lock().expect("pool");
        let list = idle.get_mut(&server)?;
        while let Some((since, conn)) = list.pop() {
            if since.elapsed() < IDLE {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, server: Server, conn: Conn) {
        self.idle
            .lock()
            .expect("pool")
            .entry(server)
            .or_default()
            .push((Instant::now(), conn));
    }

    /// Says QUIT to the sessions idle for longer than `IDLE` (all of them with `all`).
    pub async fn close_idle(&self, all: bool) {
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock().expect("pool");
            idle.retain(|_, list| {
                let (old, young): (Vec<_>, Vec<_>) = std::mem::take(list)
                    .into_iter()
                    .partition(|(since, _)| all || since.elapsed() >= IDLE);
                expired.extend(old.into_iter().map(|(_, c)| c));
                *list = young;
                !list.is_empty()
            });
        }
        for mut conn in expired {
            let quit = async {
                conn.s.write_all(b"QUIT\r\n").await?;
                conn.s.flush().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), quit).await;
        }
    }

    /// Idle sessions, for tests.
    pub fn len(&self) -> usize {
        self.idle.lock().expect("pool").values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Client<'_> {
    /// Sends `env` to `addr` (named `host` for TLS), returning each recipient's reply in
    /// order: the RCPT refusal, or the reply to the end of data.
    pub async fn send(
        &self,
        addr: SocketAddr,
        host: &str,
        env: &Envelope<'_>,
    ) -> Result<Vec<Reply>, Failure> {
        let policy = match &self.required {
            None => Policy::Opportunistic,
            Some(Required::MtaSts(_)) => Policy::MtaSts,
            Some(Required::DaneEncrypt) => Policy::DaneEncrypt,
            Some(Required::Dane(records)) => Policy::Dane(records.clone()),
        };
        let server = (host.to_string(), addr, policy, self.auth.is_some());
        if let Some(conn) = self.pool.take(server.clone()) {
            match self.transaction(conn, env, true).await {
                Err(Failure::Stale) => {}
                r => return self.finish(server, r),
            }
        }
        let conn = match self.open(addr, host, env.helo, self.tls.is_some()).await {
            // A peer that offers STARTTLS but cannot finish a handshake with us still gets the
            // mail, in plain text (RFC 7435 §3: opportunistic, not mandatory) — unless TLS
            // is required (then the failure is `Failure::Required`).
            Err(Failure::Network(e)) if e.starts_with("tls:") && self.required.is_none() => {
                tracing::info!(%addr, error = %e, "TLS failed; retrying without");
                self.open(addr, host, env.helo, false).await?
            }
            r => r?,
        };
        let r = self.transaction(conn, env, false).await;
        self.finish(server, r)
    }

    /// Pools a session that may carry another transaction.
    fn finish(
        &self,
        server: Server,
        r: Result<(Vec<Reply>, Option<Conn>), Failure>,
    ) -> Result<Vec<Reply>, Failure> {
        let (replies, conn) = r?;
        if let Some(conn) = conn
            && conn.transactions < MAX_TRANSACTIONS
            && conn.opened.elapsed() < MAX_AGE
        {
            self.pool.put(server, conn);
        }
        Ok(replies)
    }

    /// Connects, reads the greeting, says EHLO, starts TLS when offered and wanted, and logs
    /// in when asked to.
    async fn open(
        &self,
        addr: SocketAddr,
        host: &str,
        helo: &str,
        try_tls: bool,
    ) -> Result<Conn, Failure> {
        let (mut conn, ehlo, secure) = self.session(addr, host, helo, try_tls).await?;
        if let Some((user, password)) = self.auth {
            if !secure && !addr.ip().is_loopback() {
                return Err(Failure::Network(format!(
                    "{host} offers no TLS; the relay password is not sent in plain text"
                )));
            }
            self.login(&mut conn, &ehlo, host, user, password).await?;
        }
        Ok(conn)
    }

    /// AUTH PLAIN, or LOGIN when only that is offered (RFC 4954). A refusal is a temporary
    /// failure: a wrong password in the configuration must not bounce the mail.
    async fn login(
        &self,
        conn: &mut Conn,
        ehlo: &Reply,
        host: &str,
        user: &str,
        password: &str,
    ) -> Result<(), Failure> {
        use base64::Engine;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let words: Vec<String> = ehlo.text.split(' ').map(str::to_ascii_uppercase).collect();
        let offers = |m: &str| words.iter().any(|w| w == m);
        let s = &mut conn.s;
        let r = if offers("PLAIN") {
            let token = b64(format!("\0{user}\0{password}").as_bytes());
            self.command(s, format!("AUTH PLAIN {token}\r\n").as_bytes())
                .await?;
            self.read(s).await?
        } else if offers("LOGIN") {
            self.command(s, b"AUTH LOGIN\r\n").await?;
            let mut r = self.read(s).await?;
            for answer in [user, password] {
                if r.code != 334 {
                    break;
                }
                self.command(s, format!("{}\r\n", b64(answer.as_bytes())).as_bytes())
                    .await?;
                r = self.read(s).await?;
            }
            r
        } else {
            return Err(Failure::Network(format!(
                "{host} offers neither AUTH PLAIN nor LOGIN"
            )));
        };
        if r.code == 235 {
            Ok(())
        } else {
            Err(Failure::Network(format!(
                "{host} refused our login: {}",
                r.line()
            )))
        }
    }

    /// The session up to the EHLO inside TLS, if TLS was started (then `true`).
    async fn session(
        &self,
        addr: SocketAddr,
        host: &str,
        helo: &str,
        try_tls: bool,
    ) -> Result<(Conn, Reply, bool), Failure> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Failure::Network(format!("connecting to {addr} timed out")))?
            .map_err(|e| Failure::Network(format!("connecting to {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut s: BufStream<Box<dyn Io>> = BufStream::new(Box::new(tcp));
        self.expect(&mut s, 220).await?;
        let ehlo = self.ehlo(&mut s, helo).await?;
        let has =
            |ehlo: &Reply, word: &str| ehlo.text.split(' ').any(|w| w.eq_ignore_ascii_case(word));
        let mut conn = Conn {
            pipelining: has(&ehlo, "PIPELINING"),
            s,
            opened: Instant::now(),
            transactions: 0,
        };
        let required = self.required.as_ref();
        if let Some(req) = required
            && !has(&ehlo, "STARTTLS")
        {
            return Err(req.failed("the server does not offer STARTTLS"));
        }
        // The DANE verifier of this connection, to say why the certificate was refused.
        let mut dane = None;
        let config = match required {
            Some(Required::MtaSts(c)) => c.clone(),
            Some(Required::Dane(records)) => {
                let (verifier, config) = DaneVerifier::config(records.clone());
                dane = Some(verifier);
                config
            }
            Some(Required::DaneEncrypt) => self.tls.clone().unwrap_or_else(opportunistic_tls),
            None => match self
                .tls
                .as_ref()
                .filter(|_| try_tls && has(&ehlo, "STARTTLS"))
            {
                Some(c) => c.clone(),
                None => return Ok((conn, ehlo, false)),
            },
        };
        self.command(&mut conn.s, b"STARTTLS\r\n").await?;
        let r = self.read(&mut conn.s).await?;
        if r.code != 220 {
            if let Some(req) = required {
                return Err(req.failed(format!("STARTTLS refused: {}", r.line())));
            }
            // Declined: go on in plain text.
            return Ok((conn, ehlo, false));
        }
        // RFC 7672 §8.1: SNI is the TLSA base domain, here the MX host name.
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(addr.ip().into()));
        let connector = tokio_rustls::TlsConnector::from(config);
        let handshake = tokio::time::timeout(
            self.command_timeout,
            connector.connect(name, conn.s.into_inner()),
        )
        .await;
        let tls = match (handshake, required) {
            (Ok(Ok(tls)), _) => tls,
            (Err(_), Some(req)) => return Err(req.failed("the TLS handshake timed out")),
            (Err(_), None) => return Err(Failure::Network("tls: handshake timed out".into())),
            (Ok(Err(e)), Some(req)) => {
                let why = match dane.as_ref().and_then(|v| v.outcome()) {
                    Some(Err(refused)) => refused.to_string(),
                    _ => format!("TLS handshake: {e}"),
                };
                return Err(req.failed(why));
            }
            (Ok(Err(e)), None) => return Err(Failure::Network(format!("tls: {e}"))),
        };
        if let Some(Ok(matched)) = dane.as_ref().and_then(|v| v.outcome()) {
            tracing::info!(%host, %addr, ?matched, "DANE: server authenticated");
        } else if let Some(Required::DaneEncrypt) = required {
            tracing::info!(%host, %addr, "DANE: TLS without usable TLSA records, not authenticated");
        }
        let mut s: BufStream<Box<dyn Io>> = BufStream::new(Box::new(tls));
        let ehlo = self.ehlo(&mut s, helo).await?;
        let conn = Conn {
            pipelining: has(&ehlo, "PIPELINING"),
            s,
            opened: Instant::now(),
            transactions: 0,
        };
        Ok((conn, ehlo, true))
    }

    /// One transaction; gives the session back when it can carry another. On a `reused`
    /// session, trouble before the server accepted MAIL is [`Failure::Stale`].
    async fn transaction(
        &self,
        mut conn: Conn,
        env: &Envelope<'_>,
        reused: bool,
    ) -> Result<(Vec<Reply>, Option<Conn>), Failure> {
        conn.transactions += 1;
        let utf8 = !env.mail_from.is_ascii() || env.rcpts.iter().any(|r| !r.is_ascii());
        let mail = format!(
            "MAIL FROM:<{}>{}\r\n",
            env.mail_from,
            if utf8 { " SMTPUTF8" } else { "" }
        );
        let stale = |e: Failure| match e {
            Failure::Network(_) if reused => Failure::Stale,
            Failure::Refused(r) if reused && r.code == 421 => Failure::Stale,
            e => e,
        };
        let s = &mut conn.s;
        let mut replies: Vec<Option<Reply>> = Vec::with_capacity(env.rcpts.len());
        let data_reply = if conn.pipelining {
            // MAIL, every RCPT and DATA in one write; the replies come back in order.
            let mut batch = mail.into_bytes();
            for rcpt in env.rcpts {
                batch.extend_from_slice(format!("RCPT TO:<{rcpt}>\r\n").as_bytes());
            }
            batch.extend_from_slice(b"DATA\r\n");
            self.command(s, &batch).await.map_err(stale)?;
            let m = self.read(s).await.map_err(stale)?;
            for _ in env.rcpts {
                let r = self.read(s).await?;
                replies.push((!r.is_ok()).then_some(r));
            }
            let d = self.read(s).await?;
            if !m.is_ok() {
                if d.code == 354 {
                    // RFC 2920 §3.1: end the data that was accepted after all.
                    self.command(s, b".\r\n").await?;
                    self.read(s).await?;
                }
                return Err(stale(Failure::Refused(m)));
            }
            d
        } else {
            self.command(s, mail.as_bytes()).await.map_err(stale)?;
            let m = self.read(s).await.map_err(stale)?;
            if !m.is_ok() {
                return Err(stale(Failure::Refused(m)));
            }
            for rcpt in env.rcpts {
                self.command(s, format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
                    .await?;
                let r = self.read(s).await?;
                replies.push((!r.is_ok()).then_some(r));
            }
            if replies.iter().all(Option::is_some) {
                let again = self.reset(conn).await;
                return Ok((replies.into_iter().flatten().collect(), again));
            }
            self.command(s, b"DATA\r\n").await?;
            self.read(s).await?
        };
        let s = &mut conn.s;
        let accepted = replies.iter().any(Option::is_none);
        let (end, clean) = match (data_reply.code, accepted) {
            (354, true) => {
                self.write_data(s, env.message).await?;
                let end = self.read(s).await?;
                let clean = end.code != 421;
                (end, clean)
            }
            (354, false) => {
                // Every recipient refused, yet the server wants data: send none.
                self.command(s, b".\r\n").await?;
                let r = self.read(s).await?;
                (r, false)
            }
            // DATA refused (or no recipient to send it for): the transaction stays open.
            _ => (data_reply, false),
        };
        let replies = replies
            .into_iter()
            .map(|r| r.unwrap_or_else(|| end.clone()))
            .collect();
        let again = if clean {
            Some(conn)
        } else {
            self.reset(conn).await
        };
        Ok((replies, again))
    }

    /// RSET, so the session can carry another transaction; `None` when it cannot.
    async fn reset(&self, mut conn: Conn) -> Option<Conn> {
        self.command(&mut conn.s, b"RSET\r\n").await.ok()?;
        let r = self.read(&mut conn.s).await.ok()?;
        r.is_ok().then_some(conn)
    }

    async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
        helo: &str,
    ) -> Result<Reply, Failure> {
        self.command(s, format!("EHLO {helo}\r\n").as_bytes())
            .await?;
        let r = self.read(s).await?;
        if r.is_ok() {
            return Ok(r);
        }
        // RFC 5321 §3.2: a server that does not know EHLO gets HELO.
        self.command(s, format!("HELO {helo}\r\n").as_bytes())
            .await?;
        let r = self.read(s).await?;
        if r.is_ok() {
            Ok(r)
        } else {
            Err(Failure::Refused(r))
        }
    }

    async fn expect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
        code: u16,
    ) -> Result<Reply, Failure> {
        let r = self.read(s).await?;
        if r.code == code {
            Ok(r)
        } else {
            Err(Failure::Refused(r))
        }
    }

    async fn command<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
        line: &[u8],
    ) -> Result<(), Failure> {
        let send = async {
            s.write_all(line).await?;
            s.flush().await
        };
        tokio::time::timeout(self.command_timeout, send)
            .await
            .map_err(|_| Failure::Network("timed out sending".into()))?
            .map_err(|e| Failure::Network(format!("sending: {e}")))
    }

    /// The message, dot-stuffed (RFC 5321 §4.5.2), ending with CRLF . CRLF.
    async fn write_data<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
        message: &[u8],
    ) -> Result<(), Failure> {
        let mut out = Vec::with_capacity(message.len() + 64);
        let mut at_line_start = true;
        for &b in message {
            if at_line_start && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            at_line_start = b == b'\n';
        }
        if !message.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.command(s, &out).await
    }

    /// One reply, multi-line or not (RFC 5321 §4.2.1).
    async fn read<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
    ) -> Result<Reply, Failure> {
        let mut text = Vec::new();
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            let n = tokio::time::timeout(self.command_timeout, s.read_line(&mut line))
                .await
                .map_err(|_| Failure::Network("timed out waiting for a reply".into()))?
                .map_err(|e| Failure::Network(format!("reading: {e}")))?;
            if n == 0 {
                return Err(Failure::Network("connection closed by the server".into()));
            }
            let l = line.trim_end_matches(['\r', '\n']);
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| Failure::Network(format!("not an SMTP reply: {l:.80}")))?;
            text.push(l.get(4..).unwrap_or("").to_string());
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply {
                    code,
                    text: text.join(" "),
                });
            }
        }
        Err(Failure::Network("reply too long".into()))
    }
}

/// A TLS client configuration that verifies certificates against the system's roots (and
/// `extra_roots`): for MTA-STS policy fetches and for MX hosts a policy names.
pub fn verified_tls(
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|e| format!("certificate verifier: {e}"))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// A TLS client configuration for opportunistic STARTTLS: any certificate is accepted, since
/// the alternative without MTA-STS or DANE is plain text, not a refusal (RFC 7435).
pub fn opportunistic_tls() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
