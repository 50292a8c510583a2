//! The blob store: message bytes, content-addressed by SHA-256, on local disk or S3.
//!
//! Local writes go through object_store's `LocalFileSystem` with fsync on, in `Create` mode:
//! the bytes are staged, synced, then hard-linked into place and the directory synced, so a
//! blob that `put` returned for survives a crash, and a blob that already exists (the same
//! message delivered again) is left alone.

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

    fn path(&self, prefix: &Path) -> Path {
        // Two levels of 256 folders keep directories small at millions of messages.
        prefix
            .clone()
            .join(&self.0[0..2])
            .join(&self.0[2..4])
            .join(self.0.as_str())
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where blobs live, from the `[blobs]` configuration section.
#[derive(Clone, Debug)]
pub enum BlobConfig {
    /// A local folder (created if missing).
    Local { root: std::path::PathBuf },
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
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    /// Local disk refuses to replace an existing blob (cheap, and it never rewrites a file a
    /// reader holds); S3 overwrites, since not every S3-compatible server has conditional puts
    /// and the bytes are the same anyway.
    mode: PutMode,
}

impl BlobStore {
    pub fn open(config: &BlobConfig) -> Result<BlobStore> {
        match config {
            BlobConfig::Local { root } => {
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
                })
            }
        }
    }

    /// Stores `bytes` durably under their hash and returns the id. Storing the same bytes
    /// twice keeps one copy.
    pub async fn put(&self, bytes: Bytes) -> Result<BlobId> {
        let id = BlobId::of(&bytes);
        self.put_with_id(&id, bytes).await?;
        Ok(id)
    }

    /// Like [`put`](Self::put) when the caller has already hashed the bytes.
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

    pub async fn get(&self, id: &BlobId) -> Result<Bytes> {
        match self.inner.get(&id.path(&self.prefix)).await {
            Ok(r) => Ok(r.bytes().await?),
            Err(object_store::Error::NotFound { .. }) => {
                Err(StoreError::NotFound(format!("blob {id}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, id: &BlobId) -> Result<()> {
        match self.inner.delete(&id.path(&self.prefix)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reachability, for readiness checks: a missing object is a healthy answer.
    pub async fn ping(&self) -> Result<()> {
        match self.inner.head(&self.prefix.clone().join("ping")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
