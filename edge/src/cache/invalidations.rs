//! Invalidation batches as CloudFront keeps them: an id, a status, the paths and the caller
//! reference, per distribution; carrying one out drops the matching objects from the store.

use super::store::Store;
use ferry_config::invalidation::InvalidationPath;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct Invalidation {
    pub id: String,
    pub distribution: String,
    pub status: &'static str,
    pub create_time: SystemTime,
    pub paths: Vec<String>,
    pub caller_reference: String,
    pub objects_removed: usize,
}

#[derive(Default)]
pub struct Invalidations {
    next: AtomicU64,
    /// Admin-path only: never touched by a viewer request.
    done: Mutex<Vec<Invalidation>>,
}

#[derive(Debug)]
pub enum CreateError {
    BadPath(String),
    NoPaths,
    BatchAlreadyExists(String),
}

impl Invalidations {
    /// Validates and carries out a batch. A batch with a caller reference already used for this
    /// distribution returns the earlier invalidation, as CloudFront does.
    pub fn create(
        &self,
        store: &Store,
        distribution: &str,
        paths: Vec<String>,
        caller_reference: String,
    ) -> Result<(Invalidation, bool), CreateError> {
        if paths.is_empty() {
            return Err(CreateError::NoPaths);
        }
        let parsed = paths
            .iter()
            .map(|p| InvalidationPath::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CreateError::BadPath)?;
        if let Some(earlier) = self
            .list(distribution)
            .into_iter()
            .find(|i| i.caller_reference == caller_reference && !caller_reference.is_empty())
        {
            // The same batch again is answered with the earlier invalidation; another batch under
            // a used reference is refused (CreateInvalidation: InvalidationBatchAlreadyExists).
            if earlier.paths == paths {
                return Ok((earlier, false));
            }
            return Err(CreateError::BatchAlreadyExists(earlier.id));
        }
        let prefix = format!("{distribution}\n");
        let removed = store.invalidate_where(|tag| {
            tag.strip_prefix(prefix.as_str())
                .is_some_and(|object| parsed.iter().any(|p| p.matches(object)))
        });
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let invalidation = Invalidation {
            id: invalidation_id(n),
            distribution: distribution.to_string(),
            status: "Completed",
            create_time: SystemTime::now(),
            paths,
            caller_reference,
            objects_removed: removed,
        };
        if let Ok(mut done) = self.done.lock() {
            done.push(invalidation.clone());
        }
        Ok((invalidation, true))
    }

    pub fn get(&self, distribution: &str, id: &str) -> Option<Invalidation> {
        self.list(distribution).into_iter().find(|i| i.id == id)
    }

    /// Newest first, as ListInvalidations answers.
    pub fn list(&self, distribution: &str) -> Vec<Invalidation> {
        let done = match self.done.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        done.iter()
            .rev()
            .filter(|i| i.distribution == distribution)
            .cloned()
            .collect()
    }
}

/// CloudFront's invalidation ids: `I` and 13 upper-case letters and digits.
fn invalidation_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut id = String::from("I");
    for _ in 0..13 {
        id.push(ALPHABET[(x % 36) as usize] as char);
        x = (x / 36) ^ (x << 29);
    }
    id
}
