//! Write transactions: one body for both databases.
//!
//! [`Store::write`] runs a transaction body given a [`Tx`]: on SQLite the whole body runs on
//! the writer thread (`lite.rs`), statements executed directly; on Postgres it runs on the
//! caller's task through sea-orm. The body says what to do in sea-query statements and reads
//! [`Row`]s by column index, the same code for both.

use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::types::Value as Lite;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, QueryResult, SqliteTransactionMode, Statement,
    StatementBuilder, TransactionOptions, TransactionTrait, TryGetable,
};

use crate::lite::LiteConn;
use crate::multi::Multi;
use crate::{DbKind, Result, Store, StoreError};

/// An open write transaction.
pub(crate) enum Tx<'a> {
    Sea(&'a DatabaseTransaction, DbKind),
    Lite(&'a LiteConn),
}

impl Tx<'_> {
    pub(crate) fn kind(&self) -> DbKind {
        match self {
            Tx::Sea(_, kind) => *kind,
            Tx::Lite(_) => DbKind::Sqlite,
        }
    }

    /// A sea-query statement in this database's dialect.
    pub(crate) fn build<S: StatementBuilder>(&self, s: &S) -> Statement {
        self.kind().backend().build(s)
    }

    /// The rows of one statement.
    pub(crate) async fn query(&self, st: Statement) -> Result<Vec<Row>> {
        match self {
            Tx::Sea(tx, _) => Ok(tx
                .query_all_raw(st)
                .await?
                .into_iter()
                .map(Row::Sea)
                .collect()),
            Tx::Lite(c) => Ok(c.query(&st)?.into_iter().map(Row::Lite).collect()),
        }
    }

    /// The first row of a sea-query statement, if any.
    pub(crate) async fn query_one<S: StatementBuilder>(&self, s: &S) -> Result<Option<Row>> {
        Ok(self.query(self.build(s)).await?.into_iter().next())
    }

    /// Runs one statement; how many rows it changed.
    pub(crate) async fn execute(&self, st: Statement) -> Result<u64> {
        match self {
            Tx::Sea(tx, _) => Ok(tx.execute_raw(st).await?.rows_affected()),
            Tx::Lite(c) => c.execute(&st),
        }
    }
}

/// One row of a result, read by column index.
pub(crate) enum Row {
    Sea(QueryResult),
    Lite(Vec<Lite>),
}

impl Row {
    pub(crate) fn get<T: Column>(&self, i: usize) -> Result<T> {
        match self {
            Row::Sea(r) => Ok(r.try_get_by_index::<T>(i)?),
            Row::Lite(values) => values
                .get(i)
                .and_then(T::from_lite)
                .ok_or_else(|| StoreError::Corrupt(format!("column {i}: {:?}", values.get(i)))),
        }
    }
}

/// A Rust type a column is read as.
pub(crate) trait Column: TryGetable + Sized {
    fn from_lite(v: &Lite) -> Option<Self>;
}

impl Column for i64 {
    fn from_lite(v: &Lite) -> Option<i64> {
        match v {
            Lite::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl Column for i32 {
    fn from_lite(v: &Lite) -> Option<i32> {
        i64::from_lite(v).and_then(|i| i32::try_from(i).ok())
    }
}

impl Column for bool {
    fn from_lite(v: &Lite) -> Option<bool> {
        i64::from_lite(v).map(|i| i != 0)
    }
}

impl Column for String {
    fn from_lite(v: &Lite) -> Option<String> {
        match v {
            Lite::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T>
where
    Option<T>: TryGetable,
{
    fn from_lite(v: &Lite) -> Option<Option<T>> {
        match v {
            Lite::Null => Some(None),
            v => T::from_lite(v).map(Some),
        }
    }
}

/// Blocking work a transaction's commit waits for (see [`Store::write_after`]), and whether
/// it is small enough to do on the caller's thread rather than a blocking one.
pub(crate) struct Before<P> {
    pub work: P,
    pub small: bool,
}

impl Store {
    /// Runs `work` in a write transaction and commits it; nothing of it stays when `work`
    /// fails. On SQLite the body runs on the writer thread (see `lite.rs`).
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t Tx<'t>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        self.write_after(None::<Before<fn() -> Result<()>>>, work)
            .await
    }

    /// [`Store::write`], with `first` (if any) done before the transaction commits: blocking
    /// work the transaction depends on (writing files). On SQLite it is done on the caller's
    /// thread while the writer thread runs the statements, which wait for it only before the
    /// commit (writing a message's file took an eighth of the writer's time per IMAP
    /// APPEND); elsewhere on a blocking thread before the transaction begins.
    pub(crate) async fn write_after<T, P, F>(&self, first: Option<Before<P>>, work: F) -> Result<T>
    where
        T: Send + 'static,
        P: FnOnce() -> Result<()> + Send + 'static,
        F: for<'t> FnOnce(&'t Tx<'t>) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let turn = self.write_turn().await;
        match &self.lite {
            Some(writer) => {
                // What `first` returned, for the writer to wait on before it commits.
                let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<Result<()>>(1);
                let waits = first.is_some();
                let reply = writer.submit(move |conn| {
                    // The turn ends with the transaction, here, whatever became of the
                    // caller meanwhile.
                    let _turn = turn;
                    conn.begin()?;
                    // Every statement completes at once on this thread, so the body is
                    // done at its first poll; one that waits on anything else would stall
                    // every write of the process, and is refused instead.
                    let body = std::panic::AssertUnwindSafe(|| {
                        work(&Tx::Lite(conn)).now_or_never().unwrap_or_else(|| {
                            Err(StoreError::Corrupt(
                                "a write transaction waited on something".into(),
                            ))
                        })
                    });
                    let done = match std::panic::catch_unwind(body) {
                        Ok(r) => r,
                        // Not transient: retried job by job, the others go through.
                        Err(_) => Err(StoreError::Corrupt("a write transaction panicked".into())),
                    }
                    .and_then(|v| {
                        if waits {
                            // Dropped unsent only if `first` panicked.
                            first_rx.recv().unwrap_or_else(|_| {
                                Err(StoreError::Corrupt("work before a commit failed".into()))
                            })?;
                        }
                        conn.commit().map(|()| v)
                    });
                    if done.is_err() {
                        conn.rollback();
                    }
                    done
                })?;
                if let Some(Before { work, small }) = first {
                    let run = move || {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                            .unwrap_or_else(|_| {
                                Err(StoreError::Corrupt("work before a commit panicked".into()))
                            });
                        let _ = first_tx.send(r);
                    };
                    if small {
                        run();
                    } else {
                        tokio::task::spawn_blocking(run);
                    }
                }
                reply.await
            }
            None => {
                drop(turn);
                if let Some(Before { work, .. }) = first {
                    tokio::task::spawn_blocking(work)
                        .await
                        .map_err(|e| StoreError::Corrupt(format!("before a transaction: {e}")))??;
                }
                let tx = self.begin_write().await?;
                let v = work(&Tx::Sea(&tx, self.kind)).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    /// Runs the statements of `m` in a write transaction; how many rows they changed.
    pub(crate) async fn write_multi(&self, m: Multi) -> Result<u64> {
        self.write(move |tx| Box::pin(async move { m.execute(tx).await }))
            .await
    }

    /// A write transaction through sea-orm, for writes not (yet) written as a [`Tx`] body;
    /// it holds the process's write turn until it ends. SQLite's default deferred BEGIN would
    /// fail, not wait, when it upgrades a read to a write after another connection wrote;
    /// IMMEDIATE takes the write lock up front and waits its turn under busy_timeout.
    pub(crate) async fn begin_write(&self) -> Result<SeaWrite> {
        let turn = self.write_turn().await;
        let opts = TransactionOptions {
            sqlite_transaction_mode: (self.kind == DbKind::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(SeaWrite {
            tx: self.db.begin_with_options(opts).await?,
            _turn: turn,
        })
    }

    /// On SQLite, writers take turns in this process before they begin: the writer thread's
    /// transactions and those still made through sqlx (`begin_write`). Colliding on SQLite's
    /// lock, each would sleep in its busy handler (up to 100 ms a step), where a mutex wakes
    /// the next one the moment the lock is free. Held until the transaction ends.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.kind {
            DbKind::Sqlite => Some(self.writer.clone().lock_owned().await),
            DbKind::Postgres => None,
        }
    }
}

/// A sea-orm write transaction with the write turn (see [`Store::begin_write`]).
pub(crate) struct SeaWrite {
    tx: DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for SeaWrite {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl SeaWrite {
    pub(crate) async fn commit(self) -> std::result::Result<(), sea_orm::DbErr> {
        self.tx.commit().await
    }
}
