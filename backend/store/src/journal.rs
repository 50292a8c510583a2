//! The blob journal: one sync per delivery instead of three.
//!
//! A new message on local disk would cost a sync for its blob file, one for the folder entry
//! and one for the database commit. Instead, a small message's file is written without a sync
//! and its bytes also go into `blob_journal`, in the transaction that files the email: when
//! that commits, the bytes are durable in the database. A flusher ([`Store::flush_journal`],
//! run twice a second by core) syncs the files written so far, all at once, and then
//! deletes their rows. After a crash, [`Store::recover_journal`] (run on every open) rewrites
//! every file still journaled — torn, empty or missing, whatever the crash left — syncs them
//! and empties the journal. So a committed email's bytes are never lost, and a reader only
//! ever sees a file that was written whole before its email's row was visible.
//!
//! Rows are deleted by id up to the highest one read before the sync, so a row at or below
//! that id must have its file written before the sync began. On Postgres ids are taken in
//! time order but committed in any order, so every file is written before its row's id is
//! taken. On SQLite one writer takes ids in commit order, so a file written before its row
//! commits is enough: it is written while the writer runs the statements (`tx.rs`).

use bytes::Bytes;
use sea_orm::{ConnectionTrait, Value};

use crate::multi::Multi;

use crate::{BlobId, Result, Store, StoreError};

/// Messages up to this size are journaled; larger ones are synced before their commit (a
/// sync costs little beside writing them, and the journal stays small).
const JOURNAL_MAX: usize = 256 * 1024;

/// Rows one flush reads at most: a flush that returns this many leaves more behind.
pub const FLUSH_ROWS: usize = 10_000;

/// Rows per statement (SQLite's parameter limit, and a bounded statement size).
const ROWS: usize = 64;

impl Store {
    /// Whether a new message of `len` bytes is journaled rather than synced before its
    /// commit: small ones on local disk (S3 puts are durable when they return).
    pub fn journals(&self, len: usize) -> bool {
        self.blobs.journaled() && len <= JOURNAL_MAX
    }

    /// Syncs the files journaled so far and forgets them; returns how many rows went.
    pub async fn flush_journal(&self) -> Result<usize> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                &format!("SELECT id, blob_id FROM blob_journal ORDER BY id LIMIT {FLUSH_ROWS}"),
                vec![],
            ))
            .await?;
        let Some(last) = rows.last() else {
            return Ok(0);
        };
        let upto: i64 = last.try_get_by_index(0)?;
        let ids = rows
            .iter()
            .filter_map(|r| r.try_get_by_index::<String>(1).ok())
            .filter_map(|s| BlobId::parse(&s))
            .collect();
        self.blobs.sync_staged(ids).await?;
        self.forget_journal(upto).await
    }

    /// Deletes the journal's rows up to `upto`, whose files are synced; returns how many.
    async fn forget_journal(&self, upto: i64) -> Result<usize> {
        let mut m = Multi::new(self.kind);
        m.push_sql("DELETE FROM blob_journal WHERE id <= ?", vec![upto.into()]);
        Ok(self.write_multi(m).await? as usize)
    }

    /// Rewrites and syncs every journaled blob, then empties the journal: what a crash left
    /// unsynced is whole again. Cheap when the journal is empty (one query).
    pub async fn recover_journal(&self) -> Result<usize> {
        let mut restored = 0;
        loop {
            let rows = self
                .db
                .query_all_raw(self.stmt(
                    &format!("SELECT id, blob_id, data FROM blob_journal ORDER BY id LIMIT {ROWS}"),
                    vec![],
                ))
                .await?;
            let Some(last) = rows.last() else {
                return Ok(restored);
            };
            let upto: i64 = last.try_get_by_index(0)?;
            let mut blobs = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: String = r.try_get_by_index(1)?;
                let data: Vec<u8> = r.try_get_by_index(2)?;
                let id = BlobId::parse(&id)
                    .filter(|id| *id == BlobId::of(&data))
                    .ok_or_else(|| StoreError::Corrupt(format!("blob journal row {id}")))?;
                blobs.push((id, Bytes::from(data)));
            }
            restored += blobs.len();
            self.blobs.restore_many(blobs).await?;
            self.forget_journal(upto).await?;
        }
    }
}

/// Adds blobs' bytes to the journal, with the statements that file their emails.
pub(crate) fn insert(m: &mut Multi, blobs: &[(BlobId, Bytes)]) {
    for chunk in blobs.chunks(ROWS) {
        let marks = vec!["(?, ?)"; chunk.len()].join(",");
        let sql = format!("INSERT INTO blob_journal (blob_id, data) VALUES {marks}");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        for (id, bytes) in chunk {
            values.push(id.as_str().into());
            values.push(bytes.to_vec().into());
        }
        m.push_sql(&sql, values);
    }
}
