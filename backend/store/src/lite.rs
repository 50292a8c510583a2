//! The SQLite writer: one thread with a connection of its own, on which a write
//! transaction runs whole.
//!
//! sqlx runs each SQLite statement on its connection's worker thread and hands the result
//! back to the caller's task: BEGIN, every statement and COMMIT each cost two thread
//! switches, which in a small write transaction (an IMAP APPEND files one message in a dozen
//! statements) cost more than the statements and about as much as the commit's fsync. Here
//! the caller sends the whole transaction to this thread once and is woken once, when it has
//! committed. The transaction body is the same async code that runs on Postgres (see
//! `tx.rs`); on this thread every statement completes at once, so it is driven by a plain
//! `block_on` and never waits on anything but SQLite.

use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::Value as Lite;
use sea_orm::{Statement, Value};

use crate::{Result, StoreError};

/// A transaction's work, run on the writer thread.
type Job = Box<dyn FnOnce(&LiteConn) + Send>;

/// The handle the store keeps: where jobs go.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: std::sync::mpsc::Sender<Job>,
}

/// The writer thread's connection. Behind a mutex only so that a `&LiteConn` can live in
/// futures that must be `Send` (the same transaction code runs on tokio for Postgres); only
/// the writer thread ever locks it.
pub(crate) struct LiteConn(Mutex<rusqlite::Connection>);

impl Writer {
    /// Opens `path` with the settings durability depends on (as `connect.rs` sets for sqlx's
    /// connections) and starts the thread.
    pub(crate) fn open(path: &std::path::Path) -> Result<Writer> {
        // Its WAL frames go to the kernel one commit at a time (see `wal_vfs.rs`).
        crate::wal_vfs::register().map_err(StoreError::Io)?;
        let conn = rusqlite::Connection::open_with_flags_and_vfs(
            path,
            rusqlite::OpenFlags::default(),
            crate::wal_vfs::NAME,
        )
        .map_err(lite_err)?;
        // WAL is already the file's mode; synchronous=FULL syncs the WAL at every commit
        // (SMTP's 250 promises nothing accepted is lost). No mmap for the writer: a
        // connection remaps when another one wrote, which cost writes ~20 %. Checkpoints are
        // the checkpointer thread's (below), not the committing writer's.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -16000; PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;",
        )
        .map_err(lite_err)?;
        let (checkpoint, copied) = checkpointer(path)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(lite_err)?;
        conn.set_prepared_statement_cache_capacity(128);
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let conn = LiteConn(Mutex::new(conn));
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    // Transaction bodies catch their own panics (`tx.rs`); this is for the
                    // rest. The caller is told the job failed; the thread goes on.
                    let run = std::panic::AssertUnwindSafe(|| job(&conn));
                    if std::panic::catch_unwind(run).is_err() {
                        conn.rollback();
                    }
                    // The checkpointer copied the WAL up to where it began; copying the
                    // few pages committed since here, between transactions, lets the next
                    // transaction rewind the WAL instead of growing it.
                    if copied.swap(false, std::sync::atomic::Ordering::AcqRel) {
                        conn.checkpoint();
                    }
                    // Coalesced: one wake-up stands for every commit since the last.
                    let _ = checkpoint.try_send(());
                }
            })
            .map_err(|e| StoreError::Io(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Hands `work` to the writer thread; the future it returns waits for what it returns.
    /// The caller's thread is free meanwhile (for work `work` waits for, see `tx.rs`).
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&LiteConn) -> Result<T> + Send + 'static,
    ) -> Result<impl std::future::Future<Output = Result<T>>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |conn| {
                let _ = reply.send(work(conn));
            }))
            .map_err(|_| StoreError::Io("the SQLite writer has stopped".into()))?;
        Ok(async move {
            rx.await
                .map_err(|_| StoreError::Corrupt("a job on the SQLite writer failed".into()))?
        })
    }
}

/// Copies committed pages from the WAL into the database file, on a thread and connection of
/// its own, at most every [`CHECKPOINT_EVERY`] while commits come.
///
/// SQLite's default runs a checkpoint inside the commit that crossed 1,000 WAL pages: that
/// commit (every 30th IMAP APPEND) paid for copying the pages and syncing the database file,
/// a few milliseconds, on the writer thread. A passive checkpoint from another connection
/// runs beside the writer (it takes no write lock). But the WAL is rewound only by a write
/// that begins when every frame in it has been copied, and under a steady stream of commits
/// some always come in while the checkpoint runs: so once the WAL has grown to
/// [`REWIND_AT`] frames and a checkpoint is done, it raises the flag returned, and the writer
/// thread copies the rest between two transactions (a few pages and one sync of the database
/// file).
fn checkpointer(
    path: &std::path::Path,
) -> Result<(
    std::sync::mpsc::SyncSender<()>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
)> {
    let conn = rusqlite::Connection::open(path).map_err(lite_err)?;
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(lite_err)?;
    let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
    let copied = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = copied.clone();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            // Ends when the writer thread does (its sender dropped).
            while rx.recv().is_ok() {
                std::thread::sleep(CHECKPOINT_EVERY);
                if checkpoint(&conn) {
                    done.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        })
        .map_err(|e| StoreError::Io(format!("cannot start the SQLite checkpointer: {e}")))?;
    Ok((wake, copied))
}

/// How often the WAL is checkpointed while writes come. Each checkpoint syncs the database
/// file, which commits' own syncs then queue behind: every 200 ms rather than 50, with the
/// writer finishing one only every few seconds (below) and the journal flush and text index
/// moves every 500 ms rather than 100 and 200 (core), made APPEND ~10 % faster (paired runs).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// WAL frames (~4 KiB each) from which the writer finishes a checkpoint so that the WAL
/// rewinds: finishing one holds the writer for a few milliseconds (its pages and a sync of
/// the database file), so it waits until the WAL is ~32 MiB (a few seconds of APPENDs).
const REWIND_AT: i64 = 8192;

/// A passive checkpoint on `conn`; whether the WAL had grown to [`REWIND_AT`] and it copied
/// every frame the WAL had when it began.
fn checkpoint(conn: &rusqlite::Connection) -> bool {
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match r {
        Ok((wal, copied)) => {
            tracing::trace!(wal, copied, "checkpoint");
            wal >= REWIND_AT && copied == wal
        }
        Err(e) => {
            tracing::warn!(error = %e, "checkpointing the SQLite WAL failed");
            false
        }
    }
}

impl LiteConn {
    /// A passive checkpoint on the writer's connection, between transactions.
    fn checkpoint(&self) {
        checkpoint(&self.conn());
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        // A panic inside a statement leaves nothing half-done that SQLite would not undo.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a write transaction, first ending one a failure left open (a ROLLBACK that
    /// failed): else every later BEGIN would fail.
    pub(crate) fn begin(&self) -> Result<()> {
        let conn = self.conn();
        if !conn.is_autocommit() {
            tracing::warn!("the SQLite writer found a transaction left open; rolling it back");
            conn.execute_batch("ROLLBACK").map_err(lite_err)?;
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(lite_err)
    }

    pub(crate) fn commit(&self) -> Result<()> {
        self.conn().execute_batch("COMMIT").map_err(lite_err)
    }

    /// Undoes the open transaction, if any (a failed COMMIT may have ended it already).
    pub(crate) fn rollback(&self) {
        let conn = self.conn();
        if !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rolling back on the SQLite writer failed");
        }
    }

    /// The rows of one statement, each column's value as SQLite has it.
    pub(crate) fn query(&self, st: &Statement) -> Result<Vec<Vec<Lite>>> {
        let conn = self.conn();
        let mut s = conn.prepare_cached(&st.sql).map_err(lite_err)?;
        let params = params(st)?;
        let width = s.column_count();
        let mut rows = s
            .query(rusqlite::params_from_iter(params))
            .map_err(lite_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(lite_err)? {
            let mut row = Vec::with_capacity(width);
            for i in 0..width {
                row.push(r.get::<_, Lite>(i).map_err(lite_err)?);
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Runs one statement; how many rows it changed.
    pub(crate) fn execute(&self, st: &Statement) -> Result<u64> {
        let conn = self.conn();
        let mut s = conn.prepare_cached(&st.sql).map_err(lite_err)?;
        let n = s
            .execute(rusqlite::params_from_iter(params(st)?))
            .map_err(lite_err)?;
        Ok(n as u64)
    }
}

/// A statement's parameters as SQLite takes them (as sqlx encodes them: booleans as 0/1,
/// JSON as text).
fn params(st: &Statement) -> Result<Vec<Lite>> {
    let Some(values) = &st.values else {
        return Ok(Vec::new());
    };
    values.0.iter().map(to_lite).collect()
}

fn to_lite(v: &Value) -> Result<Lite> {
    fn int<T: Into<i64> + Copy>(v: &Option<T>) -> Lite {
        v.map_or(Lite::Null, |x| Lite::Integer(x.into()))
    }
    Ok(match v {
        Value::Bool(b) => int(&b.map(i64::from)),
        Value::TinyInt(x) => int(x),
        Value::SmallInt(x) => int(x),
        Value::Int(x) => int(x),
        Value::BigInt(x) => int(x),
        Value::TinyUnsigned(x) => int(x),
        Value::SmallUnsigned(x) => int(x),
        Value::Unsigned(x) => int(x),
        Value::BigUnsigned(x) => match x {
            None => Lite::Null,
            Some(x) => Lite::Integer(
                i64::try_from(*x).map_err(|_| StoreError::Corrupt(format!("{x} too large")))?,
            ),
        },
        Value::Float(x) => x.map_or(Lite::Null, |f| Lite::Real(f64::from(f))),
        Value::Double(x) => x.map_or(Lite::Null, Lite::Real),
        Value::String(s) => s.clone().map_or(Lite::Null, Lite::Text),
        Value::Char(c) => c.map_or(Lite::Null, |c| Lite::Text(c.to_string())),
        Value::Bytes(b) => b.clone().map_or(Lite::Null, Lite::Blob),
        Value::Json(j) => j.as_ref().map_or(Lite::Null, |j| Lite::Text(j.to_string())),
        // Nothing of ours binds dates or enums: the schema stores seconds and strings.
        other => {
            return Err(StoreError::Corrupt(format!(
                "a parameter SQLite is not given here: {other:?}"
            )));
        }
    })
}

/// rusqlite's errors as the store's. Busy and I/O errors are transient (a batch retried job
/// by job would meet the same); the rest are the statement's.
pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen,
        ) => StoreError::Io(format!("database: {e}")),
        _ => StoreError::Db(sea_orm::DbErr::Custom(e.to_string())),
    }
}
