//! The plan: desired resources against live ones, as ordered steps with field-level changes.
//! Pure: the same inputs give the same plan, so `apply` carries out exactly what `plan` showed.

use crate::diff::{diff, Change};
use crate::map::elbv2::TargetRef;
use crate::resource::{Body, Kind, LiveResource};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// A field AWS cannot change in place: delete, then create.
    Replace,
    Delete,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: Action,
    pub kind: Kind,
    pub key: String,
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub desired: Option<Body>,
    #[serde(skip)]
    pub live: Option<LiveResource>,
    /// A replaced target group's targets, registered on the new group before listeners and rules
    /// move to it.
    #[serde(skip)]
    pub targets: Vec<TargetRef>,
}

impl Step {
    pub fn title(&self) -> String {
        format!("{} {}", self.kind.label(), self.key)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Fields whose change AWS does not allow in place.
pub(crate) fn forces_replacement(kind: Kind, path: &str) -> bool {
    let top = path.split(['.', '[']).next().unwrap_or_default();
    match kind {
        Kind::TargetGroup => matches!(
            top,
            "protocol" | "protocol_version" | "port" | "target_type" | "ip_address_type" | "vpc_id"
        ),
        Kind::LoadBalancer => top == "scheme",
        // CloudFront changes only a public key's comment in place.
        Kind::PublicKey => top == "encoded_key",
        _ => false,
    }
}

/// `desired` with each load balancer whose security groups the topology leaves out given those it
/// has in AWS (at creation AWS gives it its VPC's default group): they are not the topology's to
/// change, so they are never planned away (AWS refuses an empty list anyway).
fn with_unmanaged_security_groups(desired: &[Body], live: &[LiveResource]) -> Vec<Body> {
    desired
        .iter()
        .map(|body| match body {
            Body::LoadBalancer(lb) if lb.security_groups.is_empty() => {
                let existing = live.iter().find_map(|l| match &l.body {
                    Body::LoadBalancer(old) if old.name == lb.name => {
                        Some(old.security_groups.clone())
                    }
                    _ => None,
                });
                let mut lb = lb.clone();
                lb.security_groups = existing.unwrap_or_default();
                Body::LoadBalancer(lb)
            }
            other => other.clone(),
        })
        .collect()
}

/// What the plan cannot carry out and AWS would refuse half-way, refused before anything
/// changes: a public key whose `encoded_key` changes is replaced (CloudFront changes only its
/// comment), and CloudFront refuses to delete a key that a key group holds (PublicKeyInUse), so
/// the rotation CloudFront expects is named; a load balancer with deletion protection on in AWS
/// is not deleted (OperationNotPermitted) by a replacement or a destroy.
pub fn refused(plan: &Plan, live: &[LiveResource]) -> Vec<String> {
    let protected = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(s.action, Action::Replace | Action::Delete) && s.kind == Kind::LoadBalancer
        })
        .filter(|s| {
            s.live.as_ref().is_some_and(|l| match &l.body {
                Body::LoadBalancer(lb) => lb
                    .attributes
                    .get("deletion_protection.enabled")
                    .is_some_and(|v| v.as_api_string() == "true"),
                _ => false,
            })
        })
        .map(|s| {
            let (why, then) = if s.action == Action::Replace {
                (
                    "this plan replaces it (a field AWS cannot change in place)",
                    "with no other change to it, apply, then make the change",
                )
            } else {
                ("this plan deletes it", "apply, then apply (or destroy) again")
            };
            format!(
                "load balancer {}: deletion_protection.enabled is true in AWS and {why}: set \"deletion_protection.enabled\" = false in its attributes {then}",
                s.key
            )
        });
    let keys = plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Replace && s.kind == Kind::PublicKey)
        .flat_map(|s| {
            live.iter().filter_map(move |l| match &l.body {
                Body::KeyGroup(g) if g.items.contains(&s.key) => Some(format!(
                    "public key {key}: its encoded_key cannot change while key group {group} holds it (CloudFront cannot change a key in place, nor delete one in use); rotate it instead: add the new key under another name to {group}, apply, then remove {key}",
                    key = s.key,
                    group = g.name
                )),
                _ => None,
            })
        });
    protected.chain(keys).collect()
}

/// A distribution's aliases, lowercased (CloudFront compares them so).
fn aliases_of(body: &Body) -> Vec<String> {
    match body {
        Body::Distribution(d) => d
            .distribution
            .aliases
            .iter()
            .map(|a| a.to_ascii_lowercase())
            .collect(),
        _ => Vec::new(),
    }
}

/// Puts first among the distribution steps of `forward` what frees an alias another distribution
/// of `desired` takes over: CloudFront refuses an alias that another distribution holds, enabled
/// or not. That is the giver's own update when it is updated and takes no alias still held
/// elsewhere; otherwise (it is deleted, or two distributions swap aliases) an update of its own
/// that only drops the moving aliases, its update or delete following in its place. Each move is
/// noted.
fn order_alias_moves(
    forward: &mut Vec<Step>,
    desired: &[Body],
    live: &[LiveResource],
    notes: &mut Vec<String>,
) {
    let taken: HashMap<String, String> = desired
        .iter()
        .flat_map(|b| aliases_of(b).into_iter().map(move |a| (a, b.key())))
        .collect();
    let held: HashMap<String, String> = live
        .iter()
        .flat_map(|l| {
            aliases_of(&l.body)
                .into_iter()
                .map(move |a| (a, l.body.key()))
        })
        .collect();
    let mut first = Vec::new();
    for l in live {
        let Body::Distribution(d) = &l.body else {
            continue;
        };
        let key = l.body.key();
        let taker = |alias: &str| {
            taken
                .get(&alias.to_ascii_lowercase())
                .filter(|to| **to != key)
        };
        let moving: Vec<String> = d
            .distribution
            .aliases
            .iter()
            .filter_map(|a| taker(a).map(|to| format!("{a} (to distribution {to})")))
            .collect();
        if moving.is_empty() {
            continue;
        }
        notes.push(format!(
            "distribution {key} first gives up {}: CloudFront refuses an alias that another distribution holds",
            moving.join(", ")
        ));
        let own = forward.iter().position(|s| {
            s.kind == Kind::Distribution
                && s.key == key
                && s.desired.as_ref().is_some_and(|b| {
                    aliases_of(b)
                        .iter()
                        .all(|a| held.get(a).is_none_or(|h| *h == key))
                })
        });
        if let Some(i) = own {
            first.push(forward.remove(i));
            continue;
        }
        let mut kept = (**d).clone();
        kept.distribution.aliases.retain(|a| taker(a).is_none());
        let kept = Body::Distribution(Box::new(kept));
        first.push(Step {
            action: Action::Update,
            kind: Kind::Distribution,
            key,
            changes: diff(&l.body.to_json(), &kept.to_json()),
            desired: Some(kept),
            live: Some(l.clone()),
            targets: Vec::new(),
        });
    }
    let at = forward
        .iter()
        .position(|s| s.kind == Kind::Distribution)
        .unwrap_or(forward.len());
    forward.splice(at..at, first);
}

/// Creates and updates in creation order (what is referred to first), then deletes in reverse.
///
/// Replacements carry what AWS takes away with them: a replaced load balancer's listeners and
/// rules are created again on the new one (deleting it deleted them), and distributions whose
/// origins name it (`lb_dns`: load balancer → its local `dns_name`) are updated to its new DNS
/// name. A replaced target group is created beside the old one, gets its targets, takes over the
/// listeners' and rules' forwards, and only then is the old one deleted; its targets are part of
/// that step.
pub fn plan(
    stack: &str,
    desired: &[Body],
    live: &[LiveResource],
    notes: Vec<String>,
    lb_dns: &HashMap<String, String>,
) -> Plan {
    let adopted = with_unmanaged_security_groups(desired, live);
    let desired = &adopted[..];
    let mut by_key: HashMap<(Kind, String), &LiveResource> = live
        .iter()
        .map(|l| ((l.body.kind(), l.body.key()), l))
        .collect();
    let replaced = |kind: Kind, desired: &Body| -> bool {
        by_key.get(&(kind, desired.key())).is_some_and(|l| {
            diff(&l.body.to_json(), &desired.to_json())
                .iter()
                .any(|c| forces_replacement(kind, &c.path))
        })
    };
    let replaced_lbs: HashSet<String> = desired
        .iter()
        .filter(|b| b.kind() == Kind::LoadBalancer && replaced(Kind::LoadBalancer, b))
        .map(Body::key)
        .collect();
    let replaced_groups: HashSet<String> = desired
        .iter()
        .filter(|b| b.kind() == Kind::TargetGroup && replaced(Kind::TargetGroup, b))
        .map(Body::key)
        .collect();
    let moved_dns: Vec<&String> = replaced_lbs
        .iter()
        .filter_map(|name| lb_dns.get(name))
        .collect();
    let on_replaced_lb = |body: &Body| match body {
        Body::Listener(l) => replaced_lbs.contains(&l.load_balancer),
        Body::Rule(r) => replaced_lbs.contains(&r.load_balancer),
        _ => false,
    };
    let mut forward = Vec::new();
    let mut group_targets: HashMap<String, Vec<TargetRef>> = HashMap::new();
    for body in desired {
        let key = (body.kind(), body.key());
        let mut found = by_key.remove(&key);
        if on_replaced_lb(body) {
            // Gone with its load balancer: made again.
            found = None;
        }
        if let Body::Targets(t) = body {
            if replaced_groups.contains(&t.target_group) {
                group_targets.insert(t.target_group.clone(), t.targets.clone());
                continue;
            }
        }
        match found {
            None => {
                // Targets of a group with none is nothing to do.
                if matches!(body, Body::Targets(t) if t.targets.is_empty()) {
                    continue;
                }
                forward.push(Step {
                    action: Action::Create,
                    kind: key.0,
                    key: key.1,
                    changes: diff(&serde_json::json!({}), &body.to_json()),
                    desired: Some(body.clone()),
                    live: None,
                    targets: Vec::new(),
                });
            }
            Some(l) => {
                let mut changes = diff(&l.body.to_json(), &body.to_json());
                if let Body::Distribution(d) = body {
                    for (i, o) in d.distribution.origins.iter().enumerate() {
                        if moved_dns.contains(&&o.domain_name) {
                            changes.push(Change {
                                path: format!("origins[{i}].domain_name"),
                                old: Some(serde_json::json!(
                                    "(the replaced load balancer's DNS name)"
                                )),
                                new: Some(serde_json::json!(format!(
                                    "(the new load balancer's DNS name for {})",
                                    o.domain_name
                                ))),
                            });
                        }
                    }
                }
                if changes.is_empty() {
                    continue;
                }
                let replace = changes.iter().any(|c| forces_replacement(key.0, &c.path));
                forward.push(Step {
                    action: if replace {
                        Action::Replace
                    } else {
                        Action::Update
                    },
                    kind: key.0,
                    key: key.1,
                    changes,
                    desired: Some(body.clone()),
                    live: Some(l.clone()),
                    targets: Vec::new(),
                });
            }
        }
    }
    for step in &mut forward {
        if step.action == Action::Replace && step.kind == Kind::TargetGroup {
            step.targets = group_targets.remove(&step.key).unwrap_or_default();
        }
    }
    forward.sort_by_key(|s| s.kind);
    let mut notes = notes;
    order_alias_moves(&mut forward, desired, live, &mut notes);
    let mut deletes: Vec<Step> = by_key
        .into_values()
        .filter(|l| !matches!(&l.body, Body::Targets(t) if t.targets.is_empty()))
        // A replaced load balancer takes its listeners and rules with it; a replaced group its
        // targets.
        .filter(|l| !on_replaced_lb(&l.body))
        .filter(
            |l| !matches!(&l.body, Body::Targets(t) if replaced_groups.contains(&t.target_group)),
        )
        .map(|l| Step {
            action: Action::Delete,
            kind: l.body.kind(),
            key: l.body.key(),
            changes: diff(&l.body.to_json(), &serde_json::json!({})),
            desired: None,
            live: Some(l.clone()),
            targets: Vec::new(),
        })
        .collect();
    // Targets go with their group; deleting the group deregisters them.
    let deleted_groups: Vec<String> = deletes
        .iter()
        .filter(|s| s.kind == Kind::TargetGroup)
        .map(|s| s.key.clone())
        .collect();
    deletes.retain(|s| !(s.kind == Kind::Targets && deleted_groups.contains(&s.key)));
    deletes.sort_by(|a, b| b.kind.cmp(&a.kind).then_with(|| a.key.cmp(&b.key)));
    let mut steps = forward;
    steps.extend(deletes);
    Plan {
        stack: stack.to_string(),
        steps,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::elbv2::{TargetRef, TargetsState};
    use crate::resource::LiveId;

    fn targets(group: &str, ids: &[&str]) -> Body {
        Body::Targets(TargetsState {
            target_group: group.into(),
            targets: ids
                .iter()
                .map(|id| TargetRef {
                    id: id.to_string(),
                    port: 80,
                    availability_zone: None,
                })
                .collect(),
        })
    }

    fn live(body: Body) -> LiveResource {
        LiveResource {
            body,
            id: LiveId::Arn("arn".into()),
        }
    }

    #[test]
    fn creates_updates_and_deletes_in_order() {
        let desired = vec![targets("a", &["10.0.0.1"]), targets("b", &["10.0.0.2"])];
        let live_state = vec![
            live(targets("b", &["10.0.0.3"])),
            live(targets("c", &["10.0.0.4"])),
        ];
        let p = plan("s", &desired, &live_state, Vec::new(), &HashMap::new());
        let summary: Vec<(Action, String)> =
            p.steps.iter().map(|s| (s.action, s.key.clone())).collect();
        assert_eq!(
            summary,
            vec![
                (Action::Create, "a".to_string()),
                (Action::Update, "b".to_string()),
                (Action::Delete, "c".to_string())
            ]
        );
        assert_eq!(p.steps[1].changes[0].path, "targets[0].id");
        assert!(plan(
            "s",
            &desired,
            &[live(desired[0].clone()), live(desired[1].clone())],
            Vec::new(),
            &HashMap::new()
        )
        .is_empty());
    }

    /// A load balancer whose security groups the topology leaves out keeps AWS's: no change is
    /// planned for them; listed ones are the topology's.
    #[test]
    fn security_groups_left_out_are_not_planned_away() {
        use crate::map::elbv2::LoadBalancerState;
        let lb = |groups: &[&str]| {
            Body::LoadBalancer(LoadBalancerState {
                name: "alb".into(),
                scheme: None,
                ip_address_type: None,
                subnets: vec!["subnet-a".into(), "subnet-b".into()],
                security_groups: groups.iter().map(|g| g.to_string()).collect(),
                attributes: Default::default(),
            })
        };
        let in_aws = [live(lb(&["sg-default"]))];
        assert!(plan("s", &[lb(&[])], &in_aws, Vec::new(), &HashMap::new()).is_empty());
        let p = plan(
            "s",
            &[lb(&["sg-web"])],
            &in_aws,
            Vec::new(),
            &HashMap::new(),
        );
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].changes[0].path, "security_groups[0]");
    }

    fn distribution(id: &str, aliases: &[&str]) -> Body {
        let spec = serde_json::json!({
            "id": id,
            "aliases": aliases,
            "origins": [{ "id": "o", "domain_name": "origin.example" }],
            "default_cache_behavior": {
                "target_origin_id": "o",
                "viewer_protocol_policy": "allow-all",
            },
        });
        let state = crate::map::distribution::DistributionState {
            distribution: serde_json::from_value(spec).expect("a distribution"),
            viewer_certificate: None,
        };
        Body::Distribution(Box::new(state))
    }

    fn step_aliases(step: &Step) -> Vec<String> {
        match &step.desired {
            Some(Body::Distribution(d)) => d.distribution.aliases.clone(),
            _ => Vec::new(),
        }
    }

    /// An alias moving from one distribution to another is first dropped from the one that has it
    /// (CloudFront's CNAMEAlreadyExists otherwise), whether that one is updated, deleted, or takes
    /// the other's alias in exchange; no release when nothing moves.
    #[test]
    fn a_moving_alias_is_released_before_it_is_taken() {
        // (desired, live, expected steps as (action, key, aliases the step leaves))
        type Case<'a> = (Vec<Body>, Vec<Body>, Vec<(Action, &'a str, Vec<&'a str>)>);
        let cases: Vec<Case> = vec![
            // a.test moves from a to a new b.
            (
                vec![distribution("a", &[]), distribution("b", &["a.test"])],
                vec![distribution("a", &["a.test"])],
                vec![
                    (Action::Update, "a", vec![]),
                    (Action::Create, "b", vec!["a.test"]),
                ],
            ),
            // a is deleted and b, already there, takes its alias (in any case).
            (
                vec![distribution("b", &["b.test", "A.test"])],
                vec![
                    distribution("a", &["a.test", "keep.test"]),
                    distribution("b", &["b.test"]),
                ],
                vec![
                    (Action::Update, "a", vec!["keep.test"]),
                    (Action::Update, "b", vec!["b.test", "A.test"]),
                    (Action::Delete, "a", vec![]),
                ],
            ),
            // a and b swap their aliases.
            (
                vec![
                    distribution("a", &["b.test"]),
                    distribution("b", &["a.test"]),
                ],
                vec![
                    distribution("a", &["a.test"]),
                    distribution("b", &["b.test"]),
                ],
                vec![
                    (Action::Update, "a", vec![]),
                    (Action::Update, "b", vec![]),
                    (Action::Update, "a", vec!["b.test"]),
                    (Action::Update, "b", vec!["a.test"]),
                ],
            ),
            // Nothing moves: no release.
            (
                vec![distribution("a", &["a.test", "new.test"])],
                vec![distribution("a", &["a.test"])],
                vec![(Action::Update, "a", vec!["a.test", "new.test"])],
            ),
        ];
        for (i, (desired, in_aws, want)) in cases.into_iter().enumerate() {
            let in_aws: Vec<LiveResource> = in_aws.into_iter().map(live).collect();
            let p = plan("s", &desired, &in_aws, Vec::new(), &HashMap::new());
            let got: Vec<(Action, String, Vec<String>)> = p
                .steps
                .iter()
                .map(|s| (s.action, s.key.clone(), step_aliases(s)))
                .collect();
            let want: Vec<(Action, String, Vec<String>)> = want
                .into_iter()
                .map(|(a, k, l)| (a, k.to_string(), l.into_iter().map(String::from).collect()))
                .collect();
            assert_eq!(got, want, "case {i}");
            assert_eq!(
                p.notes.iter().any(|n| n.contains("gives up")),
                i < 3,
                "case {i}: {:?}",
                p.notes
            );
        }
    }
}
