//! What AWS requires of the account, looked up before anything changes: that the load balancers'
//! subnets exist in the topology's VPC and span two availability zones, that `ip` targets are
//! addresses AWS registers (from the VPC's CIDR blocks or the private ranges), and that the ACM
//! certificates exist, are issued, and (for distributions) cover every alias. It also finds the
//! `ip` targets outside the VPC's subnets, which AWS registers only with the Availability Zone
//! `all`. The rules are pure functions of the looked-up facts; `check` does the lookups (EC2
//! DescribeSubnets and DescribeVpcs, ACM DescribeCertificate), concurrently.

use crate::aws::{aws_error, every_page, Clients};
use crate::error::Result;
use ferry_config::spec::{Spec, TargetType};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// A subnet as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub zone: String,
}

/// A certificate as ACM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub status: String,
    /// The domain name and the subject alternative names.
    pub names: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Findings {
    /// What AWS would refuse: nothing is changed while there is one.
    pub problems: Vec<String>,
    /// `(target group, address)` of each `ip` target in none of the VPC's subnets: AWS cannot tell
    /// its zone, and registers it only with `AvailabilityZone = "all"` (and refuses `all` for one
    /// inside a subnet).
    pub outside_subnets: BTreeSet<(String, String)>,
}

/// The VPC's address space as EC2 describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vpc {
    /// Its IPv4 CIDR blocks, the first and the associated ones.
    pub blocks: Vec<Cidr>,
    /// The IPv4 CIDR blocks of its subnets: AWS finds an `ip` target's zone from the one that
    /// holds it (an address in a block but in no subnet is "not in the VPC" to RegisterTargets).
    pub subnets: Vec<Cidr>,
}

/// Whether a certificate name covers a host: exactly, or as a wildcard for one leftmost label
/// (`*.example.com` covers `www.example.com`, not `example.com` nor `a.b.example.com`).
pub fn covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(parent), Some((label, rest))) => !label.is_empty() && rest == parent,
        _ => false,
    }
}

/// The subnets' rules: each exists, lies in the VPC, and each load balancer spans two zones.
pub fn subnet_problems(spec: &Spec, found: &BTreeMap<String, Subnet>, findings: &mut Findings) {
    let Some(aws) = &spec.aws else { return };
    for (zone, id) in &aws.subnets {
        match found.get(id) {
            None => findings.problems.push(format!(
                "[aws] subnets.{zone}: subnet {id} does not exist in {}",
                aws.region
            )),
            Some(s) => {
                if let Some(vpc) = aws.vpc_id.as_ref().filter(|v| **v != s.vpc_id) {
                    findings.problems.push(format!(
                        "[aws] subnets.{zone}: subnet {id} is in {}, not in [aws] vpc_id {vpc}",
                        s.vpc_id
                    ));
                }
            }
        }
    }
    for lb in &spec.load_balancers {
        let subnets: Vec<&Subnet> = lb
            .nodes
            .keys()
            .filter_map(|zone| aws.subnets.get(zone))
            .filter_map(|id| found.get(id))
            .collect();
        let zones: BTreeSet<&str> = subnets.iter().map(|s| s.zone.as_str()).collect();
        if subnets.len() >= 2 && zones.len() < 2 {
            findings.problems.push(format!(
                "load balancer {}: its subnets ({}) are all in {}; an Application Load Balancer needs subnets in at least two availability zones",
                lb.name,
                subnets.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", "),
                zones.iter().next().copied().unwrap_or_default()
            ));
        }
    }
}

/// An IPv4 network, `address/length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    length: u32,
}

impl Cidr {
    /// `a.b.c.d/n`, as EC2 gives a VPC's CIDR blocks; `None` for anything else (IPv6 blocks).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, length) = text.split_once('/')?;
        let length: u32 = length.parse().ok().filter(|l| *l <= 32)?;
        let base = u32::from(address.parse::<Ipv4Addr>().ok()?);
        Some(Cidr { base, length })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX.checked_shl(32 - self.length).unwrap_or(0);
        u32::from(ip) & mask == self.base & mask
    }
}

/// Where `ip` targets may be from beside the VPC's own blocks: RFC 1918 and RFC 6598 (AWS refuses
/// publicly routable, loopback and link-local addresses).
const TARGET_RANGES: [&str; 4] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

/// The `ip` targets' rule: each IPv4 target is in one of the VPC's CIDR blocks (`vpc`, `None` when
/// the VPC does not exist, itself a problem) or in the private ranges AWS accepts from outside it.
/// Those in none of its subnets go to `findings.outside_subnets`.
pub fn target_problems(spec: &Spec, vpc: Option<&Vpc>, findings: &mut Findings) {
    let Some(aws) = &spec.aws else { return };
    let Some(vpc) = vpc else {
        if let Some(id) = &aws.vpc_id {
            findings.problems.push(format!(
                "[aws] vpc_id: VPC {id} does not exist in {}",
                aws.region
            ));
        }
        return;
    };
    let ranges: Vec<Cidr> = TARGET_RANGES
        .iter()
        .filter_map(|r| Cidr::parse(r))
        .collect();
    for tg in &spec.target_groups {
        let provisioned = crate::desired::target_group(tg, None);
        if provisioned.target_type != Some(TargetType::Ip) {
            continue;
        }
        for t in &tg.targets {
            let Ok(ip) = t.id.parse::<Ipv4Addr>() else {
                continue;
            };
            if !vpc.blocks.iter().chain(&ranges).any(|c| c.contains(ip)) {
                findings.problems.push(format!(
                    "target group {}: target {ip} is not an address AWS registers: an ip target comes from the VPC's CIDR blocks or from 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10 (not loopback, link-local or public addresses)",
                    tg.name
                ));
            } else if !vpc.subnets.iter().any(|c| c.contains(ip)) {
                findings
                    .outside_subnets
                    .insert((tg.name.clone(), t.id.clone()));
            }
        }
    }
}

/// The certificates' rules: found and issued; a distribution's covers each of its aliases.
pub fn certificate_problems(
    spec: &Spec,
    viewer: Option<&Certificate>,
    listeners: &BTreeMap<String, Option<Certificate>>,
    findings: &mut Findings,
) {
    let Some(aws) = &spec.aws else { return };
    let issued = |what: String, c: &Certificate, findings: &mut Findings| {
        if c.status != "ISSUED" {
            findings.problems.push(format!(
                "{what} is {}, not ISSUED: AWS serves only issued certificates",
                c.status
            ));
        }
    };
    if let Some(arn) = aws
        .viewer_certificate
        .as_ref()
        .and_then(|v| v.acm_certificate_arn.as_ref())
    {
        let aliases: Vec<(&str, &str)> = spec
            .distributions
            .iter()
            .flat_map(|d| d.aliases.iter().map(move |a| (d.id.as_str(), a.as_str())))
            .collect();
        if !aliases.is_empty() {
            match viewer {
                None => findings.problems.push(format!(
                    "[aws] viewer_certificate.acm_certificate_arn: {arn} does not exist in ACM (us-east-1)"
                )),
                Some(c) => {
                    issued(format!("[aws] viewer_certificate: certificate {arn}"), c, findings);
                    for (id, alias) in aliases {
                        if !c.names.iter().any(|n| covers(n, alias)) {
                            findings.problems.push(format!(
                                "distribution {id}: alias {alias} is not covered by certificate {arn} (it names {})",
                                c.names.join(", ")
                            ));
                        }
                    }
                }
            }
        }
    }
    for (port, arn) in &aws.listener_certificates {
        match listeners.get(arn) {
            Some(Some(c)) => issued(
                format!("[aws] listener_certificates.{port}: certificate {arn}"),
                c,
                findings,
            ),
            _ => findings.problems.push(format!(
                "[aws] listener_certificates.{port}: {arn} does not exist in ACM ({})",
                aws.region
            )),
        }
    }
}

async fn describe_subnets(clients: &Clients, ids: Vec<String>) -> Result<BTreeMap<String, Subnet>> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    // A filter, not SubnetIds: an unknown id is then missing from the answer, not an error.
    let out = clients
        .ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("subnet-id")
                .set_values(Some(ids))
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("DescribeSubnets", "", e))?;
    Ok(out
        .subnets
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| {
            let id = s.subnet_id?;
            Some((
                id.clone(),
                Subnet {
                    id,
                    vpc_id: s.vpc_id.unwrap_or_default(),
                    zone: s.availability_zone.unwrap_or_default(),
                },
            ))
        })
        .collect())
}

/// The IPv4 CIDR blocks of the VPC `id` and of its subnets, or `None` when EC2 does not know it.
async fn describe_vpc(clients: &Clients, id: &str) -> Result<Option<Vpc>> {
    let by_vpc = || {
        aws_sdk_ec2::types::Filter::builder()
            .name("vpc-id")
            .values(id)
            .build()
    };
    // A filter, not VpcIds: an unknown id is then missing from the answer, not an error.
    let (vpcs, subnets) = tokio::join!(
        clients.ec2.describe_vpcs().filters(by_vpc()).send(),
        every_page(|token| async move {
            let page = clients
                .ec2
                .describe_subnets()
                .filters(by_vpc())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("DescribeSubnets", id, e))?;
            let blocks = page
                .subnets
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s.cidr_block.as_deref().and_then(Cidr::parse))
                .collect();
            Ok((blocks, page.next_token))
        })
    );
    let vpcs = vpcs.map_err(|e| aws_error("DescribeVpcs", id, e))?;
    let subnets = subnets?;
    Ok(vpcs.vpcs.unwrap_or_default().into_iter().next().map(|vpc| {
        let mut blocks: Vec<Cidr> = vpc
            .cidr_block
            .as_deref()
            .and_then(Cidr::parse)
            .into_iter()
            .collect();
        for association in vpc.cidr_block_association_set.unwrap_or_default() {
            if let Some(block) = association.cidr_block.as_deref().and_then(Cidr::parse) {
                if !blocks.contains(&block) {
                    blocks.push(block);
                }
            }
        }
        Vpc { blocks, subnets }
    }))
}

/// A certificate, or `None` when ACM does not know it.
async fn describe_certificate(
    client: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<Certificate>> {
    match client
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(out.certificate.map(|c| {
            let mut names: Vec<String> = c.domain_name.into_iter().collect();
            for san in c.subject_alternative_names.unwrap_or_default() {
                if !names.contains(&san) {
                    names.push(san);
                }
            }
            Certificate {
                status: c.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                names,
            }
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("DescribeCertificate", arn, e)),
    }
}

/// Looks up what the topology relies on and checks it.
pub async fn check(clients: &Clients, spec: &Spec) -> Result<Findings> {
    let mut findings = Findings::default();
    let Some(aws) = &spec.aws else {
        return Ok(findings);
    };
    let subnet_ids: Vec<String> = if spec.load_balancers.is_empty() {
        Vec::new()
    } else {
        aws.subnets.values().cloned().collect()
    };
    let viewer_arn = aws
        .viewer_certificate
        .as_ref()
        .and_then(|v| v.acm_certificate_arn.clone())
        .filter(|_| spec.distributions.iter().any(|d| !d.aliases.is_empty()));
    let listener_arns: BTreeSet<String> = aws.listener_certificates.values().cloned().collect();
    let vpc_id = aws
        .vpc_id
        .as_deref()
        .filter(|_| !spec.target_groups.is_empty());
    let (subnets, vpc, viewer, listeners) = tokio::join!(
        describe_subnets(clients, subnet_ids),
        async {
            match vpc_id {
                Some(id) => describe_vpc(clients, id).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &viewer_arn {
                Some(arn) => describe_certificate(&clients.acm_us_east_1, arn).await,
                None => Ok(None),
            }
        },
        futures::future::join_all(listener_arns.iter().map(|arn| async move {
            (arn.clone(), describe_certificate(&clients.acm, arn).await)
        }))
    );
    let subnets = subnets?;
    let vpc = vpc?;
    let viewer = viewer?;
    let mut by_arn = BTreeMap::new();
    for (arn, found) in listeners {
        by_arn.insert(arn, found?);
    }
    if !spec.load_balancers.is_empty() {
        subnet_problems(spec, &subnets, &mut findings);
    }
    if let Some(vpc) = vpc {
        target_problems(spec, vpc.as_ref(), &mut findings);
    }
    certificate_problems(spec, viewer.as_ref(), &by_arn, &mut findings);
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_cover_hosts_as_acm_does() {
        let cases = [
            ("www.example.com", "www.example.com", true),
            ("WWW.Example.com", "www.example.COM", true),
            ("*.example.com", "www.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", "a.b.example.com", false),
            ("*.example.com", ".example.com", false),
            ("example.com", "www.example.com", false),
        ];
        for (name, host, expected) in cases {
            assert_eq!(covers(name, host), expected, "{name} covers {host}");
        }
    }

    fn spec(text: &str) -> Spec {
        toml::from_str(text).unwrap()
    }

    const TOPOLOGY: &str = r#"
stack = "s"

[[distributions]]
id = "site"
aliases = ["www.example.com", "api.example.com"]
  [[distributions.origins]]
  id = "o"
  domain_name = "origin.example.com"
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = { a = "127.0.0.1", b = "127.0.0.2" }
  [[load_balancers.listeners]]
  port = 443
  protocol = "HTTP"
  default_actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200" } }]

[aws]
region = "eu-west-1"
vpc_id = "vpc-1"
subnets = { a = "subnet-a", b = "subnet-b" }
viewer_certificate = { acm_certificate_arn = "arn:aws:acm:us-east-1:1:certificate/v" }
listener_certificates = { 443 = "arn:aws:acm:eu-west-1:1:certificate/l" }
"#;

    fn subnet(id: &str, vpc: &str, zone: &str) -> (String, Subnet) {
        (
            id.to_string(),
            Subnet {
                id: id.into(),
                vpc_id: vpc.into(),
                zone: zone.into(),
            },
        )
    }

    #[test]
    fn subnets_must_exist_in_the_vpc_and_span_two_zones() {
        let s = spec(TOPOLOGY);
        type Case = (Vec<(String, Subnet)>, &'static [&'static str]);
        let cases: [Case; 4] = [
            (
                vec![
                    subnet("subnet-a", "vpc-1", "eu-west-1a"),
                    subnet("subnet-b", "vpc-1", "eu-west-1b"),
                ],
                &[],
            ),
            (
                vec![
                    subnet("subnet-a", "vpc-1", "eu-west-1a"),
                    subnet("subnet-b", "vpc-1", "eu-west-1a"),
                ],
                &["load balancer alb: its subnets (subnet-a, subnet-b) are all in eu-west-1a"],
            ),
            (
                vec![subnet("subnet-a", "vpc-1", "eu-west-1a")],
                &["[aws] subnets.b: subnet subnet-b does not exist in eu-west-1"],
            ),
            (
                vec![
                    subnet("subnet-a", "vpc-1", "eu-west-1a"),
                    subnet("subnet-b", "vpc-2", "eu-west-1b"),
                ],
                &["[aws] subnets.b: subnet subnet-b is in vpc-2, not in [aws] vpc_id vpc-1"],
            ),
        ];
        for (found, expected) in cases {
            let mut f = Findings::default();
            subnet_problems(&s, &found.into_iter().collect(), &mut f);
            assert_eq!(f.problems.len(), expected.len(), "{:?}", f.problems);
            for (got, want) in f.problems.iter().zip(expected) {
                assert!(got.starts_with(want), "{got} / {want}");
            }
        }
    }

    #[test]
    fn certificates_must_be_issued_and_cover_every_alias() {
        let s = spec(TOPOLOGY);
        let cert = |status: &str, names: &[&str]| Certificate {
            status: status.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        let listener = |c: Option<Certificate>| {
            [("arn:aws:acm:eu-west-1:1:certificate/l".to_string(), c)]
                .into_iter()
                .collect::<BTreeMap<_, _>>()
        };
        let run = |viewer: Option<Certificate>, l: Option<Certificate>| {
            let mut f = Findings::default();
            certificate_problems(&s, viewer.as_ref(), &listener(l), &mut f);
            f.problems
        };
        let good = cert("ISSUED", &["example.com", "*.example.com"]);
        assert!(run(Some(good.clone()), Some(good.clone())).is_empty());
        let p = run(
            Some(cert("ISSUED", &["www.example.com"])),
            Some(good.clone()),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("distribution site: alias api.example.com is not covered"));
        let p = run(None, Some(cert("PENDING_VALIDATION", &["x"])));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("does not exist in ACM (us-east-1)"), "{p:?}");
        assert!(p[1].contains("is PENDING_VALIDATION, not ISSUED"), "{p:?}");
        let p = run(Some(good), None);
        assert!(p[0].starts_with("[aws] listener_certificates.443: arn:aws:acm:eu-west-1:1:certificate/l does not exist in ACM (eu-west-1)"), "{p:?}");
    }

    #[test]
    fn ip_targets_come_from_the_vpc_or_the_private_ranges() {
        let cidr = |t: &str| Cidr::parse(t).unwrap_or_else(|| panic!("{t}"));
        assert!(cidr("10.1.0.0/16").contains("10.1.255.1".parse().unwrap()));
        assert!(!cidr("10.1.0.0/16").contains("10.2.0.1".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::parse("2600:1f18::/56"), None);
        let s = spec(
            r#"
stack = "s"
[[target_groups]]
name = "web"
port = 80
targets = [{ id = "10.1.0.5", zone = "a" }, { id = "192.168.7.7", zone = "a" }, { id = "100.64.0.1", zone = "a" }, { id = "127.0.0.1", zone = "a" }, { id = "8.8.8.8", zone = "a" }, { id = "169.254.0.1", zone = "a" }, { id = "54.0.0.1", zone = "a" }]
[[target_groups]]
name = "hosts"
port = 80
target_type = "instance"
targets = [{ id = "i-0123456789abcdef0", zone = "a" }]
[aws]
region = "us-east-1"
vpc_id = "vpc-1"
"#,
        );
        let vpc = Vpc {
            blocks: vec![cidr("54.0.0.0/24"), cidr("10.1.0.0/16")],
            subnets: vec![cidr("10.1.0.0/24")],
        };
        let mut findings = Findings::default();
        target_problems(&s, Some(&vpc), &mut findings);
        let refused: Vec<&str> = findings
            .problems
            .iter()
            .map(|p| p.split(' ').nth(4).unwrap_or_default())
            .collect();
        assert_eq!(
            refused,
            ["127.0.0.1", "8.8.8.8", "169.254.0.1"],
            "{:#?}",
            findings.problems
        );
        // In the VPC's blocks or the private ranges, but in none of its subnets: zone "all".
        let outside: Vec<&str> = findings
            .outside_subnets
            .iter()
            .map(|(tg, ip)| {
                assert_eq!(tg, "web");
                ip.as_str()
            })
            .collect();
        assert_eq!(outside, ["100.64.0.1", "192.168.7.7", "54.0.0.1"]);
        let mut findings = Findings::default();
        target_problems(&s, None, &mut findings);
        assert_eq!(
            findings.problems,
            ["[aws] vpc_id: VPC vpc-1 does not exist in us-east-1"]
        );
    }
}
