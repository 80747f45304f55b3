//! The requests in flight in this process, so that a graceful stop waits for exactly them and no
//! longer: each request's context holds a [`Guard`] from its start to its end.

use std::sync::atomic::{AtomicUsize, Ordering};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one request as in flight until dropped.
#[derive(Debug)]
pub struct Guard(());

impl Guard {
    pub fn start() -> Guard {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Guard(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many requests are in flight now.
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_while_they_live() {
        let before = in_flight();
        let a = Guard::start();
        let b = Guard::start();
        assert!(in_flight() >= before + 2);
        drop((a, b));
        assert!(in_flight() <= before + 2);
    }
}
