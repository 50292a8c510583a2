//! Accepting connections within limits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use mailroom_core::Core;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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
    let shared = Arc::new(Shared {
        core,
        config,
        implicit_tls,
        shutdown,
    });
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut shutdown = shared.shutdown.clone();
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        while sessions.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = shutdown.changed() => break,
        };
        let (mut stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "imap accept failed");
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
                    .write_all(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n")
                    .await;
                drop(guard);
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        sessions.spawn(async move {
            crate::session::run(stream, peer, shared).await;
            drop(guard);
            drop(permit);
        });
    }
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
