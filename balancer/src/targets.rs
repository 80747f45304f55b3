//! The live state of target groups: which targets are registered, their health, their in-flight
//! requests, draining and slow start. Read on every request without a lock; written by the health
//! checker and the admin API.

use arc_swap::ArcSwap;
use ferry_config::health::{State, Tracker};
use ferry_config::model::{Target, TargetGroup};
use ferry_guard::upstream::CutWhen;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub struct TargetState {
    pub target: Target,
    pub address: SocketAddr,
    state: AtomicU8,
    /// Requests sent and not yet finished (shared with the state this one took over from, see
    /// [`TargetState::restarted`], whose requests may still be running).
    pub outstanding: Arc<AtomicUsize>,
    /// When the target last became healthy (ms since the epoch), for slow start.
    healthy_since: AtomicU64,
    /// When a deregistered target stops draining and is removed (ms since the epoch); 0 = registered.
    draining_until: AtomicU64,
    /// Recent error rate, in thousandths, for anomaly mitigation (weighted_random).
    error_score: AtomicU32,
    /// Health-check bookkeeping: only the health checker and the admin API touch it.
    pub tracker: Mutex<Tracker>,
    /// Woken when the target starts draining, for its in-flight requests to time their cut
    /// ([`TargetState::drain_expired`]); one per thread slot, so that threads do not share a lock.
    drain_started: [Slot; DRAIN_SLOTS],
}

const DRAIN_SLOTS: usize = 8;

/// A `Notify` on a cache line of its own.
#[repr(align(64))]
#[derive(Default)]
struct Slot(tokio::sync::Notify);

/// Cuts a request's connection `fd` (pingora's, open for the call) to `target` when the target's
/// deregistration delay is over, until the returned watch is dropped. `None` when the descriptor
/// cannot be held (out of descriptors): the request is then not cut.
pub fn drain_cut(target: &Arc<TargetState>, fd: std::os::fd::RawFd) -> Option<CutWhen> {
    let watched = Arc::clone(target);
    CutWhen::spawn(fd, async move { watched.drain_expired().await })
        .map_err(|e| {
            tracing::warn!(target = %target.address, "cannot watch the connection for draining: {e}")
        })
        .ok()
}

/// This thread's drain slot.
fn drain_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % DRAIN_SLOTS;
    }
    SLOT.with(|s| *s)
}

impl TargetState {
    pub fn new(target: Target, health_checks: bool) -> TargetState {
        let tracker = Tracker::new(health_checks);
        TargetState {
            address: target.socket_addr(),
            target,
            state: AtomicU8::new(tracker.state.to_u8()),
            outstanding: Arc::default(),
            healthy_since: AtomicU64::new(0),
            draining_until: AtomicU64::new(0),
            error_score: AtomicU32::new(0),
            tracker: Mutex::new(tracker),
            drain_started: Default::default(),
        }
    }

    /// A fresh state for this target (its health from the start: registered again after a
    /// deregistration, or its group's checks switched), whose in-flight count goes on counting
    /// the requests still running on this one, for least outstanding requests.
    pub fn restarted(&self, target: Target, health_checks: bool) -> TargetState {
        TargetState {
            outstanding: Arc::clone(&self.outstanding),
            ..TargetState::new(target, health_checks)
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Publishes a health-check result.
    pub fn set_state(&self, state: State) {
        if self.is_draining() {
            return;
        }
        let before = State::from_u8(self.state.swap(state.to_u8(), Ordering::AcqRel));
        if state == State::Healthy && before != State::Healthy {
            self.healthy_since.store(now_ms(), Ordering::Release);
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining_until.load(Ordering::Acquire) != 0
    }

    /// Why a request cut at the end of its target's drain failed.
    pub const DRAIN_OVER: &'static str = "its deregistration delay is over";

    /// Whether the target's deregistration delay is over.
    pub fn drain_over(&self) -> bool {
        let until = self.draining_until.load(Ordering::Acquire);
        until != 0 && until <= now_ms()
    }

    /// Whether this target's deregistration is complete: its delay is over, or nothing is in
    /// flight to it (ALB then completes a deregistration at once, without waiting for the delay).
    fn drained(&self, now: u64) -> bool {
        let until = self.draining_until.load(Ordering::Acquire);
        until != 0 && (until <= now || self.outstanding.load(Ordering::Acquire) == 0)
    }

    /// Starts draining until `until` (ms since the epoch), waking the requests in flight.
    fn start_draining(&self, until: u64) {
        self.draining_until.store(until.max(1), Ordering::Release);
        self.state.store(State::Draining.to_u8(), Ordering::Release);
        for slot in &self.drain_started {
            slot.0.notify_waiters();
        }
    }

    /// Resolves when this target's deregistration delay is over: ALB then cuts the requests still
    /// in flight to it (a 502 for those not yet answered). Pending for as long as it is registered.
    pub async fn drain_expired(&self) {
        let slot = &self.drain_started[drain_slot()].0;
        loop {
            // Made before the check: `notify_waiters` reaches it from here on.
            let started = slot.notified();
            let until = self.draining_until.load(Ordering::Acquire);
            if until != 0 {
                let left = Duration::from_millis(until.saturating_sub(now_ms()));
                tokio::time::sleep(left).await;
                return;
            }
            started.await;
        }
    }

    /// Takes traffic as a healthy target (or as any target when health checks are off).
    pub fn is_healthy(&self) -> bool {
        matches!(self.state(), State::Healthy | State::Unavailable)
    }

    /// The slow-start share of a healthy target: from near 0 to 1 over `window` after it became
    /// healthy (ALB ramps linearly).
    pub fn ramp(&self, window: Duration, now: u64) -> f64 {
        if window.is_zero() {
            return 1.0;
        }
        let since = self.healthy_since.load(Ordering::Acquire);
        if since == 0 {
            return 1.0;
        }
        let elapsed = now.saturating_sub(since) as f64;
        (elapsed / window.as_millis() as f64).clamp(0.02, 1.0)
    }

    #[cfg(test)]
    pub fn healthy_since_for_test(&self, ms: u64) {
        self.healthy_since.store(ms, Ordering::Release);
    }

    /// Records the outcome of a forwarded request for anomaly mitigation.
    pub fn record(&self, error: bool) {
        // An exponentially decaying error rate: each result weighs 1/8.
        let old = self.error_score.load(Ordering::Relaxed);
        let sample = if error { 1000 } else { 0 };
        let new = old - old / 8 + sample / 8;
        self.error_score.store(new, Ordering::Relaxed);
    }

    /// The anomaly-mitigation weight: 1 for a target that does not error, down to 0.05.
    pub fn anomaly_weight(&self) -> f64 {
        let score = f64::from(self.error_score.load(Ordering::Relaxed)) / 1000.0;
        (1.0 - 2.0 * score).clamp(0.05, 1.0)
    }
}

/// Decrements a target's in-flight count when the request ends, however it ends.
pub struct InFlight(pub Arc<TargetState>);

impl InFlight {
    pub fn start(target: Arc<TargetState>) -> InFlight {
        target.outstanding.fetch_add(1, Ordering::AcqRel);
        InFlight(target)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct Group {
    pub config: Arc<TargetGroup>,
    targets: ArcSwap<Vec<Arc<TargetState>>>,
    pub round_robin: Rotation,
}

/// Round-robin positions, one per zone: each of ALB's nodes rotates over its targets on its own,
/// so that with cross-zone off one zone's requests do not move another zone's position (and
/// starve one of its targets).
#[derive(Default)]
pub struct Rotation {
    zones: ArcSwap<Vec<(Box<str>, Arc<AtomicUsize>)>>,
}

impl Rotation {
    /// The next position of the nodes of `zone`.
    pub fn next(&self, zone: &str) -> usize {
        if let Some(n) = self.advance(zone) {
            return n;
        }
        // The zone's first request: its counter joins the list.
        self.zones.rcu(|zones| {
            let mut zones = Vec::clone(zones);
            if !zones.iter().any(|(z, _)| &**z == zone) {
                zones.push((zone.into(), Arc::default()));
            }
            zones
        });
        self.advance(zone).unwrap_or(0)
    }

    fn advance(&self, zone: &str) -> Option<usize> {
        self.zones
            .load()
            .iter()
            .find(|(z, _)| &**z == zone)
            .map(|(_, n)| n.fetch_add(1, Ordering::Relaxed))
    }

    /// The same positions, for the group under a reloaded config.
    fn carried(&self) -> Rotation {
        Rotation {
            zones: ArcSwap::new(self.zones.load_full()),
        }
    }
}

impl Group {
    pub fn new(config: Arc<TargetGroup>) -> Group {
        let checks = config.health_check.enabled;
        let targets = config
            .targets
            .iter()
            .map(|t| Arc::new(TargetState::new(t.clone(), checks)))
            .collect();
        Group {
            config,
            targets: ArcSwap::from_pointee(targets),
            round_robin: Rotation::default(),
        }
    }

    /// This group under its reloaded `config`: the targets keep their health, in-flight counts and
    /// slow-start clocks (and those registered or deregistered at run time stay so); targets the
    /// file no longer lists drain under the new deregistration delay, targets new to the file are
    /// registered. When the health checks are switched on or off, every target that is not
    /// draining starts again from its initial state (the draining ones drain on).
    pub fn reconfigured(&self, config: Arc<TargetGroup>) -> Group {
        let old: Vec<SocketAddr> = self
            .config
            .targets
            .iter()
            .map(|t| t.socket_addr())
            .collect();
        let new: Vec<SocketAddr> = config.targets.iter().map(|t| t.socket_addr()).collect();
        let added: Vec<Target> = config
            .targets
            .iter()
            .filter(|t| !old.contains(&t.socket_addr()))
            .cloned()
            .collect();
        let removed: Vec<SocketAddr> = old.into_iter().filter(|a| !new.contains(a)).collect();
        let checks = config.health_check.enabled;
        let targets = if checks == self.config.health_check.enabled {
            self.targets.load_full()
        } else {
            let restarted: Vec<Arc<TargetState>> = self
                .targets()
                .iter()
                .map(|t| {
                    if t.is_draining() {
                        Arc::clone(t)
                    } else {
                        Arc::new(t.restarted(t.target.clone(), checks))
                    }
                })
                .collect();
            Arc::new(restarted)
        };
        let group = Group {
            config,
            targets: ArcSwap::new(targets),
            round_robin: self.round_robin.carried(),
        };
        group.register(&added);
        group.deregister(&removed);
        group
    }

    pub fn targets(&self) -> arc_swap::Guard<Arc<Vec<Arc<TargetState>>>> {
        self.targets.load()
    }

    /// A target's state as DescribeTargetHealth shows it: `unused` in a group no listener
    /// forwards to (unless it is draining).
    pub fn shown_state(&self, t: &TargetState) -> State {
        if self.config.in_use || t.is_draining() {
            t.state()
        } else {
            State::Unused
        }
    }

    /// The registered targets as the API shows them: those whose deregistration completed (the
    /// last request in flight ended since the last sweep) are removed first.
    pub fn listed(&self) -> arc_swap::Guard<Arc<Vec<Arc<TargetState>>>> {
        self.sweep(now_ms());
        self.targets.load()
    }

    /// Registers targets (RegisterTargets); a target draining is registered again.
    pub fn register(&self, new: &[Target]) {
        let checks = self.config.health_check.enabled;
        self.targets.rcu(|current| {
            let mut next: Vec<Arc<TargetState>> = current.iter().cloned().collect();
            for t in new {
                match next.iter().position(|s| s.address == t.socket_addr()) {
                    Some(i) if next[i].is_draining() => {
                        next[i] = Arc::new(next[i].restarted(t.clone(), checks))
                    }
                    Some(_) => {}
                    None => next.push(Arc::new(TargetState::new(t.clone(), checks))),
                }
            }
            next
        });
    }

    /// Deregisters targets (DeregisterTargets): they drain for the group's deregistration delay,
    /// or until their last request in flight ends, whichever comes first; returns how many were
    /// registered.
    pub fn deregister(&self, addresses: &[SocketAddr]) -> usize {
        let until = now_ms() + self.config.deregistration_delay.as_millis() as u64;
        let mut count = 0;
        for t in self.targets().iter() {
            if addresses.contains(&t.address) && !t.is_draining() {
                t.start_draining(until);
                count += 1;
            }
        }
        self.sweep(now_ms());
        count
    }

    /// Removes the targets whose deregistration is complete.
    pub fn sweep(&self, now: u64) {
        let done = |t: &Arc<TargetState>| t.drained(now);
        if self.targets().iter().any(done) {
            self.targets.rcu(|current| {
                current
                    .iter()
                    .filter(|t| !done(t))
                    .cloned()
                    .collect::<Vec<_>>()
            });
        }
    }
}
