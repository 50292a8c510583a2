//! Every SMTP reply mailroom sends, with its enhanced status code (RFC 3463), and the mapping
//! from core errors. Replies are whole lines, CRLF included.

use mailroom_core::Error;

pub const GOODBYE: &str = "221 2.0.0 Bye\r\n";
pub const OK: &str = "250 2.0.0 OK\r\n";
pub const SENDER_OK: &str = "250 2.1.0 Sender OK\r\n";
pub const RECIPIENT_OK: &str = "250 2.1.5 Recipient OK\r\n";
pub const RESET: &str = "250 2.0.0 Reset\r\n";
pub const VRFY: &str =
    "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n";
pub const HELP: &str =
    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n";
pub const START_DATA: &str = "354 Start mail input; end with <CRLF>.<CRLF>\r\n";

pub const SHUTTING_DOWN: &str = "421 4.3.2 Service shutting down, try again later\r\n";
pub const TIMEOUT: &str = "421 4.4.2 Timeout waiting for input, closing connection\r\n";
pub const TOO_MANY_ERRORS: &str = "421 4.7.0 Too many errors, closing connection\r\n";
pub const TOO_MANY_CONNECTIONS: &str =
    "421 4.7.0 Too many connections from your address, try again later\r\n";
pub const STORAGE_FAILED: &str =
    "451 4.3.0 Temporary failure storing the message, try again later\r\n";
pub const TEMP_LOOKUP_FAILED: &str =
    "451 4.3.0 Temporary failure looking up the recipient, try again later\r\n";
pub const TOO_MANY_RECIPIENTS: &str = "452 4.5.3 Too many recipients\r\n";
/// The recipient's storage quota is used up: the sender keeps the message and retries.
pub const MAILBOX_FULL: &str = "452 4.2.2 Mailbox full, try again later\r\n";

pub const LINE_TOO_LONG: &str = "500 5.5.2 Line too long\r\n";
pub const UNKNOWN_COMMAND: &str = "500 5.5.2 Command unrecognized\r\n";
pub const NOT_IMPLEMENTED: &str = "502 5.5.1 Command not implemented\r\n";
pub const START_TLS: &str = "220 2.0.0 Ready to start TLS\r\n";
/// RFC 3207 §4: STARTTLS inside TLS.
pub const ALREADY_TLS: &str = "503 5.5.1 TLS is already active\r\n";
pub const HELO_FIRST: &str = "503 5.5.1 Send EHLO or HELO first\r\n";
pub const NESTED_MAIL: &str = "503 5.5.1 Sender already specified\r\n";
pub const MAIL_FIRST: &str = "503 5.5.1 Send MAIL FROM first\r\n";
pub const RCPT_FIRST: &str = "503 5.5.1 No valid recipients\r\n";
pub const BDAT_IN_PROGRESS: &str =
    "503 5.5.1 DATA is not allowed after BDAT; finish with BDAT LAST\r\n";
pub const NO_AUTH_ON_MX: &str = "503 5.5.1 Authentication is not offered on this port\r\n";
pub const BAD_SENDER: &str = "501 5.1.7 Bad sender address syntax\r\n";
pub const BAD_RECIPIENT: &str = "501 5.1.3 Bad recipient address syntax\r\n";
pub const UNKNOWN_USER: &str = "550 5.1.1 No such user here\r\n";
pub const RELAY_DENIED: &str =
    "550 5.7.1 Relaying denied: this server does not relay for unauthenticated clients\r\n";
pub const BARE_LINE_ENDING: &str =
    "550 5.6.0 Message refused: lines must end with CRLF (bare CR or LF found)\r\n";
pub const TOO_BIG: &str = "552 5.3.4 Message size exceeds fixed maximum message size\r\n";

// Submission (RFC 4954, RFC 6409).
pub const AUTH_OK: &str = "235 2.7.0 Authentication successful\r\n";
pub const AUTH_TEMPORARY: &str = "454 4.7.0 Temporary authentication failure, try again later\r\n";
pub const AUTH_TOO_MANY_FAILURES: &str =
    "454 4.7.0 Too many failed authentication attempts, try again later\r\n";
pub const AUTH_CANCELLED: &str = "501 5.0.0 Authentication cancelled\r\n";
pub const AUTH_BAD_BASE64: &str = "501 5.5.2 Cannot decode the response as base64\r\n";
pub const AUTH_MALFORMED: &str = "501 5.5.2 Malformed PLAIN response\r\n";
pub const ALREADY_AUTHENTICATED: &str = "503 5.5.1 Already authenticated\r\n";
pub const AUTH_IN_TRANSACTION: &str = "503 5.5.1 AUTH is not allowed during a mail transaction\r\n";
pub const AUTH_MECHANISM: &str =
    "504 5.5.4 Unrecognized authentication mechanism (PLAIN and LOGIN are offered)\r\n";
pub const AUTH_REQUIRED: &str = "530 5.7.0 Authentication required\r\n";
pub const AUTH_INVALID: &str = "535 5.7.8 Authentication credentials invalid\r\n";
pub const ENCRYPTION_REQUIRED: &str = "538 5.7.11 Encryption required: send STARTTLS first\r\n";
pub const SENDER_NOT_OWNED: &str =
    "553 5.7.1 Sender address is not one of the authenticated user's addresses\r\n";
pub const NULL_SENDER_SUBMISSION: &str =
    "553 5.7.1 The null sender <> cannot be used for submission\r\n";
pub const REMOTE_NOT_AVAILABLE: &str =
    "550 5.3.3 Delivery to other domains is not available on this server yet\r\n";
pub const SEND_RATE_LIMITED: &str = "451 4.7.1 Sending rate limit reached, try again later\r\n";

pub const NOT_UTF8_ENABLED: &str =
    "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter\r\n";

/// A reply line for a syntax error, naming what was wrong.
pub fn syntax(detail: &str) -> String {
    format!("501 5.5.4 Syntax error: {detail}\r\n")
}

/// A reply for a MAIL/RCPT parameter mailroom does not support.
pub fn unsupported_param(p: &str) -> String {
    format!(
        "555 5.5.4 Unsupported parameter {}\r\n",
        p.chars()
            .filter(|c| c.is_ascii_graphic())
            .take(40)
            .collect::<String>()
    )
}

/// Submission: a From: header address that is not the user's.
pub fn from_not_owned(addr: &str) -> String {
    format!(
        "553 5.7.1 From: header address {} is not one of the authenticated user's addresses\r\n",
        printable(addr)
    )
}

/// Submission: a message without a usable From: header.
pub fn no_from(why: &str) -> String {
    format!("550 5.6.0 Message refused: {}\r\n", printable(why))
}

/// Text safe to put in a reply line.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The reply for a delivered message.
pub fn accepted(id: &str) -> String {
    format!("250 2.0.0 Message accepted, id {id}\r\n")
}

/// For a failed recipient lookup: permanent for "no such user", temporary for storage trouble.
pub fn for_recipient_error(e: &Error) -> &'static str {
    match e {
        Error::NotFound(_) => UNKNOWN_USER,
        Error::Invalid(_) => BAD_RECIPIENT,
        Error::Forbidden(_) => RELAY_DENIED,
        Error::OverQuota(_) => MAILBOX_FULL,
        Error::AlreadyExists(_)
        | Error::Modified(_)
        | Error::Unavailable(_)
        | Error::RateLimited(_)
        | Error::Internal(_) => TEMP_LOOKUP_FAILED,
    }
}
