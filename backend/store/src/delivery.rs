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
    QuerySelect, QueryTrait, Value,
};

use crate::email_text;
use crate::entity::{change, email, message};
use crate::model::{ChangeOp, MessageMeta, ObjectType};
use crate::multi::{Multi, ROWS_PER_INSERT};
use crate::tx::Tx;
use crate::{BlobId, Result, Store, StoreError};

/// A message ready to be filed: its blob is stored, its metadata parsed, its recipients resolved.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub blob_id: BlobId,
    pub meta: MessageMeta,
    pub received_at: i64,
    pub targets: Vec<Target>,
    /// Data derived from the bytes, kept with them (`(kind, data)`, see `Store::derived_put`).
    pub derived: Vec<(i16, Vec<u8>)>,
}

/// One mailbox of one account that receives the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub account_id: i64,
    pub mailbox_id: i64,
    /// Space-separated keywords the new email starts with (JMAP form, e.g. `$seen`).
    pub keywords: String,
    /// Refuse (`StoreError::OverQuota`) if the account's emails would exceed its limit.
    pub enforce_quota: bool,
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

/// A submission recorded in the transaction that files its Sent copy: one commit (and one
/// sync) for both. Its `email_id` becomes that of the first copy filed by delivery `of` (an
/// index into the batch).
#[derive(Clone)]
pub struct SentSubmission {
    pub of: usize,
    pub submission: crate::submission::NewSubmission,
}

/// What a batch filed: for each delivery, where its copies went (in the order of its
/// targets); for each submission, its row and its account's new state.
#[derive(Debug, Default)]
pub struct Filed {
    pub delivered: Vec<Vec<Delivered>>,
    pub submissions: Vec<(crate::submission::Submission, i64)>,
}

impl Store {
    /// Files every delivery of `batch` and records `submissions`, in one transaction: all
    /// are committed or none. `journal` holds the bytes of blobs written without a sync
    /// (see `journal.rs`): they commit with the emails.
    pub async fn deliver_batch(
        &self,
        batch: Vec<NewDelivery>,
        journal: Vec<(BlobId, bytes::Bytes)>,
        submissions: Vec<SentSubmission>,
    ) -> Result<Filed> {
        // The journaled bytes' files are written (not synced) before the transaction commits
        // their rows, as `journal.rs` requires.
        let (blobs, staged) = (self.blobs.clone(), journal.clone());
        let small = journal.len() <= STAGED_INLINE;
        let stage = (!journal.is_empty()).then_some(crate::tx::Before {
            work: move || blobs.stage_now(&staged),
            small,
        });
        self.write_after(stage, move |tx| {
            Box::pin(async move {
                let delivered = deliver_in(tx, &batch, &journal).await?;
                let mut subs = Vec::with_capacity(submissions.len());
                for s in submissions {
                    let copy = delivered.get(s.of).and_then(|d| d.first()).ok_or_else(|| {
                        StoreError::Corrupt(format!("no Sent copy at delivery {}", s.of))
                    })?;
                    subs.push(crate::submission::NewSubmission {
                        email_id: Some(copy.email_id),
                        ..s.submission
                    });
                }
                let submissions = crate::submission::insert_in(tx, &subs).await?;
                Ok(Filed {
                    delivered,
                    submissions,
                })
            })
        })
        .await
    }
}

/// Files a batch writes on the caller's thread at most (an IMAP APPEND's one); a bulk
/// import's are written on a blocking thread, so no session waits behind them.
const STAGED_INLINE: usize = 4;

/// Tags in the first column of the rows [`deliver_in`]'s first step reads back, so each row
/// is known whatever statement it came from.
const TAG_MAILBOX: i64 = 0;
const TAG_ACCOUNT: i64 = 1;
const TAG_THREAD: i64 = 2;

/// Files a batch in three steps (each a round trip per statement on Postgres; on SQLite's
/// writer thread no round trips at all): the message rows with the UID and sequence blocks and
/// the known threads; the email rows (their ids come back); the memberships, change log,
/// thread references and journal.
async fn deliver_in(
    tx: &Tx<'_>,
    batch: &[NewDelivery],
    journal: &[(BlobId, bytes::Bytes)],
) -> Result<Vec<Vec<Delivered>>> {
    let kind = tx.kind();
    let mut first = Multi::new(kind);
    insert_messages(&mut first, batch);

    // Reserve UIDs per mailbox and sequence numbers per account, in id order.
    let mut per_mailbox: BTreeMap<i64, i64> = BTreeMap::new();
    let mut per_account: BTreeMap<i64, (i64, i64, bool)> = BTreeMap::new();
    for d in batch {
        for t in &d.targets {
            *per_mailbox.entry(t.mailbox_id).or_default() += 1;
            let a = per_account.entry(t.account_id).or_default();
            a.0 += 1;
            a.1 += d.meta.size;
            a.2 |= t.enforce_quota;
        }
    }
    for (&id, &n) in &per_mailbox {
        first.push_sql(
            &format!(
                "UPDATE mailboxes SET uid_next = uid_next + ? WHERE id = ? \
                 RETURNING CAST({TAG_MAILBOX} AS BIGINT), id, uid_next"
            ),
            vec![n.into(), id.into()],
        );
    }
    // One statement per account: its change counter, its used bytes, and the quota check.
    for (&id, &(n, added, _)) in &per_account {
        first.push_sql(
            &format!(
                "UPDATE accounts SET change_seq = change_seq + ?, used_bytes = used_bytes + ? \
                 WHERE id = ? \
                 RETURNING CAST({TAG_ACCOUNT} AS BIGINT), id, change_seq, used_bytes, quota_bytes"
            ),
            vec![n.into(), added.into(), id.into()],
        );
    }
    // Threads: one look-up per account for every Message-ID the batch mentions; the batch's
    // own messages are added to the map as they are placed, so a reply in the same batch as
    // its parent finds it.
    ThreadMap::lookups(&mut first, batch);

    let mut next_uid: HashMap<i64, i64> = HashMap::new();
    let mut next_seq: HashMap<i64, i64> = HashMap::new();
    let mut known = HashMap::new();
    for row in first.query(tx).await? {
        match row.get::<i64>(0)? {
            TAG_MAILBOX => {
                let id: i64 = row.get(1)?;
                let end: i64 = row.get(2)?;
                next_uid.insert(id, end - per_mailbox[&id]);
            }
            TAG_ACCOUNT => {
                let id: i64 = row.get(1)?;
                let end: i64 = row.get(2)?;
                let used: i64 = row.get(3)?;
                let quota: Option<i64> = row.get(4)?;
                let (n, added, enforce) = per_account[&id];
                if enforce && quota.is_some_and(|q| used > q) {
                    return Err(StoreError::OverQuota(format!(
                        "{} of {} bytes used",
                        used - added,
                        quota.unwrap_or_default()
                    )));
                }
                next_seq.insert(id, end - n + 1);
            }
            _ => {
                let account_id: i64 = row.get(1)?;
                let message_id: String = row.get(2)?;
                let thread_id: i64 = row.get(3)?;
                known.insert((account_id, message_id), thread_id);
            }
        }
    }
    if let Some(id) = per_mailbox.keys().find(|id| !next_uid.contains_key(id)) {
        return Err(StoreError::NotFound(format!("mailbox {id} for delivery")));
    }
    if let Some(id) = per_account.keys().find(|id| !next_seq.contains_key(id)) {
        return Err(StoreError::NotFound(format!("account {id} for delivery")));
    }
    let mut threads = ThreadMap {
        known,
        new: Vec::new(),
        subjects: HashMap::new(),
    };

    // Place every copy: UID, seq, thread. Rows are written below in a few statements.
    struct Placed {
        account_id: i64,
        mailbox_id: i64,
        thread_id: i64,
        new_thread: bool,
        uid: i64,
        seq: i64,
        received_at: i64,
    }
    let mut placed = Vec::new();
    let mut emails = Vec::new();
    for d in batch {
        for t in &d.targets {
            let seq = take(&mut next_seq, t.account_id, "account")?;
            let uid = take(&mut next_uid, t.mailbox_id, "mailbox")?;
            if uid > u32::MAX as i64 {
                return Err(StoreError::Corrupt(format!(
                    "mailbox {} ran out of UIDs",
                    t.mailbox_id
                )));
            }
            let (thread_id, new_thread) = match threads
                .find(tx, t.account_id, &d.meta, d.received_at)
                .await?
            {
                Some(id) => (id, false),
                None => (seq, true),
            };
            threads.record(t.account_id, &d.meta, thread_id);
            emails.push(vec![
                Value::from(t.account_id),
                d.blob_id.as_str().into(),
                thread_id.into(),
                t.keywords.clone().into(),
                d.received_at.into(),
                d.meta.size.into(),
                seq.into(),
            ]);
            placed.push(Placed {
                received_at: d.received_at,
                account_id: t.account_id,
                mailbox_id: t.mailbox_id,
                thread_id,
                new_thread,
                uid,
                seq,
            });
        }
    }

    // (account, seq) names each new email uniquely, so RETURNING rows map back whatever
    // order the database returns them in.
    let mut inserts = Multi::new(kind);
    let count = emails.len();
    inserts.insert_rows_then(
        "emails",
        "account_id, blob_id, thread_id, keywords, received_at, size, modseq",
        emails,
        " RETURNING id, account_id, modseq",
    );
    let mut email_ids: HashMap<(i64, i64), i64> = HashMap::with_capacity(count);
    for row in inserts.query(tx).await? {
        let id: i64 = row.get(0)?;
        let account_id: i64 = row.get(1)?;
        let modseq: i64 = row.get(2)?;
        email_ids.insert((account_id, modseq), id);
    }

    let mut memberships = Vec::with_capacity(placed.len());
    let mut changes = Vec::with_capacity(placed.len() * 3);
    let mut indexed = Vec::with_capacity(placed.len());
    let mut placed = placed.into_iter();
    let mut out = Vec::with_capacity(batch.len());
    for d in batch {
        let mut filed = Vec::with_capacity(d.targets.len());
        for p in placed.by_ref().take(d.targets.len()) {
            let email_id = *email_ids
                .get(&(p.account_id, p.seq))
                .ok_or_else(|| StoreError::Corrupt("inserted email not returned".into()))?;
            indexed.push((email_id, &d.meta.index_text));
            memberships.push(vec![
                Value::from(p.mailbox_id),
                p.uid.into(),
                email_id.into(),
                p.seq.into(),
                p.received_at.into(),
            ]);
            let thread_op = if p.new_thread {
                ChangeOp::Created
            } else {
                ChangeOp::Updated
            };
            for (ty, id, op) in [
                (ObjectType::Email, email_id, ChangeOp::Created),
                (ObjectType::Mailbox, p.mailbox_id, ChangeOp::Updated),
                (ObjectType::Thread, p.thread_id, thread_op),
            ] {
                changes.push(vec![
                    Value::from(p.account_id),
                    p.seq.into(),
                    (ty as i16).into(),
                    id.into(),
                    (op as i16).into(),
                ]);
            }
            filed.push(Delivered {
                account_id: p.account_id,
                mailbox_id: p.mailbox_id,
                email_id,
                thread_id: p.thread_id,
                uid: p.uid as u32,
                modseq: p.seq,
            });
        }
        out.push(filed);
    }
    let mut last = Multi::new(kind);
    last.insert_rows(
        "mailbox_emails",
        "mailbox_id, uid, email_id, modseq, received_at",
        memberships,
    );
    last.insert_rows(
        "changes",
        "account_id, seq, object_type, object_id, op",
        changes,
    );
    insert_derived(&mut last, batch);
    email_text::insert(&mut last, kind, &indexed);
    threads.save(&mut last);
    crate::journal::insert(&mut last, journal);
    last.execute(tx).await?;
    Ok(out)
}

/// Appends rows to the change log, in statements small enough for SQLite's parameter limit.
pub(crate) async fn insert_changes(
    tx: &DatabaseTransaction,
    changes: Vec<change::ActiveModel>,
) -> Result<()> {
    for chunk in changes.chunks(ROWS_PER_INSERT) {
        change::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

/// The metadata rows, once per distinct blob; a blob already known keeps its row.
fn insert_messages(m: &mut Multi, batch: &[NewDelivery]) {
    // In blob-id order, so two writers inserting the same blobs take their index locks in
    // the same order and cannot deadlock (Postgres).
    let mut distinct: Vec<&NewDelivery> = batch.iter().collect();
    distinct.sort_by(|a, b| a.blob_id.cmp(&b.blob_id));
    distinct.dedup_by(|a, b| a.blob_id == b.blob_id);
    let rows = distinct
        .iter()
        .map(|d| message_values(&d.blob_id, &d.meta))
        .collect();
    m.insert_rows_then(
        "messages",
        "blob_id, size, message_id, subject, base_subject, from_addr, to_addr, cc_addr, \
         reply_to, sent_at, in_reply_to, \"references\", has_attachment, preview",
        rows,
        " ON CONFLICT DO NOTHING",
    );
}

/// The derived data the deliveries bring; a blob's row already there stays as it is.
fn insert_derived(m: &mut Multi, batch: &[NewDelivery]) {
    let rows: Vec<Vec<Value>> = batch
        .iter()
        .flat_map(|d| {
            d.derived.iter().map(|(kind, data)| {
                vec![
                    d.blob_id.as_str().into(),
                    (*kind).into(),
                    data.clone().into(),
                ]
            })
        })
        .collect();
    crate::derived::insert(m, rows);
}

/// A `messages` row, in the column order of [`insert_messages`] (the statements of every
/// delivery are written by hand: sea-query building them cost ~5 % of an IMAP APPEND).
fn message_values(blob_id: &BlobId, m: &MessageMeta) -> Vec<Value> {
    vec![
        blob_id.as_str().into(),
        m.size.into(),
        m.message_id.clone().into(),
        m.subject.clone().into(),
        m.base_subject.clone().into(),
        m.from.clone().into(),
        m.to.clone().into(),
        m.cc.clone().into(),
        m.reply_to.clone().into(),
        m.sent_at.into(),
        serde_json::to_string(&m.in_reply_to)
            .unwrap_or_default()
            .into(),
        serde_json::to_string(&m.references)
            .unwrap_or_default()
            .into(),
        m.has_attachment.into(),
        m.preview.clone().into(),
    ]
}

/// Adds `n` to a counter column and returns its new value, locking the row until commit.
pub(crate) async fn bump<E, C>(
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

/// The next number reserved for `key`; `NotFound` when its row was gone (a mailbox deleted
/// since the delivery was addressed).
fn take(m: &mut HashMap<i64, i64>, key: i64, what: &str) -> Result<i64> {
    let v = m
        .get_mut(&key)
        .ok_or_else(|| StoreError::NotFound(format!("{what} {key}")))?;
    *v += 1;
    Ok(*v - 1)
}

/// Message-ID → thread, for the accounts of one batch.
///
/// The thread a new message joins: one that already holds its Message-ID (a reply came first)
/// or one of its references; failing that, for a reply without usable references, a recent
/// thread with the same base subject.
struct ThreadMap {
    known: HashMap<(i64, String), i64>,
    /// Ids this batch adds, to write to `thread_refs`.
    new: Vec<(i64, String, i64)>,
    /// Base subjects of this batch's messages, for replies whose parent is in the batch.
    subjects: HashMap<(i64, String), i64>,
}

impl ThreadMap {
    /// Adds the look-ups of every Message-ID the batch names, per account, to `m`: rows of
    /// `(TAG_THREAD, account_id, message_id, thread_id)`.
    fn lookups(m: &mut Multi, batch: &[NewDelivery]) {
        let mut wanted: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for d in batch {
            for t in &d.targets {
                wanted
                    .entry(t.account_id)
                    .or_default()
                    .extend(ids_of(&d.meta).map(String::as_str));
            }
        }
        for (account_id, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(ROWS_PER_INSERT) {
                let marks = vec!["?"; chunk.len()].join(", ");
                let mut values = vec![Value::from(account_id)];
                values.extend(chunk.iter().map(|&id| Value::from(id)));
                m.push_sql(
                    &format!(
                        "SELECT CAST({TAG_THREAD} AS BIGINT), account_id, message_id, thread_id \
                         FROM thread_refs WHERE account_id = ? AND message_id IN ({marks})"
                    ),
                    values,
                );
            }
        }
    }

    async fn find(
        &self,
        tx: &Tx<'_>,
        account_id: i64,
        m: &MessageMeta,
        received_at: i64,
    ) -> Result<Option<i64>> {
        for id in ids_of(m) {
            if let Some(&t) = self.known.get(&(account_id, id.clone())) {
                return Ok(Some(t));
            }
        }
        let Some(base) = m.base_subject.as_ref().filter(|_| m.is_reply) else {
            return Ok(None);
        };
        if let Some(&t) = self.subjects.get(&(account_id, base.clone())) {
            return Ok(Some(t));
        }
        let latest = email::Entity::find()
            .select_only()
            .column(email::Column::ThreadId)
            .inner_join_on_blob()
            .filter(email::Column::AccountId.eq(account_id))
            .filter(message::Column::BaseSubject.eq(base.as_str()))
            .filter(email::Column::ReceivedAt.gt(received_at - SUBJECT_THREAD_WINDOW))
            .order_by_desc(email::Column::Id)
            .limit(1)
            .into_query();
        match tx.query_one(&latest).await? {
            Some(row) => Ok(Some(row.get(0)?)),
            None => Ok(None),
        }
    }

    /// Every id the message carries now points to `thread_id` (unless it already pointed
    /// somewhere: the first thread to claim an id keeps it).
    fn record(&mut self, account_id: i64, m: &MessageMeta, thread_id: i64) {
        for id in ids_of(m) {
            if let std::collections::hash_map::Entry::Vacant(e) =
                self.known.entry((account_id, id.clone()))
            {
                e.insert(thread_id);
                self.new.push((account_id, id.clone(), thread_id));
            }
        }
        if let Some(base) = &m.base_subject {
            self.subjects.insert((account_id, base.clone()), thread_id);
        }
    }

    fn save(self, m: &mut Multi) {
        let rows = self
            .new
            .into_iter()
            .map(|(account_id, message_id, thread_id)| {
                vec![account_id.into(), message_id.into(), thread_id.into()]
            })
            .collect();
        m.insert_rows_then(
            "thread_refs",
            "account_id, message_id, thread_id",
            rows,
            " ON CONFLICT DO NOTHING",
        );
    }
}

/// The Message-IDs a message names: its own, then In-Reply-To, then References.
fn ids_of(m: &MessageMeta) -> impl Iterator<Item = &String> {
    m.message_id
        .iter()
        .chain(&m.in_reply_to)
        .chain(&m.references)
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
