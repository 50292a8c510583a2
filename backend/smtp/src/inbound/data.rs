//! DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030), and handing the finished message to core.
//!
//! Line endings: message data must use CRLF. A bare CR or LF anywhere in the message refuses
//! it (550 5.6.0), for DATA and BDAT alike. The end of DATA is recognised only at
//! `<CRLF>.<CRLF>` (see `dot.rs`), so a body hiding `<LF>.<LF>`, `<CRLF>.<CR><CR><LF>` or any
//! other look-alike followed by commands (SMTP smuggling) stays one message, which is then
//! refused whole: nothing in it can ever become a second message or a command.

use mailroom_core::delivery::{Folder, Incoming};

use super::session::{Session, State, Transaction};
use crate::reply;
use smtp_proto::request::receiver::BdatReceiver;

use super::dot::DotReader;

impl Session {
    pub(super) fn data(&mut self) {
        let check = self.transaction_ready();
        if let Err(line) = check {
            return self.error(line);
        }
        let tx = self.tx.as_mut().expect("checked");
        if tx.bdat_started {
            return self.error(reply::BDAT_IN_PROGRESS);
        }
        self.reply(reply::START_DATA);
        self.state = State::Data(DotReader::new());
    }

    pub(super) fn bdat(&mut self, size: usize, last: bool) {
        // The chunk's bytes follow the command whatever we answer, so read them in every case
        // (RFC 3030 §2); a transaction that cannot take them is refused after the chunk.
        let refusal = self.transaction_ready().err();
        if let Some(line) = refusal {
            self.tx = Some(Transaction {
                refused: Some(line),
                ..Default::default()
            });
        }
        let max = self.shared.config.max_message_size;
        let tx = self.tx.as_mut().expect("set above");
        tx.bdat_started = true;
        if tx.body.len().saturating_add(size) > max {
            tx.too_big = true;
            tx.body.clear();
        }
        self.state = State::Bdat(BdatReceiver::new(size, last));
    }

    /// A BDAT chunk has been read.
    pub(super) async fn finish_chunk(&mut self, last: bool) {
        let tx = self.tx.as_mut().expect("BDAT has a transaction");
        if let Some(line) = tx.refused {
            self.tx = None;
            return self.error(line);
        }
        if !last {
            let line = format!("250 2.0.0 {} octets received\r\n", tx.body.len());
            return self.reply(&line);
        }
        self.finish_message().await;
    }

    /// The whole message is in: check it, store it, answer.
    pub(super) async fn finish_message(&mut self) {
        let tx = self.tx.take().expect("a message ends a transaction");
        if tx.too_big {
            return self.error(reply::TOO_BIG);
        }
        if has_bare_line_ending(&tx.body) {
            return self.error(reply::BARE_LINE_ENDING);
        }
        self.delivered += 1;
        let id = format!(
            "{:x}.{}.{}",
            chrono::Utc::now().timestamp_millis(),
            self.id,
            self.delivered
        );
        if let Some(user) = self.user.clone() {
            return self.submit(user, tx, &id).await;
        }
        let mut raw = super::trace::headers(self, &tx, &id);
        raw.extend_from_slice(&tx.body);
        let incoming = Incoming {
            raw: raw.into(),
            accounts: tx.accounts,
            folder: Folder::Inbox,
            keywords: vec![],
            received_at: None,
            derived: Vec::new(),
        };
        match self.shared.core.deliver(incoming).await {
            Ok(filed) => {
                tracing::info!(id, from = %tx.from, rcpts = tx.rcpts.len(), copies = filed.len(), "delivered");
                self.reply(&reply::accepted(&id));
            }
            Err(e) => {
                tracing::error!(id, error = %e, "storing message failed");
                self.reply(reply::STORAGE_FAILED);
            }
        }
    }

    /// Whether DATA or BDAT may start now; the refusal if not.
    fn transaction_ready(&self) -> Result<(), &'static str> {
        if self.helo.is_none() {
            return Err(reply::HELO_FIRST);
        }
        match &self.tx {
            None => Err(reply::MAIL_FIRST),
            Some(tx) if tx.rcpts.is_empty() => Err(reply::RCPT_FIRST),
            Some(_) => Ok(()),
        }
    }
}

/// True if `body` has a CR not followed by LF, or an LF not preceded by CR.
pub(super) fn has_bare_line_ending(body: &[u8]) -> bool {
    let mut prev = 0u8;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'\n' if prev != b'\r' => return true,
            b'\r' if body.get(i + 1) != Some(&b'\n') => return true,
            _ => {}
        }
        prev = b;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_bare_line_ending;

    #[test]
    fn bare_line_endings() {
        assert!(!has_bare_line_ending(b"a\r\nb\r\n"));
        assert!(!has_bare_line_ending(b""));
        assert!(has_bare_line_ending(b"a\nb\r\n"));
        assert!(has_bare_line_ending(b"a\r\nb\r"));
        assert!(has_bare_line_ending(b"a\rb\r\n"));
        assert!(has_bare_line_ending(b"\n"));
    }
}
