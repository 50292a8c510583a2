//! SQLite's page cache for every connection of the process: its own (pcache1), except that
//! the end of a write transaction no longer scans the whole cache after a page split.
//!
//! When a B-tree page splits, SQLite may renumber the new pages so that they stay in order,
//! and swaps two numbers through a temporary one: the number of the page holding the 1 GiB
//! lock byte, which no database uses. pcache1 remembers the largest number it has held since
//! its last truncation; every write transaction ends by truncating the cache to the
//! database's size, and pcache1, seeing that remembered number far beyond the size, scans
//! every slot of its hash table and every page in it (~1,300 pages in the writer's cache) to
//! find nothing to drop. On an IMAP APPEND some leaf splits in about one commit in six, and
//! those scans were 7 % of the writer thread's time.
//!
//! The wrapper keeps its own largest number: of the pages created or renumbered to, the
//! temporary number aside. A truncation reaches pcache1 only when a page may be at or past
//! its limit — one under the wrapper's number, or the temporary page if one was left
//! (balance_nonroot always renumbers it away; a page left there would be from a failed
//! statement, and is dropped as pcache1 would). Everything else is pcache1's own.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::ffi;

/// pcache1's methods, as SQLite had them before [`install`].
struct Base(ffi::sqlite3_pcache_methods2);

// SAFETY: the methods are plain functions and `pArg` is SQLite's, never dereferenced here.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

static BASE: OnceLock<Base> = OnceLock::new();

/// Installs the wrapper, once per process, before SQLite is first used (SQLite takes a page
/// cache only then). If SQLite was already initialised (another library opened a database
/// first), it keeps pcache1 as it is: correct, only slower.
pub(crate) fn install() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // SAFETY: sqlite3_config before sqlite3_initialize; `Once` keeps this the only call.
        // SQLite copies the methods struct it is given.
        unsafe {
            let mut base: ffi::sqlite3_pcache_methods2 = std::mem::zeroed();
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, &mut base as *mut _)
                != ffi::SQLITE_OK
                || base.xCreate.is_none()
            {
                tracing::debug!("SQLite already initialised: its page cache is left as it is");
                return;
            }
            let base = &BASE.get_or_init(|| Base(base)).0;
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: base.iVersion,
                pArg: base.pArg,
                xInit: base.xInit,
                xShutdown: base.xShutdown,
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &ours as *const _) != ffi::SQLITE_OK
            {
                tracing::debug!("SQLite refused the page cache; keeping its own");
            }
        }
    });
}

/// One connection's cache: pcache1's, and the largest page number it may hold.
struct Cache {
    base: *mut ffi::sqlite3_pcache,
    /// Every page pcache1 holds has a number ≤ this, or is the temporary page.
    max: AtomicU32,
    /// The lock-byte page's number, SQLite's temporary one when it renumbers pages.
    temp: c_uint,
}

fn base() -> &'static ffi::sqlite3_pcache_methods2 {
    // Only installed methods are ever called, so BASE was set.
    &BASE.get().expect("page cache wrapper installed").0
}

/// SAFETY (all below): SQLite calls these only with a pointer `create` returned and not yet
/// given to `destroy`, one call at a time per cache.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a Cache {
    unsafe { &*(p as *const Cache) }
}

/// SQLite's PENDING_BYTE: the lock byte's offset, whose page no database uses.
const PENDING_BYTE: c_uint = 0x4000_0000;

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let inner = unsafe { base().xCreate.expect("pcache1 xCreate")(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let temp = PENDING_BYTE / page_size.max(512) as c_uint + 1;
    Box::into_raw(Box::new(Cache {
        base: inner,
        max: AtomicU32::new(0),
        temp,
    })) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    unsafe { base().xCachesize.expect("pcache1 xCachesize")(cache(p).base, n) }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    unsafe { base().xPagecount.expect("pcache1 xPagecount")(cache(p).base) }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let c = unsafe { cache(p) };
    let page = unsafe { base().xFetch.expect("pcache1 xFetch")(c.base, key, create) };
    if !page.is_null() && key != c.temp {
        c.max.fetch_max(key, Ordering::Relaxed);
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    unsafe { base().xUnpin.expect("pcache1 xUnpin")(cache(p).base, page, discard) }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let c = unsafe { cache(p) };
    unsafe { base().xRekey.expect("pcache1 xRekey")(c.base, page, old, new) };
    if new != c.temp {
        c.max.fetch_max(new, Ordering::Relaxed);
    }
}

/// Drops every page numbered `limit` or more.
unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let c = unsafe { cache(p) };
    let b = base();
    let below = limit <= c.max.load(Ordering::Relaxed);
    // A fetch without create pins the page if it is there; the truncation then drops it.
    let temp_left = !below
        && limit <= c.temp
        && !unsafe { b.xFetch.expect("pcache1 xFetch")(c.base, c.temp, 0) }.is_null();
    if below || temp_left {
        unsafe { b.xTruncate.expect("pcache1 xTruncate")(c.base, limit) };
        c.max.fetch_min(limit.saturating_sub(1), Ordering::Relaxed);
    } else {
        #[cfg(test)]
        SPARED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Truncations not passed on (for the test that the wrapper is in use).
#[cfg(test)]
static SPARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    let c = unsafe { Box::from_raw(p as *mut Cache) };
    unsafe { base().xDestroy.expect("pcache1 xDestroy")(c.base) }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    unsafe { base().xShrink.expect("pcache1 xShrink")(cache(p).base) }
}

#[cfg(test)]
mod tests {
    /// Page splits that renumber pages, rolled-back growth, a second connection's writes
    /// (after which the first must drop what it cached) and a shrinking database, through
    /// the wrapper: every row written is read back, and the database passes SQLite's check.
    #[test]
    fn splits_rollbacks_and_shrinking_keep_the_database_whole() {
        super::install();
        let dir = std::env::temp_dir().join(format!("mailroom-pcache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = || {
            let c = rusqlite::Connection::open(dir.join("t.db")).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA cache_size = -4000;")
                .unwrap();
            c
        };
        let (c, other) = (open(), open());
        c.execute_batch(
            "CREATE TABLE t(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID; CREATE INDEX t_v ON t(v);",
        )
        .unwrap();
        let count = |c: &rusqlite::Connection| -> i64 {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        // Random keys split pages all over the tree (the renumbering case).
        let mut x: u64 = 7;
        let mut key = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{x:016x}")
        };
        let mut expected = 0;
        for round in 0..40 {
            c.execute_batch("BEGIN").unwrap();
            for _ in 0..200 {
                let k = key();
                c.execute(
                    "INSERT INTO t VALUES (?, ?)",
                    (&k, vec![k.as_bytes()[3]; 300]),
                )
                .unwrap();
            }
            // Every fifth transaction grows the file and is rolled back: its new pages must
            // leave the cache, or the next transaction would read them as if committed.
            if round % 5 == 4 {
                c.execute_batch("ROLLBACK").unwrap();
            } else {
                c.execute_batch("COMMIT").unwrap();
                expected += 200;
            }
            // The other connection deletes and adds rows: `c` must not answer from pages
            // it cached before.
            let k = key();
            other
                .execute_batch(&format!(
                    "DELETE FROM t WHERE k IN (SELECT k FROM t LIMIT 50);
                     INSERT INTO t VALUES ('{k}', zeroblob(3000));"
                ))
                .unwrap();
            expected -= 50.min(expected);
            expected += 1;
            assert_eq!(count(&c), expected, "round {round}");
        }
        c.execute_batch("DELETE FROM t WHERE k < '8'; VACUUM;")
            .unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        assert_eq!(count(&other), count(&c));
        // The wrapper was in use, and spared some commit its scan.
        assert!(super::SPARED.load(std::sync::atomic::Ordering::Relaxed) > 0);
        drop((c, other));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
