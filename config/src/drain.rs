//! The requests in flight in this process, so that a graceful stop waits for exactly them and no
//! longer: each request's context holds a [`Guard`] from its start to its end; and when a stop may
//! end ([`verdict`]).

use crate::counter::Sharded;
use std::time::Duration;

static IN_FLIGHT: Sharded = Sharded::new();

/// Counts one request as in flight until dropped.
#[derive(Debug)]
pub struct Guard(());

impl Guard {
    pub fn start() -> Guard {
        IN_FLIGHT.add(1);
        Guard(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        IN_FLIGHT.add(-1);
    }
}

/// How many requests are in flight now.
pub fn in_flight() -> usize {
    IN_FLIGHT.get()
}

/// How long a stop holds the process after the listeners close whatever it sees: a connection
/// accepted just before is not visible until its task runs and, on HTTPS, its TLS handshake ends
/// (one round trip after the accept).
pub const SETTLE: Duration = Duration::from_millis(500);

/// How long a stop waits for connections accepted before it but still without a byte of their
/// first request: a client sends its request right after connecting, so one still silent after
/// this is a preconnection, dropped as an idle kept-alive connection is.
pub const FRESH_WAIT: Duration = Duration::from_secs(1);

/// What a stopping process still serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Requests in flight (from the head read to the log line).
    pub requests: usize,
    /// Connections from a request head's first byte to its end (the request is counted in
    /// `requests` from there).
    pub in_request: usize,
    /// Connections accepted with no byte of their first request yet.
    pub fresh: usize,
}

/// Whether a stop that began `since` ago may end the process now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wait,
    /// Nothing is left that the stop waits for.
    Done,
    /// The grace period is over: what is left is abandoned.
    GraceOver,
}

pub fn verdict(since: Duration, grace_period: Duration, load: Load) -> Verdict {
    let busy = load.requests > 0 || load.in_request > 0;
    if since >= grace_period {
        return if busy {
            Verdict::GraceOver
        } else {
            Verdict::Done
        };
    }
    if busy || !settled(since, load.fresh) {
        return Verdict::Wait;
    }
    Verdict::Done
}

/// Whether the connections accepted before a stop that began `since` ago have had their time to
/// begin a request: the settling time has passed, and `fresh` (those still silent) is none or
/// they have had [`FRESH_WAIT`]. Until then the proxies keep listening to them for a first
/// request (pingora would drop every connection waiting for a request head at once).
pub fn settled(since: Duration, fresh: usize) -> bool {
    since >= SETTLE && (fresh == 0 || since >= FRESH_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_waits_for_requests_and_briefly_for_new_connections() {
        let ms = Duration::from_millis;
        let grace = Duration::from_secs(30);
        let idle = Load::default();
        let request = Load {
            requests: 1,
            ..idle
        };
        let reading = Load {
            in_request: 1,
            ..idle
        };
        let fresh = Load { fresh: 2, ..idle };
        let cases = [
            (ms(0), idle, Verdict::Wait),
            (ms(499), idle, Verdict::Wait),
            (ms(500), idle, Verdict::Done),
            (ms(600), request, Verdict::Wait),
            (ms(600), reading, Verdict::Wait),
            (ms(20_000), reading, Verdict::Wait),
            (ms(600), fresh, Verdict::Wait),
            (ms(1_000), fresh, Verdict::Done),
            (grace, request, Verdict::GraceOver),
            (grace, reading, Verdict::GraceOver),
            (grace, fresh, Verdict::Done),
            (grace, idle, Verdict::Done),
        ];
        for (since, load, want) in cases {
            assert_eq!(verdict(since, grace, load), want, "{since:?} {load:?}");
        }
        assert!(!settled(ms(100), 0));
        assert!(settled(ms(500), 0));
        assert!(!settled(ms(500), 1));
        assert!(settled(ms(1_000), 1));
        // A grace period shorter than the settling time ends the stop when it ends.
        assert_eq!(verdict(ms(100), ms(100), idle), Verdict::Done);
        assert_eq!(verdict(ms(0), Duration::ZERO, idle), Verdict::Done);
    }

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
