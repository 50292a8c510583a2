//! SMTP sessions (inbound MTA and submission): listener, session, and one file per verb.

mod auth;
mod data;
mod dot;
mod ehlo;
pub(crate) mod listener;
mod mail;
mod rcpt;
mod session;
mod submit;
mod trace;
