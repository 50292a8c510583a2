//! `TestServer`: the real binary with a fresh data directory (and database), stopped on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mailroom_core::{Core, CoreConfig};
use sea_orm::{ConnectionTrait, Database};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailroom");
pub const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A Postgres server URL; each test creates and drops its own database on it.
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        std::env::var("MAILROOM_TEST_POSTGRES_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Backend::Postgres)
    }
}

/// A database of one test's own on the Postgres server, dropped afterwards.
struct PgDb {
    admin_url: String,
    name: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; use a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(db) = Database::connect(&url).await {
                    let _ = db
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            })
        })
        .join();
    }
}

pub struct TestServer {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub smtp: SocketAddr,
    pub http: SocketAddr,
    /// Submission with STARTTLS, and with implicit TLS.
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
    /// HTTP over implicit TLS.
    pub https: SocketAddr,
    /// IMAP with STARTTLS, and with implicit TLS.
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    pub db_url: String,
    /// Extra environment for the server process.
    pub env: Vec<(String, String)>,
    _pg: Option<PgDb>,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl TestServer {
    pub async fn start(b: Backend) -> TestServer {
        TestServer::start_with(b, "").await
    }

    /// Starts with `extra` appended to the configuration file (e.g. an `[smtp]` section).
    pub async fn start_with(b: Backend, extra: &str) -> TestServer {
        let mut s = TestServer::prepare(b, extra).await;
        s.spawn();
        s
    }

    /// A data directory, database and configuration file, without starting the server.
    pub async fn prepare(b: Backend, extra: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg) = match b {
            Backend::Sqlite => (
                format!("sqlite://{}/mail.db?mode=rwc", dir.path().display()),
                None,
            ),
            Backend::Postgres(url) => {
                let name = format!(
                    "mailroom_t{}_{}_{}",
                    std::process::id(),
                    NEXT_DB.fetch_add(1, Ordering::Relaxed),
                    chrono::Utc::now().timestamp_micros() % 1_000_000
                );
                let admin = Database::connect(&url)
                    .await
                    .expect("connect to MAILROOM_TEST_POSTGRES_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
                (
                    format!("{base}/{name}"),
                    Some(PgDb {
                        admin_url: url.clone(),
                        name,
                    }),
                )
            }
        };
        let config_path = dir.path().join("mailroom.toml");
        // Mail for other domains goes to a closed port unless the test routes it: tests never
        // reach the system's DNS or the internet.
        let delivery = if extra.contains("[delivery") {
            ""
        } else {
            "[delivery]\nrelay = \"127.0.0.1:9\"\n"
        };
        let mut f = std::fs::File::create(&config_path).unwrap();
        write!(
            f,
            "hostname = \"mx.test\"\ndata_dir = \"{dir}\"\n\n[database]\nurl = \"{db_url}\"\n\n[listen]\nsmtp = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\nhttps = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n\n{delivery}\n{extra}\n",
            dir = dir.path().display()
        )
        .unwrap();
        drop(f);
        TestServer {
            child: None,
            dir,
            config_path,
            smtp: "0.0.0.0:0".parse().unwrap(),
            http: "0.0.0.0:0".parse().unwrap(),
            submission: "0.0.0.0:0".parse().unwrap(),
            submissions: "0.0.0.0:0".parse().unwrap(),
            https: "0.0.0.0:0".parse().unwrap(),
            imap: "0.0.0.0:0".parse().unwrap(),
            imaps: "0.0.0.0:0".parse().unwrap(),
            db_url,
            env: Vec::new(),
            _pg: pg,
        }
    }

    /// Starts (again) the server process on the same storage. A restart binds new ports.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env("MAILROOM_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start mailroom");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let (mut smtp, mut http) = (None, None);
            let (mut sub, mut subs, mut https) = (None, None, None);
            let (mut imap, mut imaps) = (None, None);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("submission listening on ") {
                    sub = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("https listening on ") {
                    https = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("submissions listening on ") {
                    subs = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("imap listening on ") {
                    imap = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("imaps listening on ") {
                    imaps = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("smtp listening on ") {
                    smtp = a.parse::<SocketAddr>().ok();
                }
                if let Some(a) = line.strip_prefix("http listening on ") {
                    http = a.parse::<SocketAddr>().ok();
                }
                if let (Some(s), Some(h)) = (smtp, http)
                    && let Some(tx) = tx.take()
                {
                    let none: SocketAddr = "0.0.0.0:0".parse().unwrap();
                    let _ = tx.send((
                        s,
                        h,
                        sub.unwrap_or(none),
                        subs.unwrap_or(none),
                        https.unwrap_or(none),
                        imap.unwrap_or(none),
                        imaps.unwrap_or(none),
                    ));
                }
            }
        });
        (
            self.smtp,
            self.http,
            self.submission,
            self.submissions,
            self.https,
            self.imap,
            self.imaps,
        ) = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start; log:\n{}", self.log()));
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flushing; what was acknowledged must survive.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let mut c = self.child.take().expect("server running");
        unsafe_term(&c);
        c.wait().map(|s| s.success()).unwrap_or(false)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs `mailroom --config … ARGS` to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, "")
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut c = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    }

    /// Like [`cli`](Self::cli) but fails the test unless the command succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli_stdin(args, &format!("{PASSWORD}\n"));
        assert!(
            out.status.success(),
            "mailroom {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Domain example.test with users alice and bob, alias team → alice and bob, and
    /// catch-all for other.test → bob.
    pub fn setup_accounts(&self) {
        self.ok(&["domain", "add", "example.test"]);
        self.ok(&["domain", "add", "other.test"]);
        self.ok(&["user", "add", "alice@example.test", "--password-stdin"]);
        self.ok(&["user", "add", "bob@example.test", "--password-stdin"]);
        self.ok(&["alias", "add", "team@example.test", "alice@example.test"]);
        self.ok(&["alias", "add", "team@example.test", "bob@example.test"]);
        self.ok(&["alias", "add", "@other.test", "bob@example.test"]);
    }

    /// The service layer on the same storage, to check what the server stored.
    pub async fn core(&self) -> Core {
        Core::open(&CoreConfig {
            database_url: self.db_url.clone(),
            blobs: mailroom_core::BlobConfig::Local {
                sync: mailroom_core::BlobSync::File,
                root: self.dir.path().join("blobs"),
            },
            max_messages_per_hour: 0,
            remote_delivery: false,
        })
        .await
        .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first, so the clean shutdown path runs too.
            unsafe_term(&c);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unsafe_term(c: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(c.id().to_string())
        .status();
}

/// The raw messages of a user's mailbox, in UID order.
pub async fn mailbox_messages(core: &Core, address: &str, mailbox: &str) -> Vec<(u32, Vec<u8>)> {
    let acc = core.user_get(address).await.unwrap();
    let mb = core.mailbox_find(acc.id, mailbox).await.unwrap();
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = core
            .mailbox_messages(acc.id, mb.id, after, 1000)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = last.uid;
        out.extend(page.into_iter().map(|(e, raw)| (e.uid, raw.to_vec())));
    }
    out
}

/// The message as the sender sent it: the stored bytes without the trace fields mailroom
/// prepends (Return-Path, then a Received field with its folded lines).
pub fn strip_trace(stored: &[u8]) -> &[u8] {
    assert!(
        stored.starts_with(b"Return-Path: <"),
        "no Return-Path first"
    );
    let rest = &stored[stored.iter().position(|&b| b == b'\n').unwrap() + 1..];
    assert!(rest.starts_with(b"Received: from "), "no Received second");
    // Ours ends with "…;\r\n\t<date>\r\n"; a message may itself start with a folded line.
    let semi = rest
        .windows(4)
        .position(|w| w == b";\r\n\t")
        .expect("Received ends with ;")
        + 4;
    let end = semi + rest[semi..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    &rest[end..]
}

/// A minimal SMTP conversation over a raw socket, for transcripts of edge cases.
pub struct Raw {
    r: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (r, w) = s.into_split();
        let mut raw = Raw {
            r: tokio::io::BufReader::new(r),
            w,
        };
        let greeting = raw.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        raw
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(bytes.as_ref()).await.unwrap();
    }

    /// One whole reply (all lines of a multi-line one), or "" if the server closed.
    pub async fn reply(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.r.read_line(&mut line))
                .await
                .expect("reply timed out")
                .unwrap_or(0); // a reset is a close too
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    /// MAIL FROM, RCPT TO (one recipient) and DATA, each expected to succeed; the message
    /// bytes come next.
    pub async fn start_data(&mut self, from: &str, to: &str) {
        expect(&self.cmd(&format!("MAIL FROM:<{from}>")).await, "250");
        expect(&self.cmd(&format!("RCPT TO:<{to}>")).await, "250");
        expect(&self.cmd("DATA").await, "354");
    }

    /// Sends a command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n")).await;
        self.reply().await
    }
}

/// Delivers a small message over SMTP (raw, pipelined), asserting the 250.
pub async fn deliver(addr: SocketAddr, to: &str, subject: &str) {
    let mut raw = Raw::connect(addr).await;
    raw.send(format!(
        "EHLO t.test\r\nMAIL FROM:<carol@remote.test>\r\nRCPT TO:<{to}>\r\nDATA\r\n"
    ))
    .await;
    for code in ["250", "250", "250", "354"] {
        expect(&raw.reply().await, code);
    }
    raw.send(format!(
        "From: Carol <carol@remote.test>\r\nSubject: {subject}\r\n\r\nAbout {subject}.\r\n.\r\n"
    ))
    .await;
    expect(&raw.reply().await, "250");
}

/// Whether a program is on PATH; tests that need one skip with a notice without it.
/// A port nothing listened on a moment ago (the caller's server may still find it taken:
/// start it again on another if it cannot bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn have(program: &str) -> bool {
    let ok = Command::new(program).arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: {program} is not installed");
    }
    ok
}

/// Asserts that `reply` starts with `code` (e.g. "250 2.1.5").
#[track_caller]
pub fn expect(reply: &str, code: &str) {
    assert!(reply.starts_with(code), "expected {code}, got {reply:?}");
}
