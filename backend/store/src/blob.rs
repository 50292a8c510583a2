//! The blob store: message bytes, content-addressed by SHA-256, on local disk or S3.
//!
//! Reads, deletes and S3 go through object_store. Writes to local disk in batches
//! ([`BlobStore::put_many`], the delivery path) are our own: every file of the batch is
//! written to a temporary name, then each is `fdatasync`ed and renamed into place, then each
//! directory touched is synced once. On a journalling file system the first sync commits the
//! whole batch, so a batch costs about one journal commit instead of two syncs per message
//! (object_store's `LocalFileSystem` syncs each file and its directory on its own thread).
//! Single writes (`put`) use object_store with fsync on. Either way a blob that a write
//! returned for survives a crash, and a blob that already exists is left alone: a final name
//! only ever appears after its bytes are synced.

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// A blob's id: the lowercase hex SHA-256 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    pub fn of(bytes: &[u8]) -> BlobId {
        BlobId(hex::encode(Sha256::digest(bytes)))
    }

    /// Accepts only a well-formed id, so a blob id can never name a path outside the store.
    pub fn parse(s: &str) -> Option<BlobId> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| BlobId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the blob lives under a local root (the layout `path` gives object_store).
    pub(crate) fn fs_path(&self, root: &std::path::Path) -> std::path::PathBuf {
        root.join(&self.0[0..2]).join(&self.0)
    }

    pub(crate) fn path(&self, prefix: &Path) -> Path {
        // One level of 256 folders: 4,000 files a folder at a million messages, which ext4's
        // hashed directories handle well, and few enough folders that a new store does not
        // spend its first hundred thousand deliveries creating them.
        prefix.clone().join(&self.0[0..2]).join(self.0.as_str())
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a batch of local blobs is made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlobSync {
    /// Two `syncfs` calls per batch (Linux 5.8+; elsewhere falls back to `File`). Fastest on
    /// a volume of mailroom's own; it also flushes whatever else is dirty on that file
    /// system (a database server beside it, say).
    #[default]
    Batch,
    /// A sync per file and per folder: costs more flushes, touches nothing else.
    File,
}

/// Where blobs live, from the `[blobs]` configuration section.
#[derive(Clone, Debug)]
pub enum BlobConfig {
    /// A local folder (created if missing).
    Local {
        root: std::path::PathBuf,
        sync: BlobSync,
    },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        prefix: String,
        region: Option<String>,
        endpoint: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        allow_http: bool,
    },
}

#[derive(Clone)]
pub struct BlobStore {
    pub(crate) inner: Arc<dyn ObjectStore>,
    pub(crate) prefix: Path,
    /// Local disk refuses to replace an existing blob (cheap, and it never rewrites a file a
    /// reader holds); S3 overwrites, since not every S3-compatible server has conditional puts
    /// and the bytes are the same anyway.
    mode: PutMode,
    /// The folder, for local disk: batch writes go there directly.
    pub(crate) local_root: Option<std::path::PathBuf>,
    /// Make local batches durable with `syncfs` (see [`BlobSync`]).
    batch_sync: bool,
}

impl BlobStore {
    pub fn open(config: &BlobConfig) -> Result<BlobStore> {
        match config {
            BlobConfig::Local { root, sync } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    StoreError::Config(format!("cannot create blob folder {}: {e}", root.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| {
                        StoreError::Config(format!("blob folder {}: {e}", root.display()))
                    })?
                    .with_fsync(true);
                Ok(BlobStore {
                    inner: Arc::new(fs),
                    prefix: Path::from(""),
                    mode: PutMode::Create,
                    local_root: Some(root.clone()),
                    batch_sync: *sync == BlobSync::Batch && syncfs_reports_errors(),
                })
            }
            BlobConfig::S3 {
                bucket,
                prefix,
                region,
                endpoint,
                access_key_id,
                secret_access_key,
                allow_http,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_allow_http(*allow_http);
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(k) = access_key_id {
                    b = b.with_access_key_id(k);
                }
                if let Some(s) = secret_access_key {
                    b = b.with_secret_access_key(s);
                }
                let s3 = b
                    .build()
                    .map_err(|e| StoreError::Config(format!("blobs: {e}")))?;
                Ok(BlobStore {
                    inner: Arc::new(s3),
                    prefix: Path::from(prefix.as_str()),
                    mode: PutMode::Overwrite,
                    local_root: None,
                    batch_sync: false,
                })
            }
        }
    }

    /// Stores `bytes` durably under `id`, their hash. Storing the same bytes twice keeps one
    /// copy.
    pub async fn put_with_id(&self, id: &BlobId, bytes: Bytes) -> Result<()> {
        let opts = PutOptions {
            mode: self.mode.clone(),
            ..Default::default()
        };
        match self
            .inner
            .put_opts(&id.path(&self.prefix), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores several blobs durably: when this returns `Ok`, every one survives a crash.
    pub async fn put_many(&self, blobs: Vec<(BlobId, Bytes)>) -> Result<()> {
        if self.local_root.is_some() {
            let batch_sync = self.batch_sync;
            return self
                .local_batch(blobs, Durability::Synced { batch_sync })
                .await;
        }
        let mut writes = tokio::task::JoinSet::new();
        for (id, bytes) in blobs {
            let me = self.clone();
            writes.spawn(async move { me.put_with_id(&id, bytes).await });
        }
        while let Some(r) = writes.join_next().await {
            r.map_err(|e| StoreError::Corrupt(format!("blob writer: {e}")))??;
        }
        Ok(())
    }

    /// Whether new blobs can be journaled (see `journal.rs`): local disk only, where a blob
    /// file written without a sync can be rewritten from the journal after a crash.
    pub fn journaled(&self) -> bool {
        self.local_root.is_some()
    }

    /// Writes blobs to local disk without syncing them, for the journal: durability comes
    /// from the journal rows committed with their emails, until `Store::flush_journal` has
    /// synced the files. A blob already there is left alone. Runs on the calling thread
    /// (blocking), before the transaction that journals the bytes commits.
    pub(crate) fn stage_now(&self, blobs: &[(BlobId, Bytes)]) -> Result<()> {
        if blobs.is_empty() {
            return Ok(());
        }
        let root = self
            .local_root
            .as_ref()
            .ok_or_else(|| StoreError::Config("this blob write needs local disk".into()))?;
        write_local_batch(root, blobs, Durability::Staged)
            .map_err(|e| StoreError::Io(format!("writing blobs: {e}")))
    }

    /// Rewrites blobs from the journal after a crash (any file may be torn or missing) and
    /// syncs them. Existing files are replaced by the journal's bytes.
    pub(crate) async fn restore_many(&self, blobs: Vec<(BlobId, Bytes)>) -> Result<()> {
        self.local_batch(blobs, Durability::Restore).await
    }

    /// [`write_local_batch`] on a blocking thread.
    async fn local_batch(&self, blobs: Vec<(BlobId, Bytes)>, durability: Durability) -> Result<()> {
        let root = self
            .local_root
            .clone()
            .ok_or_else(|| StoreError::Config("this blob write needs local disk".into()))?;
        blocking("writing blobs", move || {
            write_local_batch(&root, &blobs, durability)
        })
        .await
    }

    /// Makes files written by [`BlobStore::stage_now`] durable: one `syncfs`, or a sync per
    /// file and folder where `syncfs` does not report errors.
    pub(crate) async fn sync_staged(&self, ids: Vec<BlobId>) -> Result<()> {
        let Some(root) = self.local_root.clone() else {
            return Ok(());
        };
        let batch_sync = self.batch_sync;
        blocking("syncing blobs", move || {
            if batch_sync {
                return sync_fs(&std::fs::File::open(&root)?);
            }
            let mut dirs = std::collections::BTreeSet::new();
            for id in ids {
                let path = id.fs_path(&root);
                match std::fs::File::open(&path) {
                    Ok(f) => f.sync_all()?,
                    // Collected meanwhile (its email went): nothing to keep.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                dirs.insert(
                    path.parent()
                        .expect("blob paths have a folder")
                        .to_path_buf(),
                );
            }
            dirs.insert(root.clone());
            for d in dirs {
                std::fs::File::open(&d)?.sync_all()?;
            }
            Ok(())
        })
        .await
    }

    /// Removes temporary files older than an hour that a crash left in a local store (a
    /// write in progress is younger). Returns how many went. Run at every start, it also
    /// brings the blob folders into the page cache, which every new blob's file needs.
    pub fn sweep_temporary(&self) -> std::io::Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let mut removed = 0;
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for dir in std::fs::read_dir(root)? {
            let dir = dir?.path();
            if !dir.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&dir)? {
                let f = f?;
                let name = f.file_name();
                let name = name.to_string_lossy();
                // The name first: a look at every blob's inode would read them all from
                // disk after a restart.
                if !(name.starts_with('.') && name.ends_with(TEMP_SUFFIX)) {
                    continue;
                }
                let old = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| t < cutoff)
                    .unwrap_or(false);
                if old {
                    std::fs::remove_file(f.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    pub async fn get(&self, id: &BlobId) -> Result<Bytes> {
        match self.inner.get(&id.path(&self.prefix)).await {
            Ok(r) => Ok(r.bytes().await?),
            // Garbage collection may have just moved it aside while a new email came to
            // refer to it again (see blob_gc.rs); the next collection puts it back.
            Err(object_store::Error::NotFound { .. }) => {
                match self.inner.get(&self.trash_path(id)).await {
                    Ok(r) => Ok(r.bytes().await?),
                    Err(object_store::Error::NotFound { .. }) => {
                        Err(StoreError::NotFound(format!("blob {id}")))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Several blobs, in order; `None` for one that does not exist (its email was removed
    /// and the bytes collected meanwhile), so one gone blob does not fail its neighbours.
    /// On local disk they are read on one blocking thread (one hand-off for the batch instead
    /// of one per blob); on S3, 16 at a time.
    pub async fn get_many(&self, ids: &[BlobId]) -> Result<Vec<Option<Bytes>>> {
        let found = |r: Result<Bytes>| match r {
            Ok(b) => Ok(Some(b)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        };
        let Some(root) = &self.local_root else {
            use futures::StreamExt;
            // Owned futures: borrowing ones in `buffered` defeat Send inference upstream.
            let owned: Vec<BlobId> = ids.to_vec();
            let gets = owned.into_iter().map(|id| {
                let store = self.clone();
                async move { store.get(&id).await }
            });
            let got: Vec<Result<Bytes>> = futures::stream::iter(gets).buffered(16).collect().await;
            return got.into_iter().map(found).collect();
        };
        let paths: Vec<String> = ids
            .iter()
            .map(|id| id.path(&self.prefix).to_string())
            .collect();
        let root = root.clone();
        let read = tokio::task::spawn_blocking(move || {
            // Opened relative to the folder: the kernel walks two names a file instead of
            // the whole path (a FETCH of every message opens a hundred thousand).
            let dir = std::fs::File::open(&root).ok();
            paths
                .iter()
                .map(|p| match &dir {
                    Some(d) => read_at(d, p),
                    None => std::fs::read(root.join(p)).ok(),
                })
                .map(|r| r.map(Bytes::from))
                .collect::<Vec<Option<Bytes>>>()
        })
        .await
        .map_err(|e| StoreError::Io(format!("blob read: {e}")))?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, r) in ids.iter().zip(read) {
            out.push(match r {
                Some(b) => Some(b),
                // Moved to the trash meanwhile, gone, or unreadable: the one-by-one path says.
                None => found(self.get(id).await)?,
            });
        }
        Ok(out)
    }

    /// Reachability, for readiness checks: a missing object is a healthy answer.
    pub async fn ping(&self) -> Result<()> {
        match self.inner.head(&self.prefix.clone().join("ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs file work on tokio's blocking threads; `what` names it in errors.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?
        .map_err(|e| StoreError::Io(format!("{what}: {e}")))
}

/// A file's bytes, opened relative to `dir`; `None` if it cannot be read.
fn read_at(dir: &std::fs::File, path: &str) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    // A blob never changes: its size, then reads until that many bytes are in (fewer: not
    // what was expected, the one-by-one path answers). Four system calls a blob, where
    // `read_to_end` made six (it also asks for the position and reads once more to find
    // the end): a FETCH of every message reads a hundred thousand.
    let len = usize::try_from(rustix::fs::fstat(&fd).ok()?.st_size).ok()?;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut out)) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    Some(out)
}

/// How [`write_local_batch`] leaves what it wrote.
#[derive(Clone, Copy)]
enum Durability {
    /// On disk when it returns (`batch_sync`: with two `syncfs` calls, see below).
    Synced { batch_sync: bool },
    /// Written, not synced: the journal holds the bytes until a flush syncs them.
    Staged,
    /// Rewritten from the journal, over whatever a crash left, and synced.
    Restore,
}

/// The local batch write described at the top of this file.
///
/// On Linux 5.8 or later the batch is made durable with two `syncfs` calls instead of a sync
/// per file and per folder: the temporary files' bytes are synced, then they are renamed into
/// place, then the names are synced. Two device flushes per batch, and still no final name can
/// exist before its bytes are on disk. The file system handle is opened before anything is
/// written, so `syncfs` reports any write-back error that happens after (5.8 is when it began
/// to report them at all). Elsewhere each file and folder is synced on its own.
///
/// A blob that already exists is not written again, but it is synced too: another writer may
/// have renamed it into place and not yet synced the name.
fn write_local_batch(
    root: &std::path::Path,
    blobs: &[(BlobId, Bytes)],
    durability: Durability,
) -> std::io::Result<()> {
    // Only a batch synced with `syncfs` needs the file system's handle.
    let fs = match durability {
        Durability::Synced { batch_sync: true } => Some(std::fs::File::open(root)?),
        _ => None,
    };
    let mut staged: Vec<(std::path::PathBuf, std::path::PathBuf)> = Vec::with_capacity(blobs.len());
    let r = stage_and_publish(root, fs.as_ref(), blobs, &mut staged, durability);
    if r.is_err() {
        // Leave no temporary files behind; a final name is either whole or absent.
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
    }
    r
}

fn stage_and_publish(
    root: &std::path::Path,
    fs: Option<&std::fs::File>,
    blobs: &[(BlobId, Bytes)],
    staged: &mut Vec<(std::path::PathBuf, std::path::PathBuf)>,
    durability: Durability,
) -> std::io::Result<()> {
    use std::io::Write;
    let (sync_each, batch_sync) = match durability {
        Durability::Synced { batch_sync } => (!batch_sync, batch_sync),
        Durability::Staged => (false, false),
        Durability::Restore => (true, false),
    };
    let mut dirs = std::collections::BTreeSet::new();
    let mut existing = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (id, bytes) in blobs {
        let path = id.fs_path(root);
        if !seen.insert(id) {
            continue;
        }
        let dir = path
            .parent()
            .expect("blob paths have a folder")
            .to_path_buf();
        // After a crash a file may exist torn: the journal's bytes replace it.
        if !matches!(durability, Durability::Restore) && path.exists() {
            existing.push(path);
            dirs.insert(dir);
            continue;
        }
        let (mut f, tmp) = match create_temp(&dir, id) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir)?;
                // A new folder must reach the disk too: sync its parent.
                dirs.insert(root.to_path_buf());
                create_temp(&dir, id)?
            }
            r => r?,
        };
        staged.push((tmp, path));
        f.write_all(bytes)?;
        if sync_each {
            f.sync_data()?;
        }
        dirs.insert(dir);
        // The descriptor closes here: a batch of thousands holds none open.
    }
    if staged.is_empty() && existing.is_empty() {
        return Ok(());
    }
    if let (true, Some(fs)) = (batch_sync, fs) {
        sync_fs(fs)?;
        for (tmp, path) in staged.iter() {
            std::fs::rename(tmp, path)?;
        }
        staged.clear();
        return sync_fs(fs);
    }
    for (tmp, path) in staged.iter() {
        std::fs::rename(tmp, path)?;
    }
    staged.clear();
    if matches!(durability, Durability::Staged) {
        return Ok(());
    }
    for path in existing {
        std::fs::File::open(path)?.sync_all()?;
    }
    for d in dirs {
        std::fs::File::open(&d)?.sync_all()?;
    }
    Ok(())
}

/// A new temporary file beside its final name. `create_new` never truncates another writer's
/// file (several processes may share the folder); a clash just takes the next name.
fn create_temp(
    dir: &std::path::Path,
    id: &BlobId,
) -> std::io::Result<(std::fs::File, std::path::PathBuf)> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    loop {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{nanos}.{n}{TEMP_SUFFIX}",
            id.as_str(),
            pid()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// This process's id, asked of the kernel once.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Temporary blob files end with this; [`BlobStore::sweep_temporary`] removes stale ones.
const TEMP_SUFFIX: &str = ".tmp";

#[cfg(target_os = "linux")]
fn sync_fs(fs: &std::fs::File) -> std::io::Result<()> {
    Ok(rustix::fs::syncfs(fs)?)
}

#[cfg(not(target_os = "linux"))]
fn sync_fs(_: &std::fs::File) -> std::io::Result<()> {
    unreachable!("batch sync is used on Linux only")
}

/// Whether `syncfs` reports write-back errors: Linux 5.8 and later.
fn syncfs_reports_errors() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        if !cfg!(target_os = "linux") {
            return false;
        }
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut parts = release
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        (major, minor) >= (5, 8)
    })
}
