//! The edge's cache storage for pingora: a moka cache bounded by bytes, whose entries keep their
//! metadata pre-parsed and their body as one shared `Bytes` (a large one mapped from its file, see
//! [`super::body_file`]), so a hit neither parses nor copies.

use super::body_file::{Body, BodyFile, BodyFiles};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::cache::key::{CacheHashKey, HashBinary};
use pingora::cache::storage::{
    HandleHit, HandleMiss, MissFinishType, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, HitHandler, MissHandler, Storage};
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType, Result};
use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

/// Room for the headers the edge adds to every copy it serves (X-Cache, Via, X-Amz-Cf-Pop,
/// X-Amz-Cf-Id, Age, response headers policies). A hit clones the stored header, and a clone keeps
/// its hash tables' size: without room, each hit grew and rehashed both of them (name and case
/// maps) while adding those headers, some 5% of a hit's instructions.
const SERVED_HEADER_ROOM: usize = 12;

/// The same header with room for [`SERVED_HEADER_ROOM`] more, names' case kept.
fn with_room(header: &ResponseHeader) -> ResponseHeader {
    let hint = Some(header.headers.len() + SERVED_HEADER_ROOM);
    let built = if header.has_case() {
        ResponseHeader::build(header.status, hint)
    } else {
        ResponseHeader::build_no_case(header.status, hint)
    };
    let Ok(mut out) = built else {
        return header.clone();
    };
    out.set_version(header.version);
    let copied = if header.has_case() {
        header
            .case_header_iter()
            .try_for_each(|(name, value)| out.append_header(name.clone(), value.clone()).map(drop))
    } else {
        header
            .headers
            .iter()
            .try_for_each(|(name, value)| out.append_header(name.clone(), value.clone()).map(drop))
    };
    let reason = header.get_reason_phrase().map(str::to_string);
    match copied.and_then(|()| out.set_reason_phrase(reason.as_deref())) {
        Ok(()) => out,
        Err(_) => header.clone(),
    }
}

/// What the store keeps of a response's metadata, already parsed.
#[derive(Clone)]
struct StoredMeta {
    fresh_until: SystemTime,
    /// When the object was admitted (pingora compares a variant's to its primary's tombstone).
    created: SystemTime,
    /// When the object was stored or last revalidated: the origin of `Age`.
    updated: SystemTime,
    /// The variance key of a `Vary` variant (`None`: the primary object).
    variance: Option<HashBinary>,
    stale_while_revalidate: u32,
    stale_if_error: u32,
    header: ResponseHeader,
}

impl StoredMeta {
    fn from_meta(meta: &CacheMeta) -> StoredMeta {
        StoredMeta {
            fresh_until: meta.fresh_until(),
            created: meta.created(),
            updated: meta.epoch(),
            variance: meta.variance(),
            stale_while_revalidate: meta.stale_while_revalidate_sec(),
            stale_if_error: meta.stale_if_error_sec(),
            header: with_room(meta.response_header()),
        }
    }

    fn to_meta(&self) -> CacheMeta {
        let mut meta = CacheMeta::new(
            self.fresh_until,
            self.created,
            self.stale_while_revalidate,
            self.stale_if_error,
            self.header.clone(),
        );
        // `new` makes `updated` the creation time; a revalidated object ages from its revalidation.
        if self.updated != self.created {
            meta.set_epoch_override(self.updated);
        }
        if let Some(variance) = self.variance {
            meta.set_variance_key(variance);
        }
        meta
    }

    fn weight(&self) -> usize {
        self.header
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum::<usize>()
            + 128
    }
}

/// One cached object.
pub struct Object {
    meta: StoredMeta,
    body: Body,
    /// `distribution id \n path?query`, for invalidation by path.
    pub tag: String,
    /// How the hit fast path answers with this object, made by its first fast hit.
    pub(crate) served: arc_swap::ArcSwapOption<crate::fast_hit::Template>,
}

impl Object {
    fn new(meta: StoredMeta, body: Body, tag: String) -> Object {
        Object {
            meta,
            body,
            tag,
            served: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// The response header as stored (what pingora's hit path copies).
    pub fn header(&self) -> &ResponseHeader {
        &self.meta.header
    }

    pub fn body(&self) -> &Bytes {
        &self.body.bytes
    }

    /// The file the body is kept in, when it is kept in one (see [`super::body_file`]).
    pub fn body_file(&self) -> Option<&Arc<BodyFile>> {
        self.body.file.as_ref()
    }

    /// Whether the object may be served without revalidation at `now` (pingora's `is_fresh`).
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        self.meta.fresh_until >= now
    }

    /// Its `Age` at `now`, in seconds (pingora's `CacheMeta::age`).
    pub fn age_at(&self, now: SystemTime) -> u64 {
        now.duration_since(self.meta.updated)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// A `Vary` variant rather than the primary object.
    pub fn is_variant(&self) -> bool {
        self.meta.variance.is_some()
    }

    fn weight(&self) -> u32 {
        let bytes = self.body.bytes.len() + self.meta.weight() + self.tag.len() + 64;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

pub struct Store {
    objects: moka::sync::Cache<HashBinary, Arc<Object>>,
    /// Where large bodies go, when they go to files.
    files: Option<BodyFiles>,
    /// Counts invalidations: a fill that began before one ended stores nothing (see
    /// [`Store::invalidate_where`]).
    invalidations: std::sync::atomic::AtomicU64,
}

impl Store {
    /// A store holding at most `capacity` bytes of bodies and metadata, large bodies in `files`
    /// when given.
    pub fn new(capacity: u64, files: Option<BodyFiles>) -> Store {
        let objects = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .weigher(|_: &HashBinary, o: &Arc<Object>| o.weight())
            // CloudFront evicts what was requested least recently (Expiration.md); moka's default
            // TinyLFU admission would keep old objects against a stream of new ones.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .build();
        Store {
            objects,
            files,
            invalidations: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Drops every object whose tag satisfies `matches`; returns how many. A fill under way (its
    /// origin's answer fetched before the invalidation) stores nothing: CloudFront serves nothing
    /// fetched before an invalidation once it is complete. The count goes up before the objects
    /// are dropped and a fill looks at it after storing, so that either the fill sees it and takes
    /// its object back, or the invalidation comes after the object and drops it.
    pub fn invalidate_where(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.invalidations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let doomed: Vec<Arc<HashBinary>> = self
            .objects
            .iter()
            .filter(|(_, o)| matches(&o.tag))
            .map(|(k, _)| k)
            .collect();
        for key in &doomed {
            self.objects.invalidate(key.as_ref());
        }
        doomed.len()
    }

    /// The object for `key`: its metadata, rebuilt from the pre-parsed copy, and its body (shared,
    /// not copied).
    pub fn get(&self, key: &CacheKey) -> Option<(CacheMeta, Bytes)> {
        let object = self.objects.get(&key.combined_bin())?;
        Some((object.meta.to_meta(), object.body.bytes.clone()))
    }

    /// The object stored under `hash` (a [`CacheKey::combined_bin`]), as it is.
    pub fn object(&self, hash: &HashBinary) -> Option<Arc<Object>> {
        self.objects.get(hash)
    }

    /// Keeps the object under `key` fresh until at least `until` (a stale object standing in for
    /// an origin error, for the error caching minimum TTL); false when it is not stored.
    pub fn extend_freshness(&self, key: &CacheKey, until: SystemTime) -> bool {
        use moka::ops::compute::{CompResult, Op};
        // One atomic step on the entry: an invalidation or a new copy in between is not undone.
        let result = self
            .objects
            .entry_by_ref(&key.combined_bin())
            .and_compute_with(|entry| {
                let Some(entry) = entry else {
                    return Op::Nop;
                };
                let old = entry.into_value();
                if old.meta.fresh_until >= until {
                    return Op::Nop;
                }
                let mut meta = old.meta.clone();
                meta.fresh_until = until;
                Op::Put(Arc::new(Object::new(
                    meta,
                    old.body.clone(),
                    old.tag.clone(),
                )))
            });
        !matches!(result, CompResult::StillNone(_))
    }

    pub fn entry_count(&self) -> u64 {
        self.objects.run_pending_tasks();
        self.objects.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.objects.run_pending_tasks();
        self.objects.weighted_size()
    }
}

/// The most of a body one read of a hit gives: each goes out in one timed write, and an HTTP/2
/// viewer must take it within the send timeout (1 MiB in 60 s by default).
pub const HIT_PIECE: usize = 1 << 20;

struct Hit {
    body: Bytes,
    start: usize,
    end: usize,
    done: bool,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        let end = self.end.min(self.start.saturating_add(HIT_PIECE));
        let piece = self.body.slice(self.start..end);
        self.start = end;
        self.done = end >= self.end;
        Ok(Some(piece))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if start > self.body.len() {
            return Error::e_explain(ErrorType::InternalError, "seek past the end of the object");
        }
        self.start = start;
        self.end = end
            .map(|e| e.min(self.body.len()))
            .unwrap_or(self.body.len())
            .max(start);
        self.done = false;
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body.len()
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Spare capacity a stored body may keep (see [`sized`]).
const SLACK: usize = 4096;

/// A filled body as the store keeps it. The store weighs an object by its length, and a body grown
/// piece by piece may hold up to twice that in capacity, which would let the cache outgrow its
/// bound: such a body is copied to its size (once per fill).
fn sized(body: BytesMut) -> Bytes {
    if body.capacity() - body.len() > SLACK {
        Bytes::copy_from_slice(&body)
    } else {
        body.freeze()
    }
}

struct Miss {
    key: HashBinary,
    meta: Option<StoredMeta>,
    body: BytesMut,
    tag: String,
    objects: moka::sync::Cache<HashBinary, Arc<Object>>,
    files: Option<BodyFiles>,
    /// The store's invalidation count, and what it was when the fill began.
    invalidations: &'static std::sync::atomic::AtomicU64,
    began: u64,
}

#[async_trait]
impl HandleMiss for Miss {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.body.extend_from_slice(&data);
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<MissFinishType> {
        let size = self.body.len();
        let meta = self.meta.take().ok_or_else(|| {
            Error::explain(ErrorType::InternalError, "cache write finished twice")
        })?;
        let bytes = sized(std::mem::take(&mut self.body));
        let object = Arc::new(Object::new(
            meta,
            Body::in_memory(bytes.clone()),
            std::mem::take(&mut self.tag),
        ));
        self.objects.insert(self.key, object.clone());
        if self.invalidations.load(std::sync::atomic::Ordering::SeqCst) != self.began {
            // An invalidation ran during the fill: the object may be one it removed.
            self.objects
                .entry(self.key)
                .and_compute_with(|entry| match entry {
                    Some(e) if Arc::ptr_eq(e.value(), &object) => moka::ops::compute::Op::Remove,
                    _ => moka::ops::compute::Op::Nop,
                });
            return Ok(MissFinishType::Created(size));
        }
        if let Some(files) = &self.files {
            // Stored in memory at once, so that neither this response nor the requests waiting
            // on the cache lock wait for a disk; moved to its file when written, unless replaced
            // or dropped meanwhile.
            let (objects, key) = (self.objects.clone(), self.key);
            files.keep_later(&bytes, move |body| {
                objects.entry(key).and_compute_with(|entry| match entry {
                    Some(e) if Arc::ptr_eq(e.value(), &object) => moka::ops::compute::Op::Put(
                        Arc::new(Object::new(object.meta.clone(), body, object.tag.clone())),
                    ),
                    _ => moka::ops::compute::Op::Nop,
                });
            });
        }
        Ok(MissFinishType::Created(size))
    }
}

#[async_trait]
impl Storage for Store {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Some((meta, body)) = self.get(key) else {
            return Ok(None);
        };
        let hit = Hit {
            end: body.len(),
            body,
            start: 0,
            done: false,
        };
        Ok(Some((meta, Box::new(hit))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        Ok(Box::new(Miss {
            key: key.combined_bin(),
            meta: Some(StoredMeta::from_meta(meta)),
            body: BytesMut::new(),
            tag: key.user_tag.clone(),
            objects: self.objects.clone(),
            files: self.files.clone(),
            invalidations: &self.invalidations,
            began: self.invalidations.load(std::sync::atomic::Ordering::SeqCst),
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let key = target.key().combined_bin();
        Ok(match self.objects.remove(&key) {
            Some(_) => PurgeOutcome::Purged(None),
            None => PurgeOutcome::NotFound,
        })
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let hash = key.combined_bin();
        let Some(old) = self.objects.get(&hash) else {
            // Evicted while it was being revalidated: nothing to refresh.
            return Ok(false);
        };
        let object = Object::new(
            StoredMeta::from_meta(meta),
            old.body.clone(),
            old.tag.clone(),
        );
        self.objects.insert(hash, Arc::new(object));
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body with much spare capacity is kept at its size; one with little is kept as it is.
    #[test]
    fn a_stored_body_holds_no_more_than_its_size_and_a_little() {
        let mut grown = BytesMut::with_capacity(64 * 1024);
        grown.extend_from_slice(&[7; 40 * 1024]);
        let at = grown.as_ptr();
        let kept = sized(grown);
        assert_eq!(kept.len(), 40 * 1024);
        assert_ne!(kept.as_ptr(), at, "copied to its size");
        let mut tight = BytesMut::with_capacity(40 * 1024 + 100);
        tight.extend_from_slice(&[7; 40 * 1024]);
        let at = tight.as_ptr();
        assert_eq!(sized(tight).as_ptr(), at, "kept as it is");
    }

    async fn pieces(hit: &mut Hit) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Ok(Some(piece)) = hit.read_body().await {
            out.push(piece);
        }
        out
    }

    /// A hit's body comes in pieces of at most HIT_PIECE, whole and in order, from a seek too.
    #[tokio::test]
    async fn a_hit_is_read_in_pieces_that_make_the_whole_body() {
        let body: Bytes = (0..(2 * HIT_PIECE + 5))
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into();
        let cases: &[(usize, Option<usize>, &[usize])] = &[
            (0, None, &[HIT_PIECE, HIT_PIECE, 5]),
            (10, Some(20), &[10]),
            (HIT_PIECE - 1, Some(HIT_PIECE + 1), &[2]),
            (3, Some(3 * HIT_PIECE), &[HIT_PIECE, HIT_PIECE, 2]),
            (body.len(), None, &[0]),
        ];
        for (start, end, sizes) in cases {
            let mut hit = Hit {
                body: body.clone(),
                start: 0,
                end: body.len(),
                done: false,
            };
            assert!(hit.seek(*start, *end).is_ok());
            let got = pieces(&mut hit).await;
            let lens: Vec<usize> = got.iter().map(Bytes::len).collect();
            assert_eq!(&lens, sizes, "seek({start}, {end:?})");
            let joined: Vec<u8> = got.concat();
            let stop = end.unwrap_or(body.len()).min(body.len());
            assert_eq!(&joined[..], &body[*start..stop], "seek({start}, {end:?})");
        }
    }
}
