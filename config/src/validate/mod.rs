//! From the serde layer to the validated `Topology`: every check AWS makes (and the ones a local run
//! needs), with every error collected rather than only the first.

mod attributes;
mod balancer;
mod edge;

use crate::error::{Diagnostic, FieldPath};
use crate::model::{DemoTarget, Topology};
use crate::source::Source;
use crate::spec::Spec;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub(crate) struct Ctx<'s, 'a> {
    source: &'s Source<'a>,
    errors: Vec<Diagnostic>,
}

impl Ctx<'_, '_> {
    pub(crate) fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        let diagnostic = self.source.at(path, message);
        self.errors.push(diagnostic);
    }

    /// Records an error when `value` is outside `lo..=hi` (AWS's documented range).
    pub(crate) fn range<T: PartialOrd + Display + Copy>(
        &mut self,
        path: &FieldPath,
        value: T,
        lo: T,
        hi: T,
    ) -> T {
        if value < lo || value > hi {
            self.error(
                path,
                format!("{value} is out of range: allowed {lo} to {hi}"),
            );
        }
        value
    }

    /// Records an error for each name seen twice.
    pub(crate) fn unique<'n>(
        &mut self,
        what: &str,
        items: impl IntoIterator<Item = (FieldPath, &'n str)>,
    ) -> HashMap<&'n str, usize> {
        let mut seen = HashMap::new();
        for (i, (path, name)) in items.into_iter().enumerate() {
            if seen.insert(name, i).is_some() {
                self.error(
                    &path,
                    format!("duplicate {what} `{name}`: each must be unique"),
                );
            }
        }
        seen
    }

    /// Records an error when `value` is not one of `allowed`, an AWS enum (exact, as AWS compares).
    pub(crate) fn one_of(&mut self, path: &FieldPath, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            let hint = crate::suggest::closest(value, allowed.iter().copied())
                .map(|c| format!(": did you mean `{c}`?"))
                .unwrap_or_default();
            self.error(
                path,
                format!("`{value}` is not one of {}{hint}", allowed.join(", ")),
            );
        }
    }

    pub(crate) fn socket_addr(&mut self, path: &FieldPath, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    path,
                    format!("`{text}` is not an address:port such as 127.0.0.1:8080"),
                );
                None
            }
        }
    }

    pub(crate) fn ip(&mut self, path: &FieldPath, text: &str) -> Option<IpAddr> {
        match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(path, format!("`{text}` is not an IP address"));
                None
            }
        }
    }
}

pub fn validate(
    spec: Spec,
    source: &Source<'_>,
    base_dir: &Path,
) -> Result<Topology, Vec<Diagnostic>> {
    let mut ctx = Ctx {
        source,
        errors: Vec::new(),
    };
    let root = FieldPath::root();
    if spec.stack.is_empty()
        || spec.stack.len() > 128
        || !spec
            .stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/=+@ ".contains(c))
    {
        ctx.error(
            &root.key("stack"),
            "the stack name is the value of the `ferry:stack` tag: 1 to 128 letters, digits, spaces and `-_.:/=+@`",
        );
    }

    let mut resolve: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for (name, addresses) in &spec.resolve {
        let path = root.key("resolve").key(name);
        if addresses.is_empty() {
            ctx.error(&path, "give at least one address");
        }
        let ips: Vec<IpAddr> = addresses
            .iter()
            .enumerate()
            .filter_map(|(i, a)| ctx.ip(&path.index(i), a))
            .collect();
        resolve.insert(name.to_ascii_lowercase(), ips);
    }

    let target_groups = balancer::target_groups(&mut ctx, &spec);
    let load_balancers =
        balancer::load_balancers(&mut ctx, &spec, &target_groups, &mut resolve, base_dir);
    let (edge, distributions) = edge::edge_and_distributions(&mut ctx, &spec, base_dir);

    let mut demo_targets = Vec::new();
    for (i, demo) in spec.demo_targets.iter().enumerate() {
        let path = root.key("demo_targets").index(i);
        if let Some(listen) = ctx.socket_addr(&path.key("listen"), &demo.listen) {
            demo_targets.push(DemoTarget {
                name: demo.name.clone(),
                listen,
            });
        }
    }
    ctx.unique(
        "demo target name",
        spec.demo_targets.iter().enumerate().map(|(i, d)| {
            (
                root.key("demo_targets").index(i).key("name"),
                d.name.as_str(),
            )
        }),
    );
    if let Some(aws) = &spec.aws {
        check_aws(&mut ctx, aws, &spec);
    }

    if !ctx.errors.is_empty() {
        let mut errors = ctx.errors;
        errors.sort_by_key(|d| (d.line, d.column));
        errors.dedup();
        return Err(errors);
    }
    Ok(Topology {
        base_dir: base_dir.to_path_buf(),
        edge,
        resolve,
        distributions,
        load_balancers,
        target_groups,
        demo_targets,
        spec,
    })
}

fn check_aws(ctx: &mut Ctx<'_, '_>, aws: &crate::spec::AwsSection, spec: &Spec) {
    let path = FieldPath::root().key("aws");
    let zones: Vec<&String> = spec
        .load_balancers
        .iter()
        .flat_map(|lb| lb.nodes.keys())
        .collect();
    for zone in zones {
        if !aws.subnets.is_empty() && !aws.subnets.contains_key(zone) {
            ctx.error(
                &path.key("subnets"),
                format!("zone `{zone}` has a balancer node but no subnet: add `{zone} = \"subnet-...\"`"),
            );
        }
    }
    for (port, arn) in &aws.listener_certificates {
        let p = path.key("listener_certificates").key(port);
        if port.parse::<u16>().is_err() {
            ctx.error(&p, format!("`{port}` is not a listener port"));
        }
        if !arn.starts_with("arn:") {
            ctx.error(&p, "expected an ACM certificate ARN (arn:aws:acm:...)");
        }
    }
    if let Some(vc) = &aws.viewer_certificate {
        let p = path.key("viewer_certificate");
        let sources = [
            vc.acm_certificate_arn.is_some(),
            vc.iam_certificate_id.is_some(),
            vc.cloudfront_default_certificate,
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            ctx.error(
                &p,
                "set exactly one of acm_certificate_arn, iam_certificate_id, cloudfront_default_certificate",
            );
        }
        if let Some(arn) = &vc.acm_certificate_arn {
            // CloudFront only takes ACM certificates from us-east-1.
            if !arn.starts_with("arn:aws:acm:us-east-1:") {
                ctx.error(
                    &p.key("acm_certificate_arn"),
                    "CloudFront needs an ACM certificate in us-east-1 (arn:aws:acm:us-east-1:...)",
                );
            }
        }
        // CloudFront: "If you specify a value for ACMCertificateArn or for IAMCertificateId, you must
        // also specify a value for SSLSupportMethod."
        if vc.ssl_support_method.is_none()
            && (vc.acm_certificate_arn.is_some() || vc.iam_certificate_id.is_some())
        {
            ctx.error(
                &p.key("ssl_support_method"),
                "required with acm_certificate_arn or iam_certificate_id: sni-only, vip or static-ip",
            );
        }
    }
}
