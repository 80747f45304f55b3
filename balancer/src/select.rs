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
