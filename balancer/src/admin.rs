//! The balancer's part of the admin listener: ELBv2's query API for target health and
//! registration (`DescribeTargetHealth`, `RegisterTargets`, `DeregisterTargets`,
//! `DescribeTargetGroups`), wire-compatible so the AWS CLI works with `--endpoint-url`.

use crate::select::Groups;
use crate::targets::{Group, TargetState};
use ferry_config::admin::{Handler, Reply, Request};
use ferry_config::model::Target;
use ferry_config::rules::percent_decode;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

pub struct BalancerAdmin {
    pub groups: Arc<Groups>,
    pub region: String,
}

/// The ARN ferry gives a target group: stable for a name, in AWS's shape.
pub fn target_group_arn(region: &str, name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("arn:aws:elasticloadbalancing:{region}:000000000000:targetgroup/{name}/{hash:016x}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        "text/xml",
        format!("<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>ferry</RequestId></ErrorResponse>\n", escape(message)),
    )
}

fn ok(action: &str, result: &str) -> Reply {
    Reply::new(
        200,
        "text/xml",
        format!("<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>ferry</RequestId></ResponseMetadata></{action}Response>\n"),
    )
}

/// `Targets.member.N.Id`-style parameters: N -> (field -> value).
fn members<'a>(
    params: &'a BTreeMap<String, String>,
    prefix: &str,
) -> BTreeMap<usize, BTreeMap<&'a str, &'a str>> {
    let mut out: BTreeMap<usize, BTreeMap<&str, &str>> = BTreeMap::new();
    for (k, v) in params {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(n) = n.parse::<usize>() {
            out.entry(n).or_default().insert(field, v.as_str());
        }
    }
    out
}

impl BalancerAdmin {
    fn group(&self, arn: &str) -> Option<&Group> {
        self.groups
            .groups
            .iter()
            .find(|g| target_group_arn(&self.region, &g.config.name) == arn || g.config.name == arn)
    }

    fn targets_param(
        &self,
        params: &BTreeMap<String, String>,
        group: &Group,
    ) -> Result<Vec<Target>, Reply> {
        members(params, "Targets.member.")
            .into_values()
            .map(|m| {
                let id = m.get("Id").copied().unwrap_or("");
                let address: IpAddr = id.parse().map_err(|_| {
                    error(
                        400,
                        "ValidationError",
                        &format!("target id `{id}` is not an IP address"),
                    )
                })?;
                let port = match m.get("Port") {
                    Some(p) => p.parse::<u16>().map_err(|_| {
                        error(400, "ValidationError", &format!("port `{p}` is not valid"))
                    })?,
                    None => group.config.port,
                };
                let zone = m
                    .get("AvailabilityZone")
                    .map(|z| z.to_string())
                    .unwrap_or_else(|| "all".into());
                Ok(Target {
                    address,
                    port,
                    zone,
                })
            })
            .collect()
    }

    fn describe_health(&self, group: &Group, only: &[Target]) -> Reply {
        let targets = group.targets();
        let shown: Vec<&Arc<TargetState>> = targets
            .iter()
            .filter(|t| only.is_empty() || only.iter().any(|o| o.socket_addr() == t.address))
            .collect();
        let mut xml = String::from("<TargetHealthDescriptions>");
        for t in shown {
            let tracker = t.tracker.lock().map(|t| t.clone()).unwrap_or_default();
            let state = t.state();
            let mut view = tracker.clone();
            view.state = state;
            let port = group.config.health_check.port.unwrap_or(t.target.port);
            xml.push_str(&format!(
                "<member><Target><Id>{}</Id><Port>{}</Port><AvailabilityZone>{}</AvailabilityZone></Target><HealthCheckPort>{port}</HealthCheckPort><TargetHealth><State>{}</State>",
                t.target.address, t.target.port, escape(&t.target.zone), state.as_str()
            ));
            if let Some((reason, description)) = view.reason() {
                xml.push_str(&format!(
                    "<Reason>{reason}</Reason><Description>{}</Description>",
                    escape(&description)
                ));
            }
            xml.push_str("</TargetHealth></member>");
        }
        for o in only {
            if !targets.iter().any(|t| t.address == o.socket_addr()) {
                xml.push_str(&format!(
                    "<member><Target><Id>{}</Id><Port>{}</Port></Target><TargetHealth><State>unused</State><Reason>Target.NotRegistered</Reason><Description>Target is not registered to the target group</Description></TargetHealth></member>",
                    o.address, o.port
                ));
            }
        }
        xml.push_str("</TargetHealthDescriptions>");
        ok("DescribeTargetHealth", &xml)
    }

    fn describe_groups(&self, params: &BTreeMap<String, String>) -> Reply {
        let names: Vec<&str> = members(params, "Names.member.")
            .into_values()
            .filter_map(|m| m.get("").copied())
            .collect();
        let arns: Vec<&str> = members(params, "TargetGroupArns.member.")
            .into_values()
            .filter_map(|m| m.get("").copied())
            .collect();
        let mut xml = String::from("<TargetGroups>");
        for g in &self.groups.groups {
            let c = &g.config;
            let arn = target_group_arn(&self.region, &c.name);
            if (!names.is_empty() && !names.contains(&c.name.as_str()))
                || (!arns.is_empty() && !arns.contains(&arn.as_str()))
            {
                continue;
            }
            let hc = &c.health_check;
            let matcher: Vec<String> = hc
                .matcher
                .iter()
                .map(|(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            xml.push_str(&format!(
                "<member><TargetGroupArn>{arn}</TargetGroupArn><TargetGroupName>{}</TargetGroupName><Protocol>{:?}</Protocol><Port>{}</Port><TargetType>ip</TargetType><HealthCheckEnabled>{}</HealthCheckEnabled><HealthCheckProtocol>{:?}</HealthCheckProtocol><HealthCheckPort>{}</HealthCheckPort><HealthCheckPath>{}</HealthCheckPath><HealthCheckIntervalSeconds>{}</HealthCheckIntervalSeconds><HealthCheckTimeoutSeconds>{}</HealthCheckTimeoutSeconds><HealthyThresholdCount>{}</HealthyThresholdCount><UnhealthyThresholdCount>{}</UnhealthyThresholdCount><Matcher><HttpCode>{}</HttpCode></Matcher></member>",
                c.name, c.protocol, c.port, hc.enabled, hc.protocol,
                hc.port.map(|p| p.to_string()).unwrap_or_else(|| "traffic-port".into()),
                escape(&hc.path), hc.interval.as_secs(), hc.timeout.as_secs(), hc.healthy_threshold, hc.unhealthy_threshold,
                matcher.join(",")
            ));
        }
        xml.push_str("</TargetGroups>");
        ok("DescribeTargetGroups", &xml)
    }
}

impl Handler for BalancerAdmin {
    fn handle(&self, request: &Request<'_>) -> Option<Reply> {
        let form = if request.method == "POST" {
            request.body
        } else {
            request.query.unwrap_or("")
        };
        let params: BTreeMap<String, String> = form
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    percent_decode(k).into_owned(),
                    percent_decode(v).into_owned(),
                )
            })
            .collect();
        let action = params.get("Action")?.clone();
        let group = params
            .get("TargetGroupArn")
            .map(|arn| (arn, self.group(arn)));
        let reply = match (action.as_str(), group) {
            ("DescribeTargetGroups", _) => self.describe_groups(&params),
            (_, Some((arn, None))) => error(
                400,
                "TargetGroupNotFound",
                &format!("Target groups '{arn}' not found"),
            ),
            ("DescribeTargetHealth", Some((_, Some(g)))) => match self.targets_param(&params, g) {
                Ok(only) => self.describe_health(g, &only),
                Err(e) => e,
            },
            ("RegisterTargets", Some((_, Some(g)))) => match self.targets_param(&params, g) {
                Ok(targets) if !targets.is_empty() => {
                    g.register(&targets);
                    tracing::info!(group = %g.config.name, count = targets.len(), "targets registered");
                    ok("RegisterTargets", "")
                }
                Ok(_) => error(400, "ValidationError", "give at least one target"),
                Err(e) => e,
            },
            ("DeregisterTargets", Some((_, Some(g)))) => match self.targets_param(&params, g) {
                Ok(targets) if !targets.is_empty() => {
                    let addresses: Vec<SocketAddr> =
                        targets.iter().map(Target::socket_addr).collect();
                    let n = g.deregister(&addresses);
                    tracing::info!(group = %g.config.name, count = n, "targets deregistered");
                    ok("DeregisterTargets", "")
                }
                Ok(_) => error(400, "ValidationError", "give at least one target"),
                Err(e) => e,
            },
            (_, None) if action != "DescribeTargetGroups" => {
                error(400, "ValidationError", "TargetGroupArn is required")
            }
            _ => error(
                400,
                "InvalidAction",
                &format!("{action} is not served by ferry's admin listener"),
            ),
        };
        Some(reply)
    }
}
