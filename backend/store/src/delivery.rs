//! The write path for new mail: a batch of deliveries in one transaction.
//!
//! Group commit hands this a batch of messages whose blobs are already durable. For each
//! target mailbox the batch takes a block of UIDs with one `UPDATE … RETURNING`, and for each
//! account a block of change sequence numbers likewise, so concurrent writers (several nodes on
//! one Postgres) serialise on those rows and never hand out a UID or MODSEQ twice. Rows are
//! locked in id order so two batches cannot deadlock.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::entity::{account, change, email, mailbox, mailbox_email, message, thread_ref};
use crate::model::{ChangeOp, MessageMeta, ObjectType};
use crate::{BlobId, DbKind, Result, Store, StoreError};

/// A message ready to be filed: its blob is stored, its metadata parsed, its recipients resolved.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub blob_id: BlobId,
    pub meta: MessageMeta,
    pub received_at: i64,
    pub targets: Vec<Target>,
}

/// One mailbox of one account that receives the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub account_id: i64,
    pub mailbox_id: i64,
    /// Space-separated keywords the new email starts with (JMAP form, e.g. `$seen`).
    pub keywords: String,
}

/// Where a message was filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub account_id: i64,
    pub mailbox_id: i64,
    pub email_id: i64,
    pub thread_id: i64,
    pub uid: u32,
    pub modseq: i64,
}

/// Subject-only threading looks this far back (seconds), so an old "Re: hello" does not
/// swallow every later one.
const SUBJECT_THREAD_WINDOW: i64 = 30 * 24 * 3600;

/// SQLite allows 32,766 bound parameters a statement; stay well under it.
const ROWS_PER_INSERT: usize = 400;

impl Store {
    /// Files every delivery of `batch` in one transaction and returns, for each, where its
    /// copies went (in the order of its targets). Either all are committed or none.
    pub async fn deliver_batch(&self, batch: &[NewDelivery]) -> Result<Vec<Vec<Delivered>>> {
        let tx = self.begin_write().await?;
        let out = deliver_in(&tx, batch).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A write transaction. SQLite's default deferred BEGIN would fail, not wait, when it
    /// upgrades a read to a write after another connection wrote; IMMEDIATE takes the write
    /// lock up front and waits its turn under busy_timeout.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction> {
        let opts = TransactionOptions {
            sqlite_transaction_mode: (self.kind == DbKind::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(opts).await?)
    }
}

async fn deliver_in(
    tx: &DatabaseTransaction,
    batch: &[NewDelivery],
) -> Result<Vec<Vec<Delivered>>> {
    insert_messages(tx, batch).await?;

    // Reserve UIDs per mailbox and sequence numbers per account, in id order.
    let mut per_mailbox: BTreeMap<i64, i64> = BTreeMap::new();
    let mut per_account: BTreeMap<i64, i64> = BTreeMap::new();
    for d in batch {
        for t in &d.targets {
            *per_mailbox.entry(t.mailbox_id).or_default() += 1;
            *per_account.entry(t.account_id).or_default() += 1;
        }
    }
    let mut next_uid: HashMap<i64, i64> = HashMap::new();
    for (&id, &n) in &per_mailbox {
        let end = bump(
            tx,
            mailbox::Entity,
            mailbox::Column::Id,
            mailbox::Column::UidNext,
            id,
            n,
        )
        .await?;
        next_uid.insert(id, end - n);
    }
    let mut next_seq: HashMap<i64, i64> = HashMap::new();
    for (&id, &n) in &per_account {
        let end = bump(
            tx,
            account::Entity,
            account::Column::Id,
            account::Column::ChangeSeq,
            id,
            n,
        )
        .await?;
        next_seq.insert(id, end - n + 1);
    }

    let mut memberships = Vec::new();
    let mut changes = Vec::new();
    let mut out = Vec::with_capacity(batch.len());
    for d in batch {
        let mut filed = Vec::with_capacity(d.targets.len());
        for t in &d.targets {
            let seq = take(&mut next_seq, t.account_id, 1);
            let uid = take(&mut next_uid, t.mailbox_id, 1);
            if uid > u32::MAX as i64 {
                return Err(StoreError::Corrupt(format!(
                    "mailbox {} ran out of UIDs",
                    t.mailbox_id
                )));
            }
            let (thread_id, new_thread) =
                match find_thread(tx, t.account_id, &d.meta, d.received_at).await? {
                    Some(id) => (id, false),
                    None => (seq, true),
                };
            record_thread_refs(tx, t.account_id, &d.meta, thread_id).await?;
            let email_id = email::Entity::insert(email::ActiveModel {
                account_id: Set(t.account_id),
                blob_id: Set(d.blob_id.as_str().to_string()),
                thread_id: Set(thread_id),
                keywords: Set(t.keywords.clone()),
                received_at: Set(d.received_at),
                size: Set(d.meta.size),
                modseq: Set(seq),
                ..Default::default()
            })
            .exec(tx)
            .await?
            .last_insert_id;
            memberships.push(mailbox_email::ActiveModel {
                mailbox_id: Set(t.mailbox_id),
                uid: Set(uid),
                email_id: Set(email_id),
                modseq: Set(seq),
            });
            let thread_op = if new_thread {
                ChangeOp::Created
            } else {
                ChangeOp::Updated
            };
            for (ty, id, op) in [
                (ObjectType::Email, email_id, ChangeOp::Created),
                (ObjectType::Mailbox, t.mailbox_id, ChangeOp::Updated),
                (ObjectType::Thread, thread_id, thread_op),
            ] {
                changes.push(change::ActiveModel {
                    account_id: Set(t.account_id),
                    seq: Set(seq),
                    object_type: Set(ty as i16),
                    object_id: Set(id),
                    op: Set(op as i16),
                    ..Default::default()
                });
            }
            filed.push(Delivered {
                account_id: t.account_id,
                mailbox_id: t.mailbox_id,
                email_id,
                thread_id,
                uid: uid as u32,
                modseq: seq,
            });
        }
        out.push(filed);
    }
    for chunk in memberships.chunks(ROWS_PER_INSERT) {
        mailbox_email::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    for chunk in changes.chunks(ROWS_PER_INSERT) {
        change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    Ok(out)
}

/// The metadata rows, once per distinct blob; a blob already known keeps its row.
async fn insert_messages(tx: &DatabaseTransaction, batch: &[NewDelivery]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<message::ActiveModel> = batch
        .iter()
        .filter(|d| seen.insert(d.blob_id.as_str()))
        .map(|d| message_row(&d.blob_id, &d.meta))
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT / 16) {
        message::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing()
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

fn message_row(blob_id: &BlobId, m: &MessageMeta) -> message::ActiveModel {
    message::ActiveModel {
        blob_id: Set(blob_id.as_str().to_string()),
        size: Set(m.size),
        message_id: Set(m.message_id.clone()),
        subject: Set(m.subject.clone()),
        base_subject: Set(m.base_subject.clone()),
        from_addr: Set(m.from.clone()),
        to_addr: Set(m.to.clone()),
        cc_addr: Set(m.cc.clone()),
        reply_to: Set(m.reply_to.clone()),
        sent_at: Set(m.sent_at),
        in_reply_to: Set(serde_json::to_string(&m.in_reply_to).unwrap_or_default()),
        references: Set(serde_json::to_string(&m.references).unwrap_or_default()),
        has_attachment: Set(m.has_attachment),
        preview: Set(m.preview.clone()),
    }
}

/// Adds `n` to a counter column and returns its new value, locking the row until commit.
async fn bump<E, C>(
    tx: &DatabaseTransaction,
    entity: E,
    id_col: C,
    counter: C,
    id: i64,
    n: i64,
) -> Result<i64>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let stmt = Query::update()
        .table(entity)
        .value(counter, Expr::col(counter).add(n))
        .and_where(Expr::col(id_col).eq(id))
        .returning_col(counter)
        .to_owned();
    let row = tx
        .query_one(&stmt)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("row {id} for delivery")))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

fn take(m: &mut HashMap<i64, i64>, key: i64, n: i64) -> i64 {
    let v = m.get_mut(&key).expect("reserved above");
    let out = *v;
    *v += n;
    out
}

/// The thread a new message joins: one that already holds its Message-ID (a reply came first)
/// or one of its references; failing that, for a reply without usable references, a recent
/// thread with the same base subject.
async fn find_thread(
    tx: &DatabaseTransaction,
    account_id: i64,
    m: &MessageMeta,
    received_at: i64,
) -> Result<Option<i64>> {
    let ids: Vec<&str> = m
        .message_id
        .iter()
        .chain(m.in_reply_to.iter())
        .chain(m.references.iter())
        .map(String::as_str)
        .collect();
    if !ids.is_empty() {
        let found: Option<i64> = thread_ref::Entity::find()
            .select_only()
            .column(thread_ref::Column::ThreadId)
            .filter(thread_ref::Column::AccountId.eq(account_id))
            .filter(thread_ref::Column::MessageId.is_in(ids))
            .limit(1)
            .into_tuple()
            .one(tx)
            .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    let is_reply = m.base_subject.is_some() && m.base_subject != m.subject;
    if let (true, Some(base)) = (is_reply, &m.base_subject) {
        let found: Option<i64> = email::Entity::find()
            .select_only()
            .column(email::Column::ThreadId)
            .inner_join_on_blob()
            .filter(email::Column::AccountId.eq(account_id))
            .filter(message::Column::BaseSubject.eq(base.as_str()))
            .filter(email::Column::ReceivedAt.gt(received_at - SUBJECT_THREAD_WINDOW))
            .order_by_desc(email::Column::Id)
            .limit(1)
            .into_tuple()
            .one(tx)
            .await?;
        return Ok(found);
    }
    Ok(None)
}

async fn record_thread_refs(
    tx: &DatabaseTransaction,
    account_id: i64,
    m: &MessageMeta,
    thread_id: i64,
) -> Result<()> {
    let mut ids: Vec<&String> = m
        .message_id
        .iter()
        .chain(&m.in_reply_to)
        .chain(&m.references)
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let rows = ids.into_iter().map(|id| thread_ref::ActiveModel {
        account_id: Set(account_id),
        message_id: Set(id.clone()),
        thread_id: Set(thread_id),
    });
    thread_ref::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(tx)
        .await?;
    Ok(())
}

/// `emails JOIN messages USING (blob_id)`, for queries that filter on message metadata.
trait JoinBlob {
    fn inner_join_on_blob(self) -> Self;
}

impl JoinBlob for sea_orm::Select<email::Entity> {
    fn inner_join_on_blob(self) -> Self {
        self.join(
            sea_orm::JoinType::InnerJoin,
            sea_orm::RelationDef::from(
                email::Entity::belongs_to(message::Entity)
                    .from(email::Column::BlobId)
                    .to(message::Column::BlobId),
            ),
        )
    }
}
