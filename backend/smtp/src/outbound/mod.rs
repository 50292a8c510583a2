//! The outbound delivery worker: takes due recipients from core's durable queue, sends each
//! message to each destination domain once (all of its recipients there in one transaction),
//! DKIM-signed, and records every recipient's outcome: sent, failed for good (a bounce to
//! the sender), or deferred to the next time on the retry schedule (a delay notice once it
//! has waited long). A crash at any point leaves the recipients queued: they are claimed with
//! a short lease, which the worker keeps extending while it is still trying them, so the
//! recipients of a process that died are tried again within minutes.

mod client;
mod dane;
#[cfg(test)]
mod dane_tests;
mod dane_verify;
mod dnssec;
pub mod dsn;
pub mod mta_sts;
pub mod route;
#[cfg(test)]
mod tls_tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailroom_core::Core;
use mailroom_core::queue::{Outcome, QueuedMessage, QueuedRecipient};
use tokio::sync::{Semaphore, watch};

use client::{Client, Envelope, Failure, Reply, Required};
pub use client::{opportunistic_tls, verified_tls};
use dane::Dane;
use route::{Dns, Route};

/// How the queue delivers, validated by the binary's configuration.
pub struct DeliveryConfig {
    /// Our name in EHLO and in reports.
    pub hostname: String,
    /// Destinations served at once.
    pub concurrency: usize,
    /// Waits after the 1st, 2nd, … failed attempt; the last repeats.
    pub retry_intervals: Vec<Duration>,
    /// After this long in the queue, a recipient that still fails temporarily is bounced.
    pub give_up_after: Duration,
    /// After this long, the sender is told (once) that a recipient is still waiting.
    pub delay_notice_after: Duration,
    /// Per-domain static routes, "host:port", by lowercase domain.
    pub routes: HashMap<String, String>,
    /// Every other domain's mail goes here when set ("host:port"), instead of by MX.
    pub relay: Option<String>,
    /// The relay's user name and password (AUTH PLAIN or LOGIN, inside TLS).
    pub relay_auth: Option<(String, String)>,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    /// Opportunistic STARTTLS for outgoing connections.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Verifies MX certificates where an MTA-STS policy requires it ([`verified_tls`]).
    pub verified_tls: Arc<rustls::ClientConfig>,
    /// MTA-STS policies of the domains mail goes to by MX.
    pub mta_sts: mta_sts::MtaSts,
    /// MX, address and TXT lookups, and the DNSSEC-validated ones DANE needs.
    pub dns: Dns,
    /// Filled by the worker.
    pub signers: SignerCache,
    /// Sessions waiting for the next message to their server (filled by the worker).
    pub connections: client::Pool,
}

impl DeliveryConfig {
    /// The wait before the attempt after `attempts` failed ones.
    fn retry_after(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.retry_intervals.len().saturating_sub(1));
        self.retry_intervals
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(300))
    }
}

/// A claim lasts this long unless extended; it is extended every third of it.
const LEASE: Duration = Duration::from_secs(3 * 60);

/// The recipients claimed and not yet recorded, with their attempts when claimed.
type InFlight = Arc<std::sync::Mutex<HashMap<i64, i32>>>;
/// Recipients claimed per round.
const CLAIM: u32 = 200;

/// Runs the worker until shutdown; attempts in progress are given a few seconds to finish
/// (an unfinished one is retried after its lease, possibly sending twice, never losing).
pub async fn run_queue(core: Core, config: DeliveryConfig, mut shutdown: watch::Receiver<bool>) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let in_flight: InFlight = Arc::default();
    // Claims on recipients still waiting or being tried are extended before they end.
    let extender = {
        let (core, in_flight) = (core.clone(), in_flight.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                let claims: Vec<(i64, i32)> = in_flight
                    .lock()
                    .expect("in flight")
                    .iter()
                    .map(|(&id, &attempts)| (id, attempts))
                    .collect();
                let until = now() + LEASE.as_secs() as i64;
                if let Err(e) = core.queue_extend(&claims, until).await {
                    tracing::warn!(error = %e, "queue: cannot extend claims");
                }
            }
        })
    };
    // Sessions left idle too long are closed politely.
    let closer = {
        let config = config.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(client::IDLE / 2).await;
                config.connections.close_idle(false).await;
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        if *shutdown.borrow() {
            break;
        }
        // Claim only what the pool can start soon: a backlog of 10,000 due recipients stays
        // in the database, not in memory, and their leases do not run out while they wait.
        // Claims come in batches (each is a write transaction): wait until half the room is
        // free rather than claiming one recipient per finished delivery.
        let capacity = config.concurrency.max(1) * 4;
        let room = capacity.saturating_sub(tasks.len());
        if room < capacity / 2 {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let want = (room as u32).min(CLAIM);
        let lease_until = now() + LEASE.as_secs() as i64;
        let claimed = match core.queue_claim(lease_until, want).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "queue: cannot claim recipients");
                Vec::new()
            }
        };
        let full = claimed.iter().map(|(_, r)| r.len()).sum::<usize>() >= want as usize;
        for (message, rcpts) in claimed {
            in_flight
                .lock()
                .expect("in flight")
                .extend(rcpts.iter().map(|r| (r.id, r.attempts)));
            let mut by_domain: HashMap<String, Vec<QueuedRecipient>> = HashMap::new();
            for r in rcpts {
                by_domain.entry(r.domain.clone()).or_default().push(r);
            }
            let message = Arc::new(message);
            for (domain, rcpts) in by_domain {
                let (core, config, message) = (core.clone(), config.clone(), message.clone());
                let in_flight = in_flight.clone();
                let permit = slots.clone().acquire_owned();
                tasks.spawn(async move {
                    let _permit = permit.await;
                    let ids: Vec<i64> = rcpts.iter().map(|r| r.id).collect();
                    deliver(&core, &config, &message, &domain, rcpts).await;
                    let mut f = in_flight.lock().expect("in flight");
                    ids.iter().for_each(|id| {
                        f.remove(id);
                    });
                });
            }
        }
        if full {
            continue;
        }
        // Capped, so a retry asked for by another process (`mailroom queue retry`) or
        // another node is seen within seconds.
        let wait = match core.queue_next_due().await {
            Ok(Some(t)) => Duration::from_secs((t - now()).clamp(1, 15) as u64),
            _ => Duration::from_secs(15),
        };
        // A finished delivery may have scheduled a retry sooner than `wait`: look again.
        tokio::select! {
            _ = core.queue_wait() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    closer.abort();
    extender.abort();
    config.connections.close_idle(true).await;
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One message to one domain's recipients.
async fn deliver(
    core: &Core,
    config: &DeliveryConfig,
    message: &QueuedMessage,
    domain: &str,
    rcpts: Vec<QueuedRecipient>,
) {
    let result = attempt(core, config, message, domain, &rcpts).await;
    let replies: Vec<Result<(Reply, String), String>> = match result {
        Ok((replies, mta)) => replies.into_iter().map(|r| Ok((r, mta.clone()))).collect(),
        Err(Attempt::Permanent(why)) => rcpts
            .iter()
            .map(|_| Ok((why.clone(), String::new())))
            .collect(),
        Err(Attempt::Temporary(why)) => rcpts.iter().map(|_| Err(why.clone())).collect(),
    };
    let age = Duration::from_secs((now() - message.created_at).max(0) as u64);
    let mut failed = Vec::new();
    let mut delayed = Vec::new();
    let mut records = Vec::with_capacity(rcpts.len());
    for (rcpt, result) in rcpts.iter().zip(replies) {
        let (outcome_reply, mta, temporary) = match &result {
            Ok((r, _)) if r.is_ok() => {
                tracing::info!(queue_id = message.id, rcpt = %rcpt.address, reply = %r.line(), "sent");
                records.push(Outcome::Sent { reply: r.line() });
                count(Metric::Sent);
                continue;
            }
            Ok((r, mta)) => (r.line(), mta.clone(), !r.is_permanent()),
            Err(why) => (why.clone(), String::new(), true),
        };
        let attempts = rcpt.attempts as u32 + 1;
        if temporary && age < config.give_up_after {
            let next = now() + config.retry_after(attempts).as_secs() as i64;
            tracing::info!(queue_id = message.id, rcpt = %rcpt.address, reply = %outcome_reply, attempts, "deferred");
            records.push(Outcome::Deferred {
                reply: outcome_reply.clone(),
                next_attempt_at: next,
            });
            count(Metric::Deferred);
            if age >= config.delay_notice_after && !rcpt.delay_notified {
                delayed.push((rcpt.clone(), outcome_reply, mta));
            }
        } else {
            tracing::info!(queue_id = message.id, rcpt = %rcpt.address, reply = %outcome_reply, "failed");
            records.push(Outcome::Failed {
                reply: outcome_reply.clone(),
            });
            count(Metric::Bounced);
            failed.push((rcpt.clone(), outcome_reply, mta));
        }
    }
    let records = rcpts
        .iter()
        .zip(records)
        .map(|(r, o)| (message.clone(), r.clone(), o))
        .collect();
    if let Err(e) = core.queue_record_many(records).await {
        // The lease runs out and the recipients are tried again: sent twice at worst.
        tracing::error!(queue_id = message.id, error = %e, "queue: cannot record outcomes");
    }
    report(core, config, message, "failed", &failed).await;
    if report(core, config, message, "delayed", &delayed).await {
        let ids: Vec<i64> = delayed.iter().map(|(r, _, _)| r.id).collect();
        if let Err(e) = core.queue_delay_notified(&ids).await {
            tracing::warn!(error = %e, "queue: cannot record a delay notice");
        }
    }
}

/// Files a report for `lines` in the sender's INBOX; never for the null sender (a bounce is
/// never bounced) nor for a sender who is not a local user. Returns whether one was filed.
async fn report(
    core: &Core,
    config: &DeliveryConfig,
    message: &QueuedMessage,
    action: &str,
    lines: &[(QueuedRecipient, String, String)],
) -> bool {
    let Some(account) = message.account_id else {
        return false;
    };
    if lines.is_empty() || message.mail_from.is_empty() {
        return false;
    }
    let original = core.queue_bytes(message).await.unwrap_or_default();
    let raw = dsn::Report {
        hostname: &config.hostname,
        to: &message.mail_from,
        action,
        arrival: message.created_at,
        lines: lines
            .iter()
            .map(|(r, why, mta)| dsn::Line {
                recipient: &r.address,
                diagnostic: why,
                remote_mta: (!mta.is_empty()).then_some(mta.as_str()),
            })
            .collect(),
        original: &original,
    }
    .build();
    match core.deliver_report(account, raw).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(queue_id = message.id, error = %e, "queue: cannot file a delivery report");
            false
        }
    }
}

enum Attempt {
    /// Every recipient fails with this reply (null MX, no such domain, refused sender).
    Permanent(Reply),
    /// Nothing could be sent now: try later.
    Temporary(String),
}

/// Tries the domain's hosts in order, every address of each, until one takes the
/// transaction. Returns each recipient's reply and the host that gave them.
async fn attempt(
    core: &Core,
    config: &DeliveryConfig,
    message: &QueuedMessage,
    domain: &str,
    rcpts: &[QueuedRecipient],
) -> Result<(Vec<Reply>, String), Attempt> {
    let plan = plan(config, domain).await?;
    let bytes = core
        .queue_bytes(message)
        .await
        .map_err(|e| Attempt::Temporary(format!("reading the message: {e}")))?;
    let signed = sign(core, config, message, &bytes).await;
    let addresses: Vec<String> = rcpts.iter().map(|r| r.address.clone()).collect();
    let env = Envelope {
        helo: &config.hostname,
        mail_from: &message.mail_from,
        rcpts: &addresses,
        message: &signed,
    };
    try_hosts(config, domain, plan, &env).await
}

/// Where one domain's mail goes, and under which TLS rules.
struct Plan {
    /// (name, port) in the order to try.
    hosts: Vec<(String, u16)>,
    via: Via,
    /// The MX answer was DNSSEC-secure: DANE may apply to the hosts.
    dnssec: bool,
    /// The domain's MTA-STS policy is in enforce mode.
    enforce: bool,
}

/// The hosts for `domain`, filtered by its MTA-STS policy.
async fn plan(config: &DeliveryConfig, domain: &str) -> Result<Plan, Attempt> {
    let (hosts, via, dnssec) = hosts(config, domain).await?;
    // MTA-STS applies to MX routing only: a configured route or relay is the admin's word.
    let policy = match via {
        Via::Mx => config.mta_sts.policy(&config.dns, domain).await,
        _ => None,
    };
    let enforce = policy
        .as_ref()
        .is_some_and(|p| p.mode == mta_sts::Mode::Enforce);
    let hosts = match &policy {
        Some(p) if p.mode != mta_sts::Mode::None => {
            let (named, other): (Vec<_>, Vec<_>) =
                hosts.into_iter().partition(|(h, _)| p.allows(h));
            if !other.is_empty() {
                tracing::warn!(%domain, hosts = ?other, mode = ?p.mode, "MTA-STS: MX not in the policy");
            }
            match enforce {
                true if named.is_empty() => {
                    return Err(Attempt::Temporary(format!(
                        "no MX of {domain} is named by its MTA-STS policy"
                    )));
                }
                true => named,
                false => named.into_iter().chain(other).collect(),
            }
        }
        _ => hosts,
    };
    Ok(Plan {
        hosts,
        via,
        dnssec,
        enforce,
    })
}

/// Sends `env` to the first of the plan's hosts that takes it. Each host gets the TLS it
/// requires: DANE's, else MTA-STS's, else opportunistic.
async fn try_hosts(
    config: &DeliveryConfig,
    domain: &str,
    plan: Plan,
    env: &Envelope<'_>,
) -> Result<(Vec<Reply>, String), Attempt> {
    let Plan {
        hosts,
        via,
        dnssec,
        enforce,
    } = plan;
    let mut client = Client {
        connect_timeout: config.connect_timeout,
        command_timeout: config.command_timeout,
        tls: config.tls.clone(),
        required: None,
        auth: match (via, &config.relay_auth) {
            (Via::Relay, Some((user, password))) => Some((user.as_str(), password.as_str())),
            _ => None,
        },
        pool: &config.connections,
    };
    let mut last = None;
    // A DANE failure is kept for the report even when a later host fails otherwise.
    let mut dane_failure: Option<String> = None;
    for (host, port) in hosts {
        // DANE needs a DNSSEC-secure route, so never applies to a configured route or relay.
        let dane = if dnssec {
            match dane::lookup(&config.dns, &host, domain).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!(%domain, %host, error = %e.0, "DANE: host skipped");
                    dane_failure = Some(e.0);
                    continue;
                }
            }
        } else {
            Dane::None
        };
        // RFC 8461 §2: DANE takes precedence over MTA-STS, which then only adds authentication
        // where the TLSA records offer none.
        client.required = match dane {
            Dane::Verify(records) => {
                tracing::debug!(%domain, %host, records = records.tlsa.len(), "DANE applies");
                Some(Required::Dane(records))
            }
            Dane::Encrypt if !enforce => {
                tracing::debug!(%domain, %host, "DANE: no usable TLSA record; TLS required");
                Some(Required::DaneEncrypt)
            }
            _ => enforce.then(|| Required::MtaSts(config.verified_tls.clone())),
        };
        let ips = match config.dns.ips(&host).await {
            Ok(ips) => ips,
            Err(e) => {
                last = Some(e.0);
                continue;
            }
        };
        for ip in ips {
            let addr = SocketAddr::new(ip, port);
            match client.send(addr, &host, env).await {
                Ok(replies) => return Ok((replies, host)),
                Err(Failure::Refused(r)) if r.is_permanent() => {
                    return Err(Attempt::Permanent(r));
                }
                Err(Failure::Refused(r)) => last = Some(format!("{host} ({ip}) said {}", r.line())),
                Err(Failure::Network(e)) => last = Some(format!("{host} ({ip}): {e}")),
                Err(Failure::Stale) => last = Some(format!("{host} ({ip}): connection closed")),
                Err(Failure::Required { by, why }) => {
                    let why = format!("{by}: {host} ({ip}): {why}");
                    tracing::info!(%domain, reason = %why, "required TLS failed; host skipped");
                    if by == "DANE" {
                        dane_failure = Some(why.clone());
                    }
                    last = Some(why);
                }
            }
        }
    }
    Err(Attempt::Temporary(match (dane_failure, last) {
        (Some(d), Some(l)) if d != l => format!("{d}; {l}"),
        (Some(d), _) => d,
        (None, Some(l)) => l,
        (None, None) => format!("no usable address for {domain}"),
    }))
}

/// How a domain's hosts were found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Route,
    Relay,
    Mx,
}

/// The hosts to try for `domain`: its static route, the relay, or the DNS's answer; and
/// whether that answer was DNSSEC-secure (so DANE may apply).
async fn hosts(
    config: &DeliveryConfig,
    domain: &str,
) -> Result<(Vec<(String, u16)>, Via, bool), Attempt> {
    let fixed = match config.routes.get(&domain.to_ascii_lowercase()) {
        Some(r) => Some((r, Via::Route)),
        None => config.relay.as_ref().map(|r| (r, Via::Relay)),
    };
    if let Some((target, via)) = fixed {
        return route::split_host_port(target)
            .map(|h| (vec![h], via, false))
            .ok_or_else(|| Attempt::Temporary(format!("bad route {target:?}")));
    }
    match config.dns.route(domain).await {
        Ok(Route::Hosts { hosts, dnssec }) => Ok((hosts, Via::Mx, dnssec)),
        Ok(Route::NullMx) => Err(Attempt::Permanent(Reply {
            code: 556,
            text: format!("5.1.10 {domain} does not accept mail (null MX)"),
        })),
        Ok(Route::NoSuchDomain) => Err(Attempt::Permanent(Reply {
            code: 550,
            text: format!("5.1.2 {domain} does not exist"),
        })),
        Err(e) => Err(Attempt::Temporary(e.0)),
    }
}

/// The message with DKIM-Signature fields for the sender's domain, when it is one of ours.
/// Each domain's parsed keys are kept for a minute (a rotation is seen within it).
async fn sign(
    core: &Core,
    config: &DeliveryConfig,
    message: &QueuedMessage,
    bytes: &[u8],
) -> Vec<u8> {
    // The envelope sender's domain; for the null sender (an auto-reply), the From: domain.
    let domain = match message.mail_from.rsplit_once('@') {
        Some((_, d)) => d.to_ascii_lowercase(),
        None => match from_domain(bytes) {
            Some(d) => d,
            None => return bytes.to_vec(),
        },
    };
    let cached = config
        .signers
        .lock()
        .expect("signer cache")
        .get(&domain)
        .filter(|(at, _)| at.elapsed() < SIGNER_TTL)
        .map(|(_, s)| s.clone());
    let signers = match cached {
        Some(s) => s,
        None => {
            let made = match core.dkim_keys(&domain).await {
                Ok(keys) => match crate::dkim::Signers::new(&domain, &keys) {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        tracing::warn!(error = %e, "DKIM keys unusable; sending unsigned");
                        None
                    }
                },
                // Not one of our domains: nothing to sign with.
                Err(_) => None,
            };
            let mut cache = config.signers.lock().expect("signer cache");
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(domain.clone(), (Instant::now(), made.clone()));
            made
        }
    };
    let Some(signers) = signers else {
        return bytes.to_vec();
    };
    match signers.sign(bytes) {
        Ok(mut out) => {
            out.extend_from_slice(bytes);
            out
        }
        Err(e) => {
            tracing::warn!(error = %e, "DKIM signing failed; sending unsigned");
            bytes.to_vec()
        }
    }
}

const SIGNER_TTL: Duration = Duration::from_secs(60);

/// The domain of the first address in the message's From: header field (unfolded simply:
/// our own auto-replies write it on one line).
fn from_domain(message: &[u8]) -> Option<String> {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let headers = std::str::from_utf8(&message[..end]).ok()?;
    let line = headers
        .split("\r\n")
        .find(|l| l.len() > 5 && l[..5].eq_ignore_ascii_case("from:"))?;
    let (_, after) = line.rsplit_once('@')?;
    let domain: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

/// Parsed signing keys by domain (`None`: the domain has none), and when they were read.
pub(crate) type SignerCache =
    std::sync::Mutex<HashMap<String, (Instant, Option<Arc<crate::dkim::Signers>>)>>;

enum Metric {
    Sent,
    Deferred,
    Bounced,
}

/// Process-wide counters of outcomes, for the metrics endpoint.
pub mod metrics {
    use std::sync::atomic::AtomicU64;
    pub static SENT: AtomicU64 = AtomicU64::new(0);
    pub static DEFERRED: AtomicU64 = AtomicU64::new(0);
    pub static BOUNCED: AtomicU64 = AtomicU64::new(0);
}

fn count(m: Metric) {
    use std::sync::atomic::Ordering::Relaxed;
    match m {
        Metric::Sent => metrics::SENT.fetch_add(1, Relaxed),
        Metric::Deferred => metrics::DEFERRED.fetch_add(1, Relaxed),
        Metric::Bounced => metrics::BOUNCED.fetch_add(1, Relaxed),
    };
}
