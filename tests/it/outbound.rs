//! The outbound queue end to end, against a real SMTP peer on loopback (Python's aiosmtpd)
//! reached through `[delivery.routes]`: a message submitted with smtplib arrives intact and
//! DKIM-signed (verified by dkimpy from the records `mailroom dns` prints); a recipient the
//! peer answers 4xx gets it on a retry; one answered 5xx yields an RFC 3464 report in the
//! sender's INBOX; a peer that never answers holds back nobody else and stays queued,
//! visible and removable with `mailroom queue`; JMAP-visible delivery status follows.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, free_port, mailbox_messages};

const SINK: &str = r#"
import asyncio, os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
outdir, port, opts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pipelining = "pipelining" in opts
def login(server, session, envelope, mechanism, data):
    return AuthResult(success=(data.login, data.password) == (b"relayuser", b"relay secret"), handled=False)
seen = {}
class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if pipelining:
            # aiosmtpd reads pipelined commands in order; it just does not say so.
            responses.insert(-1, "250-PIPELINING")
        return responses
    async def handle_QUIT(self, server, session, envelope):
        open(os.path.join(outdir, f"quit.{session.peer[1]}"), "w").close()
        return "221 Bye"
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("perm"):
            return "550 5.1.1 no such user here"
        if local.startswith("temp"):
            seen[address] = seen.get(address, 0) + 1
            if seen[address] == 1:
                return "451 4.3.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"
    async def handle_DATA(self, server, session, envelope):
        for r in envelope.rcpt_tos:
            tmp = os.path.join(outdir, ".tmp")
            with open(tmp, "wb") as f:
                # aiosmtpd gives the null sender as "<>".
                f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
                # The client's port tells its connections apart.
                f.write(b"X-Peer-Port: " + str(session.peer[1]).encode() + b"\r\n")
                f.write(envelope.original_content)
            os.rename(tmp, os.path.join(outdir, f"{r}.{len(os.listdir(outdir))}.eml"))
        return "250 2.0.0 stored"
auth = {"authenticator": login, "auth_required": True, "auth_require_tls": False} if "auth" in opts else {}
c = Controller(Handler(), hostname="127.0.0.1", port=port, **auth)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

const SEND: &str = r#"
import smtplib, ssl, sys
port, cert, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=ctx)
s.login("alice@example.test", password)
refused = s.sendmail("alice@example.test",
    ["ok@sink.test", "temp@sink.test", "perm@sink.test", "stuck@blackhole.test", "bob@example.test"],
    b"From: Alice <alice@example.test>\r\nTo: ok@sink.test\r\nBcc: perm@sink.test\r\n"
    b"Subject: outbound\r\n\r\nthe body\r\n.leading dot stays\r\n")
assert refused == {}, refused
s.quit()
print("ok")
"#;

/// True (and says so) when a Python module the test needs is not installed.
fn missing(modules: &str) -> bool {
    let import = format!(
        "import {}",
        modules.split(' ').collect::<Vec<_>>().join(", ")
    );
    let ok = Command::new("python3")
        .args(["-c", &import])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!(
            "skipped: python3 modules {modules} are not installed (pip install aiosmtpd dkimpy pynacl)"
        );
    }
    !ok
}

/// The messages the sink stored whose names start with `prefix` (the recipient).
fn sink_files(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".eml"))
        .collect()
}

/// Waits (20 s at most) for the sink to store a message for `prefix`; its path.
async fn wait_for_file(s: &TestServer, dir: &Path, prefix: &str) -> std::path::PathBuf {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(f) = sink_files(dir, prefix).pop() {
            return dir.join(f);
        }
        assert!(
            Instant::now() < deadline,
            "nothing for {prefix}:\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Both DKIM signatures of the stored message `file` verify with dkimpy against the records
/// `mailroom dns example.test` prints.
fn assert_dkim_verifies(s: &TestServer, dir: &Path, file: &Path, text: &str) {
    let zone = dir.join("zone");
    std::fs::write(&zone, s.ok(&["dns", "example.test"])).unwrap();
    let verified = Command::new("python3")
        .args(["-c", crate::dkim::VERIFY])
        .arg(&zone)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&verified.stdout).trim() == "ok",
        "{}\n{text}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

backends!(outbound_queue_with_aiosmtpd);
async fn outbound_queue_with_aiosmtpd(b: Backend) {
    if missing("aiosmtpd dkim nacl") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (mut sink, port) = start_sink(out.path());
    // Accepts connections and never says a word.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole = blackhole.local_addr().unwrap();
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = blackhole.accept().await {
            held.push(c);
        }
    });
    let extra = format!(
        "[delivery]\nretry_intervals = [\"1s\"]\ndelay_notice_after = \"0s\"\nrelay = \"127.0.0.1:9\"\n\n[delivery.routes]\n\
         \"sink.test\" = \"127.0.0.1:{port}\"\n\"blackhole.test\" = \"{hole}\"\n"
    );
    let s = TestServer::start_with(b, &extra).await;
    s.setup_accounts();
    run_submit(&s, SEND, &[]);

    // ok@ at once, temp@ on the retry a second later, while stuck@ hangs. "At once": the
    // worker is woken by the submission, not found by its periodic look (every 15 s).
    let core = s.core().await;
    let sent_at = Instant::now();
    let mut first_seen = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (received, reports) = loop {
        let files = sink_files(out.path(), "");
        let inbox = mailbox_messages(&core, "alice@example.test", "INBOX").await;
        let got = |who: &str| files.iter().any(|f| f.starts_with(who));
        if got("ok@sink.test") && first_seen.is_none() {
            first_seen = Some(sent_at.elapsed());
        }
        if got("ok@sink.test") && got("temp@sink.test") && inbox.len() >= 2 {
            break (files, inbox);
        }
        assert!(
            Instant::now() < deadline,
            "not delivered in time: {files:?}, {} reports\n{}",
            inbox.len(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(!received.iter().any(|f| f.starts_with("perm@")));
    let first = first_seen.unwrap();
    assert!(
        first < Duration::from_secs(10),
        "the first delivery took {first:?}: the worker was not woken by the submission"
    );

    // Intact (dot-stuffing undone by the peer) and signed with both keys.
    let ok = received.iter().find(|f| f.starts_with("ok@")).unwrap();
    let bytes = std::fs::read(out.path().join(ok)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.ends_with("\r\n\r\nthe body\r\n.leading dot stays\r\n"),
        "{text}"
    );
    assert_dkim_verifies(&s, out.path(), &out.path().join(ok), &text);
    // Recipients' bytes are their own copy (no Bcc, stored and queued in the transaction
    // that filed the Sent copy, which keeps it).
    assert!(!text.contains("Bcc:"), "{text}");
    let sent = mailbox_messages(&core, "alice@example.test", "Sent").await;
    assert_eq!(sent.len(), 1);
    assert!(
        String::from_utf8_lossy(&sent[0].1).contains("Bcc: perm@sink.test\r\n"),
        "the Sent copy keeps its Bcc"
    );

    // Two reports: a delay notice for temp@ (its first attempt failed and the notice is due
    // at once in this configuration) and the bounce for perm@.
    assert_eq!(reports.len(), 2, "two reports");
    let texts: Vec<String> = reports
        .iter()
        .map(|r| String::from_utf8_lossy(&r.1).into_owned())
        .collect();
    let delay = texts
        .iter()
        .find(|t| t.contains("Action: delayed"))
        .unwrap();
    assert!(
        delay.contains(
            "Final-Recipient: rfc822; temp@sink.test\r\nAction: delayed\r\nStatus: 4.3.0"
        ),
        "{delay}"
    );
    assert!(delay.contains("Subject: Delayed mail"), "{delay}");
    assert!(!delay.contains("perm@"), "{delay}");
    let dsn = texts.iter().find(|t| t.contains("Action: failed")).unwrap();
    assert!(
        dsn.contains("multipart/report; report-type=delivery-status"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822; perm@sink.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Action: failed\r\nStatus: 5.1.1"), "{dsn}");
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user here"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: outbound"),
        "the original headers: {dsn}"
    );
    assert!(
        !dsn.contains("temp@sink.test") && !dsn.contains("stuck@"),
        "{dsn}"
    );
    // The local recipient got it directly.
    assert_eq!(
        mailbox_messages(&core, "bob@example.test", "INBOX")
            .await
            .len(),
        1
    );

    // The delivery status JMAP shows, per recipient.
    let alice = core.user_get("alice@example.test").await.unwrap();
    let sub = core
        .submissions(alice.id, None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&sub.delivery_status).unwrap();
    assert_eq!(status["ok@sink.test"]["delivered"], "yes", "{status}");
    assert_eq!(status["temp@sink.test"]["delivered"], "yes", "{status}");
    assert_eq!(status["perm@sink.test"]["delivered"], "no", "{status}");
    assert_eq!(
        status["stuck@blackhole.test"]["delivered"], "queued",
        "{status}"
    );
    assert_eq!(status["bob@example.test"]["delivered"], "yes", "{status}");

    // The stuck one is in the queue, and can be removed.
    let list = s.ok(&["queue", "list"]);
    assert!(list.contains("stuck@blackhole.test queued"), "{list}");
    assert!(list.contains("ok@sink.test sent attempts 1 250"), "{list}");
    assert!(
        list.contains("temp@sink.test sent attempts 2 250"),
        "{list}"
    );
    assert!(
        list.contains("perm@sink.test failed attempts 1 550 5.1.1"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap().to_string();
    s.ok(&["queue", "retry", &id]);

    // The same over the admin REST API: administrators only.
    s.ok(&[
        "user",
        "add",
        "root@example.test",
        "--admin",
        "--password-stdin",
    ]);
    let curl = |who: &str, method: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-X", method, "-u"])
            .arg(format!("{who}:{PASSWORD}"))
            .arg(format!("http://{}{path}", s.http))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let (code, body) = curl("root@example.test", "GET", "/api/v1/admin/queue");
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stuck = v[0]["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "stuck@blackhole.test")
        .unwrap();
    assert_eq!(stuck["status"], "queued", "{v}");
    assert_eq!(v[0]["mail_from"], "alice@example.test", "{v}");
    assert_eq!(
        curl("alice@example.test", "GET", "/api/v1/admin/queue").0,
        "403"
    );
    let retry = format!("/api/v1/admin/queue/{id}/retry");
    let (code, body) = curl("root@example.test", "POST", &retry);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"recipients\":1"), "{body}");
    assert_eq!(
        curl(
            "root@example.test",
            "DELETE",
            &format!("/api/v1/admin/queue/{id}")
        )
        .0,
        "204"
    );
    assert!(s.ok(&["queue", "list"]).contains("the queue is empty"));
    assert_eq!(curl("root@example.test", "POST", &retry).0, "404");
    s.ok(&["queue", "retry", "--all"]);
    drop(sink.stdin.take());
    let _ = sink.wait();
}

/// Spawns the aiosmtpd sink on a free port, writing into `dir`; returns once it listens.
fn start_sink(dir: &std::path::Path) -> (std::process::Child, u16) {
    start_sink_with(dir, &[])
}

/// The sink with options (`pipelining`: offer PIPELINING; `auth`: require a login as
/// `relayuser` / `relay secret`, offered without TLS since it is loopback). A port found free
/// can be taken (as another connection's local port) before the sink binds it, so a sink that
/// could not bind is started again on another.
fn start_sink_with(dir: &std::path::Path, opts: &[&str]) -> (std::process::Child, u16) {
    use std::io::BufRead;
    for _ in 0..5 {
        let port = free_port();
        let mut sink = Command::new("python3")
            .args(["-c", SINK])
            .arg(dir)
            .arg(port.to_string())
            .args(opts)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(sink.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() == "ready" {
            return (sink, port);
        }
        let _ = sink.wait();
    }
    panic!("the aiosmtpd sink did not start on five free ports");
}

// Queued mail survives the process being killed: the peer is down when the message is sent,
// the server is SIGKILLed, the peer comes up, and the restarted server delivers it.
backends!(queued_mail_survives_a_kill);
async fn queued_mail_survives_a_kill(b: Backend) {
    if missing("aiosmtpd") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // The peer is down: its route points at the discard port, closed here.
    let route = |port: u16| {
        format!(
            "[delivery]\nretry_intervals = [\"1h\"]\nrelay = \"127.0.0.1:9\"\n\n[delivery.routes]\n\
             \"sink.test\" = \"127.0.0.1:{port}\"\n"
        )
    };
    let mut s = TestServer::start_with(b, &route(9)).await;
    s.setup_accounts();
    submit_seq(&s, out.path(), 1, false);
    // Let at least one attempt fail against the closed port.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.ok(&["queue", "list"]).contains("attempts 1") {
        assert!(Instant::now() < deadline, "{}", s.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.kill();
    // The peer comes up (on a port of its own, now routed to) while the server is down.
    let (mut sink, port) = start_sink(out.path());
    let config = std::fs::read_to_string(&s.config_path).unwrap();
    std::fs::write(&s.config_path, config.replace(&route(9), &route(port))).unwrap();
    s.spawn();
    // The next attempt is an hour away (so the kill cannot hit one in progress): ask for it.
    s.ok(&["queue", "retry", "--all"]);
    wait_for_file(&s, out.path(), "seq0@sink.test").await;
    assert_eq!(sink_files(out.path(), "seq0@").len(), 1, "delivered once");
    drop(sink.stdin.take());
    let _ = sink.wait();
}

// A vacation response answers a sender on another domain through the queue: from the null
// sender, marked auto-replied, DKIM-signed by the user's domain (verified by dkimpy).
backends!(vacation_reply_to_a_remote_sender);
async fn vacation_reply_to_a_remote_sender(b: Backend) {
    if missing("aiosmtpd dkim nacl") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (mut sink, port) = start_sink(out.path());
    let extra = format!(
        "[delivery]\nrelay = \"127.0.0.1:9\"\n\n[delivery.routes]\n\"sink.test\" = \"127.0.0.1:{port}\"\n"
    );
    let s = TestServer::start_with(b, &extra).await;
    s.setup_accounts();
    let set = r#"{"using":["urn:ietf:params:jmap:core","urn:ietf:params:jmap:vacationresponse"],
        "methodCalls":[["VacationResponse/set",{"accountId":"ACCOUNT","update":{"singleton":
        {"isEnabled":true,"subject":"Away","textBody":"the body"}}},"0"]]}"#;
    let session = Command::new("curl")
        .args(["-s", "-u"])
        .arg(format!("bob@example.test:{PASSWORD}"))
        .arg(format!("http://{}/jmap/session", s.http))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&session.stdout).unwrap();
    let account = v["primaryAccounts"]["urn:ietf:params:jmap:vacationresponse"]
        .as_str()
        .unwrap()
        .to_string();
    let r = Command::new("curl")
        .args(["-s", "-u"])
        .arg(format!("bob@example.test:{PASSWORD}"))
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(set.replace("ACCOUNT", &account))
        .arg(format!("http://{}/jmap/api", s.http))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&r.stdout).contains("\"updated\""),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );
    let send = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("carol@sink.test", ["bob@example.test"], b"From: Carol <carol@sink.test>\r\nTo: bob@example.test\r\nSubject: lunch?\r\nMessage-ID: <q1@sink.test>\r\n\r\nAre you in?\r\n")
s.quit()
"#;
    let sent = Command::new("python3")
        .args(["-c", send, &s.smtp.port().to_string()])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let file = wait_for_file(&s, out.path(), "carol@sink.test").await;
    let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
    assert!(text.starts_with("X-Envelope-From: <>\r\n"), "{text}");
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    assert!(text.contains("In-Reply-To: <q1@sink.test>"), "{text}");
    assert_dkim_verifies(&s, out.path(), &file, &text);
    drop(sink.stdin.take());
    let _ = sink.wait();
}

/// Submits `n` messages one after another over implicit TLS to `seq{i}@sink.test`, each
/// (with `wait`) once the sink stored the one before.
const SEND_ONE_BY_ONE: &str = r#"
import os, smtplib, ssl, sys, time
port, cert, password, outdir, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
wait = sys.argv[6] == "wait"
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
for i in range(n):
    s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=ctx)
    s.login("alice@example.test", password)
    s.sendmail("alice@example.test", [f"seq{i}@sink.test"],
        f"From: alice@example.test\r\nTo: seq{i}@sink.test\r\nSubject: {i}\r\n\r\nnumber {i}\r\n".encode())
    s.quit()
    deadline = time.time() + 20
    while wait and not any(f.startswith(f"seq{i}@") for f in os.listdir(outdir)):
        assert time.time() < deadline, f"message {i} never arrived"
        time.sleep(0.05)
print("ok")
"#;

/// Runs [`SEND_ONE_BY_ONE`] as alice against `s`, for the sink writing into `out`.
fn submit_seq(s: &TestServer, out: &Path, n: usize, wait: bool) {
    let n = n.to_string();
    let wait = if wait { "wait" } else { "nowait" };
    run_submit(
        s,
        SEND_ONE_BY_ONE,
        &[out.as_os_str(), n.as_ref(), wait.as_ref()],
    );
}

/// Runs a Python submission script with the submissions port, the server's certificate and
/// the password, then `args`; it must succeed.
fn run_submit(s: &TestServer, script: &str, args: &[&std::ffi::OsStr]) {
    let sent = Command::new("python3")
        .args(["-c", script])
        .arg(s.submissions.port().to_string())
        .arg(s.dir.path().join("tls").join("cert.pem"))
        .arg(PASSWORD)
        .args(args)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&sent.stderr),
        s.log()
    );
}

// Messages to one destination share one connection (pipelined when the peer offers it, and
// not when it does not), and an idle connection is closed with QUIT.
backends!(one_connection_carries_several_messages);
async fn one_connection_carries_several_messages(b: Backend) {
    if missing("aiosmtpd") {
        return;
    }
    for opts in [&["pipelining"][..], &[][..]] {
        let out = tempfile::tempdir().unwrap();
        let (mut sink, port) = start_sink_with(out.path(), opts);
        let extra = format!(
            "[delivery]\nrelay = \"127.0.0.1:9\"\n\n[delivery.routes]\n\"sink.test\" = \"127.0.0.1:{port}\"\n"
        );
        let s = TestServer::start_with(b.clone(), &extra).await;
        s.setup_accounts();
        submit_seq(&s, out.path(), 4, true);
        let mut ports = std::collections::BTreeSet::new();
        for i in 0..4 {
            let file = wait_for_file(&s, out.path(), &format!("seq{i}@")).await;
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.contains(&format!("number {i}")), "{text}");
            let port = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Peer-Port: "))
                .unwrap()
                .to_string();
            ports.insert(port);
        }
        assert_eq!(
            ports.len(),
            1,
            "{opts:?}: one connection for all: {ports:?}"
        );
        // Idle for a few seconds, it is closed politely.
        let quit = out.path().join(format!("quit.{}", ports.first().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !quit.exists() {
            assert!(Instant::now() < deadline, "{opts:?}: no QUIT\n{}", s.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(sink.stdin.take());
        let _ = sink.wait();
    }
}

// The relay with a login: AUTH over loopback with the configured name and password; a wrong
// password keeps the mail queued (a configuration mistake must not bounce it).
backends!(relay_with_a_login);
async fn relay_with_a_login(b: Backend) {
    if missing("aiosmtpd") {
        return;
    }
    for (password, arrives) in [("relay secret", true), ("wrong", false)] {
        let out = tempfile::tempdir().unwrap();
        let (mut sink, port) = start_sink_with(out.path(), &["auth"]);
        let extra = format!(
            "[delivery]\nretry_intervals = [\"1h\"]\nrelay = \"127.0.0.1:{port}\"\n\
             relay_username = \"relayuser\"\nrelay_password = \"{password}\"\n"
        );
        let s = TestServer::start_with(b.clone(), &extra).await;
        s.setup_accounts();
        submit_seq(&s, out.path(), 1, arrives);
        if arrives {
            wait_for_file(&s, out.path(), "seq0@").await;
        } else {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let list = s.ok(&["queue", "list"]);
                if list.contains("refused our login") {
                    assert!(list.contains("queued attempts 1"), "{list}");
                    assert!(!list.contains("wrong"), "the password is not shown: {list}");
                    break;
                }
                assert!(Instant::now() < deadline, "{list}\n{}", s.log());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(sink_files(out.path(), "").is_empty());
            assert!(!s.log().contains("wrong"), "the password is not logged");
        }
        drop(sink.stdin.take());
        let _ = sink.wait();
    }
}

// A recipient being tried is claimed for minutes, not half an hour, and the claim can be
// extended only by the attempt that holds it (its attempts count still matches).
backends!(claims_are_short_and_extended_by_their_holder);
async fn claims_are_short_and_extended_by_their_holder(b: Backend) {
    // Accepts connections and never says a word: the attempt hangs.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole = blackhole.local_addr().unwrap();
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = blackhole.accept().await {
            held.push(c);
        }
    });
    let extra = format!(
        "[delivery]\nrelay = \"127.0.0.1:9\"\n\n[delivery.routes]\n\"sink.test\" = \"{hole}\"\n"
    );
    let s = TestServer::start_with(b, &extra).await;
    s.setup_accounts();
    let out = tempfile::tempdir().unwrap();
    submit_seq(&s, out.path(), 1, false);
    let core = s.core().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let rcpt = loop {
        let list = core.queue_list().await.unwrap();
        let r = list.first().and_then(|e| e.recipients.first()).cloned();
        // Claimed: its next attempt time is the lease's end.
        if let Some(r) = r.filter(|r| r.leased_until > chrono::Utc::now().timestamp() + 60) {
            break r;
        }
        assert!(Instant::now() < deadline, "never claimed\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let now = chrono::Utc::now().timestamp();
    assert!(
        rcpt.leased_until <= now + 200,
        "a lease of minutes: {}",
        rcpt.leased_until - now
    );
    let lease = || async { core.queue_list().await.unwrap()[0].recipients[0].leased_until };
    // An administrator's retry does not take a recipient away from the worker sending it.
    s.ok(&["queue", "retry", "--all"]);
    let again = core.queue_claim(now + 100, 10).await.unwrap();
    assert!(again.is_empty(), "claimed twice: {again:?}");
    assert_eq!(lease().await, rcpt.leased_until, "still held by its worker");
    core.queue_extend(&[(rcpt.id, rcpt.attempts + 1)], now + 5000)
        .await
        .unwrap();
    assert_eq!(
        lease().await,
        rcpt.leased_until,
        "another attempt's claim is not extended"
    );
    core.queue_extend(&[(rcpt.id, rcpt.attempts)], now + 5000)
        .await
        .unwrap();
    assert_eq!(lease().await, now + 5000);
}
