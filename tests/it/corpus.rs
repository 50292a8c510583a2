//! Every message file of ../shared/corpus/mime, sent with Python's smtplib and read back
//! byte for byte. mailroom refuses no message for MIME oddities.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backends;
use crate::harness::{Backend, TestServer, mailbox_messages, strip_trace};

pub fn corpus_dir(sub: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: corpus folder {} is absent", p.display());
        None
    }
}

/// The message files: `.eml`, `.msg`, and the `.txt` messages of the sets that use that name.
fn message_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let txt_message = (p.to_string_lossy().contains("cpython-test-email")
                && name.starts_with("msg_"))
                || (p.to_string_lossy().contains("mimekit/messages") && name.ends_with(".txt"));
            if name.ends_with(".eml") || name.ends_with(".msg") || txt_message {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// What SMTP carries for a file: every line ending made CRLF (as smtplib does), and a final
/// CRLF if the file lacks one.
fn over_smtp(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

const SENDER: &str = r#"
import re, smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
files = sys.argv[3:]
s = smtplib.SMTP(host, port, timeout=60)
s.ehlo('python.test')
for f in files:
    with open(f, 'rb') as fh:
        data = fh.read()
    # smtplib sends bytes as given; SMTP wants CRLF line endings.
    data = re.sub(rb'\r\n|\r|\n', b'\r\n', data)
    s.sendmail('corpus@remote.test', ['alice@example.test'], data)
s.quit()
print('sent', len(files))
"#;

backends!(every_mime_corpus_file_is_stored_byte_identical);
async fn every_mime_corpus_file_is_stored_byte_identical(b: Backend) {
    let Some(root) = corpus_dir("mime") else {
        return;
    };
    let files = message_files(&root);
    assert!(
        files.len() > 350,
        "expected the corpus's ~400 message files, found {}",
        files.len()
    );
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let out = Command::new("python3")
        .arg("-c")
        .arg(SENDER)
        .arg("127.0.0.1")
        .arg(s.smtp.port().to_string())
        .args(&files)
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "smtplib failed: {}\nserver errors:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let core = s.core().await;
    let stored = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(stored.len(), files.len());
    for (f, (_, raw)) in files.iter().zip(&stored) {
        let expected = over_smtp(&std::fs::read(f).unwrap());
        assert!(
            strip_trace(raw) == &expected[..],
            "{} differs after storage",
            f.display()
        );
    }
}
