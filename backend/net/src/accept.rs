//! Accepting connections within limits: at most `total` at once (more wait in the kernel's
//! listen backlog, not in memory) and `per_ip` from one address (refused with a line of the
//! protocol's own).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub total: usize,
    pub per_ip: usize,
}

/// Accepts on `listener` until `shutdown` turns true, running `session` for each connection
/// within `limits`; a connection over the per-address limit gets `refusal` and is closed.
/// Returns once every session has ended.
pub async fn accept<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    refusal: &'static [u8],
    mut shutdown: watch::Receiver<bool>,
    session: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.total));
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
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
                    tracing::warn!(error = %e, "accept failed");
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
            *n > limits.per_ip
        };
        let guard = IpGuard {
            map: per_ip.clone(),
            ip,
        };
        if over {
            tokio::spawn(async move {
                let _ = stream.write_all(refusal).await;
                drop(guard);
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        // Boxed: awaited from an async block that owned it, the session's future would be
        // stored twice in the task (as the block's capture and as what it awaits).
        let run = Box::pin(session(stream, peer));
        sessions.spawn(async move {
            run.await;
            drop(guard);
            drop(permit);
        });
    }
    // Each session notices the shutdown itself, finishes what it is doing and says goodbye.
    while sessions.join_next().await.is_some() {}
}

/// Gives the address's connection slot back when the session ends, however it ends.
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
