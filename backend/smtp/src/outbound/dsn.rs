//! Delivery status notifications (RFC 3464): a multipart/report with a human part, the
//! machine-readable message/delivery-status, and the original message's header section.
//! Used for permanent failures ("failed") and for delay notices ("delayed").

use chrono::{TimeZone, Utc};

/// One recipient's line in a report.
pub struct Line<'a> {
    pub recipient: &'a str,
    /// The last reply or failure, as "550 5.1.1 text" or a description.
    pub diagnostic: &'a str,
    /// The server that answered, if one did.
    pub remote_mta: Option<&'a str>,
}

pub struct Report<'a> {
    pub hostname: &'a str,
    pub to: &'a str,
    /// "failed" or "delayed" (RFC 3464 §2.3.3).
    pub action: &'a str,
    pub arrival: i64,
    pub lines: Vec<Line<'a>>,
    pub original: &'a [u8],
}

impl Report<'_> {
    pub fn build(&self) -> Vec<u8> {
        let boundary = format!("dsn-{:016x}", getrandom::u64().unwrap_or(0));
        let now = Utc::now();
        let failed = self.action == "failed";
        let subject = if failed {
            "Undelivered mail returned to sender"
        } else {
            "Delayed mail (still being retried)"
        };
        let mut human = String::new();
        if failed {
            human.push_str(
                "Your message could not be delivered to these recipients; it will not be \
                 retried:\r\n\r\n",
            );
        } else {
            human.push_str(
                "Your message has not been delivered yet to these recipients. Delivery is \
                 still being retried; you do not need to send it again:\r\n\r\n",
            );
        }
        for l in &self.lines {
            human.push_str(&format!(
                "  <{}>: {}\r\n",
                l.recipient,
                one_line(l.diagnostic)
            ));
        }
        let mut status = format!(
            "Reporting-MTA: dns; {}\r\nArrival-Date: {}\r\n",
            self.hostname,
            Utc.timestamp_opt(self.arrival, 0)
                .single()
                .unwrap_or(now)
                .to_rfc2822()
        );
        for l in &self.lines {
            status.push_str(&format!(
                "\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
                l.recipient,
                self.action,
                status_code(l.diagnostic, failed)
            ));
            if let Some(m) = l.remote_mta {
                status.push_str(&format!("Remote-MTA: dns; {m}\r\n"));
            }
            if l.diagnostic
                .get(..3)
                .is_some_and(|c| c.parse::<u16>().is_ok())
            {
                status.push_str(&format!(
                    "Diagnostic-Code: smtp; {}\r\n",
                    one_line(l.diagnostic)
                ));
            }
            status.push_str(&format!("Last-Attempt-Date: {}\r\n", now.to_rfc2822()));
        }
        let headers = header_section(self.original);
        let id = format!(
            "{:032x}",
            u128::from(getrandom::u64().unwrap_or(0)) << 64
                | u128::from(getrandom::u64().unwrap_or(0))
        );
        format!(
            "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\nTo: <{to}>\r\n\
             Subject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@{host}>\r\n\
             Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{b}\"\r\n\r\n\
             This is a delivery status notification (RFC 3464).\r\n\r\n\
             --{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{human}\r\n\
             --{b}\r\nContent-Type: message/delivery-status\r\n\r\n{status}\r\n\
             --{b}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--{b}--\r\n",
            host = self.hostname,
            to = self.to,
            date = now.to_rfc2822(),
            b = boundary,
        )
        .into_bytes()
    }
}

/// The enhanced status code in a reply ("550 5.1.1 …" → "5.1.1"), or a generic one.
fn status_code(diagnostic: &str, failed: bool) -> String {
    let class = if failed { '5' } else { '4' };
    diagnostic
        .split_whitespace()
        .nth(1)
        .filter(|w| {
            let p: Vec<&str> = w.split('.').collect();
            p.len() == 3
                && p.iter()
                    .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
                && w.starts_with(class)
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("{class}.0.0"))
}

fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(500).collect()
}

/// The message's header section, without the empty line that ends it.
fn header_section(raw: &[u8]) -> String {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 2);
    String::from_utf8_lossy(&raw[..end.min(64 * 1024)]).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_codes() {
        assert_eq!(super::status_code("550 5.1.1 no such user", true), "5.1.1");
        assert_eq!(super::status_code("550 no such user", true), "5.0.0");
        assert_eq!(super::status_code("connection refused", false), "4.0.0");
        assert_eq!(super::status_code("451 4.7.1 later", false), "4.7.1");
    }
}
