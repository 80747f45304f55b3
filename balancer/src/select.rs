//! Choosing a target: weighted choice among a forward action's target groups, then round robin over
//! the group's targets that the node may use (its own zone only when cross-zone is off).

use ferry_config::model::{Forward, Target, TargetGroup};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Per-target-group state shared by every node and listener in the process.
pub struct GroupStates {
    round_robin: Vec<AtomicUsize>,
    weighted: AtomicUsize,
}

impl GroupStates {
    pub fn new(groups: &[Arc<TargetGroup>]) -> GroupStates {
        GroupStates {
            round_robin: groups.iter().map(|_| AtomicUsize::new(0)).collect(),
            weighted: AtomicUsize::new(0),
        }
    }

    /// The target group a forward action sends this request to, by weight.
    pub fn pick_group(&self, forward: &Forward) -> Option<usize> {
        let total: u64 = forward
            .target_groups
            .iter()
            .map(|(_, w)| u64::from(*w))
            .sum();
        if forward.target_groups.len() == 1 || total == 0 {
            return forward.target_groups.first().map(|(g, _)| *g);
        }
        // A deterministic spread by weight: request n lands in the group whose cumulative weight
        // covers n mod total (a smooth substitute for ALB's weighted random).
        let n = self.weighted.fetch_add(1, Ordering::Relaxed) as u64 % total;
        let mut acc = 0;
        for (group, weight) in &forward.target_groups {
            acc += u64::from(*weight);
            if n < acc {
                return Some(*group);
            }
        }
        forward.target_groups.last().map(|(g, _)| *g)
    }

    /// Round robin over the targets this node may use.
    pub fn pick_target<'g>(
        &self,
        index: usize,
        group: &'g TargetGroup,
        zone: &str,
    ) -> Option<&'g Target> {
        let cross_zone = group.cross_zone.unwrap_or(true);
        let eligible = |t: &&Target| cross_zone || t.zone == zone;
        let count = group.targets.iter().filter(eligible).count();
        if count == 0 {
            return None;
        }
        let n = self.round_robin.get(index)?.fetch_add(1, Ordering::Relaxed) % count;
        group.targets.iter().filter(eligible).nth(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_config::model::{Algorithm, HealthCheck};
    use ferry_config::spec::TargetProtocol;
    use std::time::Duration;

    fn group(cross_zone: Option<bool>) -> TargetGroup {
        let target = |port, zone: &str| Target {
            address: [127, 0, 0, 1].into(),
            port,
            zone: zone.into(),
        };
        TargetGroup {
            name: "g".into(),
            protocol: TargetProtocol::HTTP,
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
            },
            algorithm: Algorithm::RoundRobin,
            slow_start: Duration::ZERO,
            deregistration_delay: Duration::from_secs(300),
            stickiness: None,
            cross_zone,
            attributes: Default::default(),
            targets: vec![target(1, "a"), target(2, "b"), target(3, "a")],
        }
    }

    #[test]
    fn round_robin_cycles_over_eligible_targets() {
        let g = Arc::new(group(None));
        let states = GroupStates::new(std::slice::from_ref(&g));
        let ports: Vec<u16> = (0..6)
            .filter_map(|_| states.pick_target(0, &g, "a"))
            .map(|t| t.port)
            .collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3]);
        let zonal = Arc::new(group(Some(false)));
        let ports: Vec<u16> = (0..4)
            .filter_map(|_| states.pick_target(0, &zonal, "a"))
            .map(|t| t.port)
            .collect();
        assert_eq!(ports.iter().filter(|p| **p == 2).count(), 0);
        assert!(states.pick_target(0, &zonal, "c").is_none());
    }

    #[test]
    fn weights_spread_requests_in_proportion() {
        let states = GroupStates::new(&[]);
        let forward = Forward {
            target_groups: vec![(0, 1), (1, 3), (2, 0)],
            stickiness: None,
        };
        let mut counts = [0; 3];
        for _ in 0..400 {
            if let Some(g) = states.pick_group(&forward) {
                counts[g] += 1;
            }
        }
        assert_eq!(counts, [100, 300, 0]);
    }
}
