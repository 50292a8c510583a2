//! Changing emails: keywords, mailbox membership, destruction. Each call is one transaction;
//! every changed email gets its own change sequence number, and mailboxes whose counts move
//! are logged as updated. Rows are locked in the same order as deliveries (mailboxes by id,
//! then the account), so the two cannot deadlock on Postgres.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use crate::entity::{account, change, email, mailbox, mailbox_email};
use crate::model::{ChangeOp, ObjectType};
use crate::{Result, Store, StoreError};

/// The new state of one email: each field `None` (or empty) leaves it as it is. Changes
/// given as additions and removals apply to the email as it is when the transaction has it
/// locked, so two writers adding different keywords both take effect.
#[derive(Clone, Debug, Default)]
pub struct EmailPatch {
    pub email_id: i64,
    /// Space-separated, normalised keywords: the complete set.
    pub keywords: Option<String>,
    /// Normalised keywords to add and to remove (after `keywords`).
    pub add_keywords: Vec<String>,
    pub remove_keywords: Vec<String>,
    /// The complete set of mailboxes (non-empty, the account's own: checked by the caller).
    pub mailboxes: Option<BTreeSet<i64>>,
    /// Mailboxes (the account's own) to add and to remove (after `mailboxes`).
    pub add_mailboxes: Vec<i64>,
    pub remove_mailboxes: Vec<i64>,
    /// When the removals leave the email in no mailbox: destroy it (IMAP EXPUNGE). Without
    /// this, such a patch leaves the mailboxes as they were.
    pub destroy_if_unfiled: bool,
    /// Apply only if the email's modseq is at most this (IMAP STORE UNCHANGEDSINCE);
    /// checked inside the transaction.
    pub unchanged_since: Option<i64>,
}

/// What a patch does to an email as it is now.
struct Outcome {
    keywords: String,
    mailboxes: BTreeSet<i64>,
    destroy: bool,
}

fn outcome(p: &EmailPatch, e: &email::Model, boxes: &BTreeSet<i64>) -> Outcome {
    let mut kw: BTreeSet<String> = p
        .keywords
        .as_deref()
        .unwrap_or(&e.keywords)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    kw.extend(p.add_keywords.iter().cloned());
    kw.retain(|k| !p.remove_keywords.contains(k));
    let mut mailboxes = p.mailboxes.clone().unwrap_or_else(|| boxes.clone());
    mailboxes.extend(p.add_mailboxes.iter().copied());
    mailboxes.retain(|m| !p.remove_mailboxes.contains(m));
    let destroy = mailboxes.is_empty() && p.destroy_if_unfiled;
    if mailboxes.is_empty() && !destroy {
        mailboxes = boxes.clone();
    }
    Outcome {
        keywords: kw.into_iter().collect::<Vec<_>>().join(" "),
        mailboxes,
        destroy,
    }
}

impl Store {
    /// Applies the patches of emails that belong to the account; returns the new state (or
    /// `None` when nothing was written) and the ids of emails left alone because they
    /// changed after their patch's `unchanged_since`. Patches that change nothing write
    /// nothing.
    pub async fn update_emails(
        &self,
        account_id: i64,
        patches: &[EmailPatch],
    ) -> Result<(Option<i64>, Vec<i64>)> {
        let tx = self.begin_write().await?;
        // Emails locked in id order (Postgres), so what is read here is what is changed.
        let mut ids: Vec<i64> = patches.iter().map(|p| p.email_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut current: BTreeMap<i64, (email::Model, BTreeSet<i64>)> = BTreeMap::new();
        for id in ids {
            current.insert(id, load(&tx, self.kind, account_id, id).await?);
        }
        let mut skipped = Vec::new();
        let mut work: Vec<(&EmailPatch, Outcome)> = Vec::new();
        for p in patches {
            let (e, boxes) = &current[&p.email_id];
            if p.unchanged_since.is_some_and(|u| e.modseq > u) {
                skipped.push(p.email_id);
                continue;
            }
            let o = outcome(p, e, boxes);
            if o.destroy || o.keywords != e.keywords || o.mailboxes != *boxes {
                work.push((p, o));
            }
        }
        if work.is_empty() {
            return Ok((None, skipped));
        }
        // Lock order: mailboxes that gain a message (UIDs), then the account (seq).
        let mut gaining: BTreeMap<i64, i64> = BTreeMap::new();
        for (p, o) in &work {
            if !o.destroy {
                for m in o.mailboxes.difference(&current[&p.email_id].1) {
                    *gaining.entry(*m).or_default() += 1;
                }
            }
        }
        let mut next_uid = BTreeMap::new();
        for (&m, &n) in &gaining {
            let end = crate::delivery::bump(
                &tx,
                mailbox::Entity,
                mailbox::Column::Id,
                mailbox::Column::UidNext,
                m,
                n,
            )
            .await?;
            next_uid.insert(m, end - n);
        }
        let n = work.len() as i64;
        let end = reserve_seqs(&tx, account_id, n).await?;
        let mut seq = end - n;
        let mut changes = Vec::new();
        let mut freed = 0;
        let mut destroyed = BTreeSet::new();
        for (p, o) in &work {
            seq += 1;
            let (e, boxes) = &current[&p.email_id];
            if o.destroy {
                destroy_one(&tx, account_id, seq, e, boxes, &mut changes).await?;
                if destroyed.insert(e.id) {
                    freed += e.size;
                }
                continue;
            }
            let mut touched: BTreeSet<i64> = BTreeSet::new();
            if o.keywords != e.keywords {
                email::Entity::update_many()
                    .col_expr(email::Column::Keywords, Expr::value(o.keywords.clone()))
                    .filter(email::Column::Id.eq(e.id))
                    .exec(&*tx)
                    .await?;
                // Unread counts of every mailbox holding it may move.
                touched.extend(boxes.iter().copied());
            }
            let new = &o.mailboxes;
            let gone: Vec<i64> = boxes.difference(new).copied().collect();
            if !gone.is_empty() {
                mailbox_email::Entity::delete_many()
                    .filter(mailbox_email::Column::EmailId.eq(e.id))
                    .filter(mailbox_email::Column::MailboxId.is_in(gone.clone()))
                    .exec(&*tx)
                    .await?;
            }
            for m in new.difference(boxes) {
                let uid = next_uid.get_mut(m).expect("reserved above");
                mailbox_email::Entity::insert(mailbox_email::ActiveModel {
                    mailbox_id: Set(*m),
                    uid: Set(*uid),
                    email_id: Set(e.id),
                    modseq: Set(seq),
                    received_at: Set(e.received_at),
                })
                .exec_without_returning(&*tx)
                .await?;
                *uid += 1;
                touched.insert(*m);
            }
            touched.extend(gone);
            email::Entity::update_many()
                .col_expr(email::Column::Modseq, Expr::value(seq))
                .filter(email::Column::Id.eq(e.id))
                .exec(&*tx)
                .await?;
            tx.execute(
                Query::update()
                    .table(mailbox_email::Entity)
                    .value(mailbox_email::Column::Modseq, seq)
                    .and_where(Expr::col(mailbox_email::Column::EmailId).eq(e.id)),
            )
            .await?;
            changes.push(log(
                account_id,
                seq,
                ObjectType::Email,
                e.id,
                ChangeOp::Updated,
            ));
            changes.extend(
                touched
                    .into_iter()
                    .map(|m| log(account_id, seq, ObjectType::Mailbox, m, ChangeOp::Updated)),
            );
        }
        crate::account::add_used_bytes(&*tx, account_id, -freed).await?;
        crate::delivery::insert_changes(&tx, changes).await?;
        tx.commit().await?;
        Ok((Some(end), skipped))
    }

    /// Destroys emails of the account (their memberships go with them); returns the new state.
    pub async fn destroy_emails(&self, account_id: i64, ids: &[i64]) -> Result<i64> {
        let tx = self.begin_write().await?;
        let mut sorted: Vec<i64> = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut found = Vec::new();
        for id in sorted {
            found.push(load(&tx, self.kind, account_id, id).await?);
        }
        let n = found.len() as i64;
        let end = reserve_seqs(&tx, account_id, n).await?;
        let mut seq = end - n;
        let mut changes = Vec::new();
        for (e, boxes) in &found {
            seq += 1;
            destroy_one(&tx, account_id, seq, e, boxes, &mut changes).await?;
        }
        let freed: i64 = found.iter().map(|(e, _)| e.size).sum();
        crate::account::add_used_bytes(&*tx, account_id, -freed).await?;
        crate::delivery::insert_changes(&tx, changes).await?;
        tx.commit().await?;
        Ok(end)
    }
}

/// Deletes one email (its memberships go with it) and logs it, its thread and mailboxes.
async fn destroy_one(
    tx: &DatabaseTransaction,
    account_id: i64,
    seq: i64,
    e: &email::Model,
    boxes: &BTreeSet<i64>,
    changes: &mut Vec<change::ActiveModel>,
) -> Result<()> {
    email::Entity::delete_by_id(e.id).exec(tx).await?;
    let left = email::Entity::find()
        .filter(email::Column::AccountId.eq(account_id))
        .filter(email::Column::ThreadId.eq(e.thread_id))
        .one(tx)
        .await?;
    let thread_op = if left.is_some() {
        ChangeOp::Updated
    } else {
        ChangeOp::Destroyed
    };
    changes.push(log(
        account_id,
        seq,
        ObjectType::Email,
        e.id,
        ChangeOp::Destroyed,
    ));
    changes.push(log(
        account_id,
        seq,
        ObjectType::Thread,
        e.thread_id,
        thread_op,
    ));
    changes.extend(
        boxes
            .iter()
            .map(|&m| log(account_id, seq, ObjectType::Mailbox, m, ChangeOp::Updated)),
    );
    Ok(())
}

/// The account's email `id` with the mailboxes it is in; `NotFound` if it is not the account's.
/// On Postgres the row is locked until commit (`FOR UPDATE`): a concurrent writer of the
/// same email waits and then reads what this one wrote. (SQLite has one writer at a time.)
async fn load(
    tx: &DatabaseTransaction,
    kind: crate::DbKind,
    account_id: i64,
    id: i64,
) -> Result<(email::Model, BTreeSet<i64>)> {
    let mut q = email::Entity::find_by_id(id).filter(email::Column::AccountId.eq(account_id));
    if kind == crate::DbKind::Postgres {
        q = q.lock_exclusive();
    }
    let e = q
        .one(tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("email {id}")))?;
    Ok((e, memberships(tx, id).await?))
}

/// Reserves `n` change sequence numbers of the account (locking its row until commit);
/// returns the last, so the reserved ones are `end - n + 1 ..= end`.
pub(crate) async fn reserve_seqs(tx: &DatabaseTransaction, account_id: i64, n: i64) -> Result<i64> {
    crate::delivery::bump(
        tx,
        account::Entity,
        account::Column::Id,
        account::Column::ChangeSeq,
        account_id,
        n,
    )
    .await
}

async fn memberships(tx: &DatabaseTransaction, email_id: i64) -> Result<BTreeSet<i64>> {
    Ok(mailbox_email::Entity::find()
        .filter(mailbox_email::Column::EmailId.eq(email_id))
        .all(tx)
        .await?
        .into_iter()
        .map(|m| m.mailbox_id)
        .collect())
}

/// One change-log row (every write of an account logs what it changed at which seq).
/// Records one change (a single object's) in the log.
pub(crate) async fn log_one(
    tx: &DatabaseTransaction,
    account_id: i64,
    seq: i64,
    ty: ObjectType,
    id: i64,
    op: ChangeOp,
) -> Result<()> {
    crate::delivery::insert_changes(tx, vec![log(account_id, seq, ty, id, op)]).await
}

pub(crate) fn log(
    account_id: i64,
    seq: i64,
    ty: ObjectType,
    id: i64,
    op: ChangeOp,
) -> change::ActiveModel {
    change::ActiveModel {
        account_id: Set(account_id),
        seq: Set(seq),
        object_type: Set(ty as i16),
        object_id: Set(id),
        op: Set(op as i16),
        ..Default::default()
    }
}
