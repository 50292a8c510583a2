//! `mailroom bench smtp`: inbound-MX-like load on a running server.
//!
//! Sends `--count` messages of `--size` bytes with `--concurrency` clients, one SMTP session
//! per message (connect, EHLO, pipelined MAIL/RCPT/DATA, message, QUIT), and reports accepted
//! messages per second and p50/p99 latency of the whole transaction (connect to the 250 after
//! the message). With `--config`, it then opens the server's storage and checks that the
//! recipient's INBOX grew by exactly the number of 250s: nothing accepted was lost, and all of
//! it is readable at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Deliver messages over SMTP and report throughput and latency.
    Smtp(SmtpBench),
    /// Submit messages (TLS, AUTH) for a remote peer and report submission-to-peer throughput.
    Submission(crate::bench_submit::SubmissionBench),
    /// IMAP latencies and rates on a large INBOX, APPEND, and thousands of IDLE sessions.
    Imap(crate::bench_imap::ImapBench),
}

#[derive(Args, Debug, Clone)]
pub struct SmtpBench {
    /// The server's SMTP address.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub addr: String,
    /// Recipient (a local user).
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "bench@bench.test")]
    pub from: String,
    /// Messages to send.
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub count: u64,
    /// Size of each message in bytes (headers included).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Concurrent SMTP sessions.
    #[arg(long, short = 'c', default_value_t = 50)]
    pub concurrency: u64,
}

pub async fn run(cmd: BenchCmd, config: Option<&Path>) -> Result<()> {
    let b = match cmd {
        BenchCmd::Smtp(b) => b,
        BenchCmd::Submission(b) => return crate::bench_submit::run(b).await,
        BenchCmd::Imap(b) => return crate::bench_imap::run(b).await,
    };
    let verify = match config {
        Some(_) => {
            let cfg = crate::config::Config::load(config)?;
            let core = crate::admin::open(&cfg).await?;
            let acc = core.user_get(&b.to).await?;
            let inbox = core.mailbox_find(acc.id, "INBOX").await?;
            let before = core.mailbox_count(acc.id, inbox.id).await?;
            Some((core, acc.id, inbox.id, before))
        }
        None => None,
    };
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let run_id = chrono::Utc::now().timestamp_millis();
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..b.concurrency.max(1) {
        let (b, next, failed) = (b.clone(), next.clone(), failed.clone());
        workers.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= b.count {
                    break;
                }
                let msg = message(&b, run_id, i);
                let t = Instant::now();
                match one(&b, &msg).await {
                    Ok(session) => {
                        lat.push(t.elapsed());
                        let _ = quit(session).await;
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("message {i} failed: {e:#}");
                        }
                    }
                }
            }
            lat
        });
    }
    let mut lat: Vec<Duration> = Vec::new();
    while let Some(r) = workers.join_next().await {
        lat.extend(r?);
    }
    let elapsed = start.elapsed();
    lat.sort();
    let ok = lat.len() as u64;
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "smtp: {ok} accepted, {} failed, {} bytes each, concurrency {}, in {:.2} s",
        failed.load(Ordering::Relaxed),
        b.size,
        b.concurrency,
        elapsed.as_secs_f64()
    );
    println!(
        "throughput: {:.0} msgs/s",
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency: p50 {:.1} ms, p99 {:.1} ms",
        ms(pct(0.50)),
        ms(pct(0.99))
    );
    if let Some((core, account, inbox, before)) = verify {
        let after = core.mailbox_count(account, inbox).await?;
        let stored = after - before;
        println!(
            "stored: {stored} new message(s) in {}'s INBOX (accepted {ok})",
            b.to
        );
        if stored != ok {
            bail!("lost mail: {ok} accepted but {stored} stored");
        }
    } else {
        println!("stored: not checked (pass --config with the server's configuration to check)");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A unique message of exactly `b.size` bytes (or its headers, if larger).
fn message(b: &SmtpBench, run: i64, i: u64) -> Vec<u8> {
    let mut m = format!(
        "From: Bench <{}>\r\nTo: <{}>\r\nSubject: bench message {i}\r\nMessage-ID: <{run}.{i}@bench.test>\r\n\
         Date: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        b.from,
        b.to,
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes();
    fill(&mut m, b.size);
    m
}

/// Pads the message `m` (its headers written) with body lines to `size` bytes, ending in CRLF.
pub(crate) fn fill(m: &mut Vec<u8>, size: usize) {
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    while m.len() + 2 < size {
        m.push(b'x');
    }
    m.extend_from_slice(b"\r\n");
}

type Session = (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
);

/// One transaction, from connect to the 250 after the message.
async fn one(b: &SmtpBench, msg: &[u8]) -> Result<Session> {
    let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(&b.addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    expect(&mut r, "220").await?;
    w.write_all(b"EHLO bench.test\r\n").await?;
    expect(&mut r, "250").await?;
    let cmds = format!("MAIL FROM:<{}>\r\nRCPT TO:<{}>\r\nDATA\r\n", b.from, b.to);
    w.write_all(cmds.as_bytes()).await?;
    expect(&mut r, "250").await?;
    expect(&mut r, "250").await?;
    expect(&mut r, "354").await?;
    w.write_all(msg).await?;
    w.write_all(b".\r\n").await?;
    expect(&mut r, "250").await?;
    Ok((r, w))
}

/// QUIT, waiting for the 221 as a real MTA does, so sessions do not pile up.
async fn quit(mut s: Session) -> Result<()> {
    s.1.write_all(b"QUIT\r\n").await?;
    expect(&mut s.0, "221").await
}

/// Reads one (possibly multi-line) reply and checks its code.
pub(crate) async fn expect<R: AsyncBufRead + Unpin>(r: &mut R, code: &str) -> Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(60), r.read_line(&mut line))
            .await
            .context("reply timed out")??;
        if n == 0 {
            bail!("connection closed waiting for {code}");
        }
        if line.len() < 4 || !line.starts_with(code) {
            bail!("expected {code}, got {:?}", line.trim_end());
        }
        if line.as_bytes()[3] == b' ' {
            return Ok(());
        }
    }
}
