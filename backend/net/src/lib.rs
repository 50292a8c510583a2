//! Connection plumbing the TCP gateways (SMTP, IMAP) share, so each protocol crate holds only
//! its protocol: [`Conn`], a client connection in plain text or upgraded to TLS, and
//! [`accept`], accepting connections within a total and a per-address limit.

mod accept;
mod conn;

pub use accept::{Limits, accept};
pub use conn::Conn;
