//! Process-wide counts that every thread changes on every request or connection and that are read
//! rarely (a stop, a metrics scrape): each thread counts in its own cache line, so that a change
//! never moves a line between cores; a read sums the lines.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

const SLOTS: usize = 64;

/// One thread's share, alone in its cache line (128 bytes: the adjacent-line prefetcher pairs
/// 64-byte lines).
#[repr(align(128))]
struct Slot(AtomicIsize);

pub struct Sharded([Slot; SLOTS]);

impl Sharded {
    pub const fn new() -> Sharded {
        Sharded([const { Slot(AtomicIsize::new(0)) }; SLOTS])
    }

    /// Sequentially consistent, so that a reader never sees a decrement of one counter without
    /// an increment of another that the same thread made before it.
    pub fn add(&self, n: isize) {
        self.0[slot()].0.fetch_add(n, Ordering::SeqCst);
    }

    /// The count now. A thread's slot may be negative (a count taken on one thread and given
    /// back on another); the sum is not.
    pub fn get(&self) -> usize {
        let sum: isize = self.0.iter().map(|s| s.0.load(Ordering::SeqCst)).sum();
        usize::try_from(sum).unwrap_or(0)
    }
}

impl Default for Sharded {
    fn default() -> Sharded {
        Sharded::new()
    }
}

/// This thread's slot, handed out in turn as threads first count.
fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS;
    }
    SLOT.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_over_threads_sum() {
        static COUNT: Sharded = Sharded::new();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        COUNT.add(1);
                    }
                    COUNT.add(-500);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a counting thread");
        }
        assert_eq!(COUNT.get(), 8 * 500);
        // Given back on another thread than the one that took it.
        std::thread::spawn(|| COUNT.add(-4000))
            .join()
            .expect("a thread");
        assert_eq!(COUNT.get(), 0);
    }
}
