//! The administration CLI: clear one-line errors, non-zero exits, no secrets in logs.

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer};

#[tokio::test]
async fn admin_commands_and_their_errors() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.setup_accounts();
    assert_eq!(s.ok(&["domain", "list"]), "example.test\nother.test\n");
    assert_eq!(
        s.ok(&["user", "list"]),
        "alice@example.test\nbob@example.test\n"
    );
    let aliases = s.ok(&["alias", "list"]);
    assert!(aliases.contains("team@example.test -> alice@example.test"));
    assert!(aliases.contains("@other.test -> bob@example.test"));

    let fails = |args: &[&str], stdin: &str, needle: &str| {
        let out = s.cli_stdin(args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line expected: {err}"
        );
    };
    fails(
        &["user", "add", "carol@nowhere.test", "--password-stdin"],
        "longenough\n",
        "domain nowhere.test",
    );
    fails(
        &["user", "add", "alice@example.test", "--password-stdin"],
        "longenough\n",
        "already exists",
    );
    fails(
        &["user", "add", "dave@example.test", "--password-stdin"],
        "short\n",
        "at least 8",
    );
    fails(
        &["user", "add", "not-an-address", "--password-stdin"],
        "longenough\n",
        "not an address",
    );
    fails(&["domain", "add", "bad_domain!"], "", "not a valid domain");
    fails(&["domain", "remove", "example.test"], "", "still has");
    fails(
        &["alias", "add", "alice@example.test", "bob@example.test"],
        "",
        "is a user",
    );
    fails(
        &[
            "alias",
            "remove",
            "team@example.test",
            "nobody@example.test",
        ],
        "",
        "not found",
    );

    s.ok(&["user", "passwd", "alice@example.test", "--password-stdin"]);
    // Quotas: shown, set with a unit, lifted; a bad size is refused with the reason.
    assert_eq!(
        s.ok(&["user", "quota", "alice@example.test"]),
        "alice@example.test: 0 bytes used (0 bytes), no limit\n"
    );
    assert!(
        s.ok(&["user", "quota", "alice@example.test", "2G"])
            .contains("0 bytes of 2.0 GiB used (0 of 2147483648 bytes)")
    );
    assert!(
        s.ok(&["user", "quota", "alice@example.test", "none", "--recount"])
            .ends_with("no limit\n")
    );
    let bad = s.cli(&["user", "quota", "alice@example.test", "2X"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"2X\": the unit is K, M, G or T"));
    s.ok(&["alias", "remove", "@other.test", "bob@example.test"]);
    assert!(!s.ok(&["alias", "list"]).contains("@other.test"));
    s.ok(&["user", "remove", "bob@example.test"]);
    assert_eq!(s.ok(&["user", "list"]), "alice@example.test\n");
    s.ok(&["domain", "remove", "other.test"]);

    // Passwords are argon2id hashes and never reach a log.
    let core = s.core().await;
    let alice = core.user_get("alice@example.test").await.unwrap();
    assert!(alice.password_hash.starts_with("$argon2id$"));
    assert!(
        core.authenticate("alice@example.test", PASSWORD)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        core.authenticate("alice@example.test", "wrong password")
            .await
            .unwrap()
            .is_none()
    );
    assert!(!s.log().contains(PASSWORD));
}

#[test]
fn a_new_data_directory_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh-data");
    let out = std::process::Command::new(crate::harness::BIN)
        .arg("migrate")
        .env("MAILROOM_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&data).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o700);
    }
}

#[tokio::test]
async fn bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[listen]\nsmtp = \"not-an-address\"\n").unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["--config", cfg.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with("error: listen.smtp"), "{err}");
    std::fs::write(&cfg, "unknown_key = 1\n").unwrap();
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["--config", cfg.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_key"));
}

backends!(concurrent_first_starts_migrate_once);
async fn concurrent_first_starts_migrate_once(b: Backend) {
    // Replicas, or a CLI command beside `serve`, may meet an empty database at the same time.
    let s = TestServer::prepare(b, "").await;
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(crate::harness::BIN)
                .args([
                    "--config",
                    s.config_path.to_str().unwrap(),
                    "domain",
                    "list",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `mailroom dns DOMAIN`: one record per line in zone-file form, the domain's DKIM keys
/// (Ed25519 and RSA-2048, made when the domain was added) among them, the same each time.
#[tokio::test]
async fn dns_records_in_zone_file_form() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.setup_accounts();
    let out = s.ok(&["dns", "example.test"]);
    assert_eq!(out, s.ok(&["dns", "example.test"]), "stable across calls");
    let mut types = Vec::new();
    let mut dkim = Vec::new();
    for line in out.lines().filter(|l| !l.starts_with(';')) {
        let f: Vec<&str> = line.splitn(5, ' ').collect();
        assert_eq!(f.len(), 5, "{line}");
        assert!(f[0].ends_with(".test."), "absolute name: {line}");
        assert!(f[1].parse::<u32>().is_ok() && f[2] == "IN", "{line}");
        types.push(f[3].to_string());
        if f[3] == "TXT" {
            // Quoted strings of at most 255 bytes, joined.
            let parts: Vec<&str> = f[4].split("\" \"").collect();
            assert!(
                parts.iter().all(|p| p.trim_matches('"').len() <= 255),
                "{line}"
            );
            let value = parts.concat().replace('"', "");
            if f[0].contains("._domainkey.") {
                dkim.push((f[0].to_string(), value));
            }
        }
    }
    for t in ["MX", "TXT", "SRV"] {
        assert!(types.iter().any(|x| x == t), "{t} in {out}");
    }
    assert!(
        out.contains("example.test. 3600 IN TXT \"v=spf1 mx -all\""),
        "{out}"
    );
    assert!(
        out.contains("_dmarc.example.test. 3600 IN TXT \"v=DMARC1; p=quarantine;"),
        "{out}"
    );
    assert_eq!(dkim.len(), 2, "{dkim:?}");
    use base64::Engine;
    for (name, value) in dkim {
        let p = value.split("p=").nth(1).expect("p= tag");
        let key = base64::engine::general_purpose::STANDARD
            .decode(p)
            .expect("base64");
        if value.contains("k=ed25519") {
            assert!(name.ends_with("e._domainkey.example.test."), "{name}");
            assert_eq!(key.len(), 32);
        } else {
            assert!(value.contains("k=rsa") && name.ends_with("r._domainkey.example.test."));
            // SubjectPublicKeyInfo of an RSA-2048 key.
            assert_eq!((key.len(), key[0]), (294, 0x30));
        }
    }
    // A domain that is not ours is a clear error.
    let bad = s.cli_stdin(&["dns", "nowhere.test"], "");
    assert!(!bad.status.success());

    // Rotation: new keys sign, the old stay published for the time given, then go.
    let dkim_lines = |zone: &str| {
        zone.lines()
            .filter(|l| l.contains("._domainkey."))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = dkim_lines(&out);
    let said = s.ok(&["dkim", "rotate", "example.test", "--keep-old", "7d"]);
    assert_eq!(said.matches("signing with ").count(), 2, "{said}");
    let during = dkim_lines(&s.ok(&["dns", "example.test"]));
    assert_eq!(during.len(), 4, "{during:?}");
    assert!(
        before.iter().all(|l| during.contains(l)),
        "old keys still published"
    );
    s.ok(&["dkim", "rotate", "example.test", "--keep-old", "0s"]);
    let after = dkim_lines(&s.ok(&["dns", "example.test"]));
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|l| !during.contains(l)),
        "only the newest keys: {after:?}"
    );
    let bad = s.cli_stdin(
        &["dkim", "rotate", "example.test", "--keep-old", "soon"],
        "",
    );
    assert!(!bad.status.success());
}
