//! Accepting connections within limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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
    let shared = Arc::new(Shared {
        core,
        config,
        role,
        shutdown,
    });
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut shutdown = shared.shutdown.clone();
    let next_id = std::sync::atomic::AtomicU64::new(1);
    // Sessions in progress, so shutdown can wait for them to finish their delivery and say 421.
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        // Wait for a free slot before accepting, so overload queues in the kernel's backlog
        // instead of in our memory.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.changed() => break,
        };
        let (mut stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let ip = peer.ip();
        let over = {
            let mut m = per_ip.lock().expect("per-ip lock");
            let n = m.entry(ip).or_default();
            *n += 1;
            *n > shared.config.max_connections_per_ip
        };
        let guard = IpGuard {
            map: per_ip.clone(),
            ip,
        };
        if over {
            tokio::spawn(async move {
                let _ = stream
                    .write_all(reply::TOO_MANY_CONNECTIONS.as_bytes())
                    .await;
                drop(guard);
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sessions.spawn(async move {
            super::session::run(stream, peer, shared, id).await;
            drop(guard);
            drop(permit);
        });
    }
    // Each session answers 421 at its next command (or as soon as it is idle) and ends.
    while sessions.join_next().await.is_some() {}
}

/// Gives the IP's connection slot back when the session ends, however it ends.
struct IpGuard {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut m = self.map.lock().expect("per-ip lock");
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}
