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

use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bodies from this size go to a file: below it, a copy costs less than a second system call.
pub const MIN_BODY: usize = 64 * 1024;

/// The most files kept, whatever the open-files limit.
const MAX_FILES: usize = 16 * 1024;

/// Files kept now, over the process.
static KEPT: AtomicUsize = AtomicUsize::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);

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

    /// `body` as the store keeps it: in a file when it is large enough and a file can be had,
    /// otherwise in memory. The file is written on the blocking pool, as a write to a filesystem
    /// can wait for the disk.
    pub async fn keep(&self, body: BytesMut) -> Body {
        let body = body.freeze();
        if body.len() < MIN_BODY {
            return Body::in_memory(body);
        }
        let Some(slot) = Slot::take(self.limit) else {
            return Body::in_memory(body);
        };
        let dir = self.dir.clone();
        let written = body.clone();
        match tokio::task::spawn_blocking(move || write_mapped(&dir, &written, slot)).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(e)) => {
                if !WARNED.swap(true, Ordering::AcqRel) {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "a cached body stays in memory: its file could not be written");
                }
                Body::in_memory(body)
            }
            Err(_) => Body::in_memory(body),
        }
    }
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

    fn body(len: usize) -> BytesMut {
        (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()[..].into()
    }

    #[tokio::test]
    async fn large_bodies_go_to_files_small_ones_stay() {
        let dir = std::env::temp_dir();
        let files = BodyFiles::at(dir, 1000).expect("the temporary directory takes unlinked files");
        let small = files.keep(body(MIN_BODY - 1)).await;
        assert!(small.file.is_none());
        assert!(small.bytes == body(MIN_BODY - 1));

        let large = files.keep(body(100 * 1024)).await;
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
    async fn the_limit_holds_and_slots_come_back() {
        let files = BodyFiles::at(std::env::temp_dir(), 0).unwrap();
        assert!(files.keep(body(MIN_BODY)).await.file.is_none());
        let before = kept();
        let files = BodyFiles::at(std::env::temp_dir(), usize::MAX).unwrap();
        let kept_body = files.keep(body(MIN_BODY)).await;
        assert!(kept_body.file.is_some());
        assert!(kept() >= before + 1);
        let bytes = kept_body.bytes.clone();
        drop(kept_body);
        // The bytes outlive the file's descriptor: the mapping holds the pages.
        assert!(bytes == body(MIN_BODY));
    }

    #[test]
    fn a_directory_that_takes_no_file_keeps_bodies_in_memory() {
        assert!(BodyFiles::at(PathBuf::from("/nonexistent/ferry"), 10).is_none());
    }
}
