//! Large bodies kept in unlinked files rather than on the heap: one copy, in the page cache,
//! mapped for pingora's path (which reads it as `Bytes`) and sent by the hit fast path with
//! `sendfile`, so that a hit's body is not copied into the socket. nginx's `proxy_cache` serves
//! from files the same way; on a filesystem with large folios (ext4 on Linux 6.x) the kernel
//! splices a 100 KiB body in a few pieces.
//!
//! The files are made with `O_TMPFILE` in the system's temporary directory (`TMPDIR`), so they
//! have no name and vanish with the process, whatever way it ends. A directory that cannot hold
//! one (no `O_TMPFILE`, not writable) leaves bodies in memory, as does `FERRY_CACHE_FILES=0`.
//! Each file holds a descriptor open, so at most a quarter of the process's open-files limit
//! (and no more than [`MAX_FILES`]) are kept; bodies beyond it stay in memory.

use bytes::Bytes;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Bodies from this size go to a file: below it, a copy costs less than a second system call.
pub const MIN_BODY: usize = 64 * 1024;

/// The most files kept, whatever the open-files limit.
const MAX_FILES: usize = 16 * 1024;

/// Files kept now, over the process.
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// A body as the store keeps it.
#[derive(Clone)]
pub struct Body {
    pub bytes: Bytes,
    /// The file holding `bytes` (mapped), when the body is kept in one.
    pub file: Option<Arc<BodyFile>>,
}

impl Body {
    pub fn in_memory(bytes: Bytes) -> Body {
        Body { bytes, file: None }
    }
}

/// An open unlinked file holding a body.
pub struct BodyFile {
    file: File,
    _slot: Slot,
}

impl BodyFile {
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// One of the files [`KEPT`] counts, given back when dropped.
struct Slot;

impl Slot {
    fn take(limit: usize) -> Option<Slot> {
        KEPT.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        KEPT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many bodies are kept in files now.
pub fn kept() -> usize {
    KEPT.load(Ordering::Acquire)
}

/// Where and how many large bodies go to files.
#[derive(Debug, Clone)]
pub struct BodyFiles {
    dir: PathBuf,
    limit: usize,
}

impl BodyFiles {
    /// Files in the system's temporary directory, unless `FERRY_CACHE_FILES=0` (or `off`) or the
    /// directory cannot hold them (said in the log): then `None`, and bodies stay in memory.
    pub fn from_env() -> Option<BodyFiles> {
        if !ferry_guard::front::enabled_by_env("FERRY_CACHE_FILES") {
            return None;
        }
        BodyFiles::at(std::env::temp_dir(), open_files_limit() / 4)
    }

    /// Files in `dir`, at most `limit` of them; `None` when `dir` cannot hold one.
    pub fn at(dir: PathBuf, limit: usize) -> Option<BodyFiles> {
        match unlinked_file(&dir) {
            Ok(_) => Some(BodyFiles {
                dir,
                limit: limit.min(MAX_FILES),
            }),
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "cached bodies stay in memory: the directory takes no unlinked file"
                );
                None
            }
        }
    }

    /// Writes `bytes` to a file, on the blocking pool (a write to a filesystem can wait for the
    /// disk), and hands the body kept in it to `then`; nothing when `bytes` is smaller than
    /// [`MIN_BODY`], no file can be had, or the write fails (the body then stays in memory).
    /// After a failed write no file is tried for [`PAUSE`], so that a full disk costs one
    /// attempt and one warning a minute, not one per miss.
    pub fn keep_later(&self, bytes: &Bytes, then: impl FnOnce(Body) + Send + 'static) {
        if bytes.len() < MIN_BODY || paused() {
            return;
        }
        let Some(slot) = Slot::take(self.limit) else {
            return;
        };
        let dir = self.dir.clone();
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || match write_mapped(&dir, &bytes, slot) {
            Ok(body) => then(body),
            Err(e) => {
                pause();
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "cached bodies stay in memory for a minute: a file could not be written"
                );
            }
        });
    }
}

/// How long no file is tried after a write failed.
const PAUSE: Duration = Duration::from_secs(60);

/// Until when (milliseconds after [`epoch`]) no file is tried.
static PAUSED_UNTIL: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis_now() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn paused() -> bool {
    millis_now() < PAUSED_UNTIL.load(Ordering::Acquire)
}

fn pause() {
    let until = millis_now().saturating_add(u64::try_from(PAUSE.as_millis()).unwrap_or(u64::MAX));
    PAUSED_UNTIL.store(until, Ordering::Release);
}

fn unlinked_file(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
}

fn write_mapped(dir: &Path, body: &Bytes, slot: Slot) -> io::Result<Body> {
    let mut file = unlinked_file(dir)?;
    file.write_all(body)?;
    // SAFETY: the file has no name and only this process holds it; nothing writes to it or
    // truncates it after this point, so the mapped bytes stay the bytes just written.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    if map.len() != body.len() {
        return Err(io::Error::other("the file's length is not the body's"));
    }
    Ok(Body {
        bytes: Bytes::from_owner(map),
        file: Some(Arc::new(BodyFile { file, _slot: slot })),
    })
}

/// The process's soft limit on open files (1024 when it cannot be read).
fn open_files_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the call to fill.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if read == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    /// What `keep_later` hands on, within 10 s (`None`: nothing).
    async fn kept_later(files: &BodyFiles, bytes: &Bytes) -> Option<Body> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        files.keep_later(bytes, move |body| {
            let _ = tx.send(body);
        });
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The files of the temporary directory; `None` (the test skips) where it takes no
    /// `O_TMPFILE` file.
    fn temporary(limit: usize) -> Option<BodyFiles> {
        BodyFiles::at(std::env::temp_dir(), limit)
    }

    #[tokio::test]
    async fn large_bodies_go_to_files_small_ones_stay() {
        let Some(files) = temporary(1000) else { return };
        assert!(kept_later(&files, &body(MIN_BODY - 1)).await.is_none());

        let large = kept_later(&files, &body(100 * 1024)).await.expect("a file");
        assert!(large.bytes == body(100 * 1024));
        let file = large.file.as_ref().expect("a file");
        // The file holds the bytes from its start, as `sendfile` reads them.
        let mut read = vec![0; large.bytes.len()];
        std::os::unix::fs::FileExt::read_exact_at(file.file(), &mut read, 0).unwrap();
        assert!(
            read == large.bytes[..],
            "the file's bytes are not the body's"
        );
    }

    #[tokio::test]
    async fn the_limit_holds_and_the_bytes_outlive_the_file() {
        let Some(none) = temporary(0) else { return };
        assert!(kept_later(&none, &body(MIN_BODY)).await.is_none());
        let Some(files) = temporary(usize::MAX) else {
            return;
        };
        let kept_body = kept_later(&files, &body(MIN_BODY)).await.expect("a file");
        assert!(kept() >= 1);
        let bytes = kept_body.bytes.clone();
        drop(kept_body);
        // The mapping holds the pages after the descriptor is closed.
        assert!(bytes == body(MIN_BODY));
    }

    #[test]
    fn no_slot_past_the_limit() {
        assert!(Slot::take(0).is_none());
        let slots: Vec<Slot> = (0..10).filter_map(|_| Slot::take(usize::MAX)).collect();
        assert_eq!(slots.len(), 10);
    }

    #[test]
    fn a_directory_that_takes_no_file_keeps_bodies_in_memory() {
        assert!(BodyFiles::at(PathBuf::from("/nonexistent/ferry"), 10).is_none());
    }
}
