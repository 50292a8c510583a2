//! The inbound MTA: listener, session, and one file per SMTP verb.

mod data;
mod dot;
mod ehlo;
pub(crate) mod listener;
mod mail;
mod rcpt;
mod session;
mod trace;
