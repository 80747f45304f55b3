//! A topology file from a stack's live resources: the same canonical forms `plan` compares, put
//! back into the topology's shape, with local stand-ins (loopback node addresses, zones named by
//! their availability zone's letter) for what AWS does not have.

use crate::live::LiveState;
use crate::map::elbv2;
use crate::resource::prune;
use crate::resource::Body;
use ferry_config::spec::{self, AwsSection, Spec};
use std::collections::BTreeMap;

/// The local zone name for an availability zone: its letter after the region (`us-east-1a` → `a`).
pub fn zone_name(region: &str, az: &str) -> String {
    az.strip_prefix(region)
        .filter(|z| !z.is_empty())
        .unwrap_or(az)
        .to_string()
}

/// What in the stack no topology can describe, each with what to do about it: a target group
/// replacement left half-done, an authentication action added outside ferry (whose topology
/// refuses them). Import writes nothing while there is any.
pub fn unimportable(live: &LiveState) -> Vec<String> {
    let mut found: Vec<String> = live
        .leftovers
        .iter()
        .map(|l| {
            let (a, b) = (l.kept.as_str().min(&l.left), l.kept.as_str().max(&l.left));
            format!(
                "target group {}: AWS groups {a} and {b} both carry it, a replacement left half-done (finish it with `ferry apply` on the topology it came from, or delete the AWS group not wanted)",
                l.name
            )
        })
        .collect();
    let authenticates = |actions: &[spec::Action]| {
        actions.iter().any(|a| {
            matches!(
                a.r#type,
                spec::ActionType::AuthenticateOidc | spec::ActionType::AuthenticateCognito
            )
        })
    };
    for r in &live.resources {
        let (what, actions) = match &r.body {
            Body::Listener(l) => (
                format!("listener {}:{}", l.load_balancer, l.port),
                &l.default_actions,
            ),
            Body::Rule(r) => (
                format!(
                    "rule {}:{} priority {}",
                    r.load_balancer, r.port, r.priority
                ),
                &r.actions,
            ),
            _ => continue,
        };
        if authenticates(actions) {
            found.push(format!(
                "{what}: an authentication action, which ferry's balancer does not serve (remove it in AWS first)"
            ));
        }
    }
    found
}

pub fn to_spec(stack: &str, region: &str, live: &LiveState) -> Spec {
    let mut aws = AwsSection {
        region: region.to_string(),
        vpc_id: None,
        subnets: BTreeMap::new(),
        security_groups: Vec::new(),
        viewer_certificate: None,
        listener_certificates: BTreeMap::new(),
    };
    let mut distributions = Vec::new();
    let (mut cache_policies, mut origin_request_policies, mut response_headers_policies) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut public_keys, mut key_groups) = (Vec::new(), Vec::new());
    let mut target_groups = Vec::new();
    let mut load_balancers = Vec::new();
    for (i, facts) in live.load_balancers.iter().enumerate() {
        let mut nodes = BTreeMap::new();
        let mut zones = facts.zones.clone();
        zones.sort();
        for (j, (az, subnet)) in zones.iter().enumerate() {
            let zone = zone_name(region, az);
            aws.subnets.insert(zone.clone(), subnet.clone());
            nodes.insert(zone, format!("127.0.{}.{}", i + 1, j + 1));
        }
        if aws.vpc_id.is_none() {
            aws.vpc_id = facts.vpc_id.clone();
        }
        let Some(state) = live.resources.iter().find_map(|r| match &r.body {
            Body::LoadBalancer(l) if l.name == facts.name => Some(l),
            _ => None,
        }) else {
            continue;
        };
        if aws.security_groups.is_empty() {
            aws.security_groups = state.security_groups.clone();
        }
        let mut listeners: Vec<spec::Listener> = live
            .resources
            .iter()
            .filter_map(|r| match &r.body {
                Body::Listener(l) if l.load_balancer == facts.name => Some(l),
                _ => None,
            })
            .map(|l| {
                if let Some(arn) = &l.certificate_arn {
                    aws.listener_certificates
                        .insert(l.port.to_string(), arn.clone());
                }
                let mut rules: Vec<spec::Rule> = live
                    .resources
                    .iter()
                    .filter_map(|r| match &r.body {
                        Body::Rule(r) if r.load_balancer == facts.name && r.port == l.port => {
                            Some(r)
                        }
                        _ => None,
                    })
                    .map(|r| spec::Rule {
                        priority: r.priority,
                        conditions: r.conditions.clone(),
                        actions: r.actions.clone(),
                    })
                    .collect();
                rules.sort_by_key(|r| r.priority);
                let https = l.protocol == spec::ListenerProtocol::HTTPS;
                spec::Listener {
                    port: l.port,
                    protocol: l.protocol,
                    ssl_policy: l.ssl_policy.clone(),
                    default_certificate: https.then(|| spec::CertificatePair {
                        cert: format!("certs/{}-{}.pem", facts.name, l.port),
                        key: format!("certs/{}-{}.key", facts.name, l.port),
                    }),
                    certificates: Vec::new(),
                    alpn_policy: l.alpn_policy.clone(),
                    attributes: l.attributes.clone(),
                    default_actions: l.default_actions.clone(),
                    rules,
                }
            })
            .collect();
        listeners.sort_by_key(|l| l.port);
        load_balancers.push(spec::LoadBalancer {
            name: facts.name.clone(),
            dns_name: facts.dns_name.clone(),
            nodes,
            scheme: state.scheme,
            ip_address_type: state.ip_address_type.clone(),
            attributes: state.attributes.clone(),
            listeners,
        });
    }
    let zones: Vec<String> = aws.subnets.keys().cloned().collect();
    for r in &live.resources {
        match &r.body {
            Body::Distribution(d) => {
                if aws.viewer_certificate.is_none() {
                    aws.viewer_certificate = d.viewer_certificate.clone();
                }
                distributions.push(d.distribution.clone());
            }
            Body::TargetGroup(tg) => {
                if aws.vpc_id.is_none() {
                    aws.vpc_id = tg.vpc_id.clone();
                }
                let targets = live
                    .resources
                    .iter()
                    .find_map(|r| match &r.body {
                        Body::Targets(t) if t.target_group == tg.name => Some(t.targets.clone()),
                        _ => None,
                    })
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| spec::Target {
                        id: t.id,
                        port: (t.port != tg.port).then_some(t.port),
                        zone: zones
                            .get(i % zones.len().max(1))
                            .cloned()
                            .unwrap_or_else(|| "a".to_string()),
                    })
                    .collect();
                target_groups.push(elbv2::target_group_to_spec(tg, targets));
            }
            Body::CachePolicy(p) => cache_policies.push(p.clone()),
            Body::OriginRequestPolicy(p) => origin_request_policies.push(p.clone()),
            Body::ResponseHeadersPolicy(p) => response_headers_policies.push(p.clone()),
            Body::PublicKey(k) => public_keys.push(spec::PublicKey {
                name: k.name.clone(),
                // CloudFront's id: the Key-Pair-Id that URLs signed for AWS carry.
                id: Some(r.id.arn().to_string()),
                encoded_key: k.encoded_key.clone(),
                comment: k.comment.clone(),
            }),
            Body::KeyGroup(g) => key_groups.push(spec::KeyGroup {
                name: g.name.clone(),
                items: g.items.clone(),
                comment: g.comment.clone(),
            }),
            _ => {}
        }
    }
    cache_policies.sort_by(|a, b| a.name.cmp(&b.name));
    origin_request_policies.sort_by(|a, b| a.name.cmp(&b.name));
    response_headers_policies.sort_by(|a, b| a.name.cmp(&b.name));
    public_keys.sort_by(|a, b| a.name.cmp(&b.name));
    key_groups.sort_by(|a, b| a.name.cmp(&b.name));
    distributions.sort_by(|a, b| a.id.cmp(&b.id));
    target_groups.sort_by(|a, b| a.name.cmp(&b.name));
    load_balancers.sort_by(|a, b| a.name.cmp(&b.name));
    Spec {
        stack: stack.to_string(),
        edge: None,
        resolve: BTreeMap::new(),
        cache_policies,
        origin_request_policies,
        response_headers_policies,
        public_keys,
        key_groups,
        distributions,
        load_balancers,
        target_groups,
        aws: Some(aws),
        demo_targets: Vec::new(),
    }
}

/// The topology file text: TOML without empty tables or lists, headed by what to fill in locally.
pub fn to_toml(spec: &Spec) -> Result<String, String> {
    let mut value = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    prune(&mut value);
    let body = toml::to_string(&value).map_err(|e| e.to_string())?;
    let mut head = format!(
        "# Imported by `ferry import --stack {}` from the live resources tagged ferry:stack = {:?}.\n\
         # Local stand-ins: load balancer nodes listen on loopback addresses, zones are named by their\n\
         # availability zone's letter, and target zones are spread over them.\n",
        spec.stack, spec.stack
    );
    let https: Vec<&spec::CertificatePair> = spec
        .load_balancers
        .iter()
        .flat_map(|l| &l.listeners)
        .filter_map(|l| l.default_certificate.as_ref())
        .collect();
    if !https.is_empty() {
        head.push_str(
            "# HTTPS listeners need local certificate files (ACM keeps the real keys):\n",
        );
        for pair in https {
            head.push_str(&format!("#   {} and {}\n", pair.cert, pair.key));
        }
    }
    Ok(format!("{head}\n{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_named_by_their_letter() {
        assert_eq!(zone_name("us-east-1", "us-east-1a"), "a");
        assert_eq!(zone_name("us-east-1", "eu-west-1b"), "eu-west-1b");
    }
}
