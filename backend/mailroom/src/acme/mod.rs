//! Certificates from an ACME CA (RFC 8555; Let's Encrypt and the like), when `[tls.acme]` is
//! set.
//!
//! Brief overview:
//! - `renew.rs`: the task [`spawn`] starts: at start-up, every 12 hours and after failures
//!   (with backoff) it asks `due.rs` whether a certificate is needed and, if so, orders one.
//!   Failures are logged and retried; they never stop the server.
//! - `due.rs`: whether the stored certificate is missing, unreadable, from another CA, not
//!   for the configured names or near its end; else when it will be.
//! - `account.rs`: the HTTPS client for the CA (our aws-lc-rs rustls configuration, plus
//!   `ca_cert` for test CAs) and the account, kept in the data directory and reused.
//! - `order.rs`: one order, its HTTP-01 challenges answered through
//!   [`AcmeChallenges`](mailroom_api::acme_challenge::AcmeChallenges), the map the HTTP
//!   router serves at `/.well-known/acme-challenge/`.
//! - `files.rs`: where all this is kept (`<data_dir>/acme/`) and how it is written (temporary
//!   file, sync, rename; secrets owner-only).
//!
//! The TLS configuration (`tls.rs`) watches `files.rs`'s certificate and key like `[tls]`
//! files and serves them once they load; until then it serves the self-signed certificate.

mod account;
mod due;
mod files;
mod order;
mod renew;

pub use account::Client;
pub use files::Files;
pub use renew::spawn;
