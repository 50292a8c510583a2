//! `<data_dir>/acme/`: the account (`account.json`, owner-only: it holds the account key),
//! the certificate chain (`cert.pem`), its key (`key.pem`, owner-only) and which directory
//! issued them (`issued.json`). Every file is written whole under a temporary name, synced
//! and renamed into place, so a reader sees the old file or the new one, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Clone, Debug)]
pub struct Files {
    pub dir: PathBuf,
    pub account: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub issued: PathBuf,
}

impl Files {
    pub fn new(data_dir: &Path) -> Files {
        let dir = data_dir.join("acme");
        Files {
            account: dir.join("account.json"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            issued: dir.join("issued.json"),
            dir,
        }
    }

    /// A new certificate: the record of its directory first (a crash after it costs no new
    /// order), then key and chain renamed into place back to back (the TLS watcher may catch
    /// them between the two renames; it then keeps the old pair until the next look).
    pub fn store(&self, chain_pem: &str, key_pem: &str, issued_json: &[u8]) -> Result<()> {
        self.create_dir()?;
        write(&self.issued, issued_json, false)?;
        let key = staged(&self.key, key_pem.as_bytes(), true)?;
        let cert = staged(&self.cert, chain_pem.as_bytes(), false)?;
        rename(&key, &self.key)?;
        rename(&cert, &self.cert)?;
        sync_dir(&self.dir)
    }

    pub fn create_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))
    }
}

/// Writes `path` atomically (owner-only when `private`).
pub fn write(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let tmp = staged(path, bytes, private)?;
    rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `bytes` written and synced under `path` + ".tmp"; returns that name.
fn staged(path: &Path, bytes: &[u8], private: bool) -> Result<PathBuf> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    }
    let mut f = o
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // The mode above applies only to a new file; a leftover temporary one keeps its own.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok(tmp)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).with_context(|| format!("cannot rename into {}", to.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(())
}
