//! Accepting connections within limits (mailroom-net's accept loop).

use std::sync::Arc;

use mailroom_core::Core;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{ImapConfig, Shared};

/// Serves IMAP on `listener` until shutdown: with STARTTLS (143's role), or with
/// `implicit_tls` TLS from the first byte (993's role, `config.tls` required). At shutdown
/// each session finishes its command, says `BYE`, and the call returns when all have ended.
pub async fn serve(
    listener: TcpListener,
    core: Core,
    config: ImapConfig,
    implicit_tls: bool,
    shutdown: watch::Receiver<bool>,
) {
    let limits = mailroom_net::Limits {
        total: config.max_connections,
        per_ip: config.max_connections_per_ip,
    };
    let shared = Arc::new(Shared {
        core,
        config,
        implicit_tls,
        shutdown: shutdown.clone(),
    });
    mailroom_net::accept(
        listener,
        limits,
        b"* BYE [UNAVAILABLE] Too many connections from your address\r\n",
        shutdown,
        move |stream, peer| crate::session::run(stream, peer, shared.clone()),
    )
    .await
}
