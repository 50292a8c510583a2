//! End-to-end tests: the real `mailroom` binary on ephemeral ports, driven by independent
//! clients (the mail-send crate, Python's smtplib, raw SMTP transcripts), checked through the
//! service layer opened on the same storage.
//!
//! Every test runs on SQLite; each also runs on Postgres when `MAILROOM_TEST_POSTGRES_URL`
//! names a server (e.g. `postgres://root@127.0.0.1:5432/test`), in a database of its own.

mod acme;
mod autoconfig;
mod cli;
mod corpus;
mod crash;
mod dkim;
mod gc;
mod harness;
mod imap;
mod imap_clients;
mod jmap;
mod mbox;
mod outbound;
mod rest;
mod s3;
mod smtp_delivery;
mod smtp_edge;
mod submission;
mod tidy;
mod tls;

/// Runs an async test body once per backend: `backends!(name)` expects
/// `async fn name(b: Backend)` in scope and makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::harness::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::harness::Backend::postgres() {
                    Some(b) => super::$name(b).await,
                    None => eprintln!(
                        "skipped: {} on Postgres (set MAILROOM_TEST_POSTGRES_URL to run it)",
                        stringify!($name)
                    ),
                }
            }
        }
    };
}
