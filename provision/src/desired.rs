//! The topology as the resources ferry would have in AWS, in canonical form, plus notes on what
//! stays local. Checks what AWS requires (certificates, subnets, a VPC) before anything changes.

use crate::error::{ProvisionError, Result};
use crate::map::distribution::{self, DistributionState};
use crate::map::elbv2::{self, ListenerState, RuleState, TargetRef, TargetsState};
use crate::map::{keys, policies};
use crate::refs::{RefKind, Refs};
use crate::resource::Body;
use ferry_config::spec::{self, ListenerProtocol, Spec, TargetType};
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub struct Desired {
    pub stack: String,
    pub resources: Vec<Body>,
    /// What the topology has that is not provisioned, and why.
    pub notes: Vec<String>,
}

/// The ACM certificate of a listener, from `[aws] listener_certificates` (by port). Only an HTTPS
/// listener has one: another load balancer's HTTPS listener on the same port must not give an
/// HTTP listener a certificate AWS then never shows (a change planned for ever).
fn listener_certificate(
    protocol: ListenerProtocol,
    port: u16,
    certificates: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    (protocol == ListenerProtocol::HTTPS)
        .then(|| certificates.get(&port.to_string()).cloned())
        .flatten()
}

/// The region of an ACM certificate ARN (`arn:aws:acm:REGION:ACCOUNT:certificate/ID`).
fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("acm"), Some(region)) => Some(region),
        _ => None,
    }
}

pub fn desired(spec: &Spec, refs: &Refs) -> Result<Desired> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut resources = Vec::new();
    let needs_aws = !spec.distributions.is_empty()
        || !spec.cache_policies.is_empty()
        || !spec.origin_request_policies.is_empty()
        || !spec.response_headers_policies.is_empty()
        || !spec.public_keys.is_empty()
        || !spec.key_groups.is_empty()
        || !spec.load_balancers.is_empty()
        || !spec.target_groups.is_empty();
    let aws = match &spec.aws {
        Some(aws) => aws,
        None if needs_aws => {
            return Err(ProvisionError::Invalid(
                "the topology has no [aws] section: provisioning needs at least `region`, and \
                 `vpc_id` and `subnets` for load balancers and target groups"
                    .into(),
            ))
        }
        None => {
            return Ok(Desired {
                stack: spec.stack.clone(),
                resources,
                notes,
            })
        }
    };

    // ---------------------------------------------------------------- local-only parts
    if spec.edge.is_some() {
        notes.push("[edge] (local listeners, cache size, certificate files) is local only: CloudFront runs the edge".into());
    }
    if !spec.resolve.is_empty() {
        notes.push("[resolve] is local only: AWS resolves names with DNS".into());
    }
    if !spec.demo_targets.is_empty() {
        notes.push("[[demo_targets]] are local only".into());
    }
    notes.extend(above_default_quotas(spec));
    for p in &spec.response_headers_policies {
        let api = policies::response_headers_policy_to_api(p, &spec.stack)?;
        resources.push(Body::ResponseHeadersPolicy(
            policies::response_headers_policy_from_api(&api)?,
        ));
    }
    for k in &spec.public_keys {
        if !k.encoded_key.trim_start().starts_with("-----BEGIN") {
            problems.push(format!(
                "public key {}: encoded_key {:?} is not a PEM (key files are read before planning)",
                k.name, k.encoded_key
            ));
        }
        if let Some(id) =
            k.id.as_ref()
                .filter(|id| refs.known_name(RefKind::PublicKey, id).is_none())
        {
            notes.push(format!(
                "public key {}: id {id:?} is local; CloudFront gives the key its own id (the Key-Pair-Id to sign with: `ferry import` writes it back)",
                k.name
            ));
        }
        resources.push(Body::PublicKey(keys::public_key_state(k)));
    }
    for g in &spec.key_groups {
        resources.push(Body::KeyGroup(keys::key_group_state(g)));
    }
    for p in &spec.cache_policies {
        let api = policies::cache_policy_to_api(p, &spec.stack)?;
        resources.push(Body::CachePolicy(policies::cache_policy_from_api(&api)?));
    }
    for p in &spec.origin_request_policies {
        if p.headers_config.header_behavior == spec::OriginHeaderBehavior::Whitelist
            && p.headers_config
                .headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("authorization"))
        {
            problems.push(format!(
                "origin request policy {}: CloudFront refuses Authorization among an origin request policy's headers (HTTP 400: a credential must be in the cache key, or one viewer's answer could be served to another); put it in the cache policy's headers_config, or forward every viewer header (header_behavior = \"allViewer\")",
                p.name
            ));
        }
        let api = policies::origin_request_policy_to_api(p, &spec.stack)?;
        resources.push(Body::OriginRequestPolicy(
            policies::origin_request_policy_from_api(&api)?,
        ));
    }

    // ---------------------------------------------------------------- target groups
    if !spec.target_groups.is_empty() && aws.vpc_id.is_none() {
        problems.push("[aws] vpc_id: target groups need the VPC they live in".into());
    }
    for tg in &spec.target_groups {
        if tg.target_type.is_none() && targets_are_ips(tg) {
            notes.push(format!(
                "target group {}: target_type is not set and the targets are IP addresses, so it is provisioned as \"ip\"",
                tg.name
            ));
        }
        if tg.targets.iter().any(|t| !t.zone.is_empty()) {
            notes.push(format!(
                "target group {}: target zones are local only (AWS places a target by its address)",
                tg.name
            ));
        }
        let provisioned = target_group(tg, aws.vpc_id.as_deref());
        let always_checked = matches!(
            provisioned.target_type,
            None | Some(TargetType::Instance | TargetType::Ip | TargetType::Alb)
        );
        if always_checked && tg.health_check.enabled == Some(false) {
            problems.push(format!(
                "target group {}: health_check.enabled = false: AWS keeps health checks on for instance, ip and alb target groups (HealthCheckEnabled cannot be false); remove it (locally too, targets are then checked)",
                tg.name
            ));
        }
        if provisioned.target_type.unwrap_or(TargetType::Instance) == TargetType::Instance
            && targets_are_ips(tg)
        {
            problems.push(format!(
                "target group {}: target_type \"instance\" registers EC2 instance ids (i-...), and these targets are IP addresses: use target_type = \"ip\" (or leave it out)",
                tg.name
            ));
        }
        let mut targets: Vec<TargetRef> = tg
            .targets
            .iter()
            .map(|t| TargetRef {
                id: t.id.clone(),
                port: t.port.unwrap_or(tg.port),
                // Set by `plan_topology` from the VPC's subnets (`checks`).
                availability_zone: None,
            })
            .collect();
        targets.sort();
        targets.dedup();
        resources.push(Body::TargetGroup(provisioned));
        resources.push(Body::Targets(TargetsState {
            target_group: tg.name.clone(),
            targets,
        }));
    }

    // ---------------------------------------------------------------- load balancers
    for lb in &spec.load_balancers {
        let mut subnets = Vec::new();
        for zone in lb.nodes.keys() {
            match aws.subnets.get(zone) {
                Some(s) => subnets.push(s.clone()),
                None => problems.push(format!(
                    "load balancer {}: zone {zone:?} has no subnet in [aws] subnets",
                    lb.name
                )),
            }
        }
        subnets.sort();
        subnets.dedup();
        if subnets.len() < 2 {
            problems.push(format!(
                "load balancer {}: an Application Load Balancer needs subnets in at least two zones ([aws] subnets for its nodes' zones)",
                lb.name
            ));
        }
        notes.push(format!(
            "load balancer {}: dns_name {:?} and nodes are local only; distributions' origins that name it get its AWS DNS name",
            lb.name, lb.dns_name
        ));
        resources.push(Body::LoadBalancer(elbv2::load_balancer_state(
            lb,
            subnets,
            &aws.security_groups,
        )));
        for l in &lb.listeners {
            let what = format!("listener {}:{}", lb.name, l.port);
            let certificate_arn =
                listener_certificate(l.protocol, l.port, &aws.listener_certificates);
            if l.protocol == ListenerProtocol::HTTPS && certificate_arn.is_none() {
                problems.push(format!(
                    "{what}: an HTTPS listener needs an ACM certificate: add `{} = \"arn:aws:acm:...\"` to [aws] listener_certificates",
                    l.port
                ));
            }
            if l.default_certificate.is_some() || !l.certificates.is_empty() {
                notes.push(format!(
                    "{what}: certificate files are local only (AWS uses [aws] listener_certificates)"
                ));
            }
            resources.push(Body::Listener(ListenerState {
                load_balancer: lb.name.clone(),
                port: l.port,
                protocol: l.protocol,
                ssl_policy: l
                    .ssl_policy
                    .clone()
                    .filter(|p| p != elbv2::DEFAULT_SSL_POLICY),
                certificate_arn,
                alpn_policy: l.alpn_policy.clone().filter(|a| a != "None"),
                default_actions: elbv2::canonical_actions(&what, &l.default_actions, refs)?,
                attributes: elbv2::listener_attributes(&l.attributes),
            }));
            for r in &l.rules {
                let what = format!("{what} priority {}", r.priority);
                resources.push(Body::Rule(RuleState {
                    load_balancer: lb.name.clone(),
                    port: l.port,
                    priority: r.priority,
                    conditions: elbv2::canonical_conditions(&what, &r.conditions)?,
                    actions: elbv2::canonical_actions(&what, &r.actions, refs)?,
                }));
            }
        }
    }

    // ---------------------------------------------------------------- distributions
    for d in &spec.distributions {
        let viewer_certificate = if d.aliases.is_empty() {
            None
        } else {
            match &aws.viewer_certificate {
                Some(vc) => {
                    if let Some(arn) = &vc.acm_certificate_arn {
                        if arn_region(arn) != Some("us-east-1") {
                            problems.push(format!(
                                "[aws] viewer_certificate.acm_certificate_arn: CloudFront only uses ACM certificates from us-east-1, not {arn:?}"
                            ));
                        }
                    } else if vc.iam_certificate_id.is_none() {
                        problems.push(format!(
                            "distribution {}: aliases need a certificate that covers them: set [aws] viewer_certificate.acm_certificate_arn",
                            d.id
                        ));
                    }
                    Some(vc.clone())
                }
                None => {
                    problems.push(format!(
                        "distribution {}: aliases need a certificate that covers them: set [aws] viewer_certificate.acm_certificate_arn (us-east-1)",
                        d.id
                    ));
                    None
                }
            }
        };
        for o in &d.origins {
            if o.domain_name
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok()
            {
                problems.push(format!(
                    "distribution {}: origin {}: domain_name {} is an IP address, and CloudFront takes a DNS name (InvalidArgument): name the origin (locally, map the name to the address in [resolve])",
                    d.id, o.id, o.domain_name
                ));
            }
        }
        if d.origins.iter().any(|o| {
            o.custom_origin_config
                .as_ref()
                .is_some_and(|c| c.ca_bundle.is_some())
        }) {
            notes.push(format!(
                "distribution {}: origins' ca_bundle is local only (CloudFront trusts public CAs)",
                d.id
            ));
        }
        if viewer_certificate.is_none()
            && d.minimum_protocol_version != spec::MinimumProtocolVersion::default()
        {
            notes.push(format!(
                "distribution {}: minimum_protocol_version applies only with a certificate of your own; CloudFront's default certificate allows TLSv1",
                d.id
            ));
        }
        let state = DistributionState {
            distribution: d.clone(),
            viewer_certificate,
        };
        resources.push(Body::Distribution(Box::new(distribution::canonical(
            &state, refs,
        )?)));
    }

    if problems.is_empty() {
        Ok(Desired {
            stack: spec.stack.clone(),
            resources,
            notes,
        })
    } else {
        Err(ProvisionError::Invalid(problems.join("\n")))
    }
}

/// Whether every target of the group is an IP address (and it has some).
fn targets_are_ips(tg: &spec::TargetGroup) -> bool {
    !tg.targets.is_empty() && tg.targets.iter().all(|t| t.id.parse::<IpAddr>().is_ok())
}

/// The target group as it is provisioned in the VPC `vpc_id`: one whose `target_type` is not set
/// and whose targets are IP addresses is an `ip` group.
pub fn target_group(tg: &spec::TargetGroup, vpc_id: Option<&str>) -> elbv2::TargetGroupState {
    if tg.target_type.is_none() && targets_are_ips(tg) {
        let mut tg = tg.clone();
        tg.target_type = Some(TargetType::Ip);
        return elbv2::target_group_state(&tg, vpc_id);
    }
    elbv2::target_group_state(tg, vpc_id)
}

/// AWS's default quotas that the topology goes beyond. They can be raised (Service Quotas), so
/// these are notes, not refusals: the apply fails part-way unless the account's quota was raised.
fn above_default_quotas(spec: &Spec) -> Vec<String> {
    let mut notes = Vec::new();
    let mut over = |what: String, count: usize, quota: usize, service: &str| {
        if count > quota {
            notes.push(format!(
                "{what}: {count}, above {service}'s default quota of {quota}: check that the account's quota was raised (Service Quotas), or the apply stops there"
            ));
        }
    };
    for d in &spec.distributions {
        let name = format!("distribution {}", d.id);
        over(
            format!("{name}: origins"),
            d.origins.len(),
            25,
            "CloudFront",
        );
        over(
            format!("{name}: cache behaviors"),
            d.cache_behaviors.len(),
            25,
            "CloudFront",
        );
    }
    for lb in &spec.load_balancers {
        let name = format!("load balancer {}", lb.name);
        over(format!("{name}: listeners"), lb.listeners.len(), 50, "ALB");
        let rules = lb.listeners.iter().map(|l| l.rules.len()).sum();
        over(format!("{name}: rules"), rules, 100, "ALB");
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_listeners_have_a_certificate() {
        let certificates =
            std::collections::BTreeMap::from([("443".to_string(), "arn".to_string())]);
        assert_eq!(
            listener_certificate(ListenerProtocol::HTTPS, 443, &certificates).as_deref(),
            Some("arn")
        );
        assert_eq!(
            listener_certificate(ListenerProtocol::HTTP, 443, &certificates),
            None
        );
        assert_eq!(
            listener_certificate(ListenerProtocol::HTTPS, 8443, &certificates),
            None
        );
    }

    #[test]
    fn acm_arn_regions() {
        assert_eq!(
            arn_region("arn:aws:acm:us-east-1:111122223333:certificate/abc"),
            Some("us-east-1")
        );
        assert_eq!(arn_region("arn:aws:iam::1:server-certificate/x"), None);
    }

    #[test]
    fn going_beyond_a_default_quota_is_a_note() {
        let mut text = String::from(
            "stack = \"s\"\n[aws]\nregion = \"eu-west-1\"\n[[load_balancers]]\nname = \"alb\"\ndns_name = \"alb.internal\"\nnodes = { a = \"127.0.0.1\" }\n",
        );
        for (listener, rules) in [(8080, 60), (8081, 41)] {
            text += &format!("[[load_balancers.listeners]]\nport = {listener}\nprotocol = \"HTTP\"\ndefault_actions = []\n");
            for priority in 1..=rules {
                text += &format!("[[load_balancers.listeners.rules]]\npriority = {priority}\nconditions = []\nactions = []\n");
            }
        }
        let notes = |text: &str| {
            let spec: Spec = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
            above_default_quotas(&spec)
        };
        assert_eq!(
            notes(&text),
            ["load balancer alb: rules: 101, above ALB's default quota of 100: check that the account's quota was raised (Service Quotas), or the apply stops there"]
        );
        let at_quota = text.replacen(
            "[[load_balancers.listeners.rules]]\npriority = 41\nconditions = []\nactions = []\n",
            "",
            1,
        );
        assert_eq!(notes(&at_quota), Vec::<String>::new());
    }

    /// What AWS refuses at CreateOriginRequestPolicy, CreateTargetGroup, RegisterTargets and
    /// CreateDistribution is refused by the plan, before anything changes.
    #[test]
    fn what_aws_refuses_half_way_is_refused_by_the_plan() {
        const BASE: &str = r#"
stack = "s"
[aws]
region = "eu-west-1"
vpc_id = "vpc-1"
"#;
        let cases: [(&str, Option<&str>); 10] = [
            (
                "[[distributions]]\nid = \"site\"\n[[distributions.origins]]\nid = \"o\"\ndomain_name = \"127.0.0.1\"\n[distributions.default_cache_behavior]\ntarget_origin_id = \"o\"\nviewer_protocol_policy = \"allow-all\"",
                Some("distribution site: origin o: domain_name 127.0.0.1 is an IP address"),
            ),
            (
                "[[distributions]]\nid = \"site\"\n[[distributions.origins]]\nid = \"o\"\ndomain_name = \"origin.example.com\"\n[distributions.default_cache_behavior]\ntarget_origin_id = \"o\"\nviewer_protocol_policy = \"allow-all\"",
                None,
            ),
            (
                "[[origin_request_policies]]\nname = \"auth\"\nheaders_config = { header_behavior = \"whitelist\", headers = [\"authorization\"] }",
                Some("origin request policy auth: CloudFront refuses Authorization"),
            ),
            (
                "[[origin_request_policies]]\nname = \"all-but-auth\"\nheaders_config = { header_behavior = \"allExcept\", headers = [\"Authorization\"] }",
                None,
            ),
            (
                "[[origin_request_policies]]\nname = \"lang\"\nheaders_config = { header_behavior = \"whitelist\", headers = [\"Accept-Language\"] }",
                None,
            ),
            (
                "[[target_groups]]\nname = \"web\"\nport = 80\nhealth_check = { enabled = false }\ntargets = [{ id = \"10.0.0.1\", zone = \"a\" }]",
                Some("target group web: health_check.enabled = false"),
            ),
            (
                "[[target_groups]]\nname = \"web\"\nport = 80\ntarget_type = \"alb\"\nhealth_check = { enabled = false }",
                Some("target group web: health_check.enabled = false"),
            ),
            (
                "[[target_groups]]\nname = \"fn\"\nport = 80\ntarget_type = \"lambda\"\nhealth_check = { enabled = false }",
                None,
            ),
            (
                "[[target_groups]]\nname = \"web\"\nport = 80\ntarget_type = \"instance\"\ntargets = [{ id = \"10.0.0.1\", zone = \"a\" }]",
                Some("target group web: target_type \"instance\" registers EC2 instance ids"),
            ),
            (
                "[[target_groups]]\nname = \"web\"\nport = 80\ntarget_type = \"ip\"\ntargets = [{ id = \"10.0.0.1\", zone = \"a\" }]",
                None,
            ),
        ];
        for (block, refused) in cases {
            let text = format!("{BASE}\n{block}\n");
            let spec: Spec = toml::from_str(&text).unwrap_or_else(|e| panic!("{block}: {e}"));
            match (desired(&spec, &Refs::new()), refused) {
                (Ok(_), None) => {}
                (Err(ProvisionError::Invalid(why)), Some(expected)) => {
                    assert!(why.contains(expected), "{block}: {why}")
                }
                (Ok(_), Some(expected)) => panic!("{block}: planned, not refused ({expected})"),
                (Err(e), _) => panic!("{block}: {e}"),
            }
        }
    }
}
