//! mailroom's SMTP gateway.
//!
//! Brief overview:
//! - [`serve`] runs the inbound MTA on a bound listener until shutdown, [`serve_submission`]
//!   the submission service (RFC 6409: AUTH, then mail from the user to anyone); both cap
//!   connections (in total and per client IP) before a session starts.
//! - `inbound::session` is one connection: it reads bytes into smtp-proto's receivers (commands,
//!   DATA, BDAT), answers each command from its own file (`inbound/ehlo.rs`, `auth.rs`,
//!   `mail.rs`, `rcpt.rs`, `data.rs`), and hands a complete message to `mailroom-core`: for
//!   delivery (MX) or for sending as the authenticated user (submission).
//! - `reply` names every reply code mailroom sends and maps core errors to them.
//!
//! The one rule this crate exists to keep: 250 after DATA is sent only once core reports the
//! message durably stored.

pub mod dkim;
mod inbound;
pub mod outbound;
mod reply;

use std::time::Duration;

use mailroom_core::Core;
use tokio::sync::watch;

pub use inbound::listener::{serve, serve_submission};
pub use outbound::{DeliveryConfig, run_queue};

/// Limits and names for the SMTP listener, validated by the binary's configuration.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Announced in the greeting, EHLO and Received: headers.
    pub hostname: String,
    /// Largest message accepted, in bytes (SIZE).
    pub max_message_size: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Simultaneous connections in total, and from one IP address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// How long to wait for a command (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub command_timeout: Duration,
    /// How long to wait for each read while receiving message data (§4.5.3.2: 3 minutes).
    pub data_timeout: Duration,
    /// Bad commands tolerated in one session before it is closed.
    pub max_errors: u32,
    /// Offered as STARTTLS (RFC 3207) when present.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Default for SmtpConfig {
    fn default() -> SmtpConfig {
        SmtpConfig {
            hostname: "localhost".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1024,
            max_connections_per_ip: 64,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            max_errors: 20,
            tls: None,
        }
    }
}

/// What a listener is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Port 25: mail for local users from anyone; no AUTH, no relaying.
    Mx,
    /// Port 587 / 465: mail from an authenticated user to anyone. `implicit_tls`: TLS from the
    /// first byte (465, RFC 8314) rather than STARTTLS.
    Submission { implicit_tls: bool },
}

/// Everything a session needs, shared by all sessions of a listener.
pub(crate) struct Shared {
    pub core: Core,
    pub config: SmtpConfig,
    pub role: Role,
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    pub fn submission(&self) -> bool {
        matches!(self.role, Role::Submission { .. })
    }
}
