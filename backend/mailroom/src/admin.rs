//! The administration commands: domain, user, alias.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use mailroom_core::Core;

use crate::cli::{AliasCmd, DomainCmd, UserCmd};
use crate::config::Config;

pub async fn open(config: &Config) -> Result<Core> {
    if !config.data_dir.exists() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        // It holds password hashes, the token signing key and everyone's mail: owner only.
        #[cfg(unix)]
        std::fs::set_permissions(
            &config.data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .with_context(|| {
            format!(
                "cannot restrict data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    Ok(Core::open(&config.core).await?)
}

pub async fn domain(config: &Config, cmd: DomainCmd) -> Result<()> {
    let core = open(config).await?;
    match cmd {
        DomainCmd::Add { domain } => {
            let d = core.domain_add(&domain).await?;
            println!("added domain {}", d.name);
        }
        DomainCmd::List => {
            for d in core.domain_list().await? {
                println!("{}", d.name);
            }
        }
        DomainCmd::Remove { domain } => {
            core.domain_remove(&domain).await?;
            println!("removed domain {domain}");
        }
    }
    Ok(())
}

pub async fn dns(config: &Config, domain: &str) -> Result<()> {
    let core = open(config).await?;
    for line in core.dns_records(domain, &config.smtp.hostname).await? {
        println!("{line}");
    }
    Ok(())
}

/// `mailroom blobs gc`.
pub async fn gc(config: &Config, grace: Option<std::time::Duration>) -> Result<()> {
    let core = open(config).await?;
    let r = core
        .collect_garbage(grace.unwrap_or(config.gc.grace))
        .await?;
    println!(
        "uploads expired: {}\nmessage records forgotten: {}\nblobs moved to the trash: {}\n\
         blobs restored from the trash: {}\nblobs deleted: {} ({} bytes)",
        r.uploads_expired, r.messages_forgotten, r.trashed, r.restored, r.deleted, r.bytes_freed
    );
    Ok(())
}

pub async fn dkim_rotate(
    config: &Config,
    domain: &str,
    keep_old: std::time::Duration,
) -> Result<()> {
    let core = open(config).await?;
    let keys = core.dkim_rotate(domain, keep_old).await?;
    for k in mailroom_core::dkim::signing_keys(&keys) {
        println!("signing with {} ({})", k.selector, k.algorithm);
    }
    println!(
        "the old keys stay published for {}; publish the new records: mailroom dns {domain}",
        humantime::format_duration(keep_old)
    );
    Ok(())
}

pub async fn user(config: &Config, cmd: UserCmd) -> Result<()> {
    let core = open(config).await?;
    match cmd {
        UserCmd::Add {
            address,
            password_stdin,
            admin,
        } => {
            let pw = read_password(password_stdin, true)?;
            let a = core.user_add(&address, &pw).await?;
            if admin {
                core.user_set_admin(&a.address, true).await?;
                println!("added user {} (administrator)", a.address);
            } else {
                println!("added user {}", a.address);
            }
        }
        UserCmd::List => {
            for a in core.user_list().await? {
                if a.is_admin {
                    println!("{} (admin)", a.address);
                } else {
                    println!("{}", a.address);
                }
            }
        }
        UserCmd::Admin { address, remove } => {
            core.user_set_admin(&address, !remove).await?;
            if remove {
                println!("{address} is no longer an administrator");
            } else {
                println!("{address} is now an administrator");
            }
        }
        UserCmd::Passwd {
            address,
            password_stdin,
        } => {
            let pw = read_password(password_stdin, true)?;
            core.user_set_password(&address, &pw).await?;
            println!("password changed for {address}");
        }
        UserCmd::Remove { address } => {
            core.user_remove(&address).await?;
            println!("removed user {address} and all their mail");
        }
        UserCmd::Quota {
            address,
            limit,
            recount,
        } => {
            if recount {
                let account = core.user_get(&address).await?;
                core.recount_usage(account.id).await?;
            }
            if let Some(limit) = limit {
                let bytes = match limit {
                    crate::cli::QuotaLimit::Unlimited => None,
                    crate::cli::QuotaLimit::Bytes(b) => Some(b),
                };
                core.user_set_quota(&address, bytes).await?;
            }
            let account = core.user_get(&address).await?;
            let q = core.quota(account.id).await?;
            match q.limit {
                Some(l) => println!(
                    "{address}: {} of {} used ({} of {l} bytes)",
                    human(q.used),
                    human(l),
                    q.used
                ),
                None => println!(
                    "{address}: {} used ({} bytes), no limit",
                    human(q.used),
                    q.used
                ),
            }
        }
    }
    Ok(())
}

pub async fn alias(config: &Config, cmd: AliasCmd) -> Result<()> {
    let core = open(config).await?;
    match cmd {
        AliasCmd::Add { alias, target } => {
            core.alias_add(&alias, &target).await?;
            println!("{alias} now delivers to {target}");
        }
        AliasCmd::List => {
            for a in core.alias_list().await? {
                println!("{} -> {}", a.address, a.target);
            }
        }
        AliasCmd::Remove { alias, target } => {
            core.alias_remove(&alias, &target).await?;
            println!("removed {alias} -> {target}");
        }
    }
    Ok(())
}

/// From the first line of stdin, or a no-echo prompt (asked twice) on a terminal.
fn read_password(from_stdin: bool, confirm: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(pw);
    }
    let pw = rpassword::prompt_password("Password: ").context("reading the password")?;
    if confirm {
        let again =
            rpassword::prompt_password("Password (again): ").context("reading the password")?;
        if again != pw {
            bail!("the passwords do not match");
        }
    }
    Ok(pw)
}

/// Bytes for people: 1.5 GiB, 320 KiB.
fn human(b: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
