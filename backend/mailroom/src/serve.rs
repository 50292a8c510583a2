//! `mailroom serve`: open storage, start the listeners, stop cleanly on a signal.

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

pub async fn run(config: Config) -> Result<()> {
    let core = crate::admin::open(&config).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    println!(
        "mailroom {} — data in {}",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display()
    );
    match &config.file {
        Some(f) => println!("configuration: {}", f.display()),
        None => println!("configuration: none (defaults; every listener on loopback)"),
    }
    let tls = crate::tls::load(&config)?;
    match tls.origin {
        crate::tls::Origin::SelfSigned => println!(
            "tls: self-signed certificate {} (set [tls] cert and key, or [tls.acme], for a real one)",
            tls.cert.display()
        ),
        crate::tls::Origin::Acme { issued: false } => println!(
            "tls: self-signed certificate {} until the ACME certificate is issued",
            tls.cert.display()
        ),
        crate::tls::Origin::Files | crate::tls::Origin::Acme { issued: true } => {
            println!("tls: certificate {}", tls.cert.display())
        }
    }
    // Made before any listener: a `ca_cert` that does not load is a start-up error.
    let acme = match &config.acme {
        Some(a) => {
            println!(
                "acme: certificates for {} from {}; the CA must reach [listen] http on port 80 of each name",
                a.domains.join(", "),
                a.directory
            );
            Some(crate::acme::Client::new(a, &config.data_dir)?)
        }
        None => None,
    };
    // HTTP-01 answers: filled by the ACME task, served by the HTTP router.
    let acme_challenges = mailroom_api::acme_challenge::AcmeChallenges::default();
    if let Some(every) = config.gc.interval {
        core.spawn_garbage_collector(every, config.gc.grace);
    }
    // The outbound queue's worker: mail for other domains that core accepted.
    let d = config.delivery.clone();
    let verified = mailroom_smtp::outbound::verified_tls(Vec::new()).map_err(anyhow::Error::msg)?;
    let mta_sts =
        mailroom_smtp::outbound::mta_sts::MtaSts::new(verified.clone(), &[], Some(core.clone()))
            .map_err(anyhow::Error::msg)?;
    tasks.push(tokio::spawn(mailroom_smtp::run_queue(
        core.clone(),
        mailroom_smtp::DeliveryConfig {
            hostname: config.smtp.hostname.clone(),
            concurrency: d.concurrency,
            retry_intervals: d.retry_intervals,
            give_up_after: d.give_up_after,
            delay_notice_after: d.delay_notice_after,
            routes: d.routes,
            relay: d.relay,
            relay_auth: d.relay_auth.map(|a| (a.username, a.password)),
            connect_timeout: d.connect_timeout,
            command_timeout: d.command_timeout,
            tls: Some(mailroom_smtp::outbound::opportunistic_tls()),
            verified_tls: std::sync::Arc::new(verified),
            mta_sts,
            dns: mailroom_smtp::outbound::route::Dns::system(),
            signers: Default::default(),
            connections: Default::default(),
        },
        stop_rx.clone(),
    )));
    let mut smtp_config = config.smtp.clone();
    smtp_config.tls = Some(tls.config.clone());
    if let Some(addr) = config.listen_smtp {
        let l = bind("smtp", addr).await?;
        tasks.push(tokio::spawn(mailroom_smtp::serve(
            l,
            core.clone(),
            smtp_config.clone(),
            stop_rx.clone(),
        )));
    }
    // Autoconfiguration tells mail clients the ports actually bound.
    let mut mail_ports = mailroom_api::autoconfig::MailPorts::default();
    for (key, addr, implicit_tls) in [
        ("submission", config.listen_submission, false),
        ("submissions", config.listen_submissions, true),
    ] {
        let Some(addr) = addr else { continue };
        let l = bind(key, addr).await?;
        let port = Some(l.local_addr()?.port());
        if implicit_tls {
            mail_ports.submissions = port;
        } else {
            mail_ports.submission = port;
        }
        tasks.push(tokio::spawn(mailroom_smtp::serve_submission(
            l,
            core.clone(),
            smtp_config.clone(),
            implicit_tls,
            stop_rx.clone(),
        )));
    }
    for (key, addr, implicit_tls) in [
        ("imap", config.listen_imap, false),
        ("imaps", config.listen_imaps, true),
    ] {
        let Some(addr) = addr else { continue };
        let l = bind(key, addr).await?;
        let port = Some(l.local_addr()?.port());
        if implicit_tls {
            mail_ports.imaps = port;
        } else {
            mail_ports.imap = port;
        }
        let imap_config = mailroom_imap::ImapConfig {
            tls: Some(tls.config.clone()),
            // An APPENDed message may be as large as one received over SMTP.
            max_literal: config.smtp.max_message_size as u32,
            ..config.imap.clone()
        };
        tasks.push(tokio::spawn(mailroom_imap::serve(
            l,
            core.clone(),
            imap_config,
            implicit_tls,
            stop_rx.clone(),
        )));
    }
    // https first: tests and scripts read every other address before the `http` line.
    let mut https = None;
    if let Some(addr) = config.listen_https {
        let l = bind("https", addr).await?;
        let bound = l.local_addr()?;
        println!("JMAP session: https://{bound}/jmap/session");
        https = Some((l, tls.config.clone()));
    }
    let mut http = None;
    if let Some(addr) = config.listen_http {
        let l = bind("http", addr).await?;
        let bound = l.local_addr()?;
        println!("JMAP session: http://{bound}/jmap/session (HTTP Basic: address and password)");
        println!("API docs: http://{bound}/api/docs");
        http = Some(l);
    }
    if http.is_some() || https.is_some() {
        let (core, stop, dir) = (core.clone(), stop_rx.clone(), config.data_dir.clone());
        let mut settings = config.http.clone();
        settings.mail_ports = mail_ports.clone();
        settings.acme_challenges = acme_challenges.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = mailroom_api::serve(http, https, core, settings, &dir, stop).await {
                tracing::error!(error = %e, "http server stopped");
            }
        }));
    }
    // After the HTTP listener is bound, so the CA's first validation finds it.
    if let Some(client) = acme {
        tasks.push(crate::acme::spawn(client, acme_challenges, stop_rx.clone()));
    }
    let listeners = [
        config.listen_smtp,
        config.listen_submission,
        config.listen_submissions,
        config.listen_imap,
        config.listen_imaps,
        config.listen_http,
        config.listen_https,
    ];
    if listeners.iter().all(Option::is_none) {
        println!(
            "no listener configured (set [listen] smtp = \"127.0.0.1:2525\" and http = \"127.0.0.1:8080\")"
        );
    }
    if core.domain_list().await?.is_empty() {
        // Name the binary as it was started (e.g. target/release/mailroom after `cargo run`),
        // so the hint works when it is not on PATH.
        let me = std::env::args().next().unwrap_or_else(|| "mailroom".into());
        let cfg = config
            .file
            .as_ref()
            .map(|f| format!(" --config {}", f.display()))
            .unwrap_or_default();
        println!("no domains yet. To receive mail, add a domain and a user (from this directory):");
        println!("  {me}{cfg} domain add example.test");
        println!("  {me}{cfg} user add alice@example.test");
    }
    if let Some(addr) = config.listen_smtp {
        println!("send mail with: swaks --server {addr} --to alice@example.test");
        println!(
            "          or: curl smtp://{addr} --mail-from you@elsewhere.test --mail-rcpt alice@example.test -T message.eml"
        );
    }
    if let Some(addr) = config.listen_submission.or(config.listen_submissions) {
        println!(
            "mail clients: send through {addr} ({}), with your address and password",
            if config.listen_submission.is_some() {
                "STARTTLS"
            } else {
                "TLS"
            }
        );
    }
    if let Some(addr) = config.listen_imap.or(config.listen_imaps) {
        println!(
            "mail clients: read mail over IMAP at {addr} ({}), with your address and password",
            if config.listen_imap.is_some() {
                "STARTTLS; plain text allowed from this machine"
            } else {
                "TLS"
            }
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
    }
    // What the sessions committed last is made durable on its own now, not by the next
    // start's recovery.
    if let Err(e) = core.flush().await {
        tracing::warn!(error = %e, "finishing the journal and the text index at shutdown failed");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Binds a listener and announces it. Printed in this exact form: tests and scripts read the
/// bound port from `KEY listening on ADDR`.
async fn bind(key: &str, addr: std::net::SocketAddr) -> Result<TcpListener> {
    let l = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen.{key}: cannot listen on {addr}"))?;
    println!("{key} listening on {}", l.local_addr()?);
    Ok(l)
}
