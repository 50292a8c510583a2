//! QUOTA (RFC 9208): each account is one quota root, `""`, over all its mailboxes, with the
//! STORAGE resource (KiB) when an administrator set a limit (`mailroom user quota`). An
//! account without a limit has no quota root (RFC 9208 §3.3 allows a mailbox none).

use imap_codec::imap_types::core::{AString, Vec1};
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::mailbox::Mailbox as ImapMailbox;
use imap_codec::imap_types::response::Data;

use crate::reply::{Handled, Reply, code};
use crate::session::Session;

fn root() -> AString<'static> {
    AString::try_from("").expect("empty string")
}

impl Session {
    /// The root's QUOTA response, if the account has a limit.
    async fn quota_data(&mut self) -> Result<Option<Data<'static>>, Reply> {
        let account = self.user.as_ref().expect("authenticated").id;
        let q = self.shared.core.quota(account).await?;
        Ok(q.limit.map(|limit| {
            let used = (q.used.max(0) as u64).div_ceil(1024);
            let limit = limit.max(0) as u64 / 1024;
            Data::Quota {
                root: root(),
                quotas: Vec1::from(QuotaGet::new(Resource::Storage, used, limit)),
            }
        }))
    }

    pub(crate) async fn get_quota_root(&mut self, mailbox: ImapMailbox<'static>) -> Handled {
        let f = self.folder(&mailbox).await?;
        let quota = self.quota_data().await?;
        self.data(Data::QuotaRoot {
            mailbox: self.wire_name(&f.name),
            roots: quota.iter().map(|_| root()).collect(),
        });
        if let Some(q) = quota {
            self.data(q);
        }
        Ok(Reply::Ok(None, "GETQUOTAROOT completed".into()))
    }

    pub(crate) async fn get_quota(&mut self, name: AString<'static>) -> Handled {
        let quota = if name.as_ref().is_empty() {
            self.quota_data().await?
        } else {
            None
        };
        match quota {
            Some(q) => {
                self.data(q);
                Ok(Reply::Ok(None, "GETQUOTA completed".into()))
            }
            None => Err(Reply::No(
                Some(code("NONEXISTENT")),
                "no such quota root".into(),
            )),
        }
    }

    pub(crate) fn set_quota(&mut self) -> Handled {
        Err(Reply::No(
            Some(code("NOPERM")),
            "quotas are set by the administrator".into(),
        ))
    }
}
