//! The edge's cache: the byte-bounded store (large bodies in files), the lock that collapses
//! simultaneous misses, and the invalidations made through the admin API.

pub mod body_file;
pub mod invalidations;
pub mod store;

use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};
use std::time::Duration;

/// How long a request waits for another one filling the same key before going to the origin
/// itself: about CloudFront's default origin read timeout.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct EdgeCache {
    pub store: &'static store::Store,
    pub lock: &'static CacheKeyLockImpl,
    pub max_object_size: usize,
    pub invalidations: invalidations::Invalidations,
}

impl EdgeCache {
    /// The cache of one edge process. The store and lock live for the whole process (pingora needs
    /// them `'static`), so they are created once, here.
    pub fn new(capacity: u64, max_object_size: u64) -> EdgeCache {
        let store: &'static store::Store = Box::leak(Box::new(store::Store::new(
            capacity,
            body_file::BodyFiles::from_env(),
        )));
        let lock: &'static CacheLock = Box::leak(CacheLock::new_boxed(LOCK_TIMEOUT));
        EdgeCache {
            store,
            lock,
            max_object_size: usize::try_from(max_object_size).unwrap_or(usize::MAX),
            invalidations: invalidations::Invalidations::default(),
        }
    }
}
