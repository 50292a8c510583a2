//! mailroom's IMAP gateway (IMAP4rev1, RFC 3501, with the extensions listed in
//! `session::capabilities`), over the same service layer as JMAP: a flag stored here is the
//! keyword JMAP sees, a UID is the mailbox membership's UID in the store.
//!
//! Brief overview:
//! - [`serve`] accepts connections within limits (`listener.rs`); `session.rs` is one
//!   connection: framing with imap-codec's Fragmentizer (literals, `+` continuations, the
//!   size cap), the state machine, and one file per group of commands — `auth.rs` (LOGIN,
//!   AUTHENTICATE, STARTTLS), `mailboxes.rs` (CREATE … LIST, STATUS), `select.rs` (SELECT,
//!   EXAMINE, CLOSE, UNSELECT, EXPUNGE), `fetch.rs`, `store.rs` (STORE, COPY, MOVE),
//!   `search.rs`, `append.rs`, `idle.rs`.
//! - `dispatch.rs` sends each command to its handler; `output.rs` writes responses; `reply.rs`
//!   holds the tagged replies and core errors as response codes.
//! - `selected.rs` is the selected mailbox (sequence numbers ↔ UIDs) and follows changes
//!   made by anyone into untagged EXPUNGE / EXISTS / FETCH responses.
//! - `message.rs` shows a stored message as IMAP does: sections, ENVELOPE, BODYSTRUCTURE.
//! - `names.rs` maps the account's mailbox tree to IMAP names (`/`-separated, `INBOX`).

mod append;
mod auth;
mod compress;
mod dispatch;
mod extended;
mod fetch;
mod flags;
mod idle;
mod items;
mod listener;
mod mailboxes;
mod message;
mod names;
mod output;
mod quota;
mod reply;
mod search;
mod select;
mod selected;
mod session;
mod sort;
mod store;

use std::sync::Arc;
use std::time::Duration;

use mailroom_core::Core;
use tokio::sync::watch;

pub use items::derive as derive_items;
pub use listener::serve;

/// Limits for the IMAP listeners, validated by the binary's configuration.
#[derive(Clone, Debug)]
pub struct ImapConfig {
    /// Simultaneous connections in total, and from one IP address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// A session that has not logged in is dropped after this long without a command.
    pub login_timeout: Duration,
    /// A logged-in session is dropped after this long without a command (RFC 9051 §5.4:
    /// at least 30 minutes). IDLE restarts it.
    pub idle_timeout: Duration,
    /// The largest literal accepted (an APPENDed message); larger ones get `[TOOBIG]`.
    pub max_literal: u32,
    /// STARTTLS on the plain listener, and the implicit-TLS listener.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections from loopback addresses count as secure: LOGIN is allowed without TLS
    /// (as Dovecot does by default).
    pub loopback_is_secure: bool,
    /// Bad commands tolerated in one session before it is closed.
    pub max_errors: u32,
}

impl Default for ImapConfig {
    fn default() -> ImapConfig {
        ImapConfig {
            max_connections: 10_000,
            max_connections_per_ip: 100,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
            max_literal: 50 * 1024 * 1024,
            tls: None,
            loopback_is_secure: true,
            max_errors: 50,
        }
    }
}

/// Everything a session needs, shared by all sessions of a listener.
pub(crate) struct Shared {
    pub core: Core,
    pub config: ImapConfig,
    /// TLS from the first byte (993's role) rather than STARTTLS (143's).
    pub implicit_tls: bool,
    pub shutdown: watch::Receiver<bool>,
}
