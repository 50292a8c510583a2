//! Creating, changing and destroying mailboxes, each in one transaction that logs the change.
//! The rules that need the database (sibling names unique, no cycles, what a destroy takes
//! with it) are checked here, inside the transaction; the rest is core's.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use crate::entity::{email, mailbox, mailbox_email};
use crate::model::{ChangeOp, Mailbox, ObjectType};
use crate::multi::ROWS_PER_INSERT as ROWS;
use crate::update::log;
use crate::{Result, Store, StoreError};

/// Why a mailbox change was refused (nothing was changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailboxRefusal {
    NotFound,
    /// No such parent, or the parent would be the mailbox itself or one of its children.
    BadParent,
    /// A sibling already has the name.
    NameTaken,
    HasChild,
    HasEmail,
    /// A mailbox with a role is the system's (renaming, moving or destroying it is refused).
    HasRole,
}

/// Fields of a mailbox change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct MailboxPatch {
    pub name: Option<String>,
    /// `Some(None)`: make it top level.
    pub parent_id: Option<Option<i64>>,
    pub sort_order: Option<i32>,
    pub subscribed: Option<bool>,
}

async fn siblings(
    tx: &DatabaseTransaction,
    account_id: i64,
    parent: Option<i64>,
) -> Result<Vec<mailbox::Model>> {
    let q = mailbox::Entity::find().filter(mailbox::Column::AccountId.eq(account_id));
    let q = match parent {
        Some(p) => q.filter(mailbox::Column::ParentId.eq(p)),
        None => q.filter(mailbox::Column::ParentId.is_null()),
    };
    Ok(q.all(tx).await?)
}

/// Whether `name` clashes with a sibling (INBOX at the top level in any case, RFC 9051).
fn clashes(siblings: &[mailbox::Model], name: &str, except: Option<i64>, top: bool) -> bool {
    siblings.iter().any(|s| {
        Some(s.id) != except
            && (s.name == name
                || (top
                    && s.name.eq_ignore_ascii_case("inbox")
                    && name.eq_ignore_ascii_case("inbox")))
    })
}

impl Store {
    /// Creates a mailbox; returns it and the new state.
    pub async fn mailbox_create(
        &self,
        account_id: i64,
        name: &str,
        parent_id: Option<i64>,
        sort_order: i32,
        subscribed: bool,
    ) -> Result<std::result::Result<(Mailbox, i64), MailboxRefusal>> {
        let tx = self.begin_write().await?;
        if let Some(p) = parent_id
            && mailbox::Entity::find_by_id(p)
                .filter(mailbox::Column::AccountId.eq(account_id))
                .one(&*tx)
                .await?
                .is_none()
        {
            return Ok(Err(MailboxRefusal::BadParent));
        }
        let seq = crate::update::reserve_seqs(&tx, account_id, 1).await?;
        if clashes(
            &siblings(&tx, account_id, parent_id).await?,
            name,
            None,
            parent_id.is_none(),
        ) {
            return Ok(Err(MailboxRefusal::NameTaken));
        }
        let validity = crate::account::next_uid_validity(&*tx).await?;
        let m = mailbox::Entity::insert(mailbox::ActiveModel {
            account_id: Set(account_id),
            parent_id: Set(parent_id),
            name: Set(name.to_string()),
            role: Set(None),
            sort_order: Set(sort_order),
            uid_validity: Set(validity),
            uid_next: Set(1),
            subscribed: Set(subscribed),
            created_at: Set(crate::now()),
            ..Default::default()
        })
        .exec_with_returning(&*tx)
        .await?;
        crate::update::log_one(
            &tx,
            account_id,
            seq,
            ObjectType::Mailbox,
            m.id,
            ChangeOp::Created,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok((m.into(), seq)))
    }

    /// Changes a mailbox; returns the new state.
    pub async fn mailbox_update(
        &self,
        account_id: i64,
        id: i64,
        patch: &MailboxPatch,
    ) -> Result<std::result::Result<i64, MailboxRefusal>> {
        let tx = self.begin_write().await?;
        let Some(cur) = mailbox::Entity::find_by_id(id)
            .filter(mailbox::Column::AccountId.eq(account_id))
            .one(&*tx)
            .await?
        else {
            return Ok(Err(MailboxRefusal::NotFound));
        };
        let renames = patch.name.as_ref().is_some_and(|n| *n != cur.name);
        let moves = patch.parent_id.is_some_and(|p| p != cur.parent_id);
        if cur.role.is_some() && (renames || moves) {
            return Ok(Err(MailboxRefusal::HasRole));
        }
        let parent = patch.parent_id.unwrap_or(cur.parent_id);
        if moves && let Some(p) = parent {
            // Walk up from the new parent: reaching the mailbox itself would make a cycle.
            let mut at = Some(p);
            while let Some(a) = at {
                if a == id {
                    return Ok(Err(MailboxRefusal::BadParent));
                }
                match mailbox::Entity::find_by_id(a)
                    .filter(mailbox::Column::AccountId.eq(account_id))
                    .one(&*tx)
                    .await?
                {
                    Some(m) => at = m.parent_id,
                    None => return Ok(Err(MailboxRefusal::BadParent)),
                }
            }
        }
        let seq = crate::update::reserve_seqs(&tx, account_id, 1).await?;
        let name = patch.name.clone().unwrap_or(cur.name.clone());
        if (renames || moves)
            && clashes(
                &siblings(&tx, account_id, parent).await?,
                &name,
                Some(id),
                parent.is_none(),
            )
        {
            return Ok(Err(MailboxRefusal::NameTaken));
        }
        mailbox::Entity::update(mailbox::ActiveModel {
            id: Set(id),
            name: Set(name),
            parent_id: Set(parent),
            sort_order: Set(patch.sort_order.unwrap_or(cur.sort_order)),
            subscribed: Set(patch.subscribed.unwrap_or(cur.subscribed)),
            ..Default::default()
        })
        .exec(&*tx)
        .await?;
        crate::update::log_one(
            &tx,
            account_id,
            seq,
            ObjectType::Mailbox,
            id,
            ChangeOp::Updated,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(seq))
    }

    /// Destroys a mailbox without children. With emails in it, only if `remove_emails`:
    /// emails in no other mailbox are destroyed, the others just leave it. Returns the state.
    pub async fn mailbox_destroy(
        &self,
        account_id: i64,
        id: i64,
        remove_emails: bool,
    ) -> Result<std::result::Result<i64, MailboxRefusal>> {
        // Postgres: an email moved into the mailbox between locking its members and locking
        // the mailbox makes the attempt start again (rare: tried a few times).
        for _ in 0..5 {
            if let Some(done) = self.try_destroy(account_id, id, remove_emails).await? {
                return Ok(done);
            }
        }
        Err(StoreError::Conflict(format!(
            "mailbox {id} kept changing while being destroyed"
        )))
    }

    /// One attempt at [`Store::mailbox_destroy`]; `None` when its members changed meanwhile
    /// (nothing written). Rows are locked in the order every other writer takes them, so
    /// none can deadlock with it on Postgres: the member emails (by id), the mailbox, the
    /// account.
    async fn try_destroy(
        &self,
        account_id: i64,
        id: i64,
        remove_emails: bool,
    ) -> Result<Option<std::result::Result<i64, MailboxRefusal>>> {
        let tx = self.begin_write().await?;
        let pg = self.kind == crate::DbKind::Postgres;
        let lock = if pg { " FOR UPDATE" } else { "" };
        let members: Vec<(i64, i64, i64)> = tx
            .query_all_raw(self.stmt(
                &format!(
                    "SELECT id, size, thread_id FROM emails WHERE account_id = ? AND id IN \
                     (SELECT email_id FROM mailbox_emails WHERE mailbox_id = ?) ORDER BY id{lock}"
                ),
                vec![account_id.into(), id.into()],
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get_by_index(0)?,
                    r.try_get_by_index(1)?,
                    r.try_get_by_index(2)?,
                ))
            })
            .collect::<Result<_>>()?;
        let mut q =
            mailbox::Entity::find_by_id(id).filter(mailbox::Column::AccountId.eq(account_id));
        // Postgres: a delivery or move into it (which updates the row's uid_next) waits from
        // here, so no membership lands between reading the members and deleting them.
        if pg {
            q = q.lock_exclusive();
        }
        let Some(cur) = q.one(&*tx).await? else {
            return Ok(Some(Err(MailboxRefusal::NotFound)));
        };
        if cur.role.is_some() {
            return Ok(Some(Err(MailboxRefusal::HasRole)));
        }
        if mailbox::Entity::find()
            .filter(mailbox::Column::ParentId.eq(id))
            .one(&*tx)
            .await?
            .is_some()
        {
            return Ok(Some(Err(MailboxRefusal::HasChild)));
        }
        let mut now: Vec<i64> = mailbox_email::Entity::find()
            .select_only()
            .column(mailbox_email::Column::EmailId)
            .filter(mailbox_email::Column::MailboxId.eq(id))
            .into_tuple()
            .all(&*tx)
            .await?;
        now.sort_unstable();
        if now.iter().ne(members.iter().map(|m| &m.0)) {
            return Ok(None);
        }
        if !members.is_empty() && !remove_emails {
            return Ok(Some(Err(MailboxRefusal::HasEmail)));
        }
        let ids: Vec<i64> = members.iter().map(|m| m.0).collect();
        // The members' other mailboxes, and how many emails each of their threads has.
        let mut others: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for chunk in ids.chunks(ROWS) {
            let rows: Vec<(i64, i64)> = mailbox_email::Entity::find()
                .select_only()
                .column(mailbox_email::Column::EmailId)
                .column(mailbox_email::Column::MailboxId)
                .filter(mailbox_email::Column::EmailId.is_in(chunk.to_vec()))
                .filter(mailbox_email::Column::MailboxId.ne(id))
                .into_tuple()
                .all(&*tx)
                .await?;
            for (e, m) in rows {
                others.entry(e).or_default().push(m);
            }
        }
        let gone: Vec<(i64, i64, i64)> = members
            .iter()
            .copied()
            .filter(|m| !others.contains_key(&m.0))
            .collect();
        let threads: Vec<i64> = gone
            .iter()
            .map(|m| m.2)
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        let mut in_thread: BTreeMap<i64, i64> = BTreeMap::new();
        for chunk in threads.chunks(ROWS) {
            let rows: Vec<(i64, i64)> = email::Entity::find()
                .select_only()
                .column(email::Column::ThreadId)
                .column_as(email::Column::Id.count(), "n")
                .filter(email::Column::AccountId.eq(account_id))
                .filter(email::Column::ThreadId.is_in(chunk.to_vec()))
                .group_by(email::Column::ThreadId)
                .into_tuple()
                .all(&*tx)
                .await?;
            in_thread.extend(rows);
        }

        let n = 1 + members.len() as i64;
        let end = crate::update::reserve_seqs(&tx, account_id, n).await?;
        let mut seq = end - n;
        let mut changes = Vec::new();
        let mut touched: BTreeSet<i64> = BTreeSet::new();
        let mut freed = 0;
        for &(e, size, thread_id) in &members {
            seq += 1;
            match others.get(&e) {
                None => {
                    freed += size;
                    changes.push(log(
                        account_id,
                        seq,
                        ObjectType::Email,
                        e,
                        ChangeOp::Destroyed,
                    ));
                    // The thread's last email gone: the thread too.
                    let left = in_thread.entry(thread_id).or_default();
                    *left -= 1;
                    let op = if *left > 0 {
                        ChangeOp::Updated
                    } else {
                        ChangeOp::Destroyed
                    };
                    changes.push(log(account_id, seq, ObjectType::Thread, thread_id, op));
                }
                Some(boxes) => {
                    email::Entity::update_many()
                        .col_expr(email::Column::Modseq, Expr::value(seq))
                        .filter(email::Column::Id.eq(e))
                        .exec(&*tx)
                        .await?;
                    changes.push(log(
                        account_id,
                        seq,
                        ObjectType::Email,
                        e,
                        ChangeOp::Updated,
                    ));
                    touched.extend(boxes);
                }
            }
        }
        seq += 1;
        mailbox_email::Entity::delete_many()
            .filter(mailbox_email::Column::MailboxId.eq(id))
            .exec(&*tx)
            .await?;
        for chunk in gone.chunks(ROWS) {
            email::Entity::delete_many()
                .filter(email::Column::Id.is_in(chunk.iter().map(|m| m.0)))
                .exec(&*tx)
                .await?;
        }
        mailbox::Entity::delete_by_id(id).exec(&*tx).await?;
        crate::account::add_used_bytes(&*tx, account_id, -freed).await?;
        changes.push(log(
            account_id,
            seq,
            ObjectType::Mailbox,
            id,
            ChangeOp::Destroyed,
        ));
        changes.extend(
            touched
                .into_iter()
                .map(|m| log(account_id, seq, ObjectType::Mailbox, m, ChangeOp::Updated)),
        );
        crate::delivery::insert_changes(&tx, changes).await?;
        tx.commit().await?;
        Ok(Some(Ok(end)))
    }
}
