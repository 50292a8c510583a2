//! `mailroom bench imap`: the IMAP figures issue 6 names, measured against a running server
//! with a minimal client of its own (raw lines and literals, no parsing beyond what timing
//! needs), on the user's INBOX:
//!
//! - `login`: connect, LOGIN and SELECT INBOX, `--repeat` times; median and p99.
//! - `flags`: `UID FETCH 1:* (UID FLAGS)`; `headers`: `FETCH 1:* (ENVELOPE BODYSTRUCTURE)`;
//!   `bodies`: `FETCH 1:* (BODY.PEEK[])` (MB/s of literal data); `search`: `UID SEARCH FROM x` (the first, then the median of five).
//! - `append`: `--appends` messages APPENDed one at a time (each waits for its OK).
//! - `idle`: `--idlers` sessions SELECT INBOX and IDLE; the server's RSS (`--pid`) is read
//!   before and after; then one message is delivered over SMTP (`--smtp`) and the time until
//!   every session has seen EXISTS is reported.
//!
//! `--only` picks a comma-separated subset (`headers` alone is how the script times a first
//! run after a restart).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

#[derive(Args, Debug, Clone)]
pub struct ImapBench {
    /// The server's IMAP address (plain text: loopback counts as secure).
    #[arg(long, default_value = "127.0.0.1:1143")]
    pub addr: String,
    #[arg(long)]
    pub user: String,
    /// The password comes from MAILROOM_BENCH_PASSWORD.
    #[arg(long, default_value = "login,flags,headers,bodies,search,append,idle")]
    pub only: String,
    /// LOGIN+SELECT repetitions.
    #[arg(long, default_value_t = 200)]
    pub repeat: usize,
    /// What `UID SEARCH FROM` looks for.
    #[arg(long, default_value = "neil")]
    pub from: String,
    #[arg(long, default_value_t = 2_000)]
    pub appends: usize,
    #[arg(long, default_value_t = 5_000)]
    pub idlers: usize,
    /// The server's process id, for its memory (VmRSS) around the IDLE sessions.
    #[arg(long)]
    pub pid: Option<u32>,
    /// The server's SMTP address, for the delivery the IDLE sessions wait for.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub smtp: String,
}

struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    n: u64,
    line: Vec<u8>,
}

/// What a command's response held.
#[derive(Default)]
struct Answer {
    lines: u64,
    literal_bytes: u64,
    /// The untagged lines, when kept.
    kept: Vec<String>,
}

impl Client {
    async fn connect(addr: &str) -> Result<Client> {
        let s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        let mut c = Client {
            r: BufReader::with_capacity(256 * 1024, r),
            w,
            n: 0,
            line: Vec::new(),
        };
        c.read_line().await?;
        if !c.line.starts_with(b"* OK") {
            bail!("greeting: {}", String::from_utf8_lossy(&c.line));
        }
        Ok(c)
    }

    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        if self.r.read_until(b'\n', &mut self.line).await? == 0 {
            bail!("connection closed");
        }
        Ok(())
    }

    /// Sends a command (with an optional LITERAL+ payload) and reads up to its tagged reply.
    async fn cmd(&mut self, text: &str, literal: Option<&[u8]>, keep: bool) -> Result<Answer> {
        self.n += 1;
        let tag = format!("b{}", self.n);
        let mut out = format!("{tag} {text}").into_bytes();
        if let Some(l) = literal {
            out.extend_from_slice(format!(" {{{}+}}\r\n", l.len()).as_bytes());
            out.extend_from_slice(l);
        }
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out).await?;
        self.answer(&tag, keep).await
    }

    async fn answer(&mut self, tag: &str, keep: bool) -> Result<Answer> {
        let mut a = Answer::default();
        loop {
            self.read_line().await?;
            a.lines += 1;
            // A literal: `{n}` ends the line; its bytes follow, then the line goes on.
            while let Some(n) = literal_len(&self.line) {
                let mut left = n;
                let mut buf = vec![0u8; 64 * 1024];
                while left > 0 {
                    let k = self.r.read(&mut buf[..left.min(64 * 1024)]).await?;
                    if k == 0 {
                        bail!("connection closed in a literal");
                    }
                    left -= k;
                }
                a.literal_bytes += n as u64;
                self.read_line().await?;
            }
            if self.line.starts_with(tag.as_bytes()) {
                let rest = &self.line[tag.len()..];
                if !rest.starts_with(b" OK") {
                    bail!("{tag}: {}", String::from_utf8_lossy(&self.line).trim_end());
                }
                return Ok(a);
            }
            if keep {
                a.kept
                    .push(String::from_utf8_lossy(&self.line).into_owned());
            }
        }
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"}\r\n")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn logged_in(b: &ImapBench, password: &str) -> Result<Client> {
    let mut c = Client::connect(&b.addr).await?;
    c.cmd(&format!("LOGIN \"{}\" \"{password}\"", b.user), None, false)
        .await?;
    Ok(c)
}

pub async fn run(b: ImapBench) -> Result<()> {
    let password = std::env::var("MAILROOM_BENCH_PASSWORD")
        .context("set MAILROOM_BENCH_PASSWORD to the user's password")?;
    let only: Vec<&str> = b.only.split(',').map(str::trim).collect();
    let want = |x: &str| only.contains(&x);

    if want("login") {
        let mut times = Vec::with_capacity(b.repeat);
        for _ in 0..b.repeat {
            let t = Instant::now();
            let mut c = logged_in(&b, &password).await?;
            c.cmd("SELECT INBOX", None, false).await?;
            times.push(t.elapsed());
            c.cmd("LOGOUT", None, false).await.ok();
        }
        times.sort();
        println!(
            "LOGIN+SELECT (connect included): median {:.2} ms, p99 {:.2} ms over {}",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 99 / 100]),
            times.len()
        );
    }

    let mut c = logged_in(&b, &password).await?;
    let t = Instant::now();
    let sel = c.cmd("SELECT INBOX", None, true).await?;
    let exists = sel
        .kept
        .iter()
        .find_map(|l| {
            l.strip_suffix(" EXISTS\r\n")?
                .strip_prefix("* ")?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0);
    println!(
        "INBOX: {exists} messages (SELECT {:.1} ms)",
        ms(t.elapsed())
    );

    if want("flags") {
        let t = Instant::now();
        let a = c.cmd("UID FETCH 1:* (UID FLAGS)", None, false).await?;
        println!(
            "UID FETCH 1:* (UID FLAGS): {:.1} ms ({} lines)",
            ms(t.elapsed()),
            a.lines
        );
    }
    if want("headers") {
        let t = Instant::now();
        let a = c
            .cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)", None, false)
            .await?;
        println!(
            "FETCH 1:* (ENVELOPE BODYSTRUCTURE): {:.3} s ({} lines)",
            t.elapsed().as_secs_f64(),
            a.lines
        );
    }
    if want("bodies") {
        let t = Instant::now();
        let a = c.cmd("FETCH 1:* (BODY.PEEK[])", None, false).await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "FETCH 1:* (BODY.PEEK[]): {:.1} MB in {secs:.2} s = {:.0} MB/s",
            a.literal_bytes as f64 / 1e6,
            a.literal_bytes as f64 / 1e6 / secs
        );
    }
    if want("search") {
        // The first search after a change also builds the mailbox's email-id index (shared
        // by later searches); then the median of five.
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..6 {
            let t = Instant::now();
            let a = c
                .cmd(&format!("UID SEARCH FROM \"{}\"", b.from), None, true)
                .await?;
            times.push(ms(t.elapsed()));
            hits = a
                .kept
                .iter()
                .find(|l| l.starts_with("* SEARCH"))
                .map(|l| l.split_whitespace().count().saturating_sub(2))
                .unwrap_or(0);
        }
        let first = times.remove(0);
        times.sort_by(f64::total_cmp);
        println!(
            "UID SEARCH FROM {:?}: {:.1} ms median of 5 ({hits} hits; the first {first:.1} ms)",
            b.from, times[2]
        );
    }
    if want("append") {
        let mut msg = Vec::with_capacity(4096);
        let t = Instant::now();
        for i in 0..b.appends {
            msg.clear();
            msg.extend_from_slice(
                format!(
                    "From: bench@example.test\r\nTo: {}\r\nSubject: appended {i}\r\nMessage-ID: <append-{i}-{}@bench.test>\r\n\r\n",
                    b.user,
                    t.elapsed().as_nanos()
                )
                .as_bytes(),
            );
            crate::bench::fill(&mut msg, 4096);
            c.cmd("APPEND Drafts", Some(&msg), false).await?;
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "APPEND one at a time, 4 KB: {} in {secs:.2} s = {:.0} msg/s",
            b.appends,
            b.appends as f64 / secs
        );
    }
    c.cmd("LOGOUT", None, false).await.ok();

    if want("idle") {
        idle(&b, &password).await?;
    }
    Ok(())
}

async fn idle(b: &ImapBench, password: &str) -> Result<()> {
    let before = b.pid.and_then(rss_kib);
    let mut half = None;
    let mut sessions = Vec::with_capacity(b.idlers);
    let t = Instant::now();
    // Opened a few hundred at a time, as clients reconnecting after a restart would.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..b.idlers {
        let (bc, password) = (b.clone(), password.to_string());
        set.spawn(async move {
            let mut c = logged_in(&bc, &password).await?;
            c.cmd("SELECT INBOX", None, false).await?;
            c.n += 1;
            c.w.write_all(format!("b{} IDLE\r\n", c.n).as_bytes())
                .await?;
            c.read_line().await?;
            if !c.line.starts_with(b"+") {
                bail!("IDLE: {}", String::from_utf8_lossy(&c.line));
            }
            Ok::<_, anyhow::Error>(c)
        });
        if set.len() >= 200 || i + 1 == b.idlers {
            while let Some(r) = set.join_next().await {
                sessions.push(r??);
            }
            if half.is_none() && sessions.len() >= b.idlers / 2 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                half = b.pid.and_then(rss_kib).map(|r| (r, sessions.len()));
            }
        }
    }
    println!(
        "{} sessions idling (opened in {:.1} s)",
        sessions.len(),
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = b.pid.and_then(rss_kib);
    if let (Some(a), Some(z), Some((h, hn))) = (before, after, half) {
        // The second half's growth: memory the allocator kept from earlier work (a
        // password hash, the mailbox snapshot) does not flatter the figure.
        println!(
            "server RSS {a} KiB -> {h} KiB ({hn} sessions) -> {z} KiB ({}): {:.1} KiB per IDLE connection ({:.1} over all)",
            sessions.len(),
            (z.saturating_sub(h)) as f64 / (sessions.len() - hn).max(1) as f64,
            (z.saturating_sub(a)) as f64 / sessions.len() as f64
        );
    }
    let mut waiters = tokio::task::JoinSet::new();
    for mut c in sessions {
        waiters.spawn(async move {
            loop {
                c.read_line().await?;
                if c.line.ends_with(b" EXISTS\r\n") {
                    return Ok::<_, anyhow::Error>((Instant::now(), c));
                }
            }
        });
    }
    let start = Instant::now();
    deliver(&b.smtp, &b.user).await?;
    let mut last = start;
    let mut n = 0;
    let mut keep = Vec::new();
    while let Some(r) = waiters.join_next().await {
        let (at, c) = r??;
        last = last.max(at);
        n += 1;
        keep.push(c);
    }
    println!(
        "one SMTP delivery: all {n} IDLE sessions saw EXISTS within {:.0} ms",
        ms(last - start)
    );
    Ok(())
}

async fn deliver(addr: &str, to: &str) -> Result<()> {
    let s = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await?;
    w.write_all(
        format!("EHLO bench.test\r\nMAIL FROM:<bench@bench.test>\r\nRCPT TO:<{to}>\r\nDATA\r\n")
            .as_bytes(),
    )
    .await?;
    loop {
        line.clear();
        r.read_line(&mut line).await?;
        if line.starts_with("354") {
            break;
        }
        if line.starts_with('4') || line.starts_with('5') {
            bail!("SMTP: {line}");
        }
    }
    w.write_all(b"From: bench@bench.test\r\nSubject: wake up\r\n\r\nnew mail\r\n.\r\nQUIT\r\n")
        .await?;
    line.clear();
    r.read_line(&mut line).await?;
    if !line.starts_with("250") {
        bail!("SMTP: {line}");
    }
    Ok(())
}
