//! Accepting connections within limits (mailroom-net's accept loop).

use std::sync::Arc;

use tokio::net::TcpListener;

use mailroom_core::Core;
use tokio::sync::watch;

use crate::reply;
use crate::{Role, Shared, SmtpConfig};

/// Serves SMTP on `listener` until shutdown, then waits for the sessions: each finishes the
/// command in progress (a delivery completes and is answered) and is told `421`.
/// Takes a bound listener, so tests (and the binary) choose the address.
pub async fn serve(
    listener: TcpListener,
    core: Core,
    config: SmtpConfig,
    shutdown: watch::Receiver<bool>,
) {
    run(listener, core, config, Role::Mx, shutdown).await
}

/// Serves message submission on `listener` until shutdown, like [`serve`]: with STARTTLS
/// (587's role), or with `implicit_tls` TLS from the first byte (465's role). AUTH is
/// offered only inside TLS, so `config.tls` must be set.
pub async fn serve_submission(
    listener: TcpListener,
    core: Core,
    config: SmtpConfig,
    implicit_tls: bool,
    shutdown: watch::Receiver<bool>,
) {
    run(
        listener,
        core,
        config,
        Role::Submission { implicit_tls },
        shutdown,
    )
    .await
}

async fn run(
    listener: TcpListener,
    core: Core,
    config: SmtpConfig,
    role: Role,
    shutdown: watch::Receiver<bool>,
) {
    let limits = mailroom_net::Limits {
        total: config.max_connections,
        per_ip: config.max_connections_per_ip,
    };
    let shared = Arc::new(Shared {
        core,
        config,
        role,
        shutdown: shutdown.clone(),
    });
    let next_id = Arc::new(std::sync::atomic::AtomicU64::new(1));
    // At shutdown each session answers 421 at its next command (or at once when idle), and
    // the call returns when all have ended.
    mailroom_net::accept(
        listener,
        limits,
        reply::TOO_MANY_CONNECTIONS.as_bytes(),
        shutdown,
        move |stream, peer| {
            let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            super::session::run(stream, peer, shared.clone(), id)
        },
    )
    .await
}
