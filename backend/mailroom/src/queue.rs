//! `mailroom queue list|retry|remove`: the outbound queue from the command line.

use anyhow::{Result, bail};
use chrono::{TimeZone, Utc};

use crate::cli::QueueCmd;
use crate::config::Config;

pub async fn run(config: &Config, cmd: QueueCmd) -> Result<()> {
    let core = crate::admin::open(config).await?;
    match cmd {
        QueueCmd::List => {
            let entries = core.queue_list().await?;
            if entries.is_empty() {
                println!("the queue is empty");
            }
            let at = |t: i64| {
                Utc.timestamp_opt(t, 0)
                    .single()
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default()
            };
            for e in entries {
                let m = &e.message;
                let from = if m.mail_from.is_empty() {
                    "<>"
                } else {
                    &m.mail_from
                };
                println!(
                    "{} from {from} queued {} size {}",
                    m.id,
                    at(m.created_at),
                    m.size
                );
                for r in &e.recipients {
                    let next = if r.status == "queued" {
                        format!(" next {}", at(r.next_attempt_at))
                    } else {
                        String::new()
                    };
                    println!(
                        "  {} {} attempts {}{next} {}",
                        r.address,
                        r.status,
                        r.attempts,
                        r.last_reply.as_deref().unwrap_or("")
                    );
                }
            }
        }
        QueueCmd::Retry { id, all } => {
            if id.is_none() && !all {
                bail!("give a message id, or --all");
            }
            let n = core.queue_retry(id).await?;
            println!("{n} recipient(s) due now");
        }
        QueueCmd::Remove { id } => {
            core.queue_remove(id).await?;
            println!("removed {id} from the queue");
        }
    }
    Ok(())
}
