//! EHLO and HELO (RFC 5321 §4.1.1.1).

use super::session::{Helo, Session};

impl Session {
    pub(super) fn ehlo(&mut self, host: String, extended: bool) {
        // A new greeting resets any transaction in progress (§4.1.4).
        self.tx = None;
        let name = host.trim().to_string();
        if name.is_empty() {
            return self.error(&crate::reply::syntax(
                "EHLO needs a domain or address literal",
            ));
        }
        let me = &self.shared.config.hostname;
        let line = if extended {
            let size = self.shared.config.max_message_size;
            let starttls = if self.shared.config.tls.is_some() && !self.tls {
                "250-STARTTLS\r\n"
            } else {
                ""
            };
            // AUTH only inside TLS (RFC 8314 §3.3), and only on submission.
            let auth = if self.shared.submission() && self.tls && self.user.is_none() {
                "250-AUTH PLAIN LOGIN\r\n"
            } else {
                ""
            };
            format!(
                "250-{me} greets {name}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n\
                 250-SIZE {size}\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n{starttls}{auth}250 HELP\r\n"
            )
        } else {
            format!("250 {me} greets {name}\r\n")
        };
        self.reply(&line);
        self.helo = Some(Helo { name, extended });
    }
}
