//! `mailroom bench submission`: submission-to-peer throughput.
//!
//! Runs a minimal SMTP sink on `--sink` (the server's configuration must route the
//! recipient's domain there with `[delivery.routes]`), then submits `--count` messages of
//! `--size` bytes over implicit TLS (`--addr`, the `[listen] submissions` address) with
//! `--concurrency` authenticated sessions, each sending its messages one after another as a
//! mail client does. Reports submissions per second, and messages per second from the first
//! submission to the last message received by the sink: queueing, DKIM signing and the
//! outbound connection included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufStream};

use crate::bench::expect;
use tokio::net::{TcpListener, TcpStream};

#[derive(Args, Debug, Clone)]
pub struct SubmissionBench {
    /// The server's submissions (implicit TLS) address.
    #[arg(long, default_value = "127.0.0.1:5465")]
    pub addr: String,
    /// The sending user; the password comes from MAILROOM_BENCH_PASSWORD.
    #[arg(long)]
    pub user: String,
    /// A recipient on a domain routed to `--sink`.
    #[arg(long, default_value = "sink@sink.test")]
    pub to: String,
    /// Where the sink listens.
    #[arg(long, default_value = "127.0.0.1:12999")]
    pub sink: String,
    #[arg(long, short = 'n', default_value_t = 5_000)]
    pub count: u64,
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    #[arg(long, short = 'c', default_value_t = 10)]
    pub concurrency: u64,
    /// Make the sink refuse every recipient with this 4xx reply (e.g. "451 4.7.1 later") and,
    /// instead of waiting for deliveries, watch the queue retry for `--observe` seconds.
    #[arg(long)]
    pub sink_refuse: Option<String>,
    #[arg(long, default_value_t = 60)]
    pub observe: u64,
    /// The server's process id, to report its memory (VmRSS) while observing.
    #[arg(long)]
    pub pid: Option<u32>,
}

pub async fn run(b: SubmissionBench) -> Result<()> {
    let password = std::env::var("MAILROOM_BENCH_PASSWORD")
        .context("set MAILROOM_BENCH_PASSWORD to the user's password")?;
    let received = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let refuse: Option<Arc<str>> = b.sink_refuse.as_deref().map(|r| format!("{r}\r\n").into());
    let listener = TcpListener::bind(&b.sink)
        .await
        .with_context(|| format!("sink: cannot listen on {}", b.sink))?;
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(0u64);
    let (sink_count, sink_refused, sink_refuse) =
        (received.clone(), refused.clone(), refuse.clone());
    tokio::spawn(async move {
        while let Ok((c, _)) = listener.accept().await {
            let (count, done) = (sink_count.clone(), done_tx.clone());
            let (refused, refuse) = (sink_refused.clone(), sink_refuse.clone());
            tokio::spawn(async move {
                let _ = sink(c, &count, &done, refuse.as_deref(), &refused).await;
            });
        }
    });

    let tls = mailroom_smtp::outbound::opportunistic_tls();
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..b.concurrency.max(1) {
        let (b, next, tls, password) = (b.clone(), next.clone(), tls.clone(), password.clone());
        clients.spawn(async move { client(&b, &password, tls, &next).await });
    }
    let mut lat = Vec::new();
    while let Some(r) = clients.join_next().await {
        lat.extend(r??);
    }
    let submitted = start.elapsed();
    let sent = lat.len() as u64;
    if refuse.is_some() {
        println!(
            "submission: {sent} messages in {:.2} s ({:.0} msgs/s), every recipient refused by the sink",
            submitted.as_secs_f64(),
            sent as f64 / submitted.as_secs_f64()
        );
        let mut last = refused.load(Ordering::Relaxed);
        for i in 0..b.observe.div_ceil(5) {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let now = refused.load(Ordering::Relaxed);
            let rss = b
                .pid
                .and_then(rss_kib)
                .map(|k| format!(", server RSS {} MiB", k / 1024))
                .unwrap_or_default();
            println!(
                "t+{:>3} s: {now} delivery attempts refused so far (+{} in 5 s){rss}",
                (i + 1) * 5,
                now - last
            );
            last = now;
        }
        return Ok(());
    }
    // Wait for the sink to have them all (or stop making progress).
    loop {
        let now = *done_rx.borrow();
        if now >= sent {
            break;
        }
        if tokio::time::timeout(Duration::from_secs(30), done_rx.changed())
            .await
            .is_err()
        {
            bail!("the sink received {now} of {sent} messages and then nothing for 30 s");
        }
    }
    let delivered = start.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    println!(
        "submission: {sent} messages of {} bytes, concurrency {}, submitted in {:.2} s ({:.0} msgs/s; p50 {:.1} ms, p99 {:.1} ms)",
        b.size,
        b.concurrency,
        submitted.as_secs_f64(),
        sent as f64 / submitted.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    println!(
        "submission to peer: all {sent} received by the sink in {:.2} s: {:.0} msgs/s",
        delivered.as_secs_f64(),
        sent as f64 / delivered.as_secs_f64()
    );
    Ok(())
}

/// One authenticated session sending messages until the count is reached.
async fn client(
    b: &SubmissionBench,
    password: &str,
    tls: Arc<rustls::ClientConfig>,
    next: &AtomicU64,
) -> Result<Vec<Duration>> {
    let tcp = TcpStream::connect(&b.addr)
        .await
        .with_context(|| format!("connecting to {}", b.addr))?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("bench.invalid")?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let mut s = BufStream::new(stream);
    expect(&mut s, "220").await?;
    send(&mut s, b"EHLO bench.test\r\n").await?;
    expect(&mut s, "250").await?;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{password}", b.user));
    send(&mut s, format!("AUTH PLAIN {plain}\r\n").as_bytes()).await?;
    expect(&mut s, "235").await?;
    let mut lat = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= b.count {
            break;
        }
        let t = Instant::now();
        let cmds = format!("MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n", b.user, b.to);
        send(&mut s, cmds.as_bytes()).await?;
        expect(&mut s, "250").await?;
        expect(&mut s, "250").await?;
        expect(&mut s, "354").await?;
        let mut msg = message(b, i);
        msg.extend_from_slice(b".\r\n");
        send(&mut s, &msg).await?;
        expect(&mut s, "250").await?;
        lat.push(t.elapsed());
    }
    send(&mut s, b"QUIT\r\n").await?;
    Ok(lat)
}

fn message(b: &SubmissionBench, i: u64) -> Vec<u8> {
    let mut m = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: submission bench {i}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n",
        b.user, b.to
    )
    .into_bytes();
    crate::bench::fill(&mut m, b.size);
    m
}

/// The server's resident memory, from /proc.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The sink: accepts everything (or refuses every RCPT with `refuse`), counts each message at
/// its end of data.
async fn sink(
    c: TcpStream,
    count: &AtomicU64,
    done: &tokio::sync::watch::Sender<u64>,
    refuse: Option<&str>,
    refused: &AtomicU64,
) -> Result<()> {
    c.set_nodelay(true)?;
    let mut s = BufStream::new(c);
    send(&mut s, b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    let mut in_data = false;
    loop {
        line.clear();
        if s.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == b".\r\n" {
                in_data = false;
                let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                done.send_replace(n);
                send(&mut s, b"250 2.0.0 ok\r\n").await?;
            }
            continue;
        }
        let verb = line
            .get(..4)
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        let reply: &[u8] = match &verb[..] {
            b"EHLO" => b"250-sink\r\n250 PIPELINING\r\n",
            b"RCPT" if refuse.is_some() => {
                refused.fetch_add(1, Ordering::Relaxed);
                refuse.unwrap_or_default().as_bytes()
            }
            b"DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            b"QUIT" => {
                send(&mut s, b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 ok\r\n",
        };
        send(&mut s, reply).await?;
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufStream<S>, b: &[u8]) -> Result<()> {
    s.write_all(b).await?;
    s.flush().await?;
    Ok(())
}
