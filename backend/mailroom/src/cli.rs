//! The command line (a stable interface: scripts and external checks rely on these names).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "mailroom",
    version,
    about = "A JMAP/REST-first mail server with SMTP, IMAP and a bundled webmail"
)]
pub struct Cli {
    /// Configuration file (TOML). Without one, defaults apply and every listener starts on loopback.
    #[arg(long, global = true, env = "MAILROOM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: apply migrations, start the listeners.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage the domains mailroom receives mail for.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Manage users (mail accounts).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage a domain's DKIM keys.
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// Print the DNS records DOMAIN should publish (MX, SPF, DKIM, DMARC, TLS-RPT, SRV), one
    /// per line in zone-file form; lines starting with `;` are hints to fill in.
    Dns { domain: String },
    /// Manage aliases; `@domain` as ALIAS makes TARGET the domain's catch-all.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// See and manage the outbound queue (mail waiting for other domains).
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Export or import a mailbox as an mbox file (mboxrd).
    #[command(subcommand)]
    Mbox(MboxCmd),
    /// The key that signs access tokens (`jwt.key` in the data directory).
    #[command(subcommand, name = "token-key")]
    TokenKey(TokenKeyCmd),
    /// Stored bytes: reclaim what nothing refers to any more.
    #[command(subcommand)]
    Blobs(BlobsCmd),
    /// Measure a running server.
    #[command(subcommand)]
    Bench(crate::bench::BenchCmd),
    /// Print the REST API's OpenAPI document (as served at /api/openapi.json).
    Openapi,
}

#[derive(Subcommand, Debug)]
pub enum DomainCmd {
    Add { domain: String },
    List,
    Remove { domain: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user; prompts for the password unless --password-stdin.
    Add {
        address: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Make the user an administrator (the admin REST endpoints, admin API tokens).
        #[arg(long)]
        admin: bool,
    },
    List,
    /// Make a user an administrator, or (--remove) no longer one.
    Admin {
        address: String,
        #[arg(long)]
        remove: bool,
    },
    /// Change a user's password.
    Passwd {
        address: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a user and all their mail.
    Remove {
        address: String,
    },
    /// Show a user's storage use and limit, or set the limit: a size such as 500M, 2G,
    /// 1048576 (bytes), or `none` for unlimited. Over the limit, SMTP answers 452 4.2.2,
    /// IMAP APPEND [OVERQUOTA] and JMAP overQuota.
    Quota {
        address: String,
        #[arg(value_parser = parse_quota)]
        limit: Option<QuotaLimit>,
        /// Count the used bytes again from the user's emails first.
        #[arg(long)]
        recount: bool,
    },
}

/// `mailroom user quota`'s new limit.
#[derive(Clone, Debug)]
pub enum QuotaLimit {
    Unlimited,
    Bytes(i64),
}

fn parse_quota(s: &str) -> Result<QuotaLimit, String> {
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(QuotaLimit::Unlimited);
    }
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 500M, 2G, none)"))?;
    let mult: i64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{s:?}: the unit is K, M, G or T")),
    };
    n.checked_mul(mult)
        .map(QuotaLimit::Bytes)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[derive(Subcommand, Debug)]
pub enum DkimCmd {
    /// New keys (Ed25519 and RSA-2048) sign from now on; the current ones stay in the DNS
    /// records for KEEP_OLD (mail they signed may still be on its way). Publish the new
    /// records (`mailroom dns DOMAIN`) before mail goes out.
    Rotate {
        domain: String,
        /// How long the old keys stay published, e.g. 7d, 48h.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        keep_old: std::time::Duration,
    },
}

#[derive(Subcommand, Debug)]
pub enum QueueCmd {
    /// Every queued message: id, sender, age, and each recipient's status, attempts, next
    /// attempt and last reply.
    List,
    /// Try now instead of at the next scheduled time: message ID, or every message.
    Retry {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Drop a queued message without sending it or bouncing it.
    Remove { id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum TokenKeyCmd {
    /// Sign new access tokens with a new key. A running server picks it up within seconds;
    /// tokens signed with the previous key stay valid until they expire (15 minutes).
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum BlobsCmd {
    /// Collect garbage now (`serve` does it every `[blobs] gc_interval`): unused blobs go to
    /// the trash, and those unused for the grace period are deleted.
    Gc {
        /// How old a blob must be, and how long unused in the trash, before it goes
        /// (default: `[blobs] gc_grace`). `0s` deletes in one run: only with the server
        /// stopped, or a delivery of the same bytes at that moment may lose them.
        #[arg(long, value_parser = humantime::parse_duration)]
        grace: Option<std::time::Duration>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCmd {
    Add { alias: String, target: String },
    List,
    Remove { alias: String, target: String },
}

#[derive(Subcommand, Debug)]
pub enum MboxCmd {
    /// Write a mailbox as mboxrd, each message's stored bytes unchanged.
    Export {
        address: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// Output file (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Append every message of an mbox file to a mailbox, as deliveries.
    Import {
        address: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        file: PathBuf,
    },
}

pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Bench(cmd) = cli.command {
        return crate::bench::run(cmd, cli.config.as_deref()).await;
    }
    if let Command::Openapi = cli.command {
        // Needs no configuration: the document depends on the code only.
        let doc = mailroom_api::openapi()
            .to_pretty_json()
            .map_err(|e| anyhow::anyhow!("openapi: {e}"))?;
        println!("{doc}");
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => crate::serve::run(config).await,
        Command::Migrate => {
            crate::admin::open(&config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Domain(c) => crate::admin::domain(&config, c).await,
        Command::User(c) => crate::admin::user(&config, c).await,
        Command::Dns { domain } => crate::admin::dns(&config, &domain).await,
        Command::Dkim(DkimCmd::Rotate { domain, keep_old }) => {
            crate::admin::dkim_rotate(&config, &domain, keep_old).await
        }
        Command::Alias(c) => crate::admin::alias(&config, c).await,
        Command::Queue(c) => crate::queue::run(&config, c).await,
        Command::Blobs(BlobsCmd::Gc { grace }) => crate::admin::gc(&config, grace).await,
        Command::TokenKey(TokenKeyCmd::Rotate) => {
            let path = config.data_dir.join("jwt.key");
            mailroom_api::tokens::rotate_key(&path)
                .map_err(|e| anyhow::anyhow!("cannot rotate {}: {e}", path.display()))?;
            println!(
                "new token signing key in {}; the previous one stays valid for tokens it signed",
                path.display()
            );
            Ok(())
        }
        Command::Mbox(MboxCmd::Export {
            address,
            mailbox,
            out,
        }) => crate::mbox::export(&config, &address, &mailbox, out.as_deref()).await,
        Command::Mbox(MboxCmd::Import {
            address,
            mailbox,
            file,
        }) => crate::mbox::import(&config, &address, &mailbox, &file).await,
        Command::Bench(_) | Command::Openapi => unreachable!("handled above"),
    }
}
