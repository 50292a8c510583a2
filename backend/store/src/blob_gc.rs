//! The blob store's half of garbage collection (the whole procedure is in
//! `mailroom_core::gc`).
//!
//! A blob nothing refers to is not deleted at once: it is moved into `trash/`, and a later
//! collection deletes it only if it is still unused. Content addressing is the reason. A new
//! email whose bytes already exist does not write them again, so its writer can see the
//! file, and commit its row a moment after the collector found no row naming those bytes.
//! Reads fall back to the trash ([`BlobStore::get`]), and the next collection finds the new
//! reference and moves the blob back.

use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::blob::blocking;
use crate::{BlobId, BlobStore, Result};

/// The folder (or key prefix) unused blobs wait in.
const TRASH: &str = "trash";

/// A stored blob, as a listing gives it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: BlobId,
    /// When it was last written (in the trash: when it was moved there).
    pub modified: SystemTime,
    pub size: u64,
}

impl BlobStore {
    pub(crate) fn trash_path(&self, id: &BlobId) -> Path {
        self.prefix.clone().join(TRASH).join(id.as_str())
    }

    /// The blobs of one of the 256 shards (named by an id's first byte) last written before
    /// `cutoff`: a younger one may belong to a write whose row is not committed yet.
    pub async fn list_shard(&self, shard: u8, cutoff: SystemTime) -> Result<Vec<BlobId>> {
        Ok(self
            .listing(&format!("{shard:02x}"))
            .await?
            .into_iter()
            .filter(|b| b.modified < cutoff)
            .map(|b| b.id)
            .collect())
    }

    /// The blobs in one folder (or under one key prefix), with when each was last written.
    async fn listing(&self, folder: &str) -> Result<Vec<Listed>> {
        if let Some(root) = self.local_root.clone() {
            let dir = root.join(folder);
            return blocking("blob collector", move || {
                let mut out = Vec::new();
                let entries = match std::fs::read_dir(dir) {
                    Ok(d) => d,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(e),
                };
                for f in entries {
                    let f = f?;
                    // Temporary files start with a dot and never parse as an id.
                    let Some(id) = f.file_name().to_str().and_then(BlobId::parse) else {
                        continue;
                    };
                    // A blob deleted meanwhile (by another collector) is simply not listed.
                    let meta = match f.metadata() {
                        Ok(m) => m,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    out.push(Listed {
                        id,
                        modified: meta.modified()?,
                        size: meta.len(),
                    });
                }
                Ok(out)
            })
            .await;
        }
        let listed: Vec<_> = self
            .inner
            .list(Some(&self.prefix.clone().join(folder)))
            .try_collect()
            .await?;
        Ok(listed
            .into_iter()
            .filter_map(|m| {
                Some(Listed {
                    id: m.location.filename().and_then(BlobId::parse)?,
                    modified: SystemTime::UNIX_EPOCH
                        + Duration::from_millis(m.last_modified.timestamp_millis().max(0) as u64),
                    size: m.size,
                })
            })
            .collect())
    }

    /// Moves a blob into the trash (nothing happens if it is already gone).
    pub async fn trash(&self, id: &BlobId) -> Result<()> {
        if let Some(root) = self.local_root.clone() {
            let id = id.clone();
            return blocking("blob collector", move || {
                let dir = root.join(TRASH);
                std::fs::create_dir_all(&dir)?;
                let to = dir.join(id.as_str());
                match std::fs::rename(id.fs_path(&root), &to) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    r => r?,
                }
                // A rename keeps the old time; the trash counts from now.
                std::fs::File::options()
                    .write(true)
                    .open(&to)?
                    .set_modified(SystemTime::now())
            })
            .await;
        }
        let from = id.path(&self.prefix);
        match self.inner.copy(&from, &self.trash_path(id)).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            r => r?,
        }
        self.delete_quietly(&from).await
    }

    /// Everything in the trash; `modified` is when it was moved there.
    pub async fn trashed(&self) -> Result<Vec<Listed>> {
        self.listing(TRASH).await
    }

    /// Puts a trashed blob back (or drops the trashed copy when the bytes were written anew).
    pub async fn restore(&self, id: &BlobId) -> Result<()> {
        if let Some(root) = self.local_root.clone() {
            let id = id.clone();
            return blocking("blob collector", move || {
                let from = root.join(TRASH).join(id.as_str());
                let to = id.fs_path(&root);
                if to.exists() {
                    return remove_if_present(&from);
                }
                std::fs::create_dir_all(to.parent().expect("blob paths have a folder"))?;
                match std::fs::rename(&from, &to) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    r => r,
                }
            })
            .await;
        }
        let (from, to) = (self.trash_path(id), id.path(&self.prefix));
        match self.inner.head(&to).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => self.inner.copy(&from, &to).await?,
            Err(e) => return Err(e.into()),
        }
        self.delete_quietly(&from).await
    }

    /// Deletes a trashed blob for good.
    pub async fn purge(&self, id: &BlobId) -> Result<()> {
        if let Some(root) = self.local_root.clone() {
            let path = root.join(TRASH).join(id.as_str());
            return blocking("blob collector", move || remove_if_present(&path)).await;
        }
        self.delete_quietly(&self.trash_path(id)).await
    }

    async fn delete_quietly(&self, path: &Path) -> Result<()> {
        match self.inner.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn remove_if_present(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
