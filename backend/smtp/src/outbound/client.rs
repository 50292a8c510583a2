//! The SMTP client side (RFC 5321): one transaction to one server address — greeting, EHLO,
//! STARTTLS when offered (opportunistic, RFC 3207 / RFC 7435: encrypted whenever the peer
//! can, certificate not required to verify), MAIL, one RCPT per recipient, DATA — with a
//! reply per recipient. Every read and write has a deadline, so a peer that never answers
//! costs one worker slot for a bounded time and nothing else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

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
}

/// What one transaction needs.
pub struct Envelope<'a> {
    pub helo: &'a str,
    /// "" for the null reverse-path.
    pub mail_from: &'a str,
    pub rcpts: &'a [String],
    pub message: &'a [u8],
}

pub struct Client {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Opportunistic TLS; `None` never starts TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// Sends `env` to `addr` (named `host` for TLS), returning each recipient's reply in
    /// order: the RCPT refusal, or the reply to the end of data.
    pub async fn send(
        &self,
        addr: SocketAddr,
        host: &str,
        env: &Envelope<'_>,
    ) -> Result<Vec<Reply>, Failure> {
        match self.attempt(addr, host, env, self.tls.is_some()).await {
            // A peer that offers STARTTLS but cannot finish a handshake with us still gets the
            // mail, in plain text (RFC 7435 §3: opportunistic, not mandatory).
            Err(Failure::Network(e)) if e.starts_with("tls:") => {
                tracing::info!(%addr, error = %e, "TLS failed; retrying without");
                self.attempt(addr, host, env, false).await
            }
            r => r,
        }
    }

    async fn attempt(
        &self,
        addr: SocketAddr,
        host: &str,
        env: &Envelope<'_>,
        try_tls: bool,
    ) -> Result<Vec<Reply>, Failure> {
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Failure::Network(format!("connecting to {addr} timed out")))?
            .map_err(|e| Failure::Network(format!("connecting to {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut s = BufStream::new(tcp);
        self.expect(&mut s, 220).await?;
        let ehlo = self.ehlo(&mut s, env.helo).await?;
        let starttls = ehlo
            .text
            .split(' ')
            .any(|w| w.eq_ignore_ascii_case("STARTTLS"));
        match (&self.tls, try_tls && starttls) {
            (Some(config), true) => {
                self.command(&mut s, b"STARTTLS\r\n").await?;
                let r = self.read(&mut s).await?;
                if r.code != 220 {
                    // Declined: go on in plain text.
                    return self.transaction(&mut s, env).await;
                }
                let name = rustls::pki_types::ServerName::try_from(host.to_string())
                    .unwrap_or_else(|_| rustls::pki_types::ServerName::IpAddress(addr.ip().into()));
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = tokio::time::timeout(
                    self.command_timeout,
                    connector.connect(name, s.into_inner()),
                )
                .await
                .map_err(|_| Failure::Network("tls: handshake timed out".into()))?
                .map_err(|e| Failure::Network(format!("tls: {e}")))?;
                let mut s = BufStream::new(tls);
                self.ehlo(&mut s, env.helo).await?;
                self.transaction(&mut s, env).await
            }
            _ => self.transaction(&mut s, env).await,
        }
    }

    async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufStream<S>,
        env: &Envelope<'_>,
    ) -> Result<Vec<Reply>, Failure> {
        let utf8 = !env.mail_from.is_ascii() || env.rcpts.iter().any(|r| !r.is_ascii());
        let mail = format!(
            "MAIL FROM:<{}>{}\r\n",
            env.mail_from,
            if utf8 { " SMTPUTF8" } else { "" }
        );
        self.command(s, mail.as_bytes()).await?;
        let r = self.read(s).await?;
        if !r.is_ok() {
            return Err(Failure::Refused(r));
        }
        let mut replies: Vec<Option<Reply>> = Vec::with_capacity(env.rcpts.len());
        for rcpt in env.rcpts {
            self.command(s, format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
                .await?;
            let r = self.read(s).await?;
            replies.push((!r.is_ok()).then_some(r));
        }
        if replies.iter().all(Option::is_some) {
            let _ = self.command(s, b"QUIT\r\n").await;
            return Ok(replies.into_iter().flatten().collect());
        }
        self.command(s, b"DATA\r\n").await?;
        let r = self.read(s).await?;
        let end = if r.code == 354 {
            self.write_data(s, env.message).await?;
            self.read(s).await?
        } else {
            r
        };
        let _ = self.command(s, b"QUIT\r\n").await;
        Ok(replies
            .into_iter()
            .map(|r| r.unwrap_or_else(|| end.clone()))
            .collect())
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
