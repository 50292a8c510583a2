//! `mailroom mbox export|import`: mboxrd (one `From ` line before each message; body lines
//! matching `>*From ` get one more `>` on export and lose one on import).
//!
//! Export writes each message's stored bytes unchanged apart from that quoting. Import reads
//! the file a message at a time (bounded memory at any size), turns bare LF line endings into
//! CRLF (mbox is a Unix format; stored mail is in RFC 5322's CRLF form), and delivers in
//! batches through the same path as SMTP, so UIDs follow the file's order.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mailroom_core::Delivered;
use mailroom_core::delivery::{Folder, Incoming};

use crate::config::Config;

/// Messages per delivery batch, and the most bytes a batch holds before it is sent.
const BATCH: usize = 200;
const BATCH_BYTES: usize = 32 * 1024 * 1024;

pub async fn export(
    config: &Config,
    address: &str,
    mailbox: &str,
    out: Option<&Path>,
) -> Result<()> {
    let core = crate::admin::open(config).await?;
    let acc = core.user_get(address).await?;
    let mb = core.mailbox_find(acc.id, mailbox).await?;
    let sink: Box<dyn Write> = match out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(256 * 1024, sink);
    let mut after = 0;
    let mut n = 0u64;
    loop {
        let page = core.mailbox_messages(acc.id, mb.id, after, 500).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.uid;
        for (e, raw) in page {
            write_message(&mut w, &raw, e.received_at)?;
            n += 1;
        }
    }
    w.flush()?;
    if out.is_some() {
        eprintln!("exported {n} message(s) from {}/{}", acc.address, mb.name);
    }
    Ok(())
}

fn write_message(w: &mut impl Write, raw: &[u8], received_at: i64) -> std::io::Result<()> {
    let sender = return_path(raw).unwrap_or_else(|| "MAILER-DAEMON".into());
    let date = chrono::DateTime::from_timestamp(received_at, 0).unwrap_or_default();
    writeln!(w, "From {sender} {}", date.format("%a %b %e %H:%M:%S %Y"))?;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if is_from_line(line.trim_ascii_start_matches_gt()) {
            w.write_all(b">")?;
        }
        w.write_all(line)?;
    }
    if !raw.ends_with(b"\n") {
        w.write_all(b"\n")?;
    }
    w.write_all(b"\n")
}

/// The address of a leading Return-Path header, for the `From ` line.
fn return_path(raw: &[u8]) -> Option<String> {
    let head = std::str::from_utf8(&raw[..raw.len().min(1024)]).ok()?;
    let line = head.lines().next()?;
    let v = line
        .strip_prefix("Return-Path:")?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    (!v.is_empty() && !v.contains(char::is_whitespace)).then(|| v.to_string())
}

trait TrimGt {
    fn trim_ascii_start_matches_gt(&self) -> &[u8];
}

impl TrimGt for [u8] {
    fn trim_ascii_start_matches_gt(&self) -> &[u8] {
        let n = self.iter().take_while(|&&b| b == b'>').count();
        &self[n..]
    }
}

fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// Imports of at least this many messages end with the database's maintenance.
const BULK: u64 = 1000;

pub async fn import(config: &Config, address: &str, mailbox: &str, file: &Path) -> Result<()> {
    let core = crate::admin::open(config).await?;
    let acc = core.user_get(address).await?;
    let mb = core.mailbox_find(acc.id, mailbox).await?;
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = if std::io::stderr().is_terminal() {
        let p = ProgressBar::new(total);
        p.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
                .expect("valid template"),
        );
        p
    } else {
        ProgressBar::hidden()
    };
    let mut reader = MboxReader::new(BufReader::with_capacity(1024 * 1024, progress.wrap_read(f)));
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = 0usize;
    let mut count = 0u64;
    // One batch is filed while the next is read and its IMAP items derived (the CPU work
    // of both spread over the cores), never two at once, so UIDs follow the file's order.
    let mut filing: Option<Filing> = None;
    while let Some(msg) = reader.next_message()? {
        bytes += msg.raw.len();
        batch.push(Incoming {
            derived: mailroom_imap::derive_items(&msg.raw),
            raw: msg.raw.into(),
            accounts: vec![acc.id],
            folder: Folder::Mailbox(mb.id),
            keywords: msg.keywords,
            received_at: msg.received_at,
        });
        if batch.len() >= BATCH || bytes >= BATCH_BYTES {
            count += batch.len() as u64;
            finish(filing.take()).await?;
            let (core, batch) = (core.clone(), std::mem::take(&mut batch));
            filing = Some(tokio::spawn(async move { core.deliver_many(batch).await }));
            bytes = 0;
            progress.set_message(format!("{count} messages"));
        }
    }
    finish(filing.take()).await?;
    if !batch.is_empty() {
        count += batch.len() as u64;
        core.deliver_many(batch).await?;
    }
    if count >= BULK {
        progress.set_message("updating the database's statistics");
        core.after_bulk_import().await?;
    }
    // The files synced and the text the indexer has not reached yet indexed here, as a clean
    // server stop does: nothing left for the next start.
    progress.set_message("indexing the last messages' text");
    core.flush().await?;
    progress.finish_and_clear();
    if reader.skipped_preamble {
        eprintln!("note: text before the first \"From \" line was not a message and was skipped");
    }
    eprintln!(
        "imported {count} message(s) into {}/{}",
        acc.address, mb.name
    );
    Ok(())
}

type Filing = tokio::task::JoinHandle<mailroom_core::Result<Vec<Vec<Delivered>>>>;

/// Waits for a batch being filed, if any.
async fn finish(filing: Option<Filing>) -> Result<()> {
    if let Some(f) = filing {
        f.await.context("filing a batch")??;
    }
    Ok(())
}

/// One message read from an mbox file.
pub struct MboxMessage {
    pub raw: Vec<u8>,
    pub received_at: Option<i64>,
    pub keywords: Vec<String>,
}

/// Reads mboxrd (and plain mboxo) a message at a time.
pub struct MboxReader<R> {
    r: R,
    /// The `From ` line that starts the next message, once read.
    pending_from: Option<Vec<u8>>,
    started: bool,
    pub skipped_preamble: bool,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(r: R) -> Self {
        MboxReader {
            r,
            pending_from: None,
            started: false,
            skipped_preamble: false,
        }
    }

    pub fn next_message(&mut self) -> Result<Option<MboxMessage>> {
        let mut line = Vec::new();
        if !self.started {
            self.started = true;
            // Skip a UTF-8 byte order mark and anything before the first separator.
            loop {
                line.clear();
                if self.r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(None);
                }
                let l = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
                if l.starts_with(b"From ") {
                    self.pending_from = Some(l.to_vec());
                    break;
                }
                if !l.iter().all(u8::is_ascii_whitespace) {
                    self.skipped_preamble = true;
                }
            }
        }
        let Some(from_line) = self.pending_from.take() else {
            return Ok(None);
        };
        let mut raw = Vec::new();
        // A separator is a `From ` line after an empty line (or at the start).
        let mut prev_blank = true;
        loop {
            line.clear();
            if self.r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if prev_blank && line.starts_with(b"From ") {
                self.pending_from = Some(line.clone());
                break;
            }
            prev_blank = line == b"\n" || line == b"\r\n";
            let unquoted = match line.iter().take_while(|&&b| b == b'>').count() {
                n if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
                _ => &line[..],
            };
            push_crlf(&mut raw, unquoted);
        }
        // The blank line before the next separator belongs to the mbox, not the message.
        if raw.ends_with(b"\r\n\r\n") {
            raw.truncate(raw.len() - 2);
        } else if raw == b"\r\n" {
            raw.clear();
        }
        if raw.is_empty() && self.pending_from.is_none() && from_line.is_empty() {
            return Ok(None);
        }
        let (keywords, received_at) = (status_keywords(&raw), from_line_date(&from_line));
        Ok(Some(MboxMessage {
            raw,
            received_at,
            keywords,
        }))
    }
}

/// Appends a line with its ending as CRLF.
fn push_crlf(out: &mut Vec<u8>, line: &[u8]) {
    match line {
        [body @ .., b'\r', b'\n'] => {
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        [body @ .., b'\n'] => {
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        _ => out.extend_from_slice(line),
    }
}

/// The date at the end of a `From sender Tue Nov 24 07:00:00 2026` line.
fn from_line_date(line: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(line).ok()?.trim_end();
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() < 6 {
        return None;
    }
    let date = words[words.len() - 5..].join(" ");
    chrono::NaiveDateTime::parse_from_str(&date, "%a %b %e %H:%M:%S %Y")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// Keywords from the `Status:`/`X-Status:` headers mail programs keep in mbox files.
fn status_keywords(raw: &[u8]) -> Vec<String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let mut kw = Vec::new();
    for line in raw[..end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let value = |name: &[u8]| {
            (line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name))
                .then(|| &line[name.len()..])
        };
        if let Some(v) = value(b"Status:") {
            if v.contains(&b'R') {
                kw.push("$seen".to_string());
            }
        } else if let Some(v) = value(b"X-Status:") {
            for (c, k) in [
                (b'F', "$flagged"),
                (b'A', "$answered"),
                (b'D', "$deleted"),
                (b'T', "$draft"),
            ] {
                if v.contains(&c) {
                    kw.push(k.to_string());
                }
            }
        }
    }
    kw
}

/// Reads a whole mbox from a reader into messages (tests and small files).
#[allow(dead_code)]
pub fn read_all(r: impl Read) -> Result<Vec<MboxMessage>> {
    let mut rd = MboxReader::new(BufReader::new(r));
    let mut out = Vec::new();
    while let Some(m) = rd.next_message()? {
        out.push(m);
    }
    if out.is_empty() && rd.skipped_preamble {
        bail!("not an mbox file: no \"From \" separator line found");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_crlf_messages_with_from_lines() {
        let m1 =
            b"Return-Path: <a@x.test>\r\nSubject: one\r\n\r\nFrom here\r\n>From there\r\nend\r\n"
                .to_vec();
        let m2 = b"Subject: two\r\n\r\nbody\r\n".to_vec();
        let mut out = Vec::new();
        write_message(&mut out, &m1, 1_700_000_000).unwrap();
        write_message(&mut out, &m2, 1_700_000_001).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("From a@x.test Tue Nov 14 22:13:20 2023\n"),
            "{text}"
        );
        assert!(text.contains("\n>From here\r\n>>From there\r\n"));
        let back = read_all(&out[..]).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].raw, m1);
        assert_eq!(back[1].raw, m2);
        assert_eq!(back[0].received_at, Some(1_700_000_000));
    }

    #[test]
    fn lf_mbox_becomes_crlf_and_status_becomes_keywords() {
        let mbox = b"From x Mon Jan  1 00:00:00 2024\nStatus: RO\nX-Status: F\nSubject: s\n\n>From quoted\nbody\n\nFrom y Mon Jan  1 00:00:01 2024\nSubject: t\n\nb\n";
        let msgs = read_all(&mbox[..]).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].raw,
            b"Status: RO\r\nX-Status: F\r\nSubject: s\r\n\r\nFrom quoted\r\nbody\r\n"
        );
        assert_eq!(msgs[0].keywords, vec!["$seen", "$flagged"]);
        assert_eq!(msgs[1].raw, b"Subject: t\r\n\r\nb\r\n");
    }
}
