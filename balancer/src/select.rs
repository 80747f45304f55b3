//! Choosing where a request goes: a forward action's target group by weight (or by the
//! target-group stickiness cookie), then a target of that group by the group's algorithm, among
//! the targets this node may use, healthy ones first and all of them when none is (fail open).

use crate::targets::{now_ms, Group, TargetState};
use ferry_config::model::{Algorithm, Forward, TargetGroup};
use rand::Rng;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Every target group's live state, shared by the nodes and listeners of one process.
pub struct Groups {
    pub groups: Vec<Group>,
}

/// Why no target could be chosen.
#[derive(Debug, PartialEq, Eq)]
pub enum NoTarget {
    /// The group has no registered targets (ALB: 503).
    NoneRegistered,
    /// Cross-zone is off and the node's zone has no registered target (ALB: 503).
    NoneInZone,
}

impl Groups {
    pub fn new(configs: &[Arc<TargetGroup>]) -> Groups {
        Groups {
            groups: configs.iter().map(|c| Group::new(c.clone())).collect(),
        }
    }

    /// The groups of a reloaded topology: a group that keeps its name keeps its targets' live
    /// state (`Group::reconfigured`); a new name starts afresh; a group gone is dropped.
    pub fn reconfigured(&self, configs: &[Arc<TargetGroup>]) -> Groups {
        Groups {
            groups: configs
                .iter()
                .map(
                    |c| match self.groups.iter().find(|g| g.config.name == c.name) {
                        Some(g) => g.reconfigured(c.clone()),
                        None => Group::new(c.clone()),
                    },
                )
                .collect(),
        }
    }

    /// The target group a forward action sends this request to: the sticky one when its cookie
    /// names a group of the action, otherwise by weight.
    pub fn pick_group(&self, forward: &Forward, sticky: Option<&str>) -> Option<usize> {
        if let Some(name) = sticky {
            let named = forward.target_groups.iter().find(|(g, w)| {
                *w > 0
                    && self
                        .groups
                        .get(*g)
                        .is_some_and(|group| group.config.name == name)
            });
            if let Some((g, _)) = named {
                return Some(*g);
            }
        }
        let total: u64 = forward
            .target_groups
            .iter()
            .map(|(_, w)| u64::from(*w))
            .sum();
        if forward.target_groups.len() == 1 || total == 0 {
            return forward.target_groups.first().map(|(g, _)| *g);
        }
        // Spread by weight over the action's rotating counter: exact proportions, no lock.
        let n = forward.rotation.fetch_add(1, Ordering::Relaxed) as u64 % total;
        let mut acc = 0;
        for (group, weight) in &forward.target_groups {
            acc += u64::from(*weight);
            if n < acc {
                return Some(*group);
            }
        }
        forward.target_groups.last().map(|(g, _)| *g)
    }
}

/// Where a forward action sends a request, and the stickiness cookies its response sets.
pub struct Routed {
    /// The target group's index in [`Groups::groups`].
    pub group: usize,
    pub target: Arc<TargetState>,
    pub set_cookies: Vec<String>,
}

/// Why a forward action could not send a request anywhere.
#[derive(Debug)]
pub enum Unrouted {
    /// Not reached: a validated forward action has a target group.
    NoGroup,
    /// The group chosen has no target for this node (ALB: 503), and why, for the error page.
    NoTarget(String),
}

/// A forward action's target group (by weight, or the one its stickiness cookie names), then the
/// target (by the group's algorithm, or the one the target stickiness cookie names).
/// `cookie(name)` is the value of the request's cookie `name`.
pub fn route<'c>(
    groups: &Groups,
    forward: &Forward,
    zone: &str,
    cookie: impl Fn(&str) -> Option<&'c str>,
) -> Result<Routed, Unrouted> {
    use crate::sticky;
    use ferry_config::model::Stickiness;
    let sticky_group = forward
        .stickiness
        .and_then(|_| cookie(sticky::TG).or_else(|| cookie(sticky::TG_CORS)))
        .and_then(sticky::group_of);
    let index = groups
        .pick_group(forward, sticky_group.as_deref())
        .ok_or(Unrouted::NoGroup)?;
    let group = groups.groups.get(index).ok_or(Unrouted::NoGroup)?;
    let name = group.config.name.as_str();
    let sticky_target = match &group.config.stickiness {
        Some(Stickiness::LbCookie { .. }) => cookie(sticky::LB)
            .or_else(|| cookie(sticky::LB_CORS))
            .and_then(|v| sticky::target_of(v, name)),
        Some(Stickiness::AppCookie { .. }) => {
            cookie(sticky::APP).and_then(|v| sticky::target_of(v, name))
        }
        None => None,
    };
    let target = pick_target(group, zone, sticky_target).map_err(|why| {
        Unrouted::NoTarget(match why {
            NoTarget::NoneRegistered => {
                format!("target group \"{name}\" has no registered targets")
            }
            NoTarget::NoneInZone => format!(
                "target group \"{name}\" has no target in zone {zone} and cross-zone load balancing is off"
            ),
        })
    })?;
    let mut set_cookies = Vec::new();
    if let Some(duration) = forward.stickiness {
        set_cookies.extend(sticky::set_cookies(
            sticky::TG,
            Some(sticky::TG_CORS),
            &sticky::group_value(name),
            duration,
        ));
    }
    if let Some(Stickiness::LbCookie { duration }) = &group.config.stickiness {
        let value = sticky::target_value(name, target.address);
        set_cookies.extend(sticky::set_cookies(
            sticky::LB,
            Some(sticky::LB_CORS),
            &value,
            *duration,
        ));
    }
    Ok(Routed {
        group: index,
        target,
        set_cookies,
    })
}

/// The `Set-Cookie` of app-cookie stickiness for a response of `target`: ALB sets its own cookie
/// when the target's response sets the application's cookie (`set_cookies`: the response's
/// Set-Cookie values).
pub fn app_cookie<'v>(
    group: &Group,
    target: &TargetState,
    mut set_cookies: impl Iterator<Item = &'v [u8]>,
) -> Option<String> {
    use ferry_config::model::Stickiness;
    let Some(Stickiness::AppCookie {
        cookie_name,
        duration,
    }) = &group.config.stickiness
    else {
        return None;
    };
    let sets = set_cookies.any(|v| {
        v.strip_prefix(cookie_name.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b'='))
    });
    if !sets {
        return None;
    }
    let value = crate::sticky::target_value(&group.config.name, target.address);
    crate::sticky::set_cookies(crate::sticky::APP, None, &value, *duration)
        .into_iter()
        .next()
}

/// Chooses a target of `group` for a request at a node in `zone`; `sticky` is the target a
/// stickiness cookie names.
pub fn pick_target(
    group: &Group,
    zone: &str,
    sticky: Option<SocketAddr>,
) -> Result<Arc<TargetState>, NoTarget> {
    let config = &group.config;
    let targets = group.targets();
    let cross_zone = config.cross_zone.unwrap_or(true);
    let usable: Vec<&Arc<TargetState>> = targets
        .iter()
        .filter(|t| !t.is_draining() && (cross_zone || t.target.serves_zone(zone)))
        .collect();
    if usable.is_empty() {
        let any_registered = targets.iter().any(|t| !t.is_draining());
        return Err(if any_registered {
            NoTarget::NoneInZone
        } else {
            NoTarget::NoneRegistered
        });
    }
    let healthy: Vec<&Arc<TargetState>> =
        usable.iter().copied().filter(|t| t.is_healthy()).collect();
    // ALB fails open: with fewer healthy targets than the group's minimum (by default none),
    // every usable target gets traffic.
    let pool = if config.min_healthy.fails_open(healthy.len(), usable.len()) {
        usable
    } else {
        healthy
    };
    if let Some(address) = sticky {
        if let Some(t) = pool.iter().find(|t| t.address == address) {
            return Ok(Arc::clone(t));
        }
    }
    let now = now_ms();
    let chosen = match config.algorithm {
        Algorithm::LeastOutstandingRequests => {
            least_outstanding(&pool, group.round_robin.next(zone))
        }
        Algorithm::WeightedRandom { anomaly_mitigation } => weighted(&pool, |t| {
            let w = t.ramp(config.slow_start, now);
            if anomaly_mitigation {
                w * t.anomaly_weight()
            } else {
                w
            }
        }),
        Algorithm::RoundRobin => {
            let ramping = !config.slow_start.is_zero()
                && pool.iter().any(|t| t.ramp(config.slow_start, now) < 1.0);
            if ramping {
                weighted(&pool, |t| t.ramp(config.slow_start, now))
            } else {
                let n = group.round_robin.next(zone);
                pool.get(n % pool.len()).copied()
            }
        }
    };
    chosen.map(Arc::clone).ok_or(NoTarget::NoneRegistered)
}

/// The target with the fewest requests in flight; ties rotate.
fn least_outstanding<'a>(
    pool: &[&'a Arc<TargetState>],
    start: usize,
) -> Option<&'a Arc<TargetState>> {
    (0..pool.len())
        .map(|i| pool[(start + i) % pool.len()])
        .min_by_key(|t| t.outstanding.load(Ordering::Acquire))
}

/// A random target, each with probability proportional to its weight.
fn weighted<'a>(
    pool: &[&'a Arc<TargetState>],
    weight: impl Fn(&TargetState) -> f64,
) -> Option<&'a Arc<TargetState>> {
    let weights: Vec<f64> = pool.iter().map(|t| weight(t).max(0.0)).collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return pool.first().copied();
    }
    let mut x = rand::thread_rng().gen_range(0.0..total);
    for (t, w) in pool.iter().zip(&weights) {
        if x < *w {
            return Some(t);
        }
        x -= w;
    }
    pool.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_config::health::State;
    use ferry_config::model::{HealthCheck, Stickiness, Target};
    use ferry_config::spec::TargetProtocol;
    use std::time::Duration;

    fn config(algorithm: Algorithm, cross_zone: Option<bool>, slow_start: u64) -> Arc<TargetGroup> {
        let target = |port, zone: &str| Target {
            address: [127, 0, 0, 1].into(),
            port,
            zone: zone.into(),
        };
        Arc::new(TargetGroup {
            name: "g".into(),
            protocol: TargetProtocol::HTTP,
            protocol_version: ferry_config::spec::ProtocolVersion::HTTP1,
            port: 1,
            health_check: HealthCheck {
                enabled: true,
                protocol: TargetProtocol::HTTP,
                port: None,
                path: "/".into(),
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(5),
                healthy_threshold: 5,
                unhealthy_threshold: 2,
                matcher: vec![(200, 200)],
                protocol_version: ferry_config::spec::ProtocolVersion::HTTP1,
            },
            algorithm,
            slow_start: Duration::from_secs(slow_start),
            deregistration_delay: Duration::from_secs(300),
            stickiness: None::<Stickiness>,
            in_use: true,
            cross_zone,
            min_healthy: Default::default(),
            attributes: Default::default(),
            targets: vec![target(1, "a"), target(2, "b"), target(3, "a")],
        })
    }

    fn healthy_all(g: &Group) {
        for t in g.targets().iter() {
            t.set_state(State::Healthy);
        }
    }

    fn ports(g: &Group, zone: &str, n: usize) -> Vec<u16> {
        (0..n)
            .filter_map(|_| pick_target(g, zone, None).ok())
            .map(|t| t.target.port)
            .collect()
    }

    #[test]
    fn round_robin_over_healthy_targets_and_zones() {
        let g = Group::new(config(Algorithm::RoundRobin, None, 0));
        healthy_all(&g);
        assert_eq!(ports(&g, "a", 6), [1, 2, 3, 1, 2, 3]);
        let zonal = Group::new(config(Algorithm::RoundRobin, Some(false), 0));
        healthy_all(&zonal);
        assert!(ports(&zonal, "a", 4).iter().all(|p| *p != 2));
        assert_eq!(
            pick_target(&zonal, "c", None).err(),
            Some(NoTarget::NoneInZone)
        );
    }

    #[test]
    fn unhealthy_out_of_rotation_and_fail_open() {
        let g = Group::new(config(Algorithm::RoundRobin, None, 0));
        healthy_all(&g);
        g.targets()[1].set_state(State::Unhealthy);
        assert!(ports(&g, "a", 6).iter().all(|p| *p != 2));
        for t in g.targets().iter() {
            t.set_state(State::Unhealthy);
        }
        let mut seen = ports(&g, "a", 6);
        seen.sort();
        seen.dedup();
        assert_eq!(seen, [1, 2, 3], "fails open to every target");
    }

    #[test]
    fn below_the_minimum_of_healthy_targets_every_target_gets_traffic() {
        let mut two = (*config(Algorithm::RoundRobin, None, 0)).clone();
        two.min_healthy = ferry_config::model::MinHealthy {
            count: 2,
            percent: None,
        };
        let g = Group::new(Arc::new(two));
        healthy_all(&g);
        g.targets()[1].set_state(State::Unhealthy);
        assert!(
            ports(&g, "a", 6).iter().all(|p| *p != 2),
            "two healthy: the minimum is met"
        );
        g.targets()[2].set_state(State::Unhealthy);
        let mut seen = ports(&g, "a", 6);
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen,
            [1, 2, 3],
            "one healthy of a minimum of two: fails open"
        );
    }

    #[test]
    fn draining_targets_get_no_new_requests_then_leave() {
        let g = Group::new(config(Algorithm::RoundRobin, None, 0));
        healthy_all(&g);
        let busy = crate::targets::InFlight::start(Arc::clone(&g.targets()[1]));
        assert_eq!(g.deregister(&["127.0.0.1:2".parse().expect("addr")]), 1);
        assert!(ports(&g, "a", 6).iter().all(|p| *p != 2));
        assert_eq!(g.targets()[1].state(), State::Draining);
        g.sweep(now_ms() + 1_000);
        assert_eq!(g.listed().len(), 3, "a request in flight: still draining");
        g.sweep(now_ms() + 301_000);
        assert_eq!(g.targets().len(), 2, "the delay is over");
        drop(busy);
        g.deregister(&[
            "127.0.0.1:1".parse().expect("addr"),
            "127.0.0.1:3".parse().expect("addr"),
        ]);
        assert_eq!(
            pick_target(&g, "a", None).err(),
            Some(NoTarget::NoneRegistered)
        );
        assert!(
            g.targets().is_empty(),
            "nothing in flight: they left at once"
        );
    }

    /// ALB completes a deregistration without waiting for the delay once the target has nothing
    /// in flight: at once when it had nothing, or when its last request ends.
    #[test]
    fn a_deregistration_completes_when_nothing_is_in_flight() {
        let g = Group::new(config(Algorithm::RoundRobin, None, 0));
        healthy_all(&g);
        let busy = crate::targets::InFlight::start(Arc::clone(&g.targets()[0]));
        let both = crate::targets::InFlight::start(Arc::clone(&g.targets()[0]));
        assert_eq!(
            g.deregister(&[g.targets()[0].address, g.targets()[1].address]),
            2
        );
        let listed = |g: &Group| g.listed().iter().map(|t| t.target.port).collect::<Vec<_>>();
        assert_eq!(listed(&g), [1, 3], "2 had nothing in flight");
        drop(busy);
        assert_eq!(listed(&g), [1, 3], "one request still in flight on 1");
        drop(both);
        assert_eq!(listed(&g), [3]);
    }

    #[test]
    fn least_outstanding_prefers_idle_targets() {
        let g = Group::new(config(Algorithm::LeastOutstandingRequests, None, 0));
        healthy_all(&g);
        let busy = g.targets()[0].clone();
        busy.outstanding.store(5, Ordering::Relaxed);
        g.targets()[2].outstanding.store(1, Ordering::Relaxed);
        assert!(ports(&g, "a", 10).iter().all(|p| *p == 2));
    }

    #[test]
    fn stickiness_and_weights() {
        let g = Group::new(config(Algorithm::RoundRobin, None, 0));
        healthy_all(&g);
        let sticky: SocketAddr = "127.0.0.1:3".parse().expect("addr");
        for _ in 0..5 {
            assert_eq!(
                pick_target(&g, "a", Some(sticky)).map(|t| t.target.port),
                Ok(3)
            );
        }
        g.targets()[2].set_state(State::Unhealthy);
        assert_ne!(
            pick_target(&g, "a", Some(sticky)).map(|t| t.target.port),
            Ok(3)
        );

        let groups = Groups::new(&[]);
        let forward = |target_groups| Forward {
            target_groups,
            stickiness: None,
            rotation: Default::default(),
        };
        let weights = forward(vec![(0, 1), (1, 3), (2, 0)]);
        let mut counts = [0; 3];
        for _ in 0..400 {
            if let Some(g) = groups.pick_group(&weights, None) {
                counts[g] += 1;
            }
        }
        assert_eq!(counts, [100, 300, 0]);
        // Two actions split apart: taking turns, each still gives both its groups half.
        let (first, second) = (forward(vec![(0, 1), (1, 1)]), forward(vec![(0, 1), (1, 1)]));
        let mut counts = [[0; 2]; 2];
        for _ in 0..100 {
            for (i, action) in [&first, &second].into_iter().enumerate() {
                if let Some(g) = groups.pick_group(action, None) {
                    counts[i][g] += 1;
                }
            }
        }
        assert_eq!(counts, [[50, 50], [50, 50]]);
    }

    /// Switching health checks on or off by reload restarts every target's health, and keeps
    /// what the API did: a target deregistered stays draining, one registered stays.
    #[test]
    fn switching_health_checks_by_reload_keeps_registrations() {
        let written = config(Algorithm::RoundRobin, None, 0);
        let g = Group::new(written.clone());
        healthy_all(&g);
        let address = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let _busy = crate::targets::InFlight::start(Arc::clone(&g.targets()[2]));
        assert_eq!(g.deregister(&[address(3)]), 1);
        g.register(&[Target {
            address: [127, 0, 0, 1].into(),
            port: 4,
            zone: "a".into(),
        }]);
        let mut unchecked = (*written).clone();
        unchecked.health_check.enabled = false;
        let reloaded = g.reconfigured(Arc::new(unchecked));
        let states: Vec<(u16, bool, State)> = reloaded
            .targets()
            .iter()
            .map(|t| (t.target.port, t.is_draining(), t.state()))
            .collect();
        assert_eq!(
            states,
            [
                (1, false, State::Unavailable),
                (2, false, State::Unavailable),
                (3, true, State::Draining),
                (4, false, State::Unavailable),
            ]
        );
    }

    /// A draining target registered again starts its health afresh and still counts the requests
    /// it had in flight, so that least outstanding requests does not take it for idle.
    #[test]
    fn a_target_registered_again_keeps_counting_its_requests_in_flight() {
        let g = Group::new(config(Algorithm::LeastOutstandingRequests, None, 0));
        healthy_all(&g);
        let first = Arc::clone(&g.targets()[0]);
        let running = crate::targets::InFlight::start(Arc::clone(&first));
        assert_eq!(g.deregister(&[first.address]), 1);
        g.register(std::slice::from_ref(&first.target));
        let again = Arc::clone(&g.targets()[0]);
        assert!(!Arc::ptr_eq(&first, &again) && !again.is_draining());
        assert_eq!(again.state(), State::Initial);
        assert_eq!(again.outstanding.load(Ordering::Acquire), 1);
        drop(running);
        assert_eq!(again.outstanding.load(Ordering::Acquire), 0);
    }

    /// Each zone's nodes rotate on their own: requests taking turns between zones a and b (cross
    /// zone off) still reach both of zone a's targets alike.
    #[test]
    fn each_zone_rotates_on_its_own() {
        let zonal = Group::new(config(Algorithm::RoundRobin, Some(false), 0));
        healthy_all(&zonal);
        let mut from_a = Vec::new();
        for _ in 0..10 {
            from_a.extend(ports(&zonal, "a", 1));
            assert_eq!(ports(&zonal, "b", 1), [2]);
        }
        let ones = from_a.iter().filter(|p| **p == 1).count();
        assert_eq!((ones, from_a.len() - ones), (5, 5), "{from_a:?}");
    }

    #[test]
    fn anomaly_mitigation_and_slow_start_lower_shares() {
        let g = Group::new(config(
            Algorithm::WeightedRandom {
                anomaly_mitigation: true,
            },
            None,
            0,
        ));
        healthy_all(&g);
        for _ in 0..50 {
            g.targets()[0].record(true);
        }
        let picks = ports(&g, "a", 3000);
        let bad = picks.iter().filter(|p| **p == 1).count();
        assert!(
            bad < 300,
            "an erroring target is down-weighted: {bad} of 3000"
        );

        let s = Group::new(config(Algorithm::RoundRobin, None, 60));
        healthy_all(&s);
        // All three just became healthy: every one ramps, so shares stay even but a new target
        // added later is well below its fair share.
        s.register(&[Target {
            address: [127, 0, 0, 2].into(),
            port: 9,
            zone: "a".into(),
        }]);
        let old = s.targets().iter().take(3).cloned().collect::<Vec<_>>();
        for t in &old {
            t.healthy_since_for_test(now_ms() - 120_000);
        }
        s.targets()[3].set_state(State::Healthy);
        let picks = ports(&s, "a", 3000);
        let new = picks.iter().filter(|p| **p == 9).count();
        assert!(
            new < 200,
            "a target in slow start gets well below 1/4: {new} of 3000"
        );
    }
}
