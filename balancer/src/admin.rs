//! The balancer's part of the admin listener: ELBv2's query API, wire-compatible so the AWS CLI
//! and SDKs work with `--endpoint-url`: target health and registration (`DescribeTargetHealth`,
//! `RegisterTargets`, `DeregisterTargets`), and a read-only view of the topology
//! (`DescribeTargetGroups`, `DescribeLoadBalancers`, `DescribeListeners`, `DescribeRules`), with
//! ARNs made up from names; and the balancer's part of `GET /ferry/status`.

use crate::select::Groups;
use crate::targets::{Group, TargetState};
use ferry_config::admin::{Handler, Reply, Request};
use ferry_config::model::{Action, Condition, LoadBalancer, Target, Topology};
use ferry_config::rules::percent_decode;
use ferry_config::spec;
use ferry_config::time::iso8601;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
/// The account ferry writes into the ARNs it makes up.
const ACCOUNT: &str = "000000000000";

pub struct BalancerAdmin {
    pub groups: Arc<Groups>,
    pub region: String,
    load_balancers: Vec<Arc<LoadBalancer>>,
    /// The load balancers as written, for what the model does not keep (scheme).
    written: Vec<spec::LoadBalancer>,
    vpc_id: Option<String>,
    /// The zone whose nodes this process runs (`None`: every zone).
    zone: Option<String>,
    created: SystemTime,
}

impl BalancerAdmin {
    /// The admin handler of the balancer node(s) of `zone` (`None` = every zone).
    pub fn new(
        groups: Arc<Groups>,
        region: String,
        topology: &Topology,
        zone: Option<&str>,
    ) -> BalancerAdmin {
        BalancerAdmin {
            groups,
            region,
            load_balancers: topology.load_balancers.clone(),
            written: topology.spec.load_balancers.clone(),
            vpc_id: topology.spec.aws.as_ref().and_then(|a| a.vpc_id.clone()),
            zone: zone.map(str::to_string),
            created: SystemTime::now(),
        }
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The ARN ferry gives a target group: stable for a name, in AWS's shape.
pub fn target_group_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:targetgroup/{name}/{:016x}",
        fnv(name)
    )
}

/// The ARN ferry gives a load balancer.
pub fn load_balancer_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/app/{name}/{:016x}",
        fnv(name)
    )
}

/// The ARN ferry gives the listener on `port` of load balancer `lb`.
pub fn listener_arn(region: &str, lb: &str, port: u16) -> String {
    format!(
        "arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:listener/app/{lb}/{:016x}/{:016x}",
        fnv(lb),
        fnv(&format!("{lb}:{port}"))
    )
}

/// The ARN ferry gives a rule of a listener: by its priority, `None` for the default rule.
pub fn rule_arn(region: &str, lb: &str, port: u16, priority: Option<u32>) -> String {
    let rule = priority
        .map(|p| p.to_string())
        .unwrap_or_else(|| "default".into());
    format!(
        "arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:listener-rule/app/{lb}/{:016x}/{:016x}/{:016x}",
        fnv(lb),
        fnv(&format!("{lb}:{port}")),
        fnv(&format!("{lb}:{port}:{rule}"))
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn el(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", escape(text))
}

/// The query protocol's list shape: `<Tag><member>...</member>...</Tag>`; `items` already rendered.
fn members_xml(tag: &str, items: &[String]) -> String {
    let inner: String = items
        .iter()
        .map(|i| format!("<member>{i}</member>"))
        .collect();
    format!("<{tag}>{inner}</{tag}>")
}

fn text_members<S: AsRef<str>>(tag: &str, items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| escape(s.as_ref())).collect();
    members_xml(tag, &items)
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

/// AWS's message for a required parameter that is missing.
fn missing(parameter: &str) -> Reply {
    error(
        400,
        "ValidationError",
        &format!(
            "1 validation error detected: Value null at '{parameter}' failed to satisfy constraint: Member must not be null"
        ),
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

/// `Names.member.N`-style parameters, in order.
fn string_list<'a>(params: &'a BTreeMap<String, String>, prefix: &str) -> Vec<&'a str> {
    members(params, prefix)
        .into_values()
        .filter_map(|m| m.get("").copied())
        .collect()
}

fn json_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn listener_protocol(p: spec::ListenerProtocol) -> &'static str {
    match p {
        spec::ListenerProtocol::HTTP => "HTTP",
        spec::ListenerProtocol::HTTPS => "HTTPS",
    }
}

/// One rule of a listener, the default one last (priority `None`).
struct RuleRef<'a> {
    lb: &'a LoadBalancer,
    port: u16,
    priority: Option<u32>,
    conditions: &'a [Condition],
    action: &'a Action,
}

impl BalancerAdmin {
    fn group(&self, arn: &str) -> Option<&Group> {
        self.groups
            .groups
            .iter()
            .find(|g| target_group_arn(&self.region, &g.config.name) == arn || g.config.name == arn)
    }

    fn group_name(&self, index: usize) -> &str {
        self.groups
            .groups
            .get(index)
            .map(|g| g.config.name.as_str())
            .unwrap_or("")
    }

    fn load_balancer(&self, arn_or_name: &str) -> Option<&Arc<LoadBalancer>> {
        self.load_balancers
            .iter()
            .find(|lb| load_balancer_arn(&self.region, &lb.name) == arn_or_name)
    }

    /// The load balancers whose rules forward to target group `index`.
    fn load_balancers_of(&self, index: usize) -> Vec<&LoadBalancer> {
        self.load_balancers
            .iter()
            .filter(|lb| {
                lb.listeners.iter().any(|l| {
                    l.rules
                        .iter()
                        .map(|r| &r.action)
                        .chain(std::iter::once(&l.default_action))
                        .any(|a| match a {
                            Action::Forward(f) => f.target_groups.iter().any(|(g, _)| *g == index),
                            _ => false,
                        })
                })
            })
            .map(|lb| lb.as_ref())
            .collect()
    }

    fn rules(&self) -> Vec<RuleRef<'_>> {
        let mut out = Vec::new();
        for lb in &self.load_balancers {
            for l in &lb.listeners {
                for r in &l.rules {
                    out.push(RuleRef {
                        lb,
                        port: l.port,
                        priority: Some(r.priority),
                        conditions: &r.conditions,
                        action: &r.action,
                    });
                }
                out.push(RuleRef {
                    lb,
                    port: l.port,
                    priority: None,
                    conditions: &[],
                    action: &l.default_action,
                });
            }
        }
        out
    }

    /// A target's `AvailabilityZone`: a zone of the load balancers' nodes, or `all` (ALB refuses
    /// a zone that is not enabled).
    fn zone_param(&self, zone: &str) -> Result<String, Reply> {
        let mut zones: Vec<&str> = self
            .load_balancers
            .iter()
            .flat_map(|lb| lb.nodes.iter().map(|n| n.zone.as_str()))
            .collect();
        if zone == Target::ALL_ZONES || zones.contains(&zone) {
            return Ok(zone.to_string());
        }
        zones.sort_unstable();
        zones.dedup();
        Err(error(
            400,
            "ValidationError",
            &format!(
                "availability zone `{zone}` has no load balancer node: give one of {} or `all`",
                zones.join(", ")
            ),
        ))
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
                    Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        error(
                            400,
                            "ValidationError",
                            &format!("port `{p}` is not valid: give 1 to 65535"),
                        )
                    })?,
                    None => group.config.port,
                };
                let zone = match m.get("AvailabilityZone") {
                    None => Target::ALL_ZONES.to_string(),
                    Some(z) => self.zone_param(z)?,
                };
                Ok(Target {
                    address,
                    port,
                    zone,
                })
            })
            .collect()
    }

    fn describe_health(&self, group: &Group, only: &[Target]) -> Reply {
        let targets = group.listed();
        let shown: Vec<&Arc<TargetState>> = targets
            .iter()
            .filter(|t| only.is_empty() || only.iter().any(|o| o.socket_addr() == t.address))
            .collect();
        let mut xml = String::from("<TargetHealthDescriptions>");
        for t in shown {
            let tracker = t.tracker.lock().map(|t| t.clone()).unwrap_or_default();
            let state = group.shown_state(t);
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

    /// DescribeTargetHealth, RegisterTargets and DeregisterTargets: each names one target group.
    fn targets_action(&self, action: &str, params: &BTreeMap<String, String>) -> Reply {
        let Some(arn) = params.get("TargetGroupArn") else {
            return missing("targetGroupArn");
        };
        let Some(g) = self.group(arn) else {
            return error(
                400,
                "TargetGroupNotFound",
                &format!("Target groups '{arn}' not found"),
            );
        };
        let targets = match self.targets_param(params, g) {
            Ok(t) => t,
            Err(e) => return e,
        };
        if action == "DescribeTargetHealth" {
            return self.describe_health(g, &targets);
        }
        if targets.is_empty() {
            return missing("targets");
        }
        if action == "RegisterTargets" {
            g.register(&targets);
            tracing::info!(group = %g.config.name, count = targets.len(), "targets registered");
            return ok("RegisterTargets", "");
        }
        // Every target must be registered before any is deregistered: nothing half applied.
        let registered = g.listed();
        if let Some(t) = targets
            .iter()
            .find(|t| !registered.iter().any(|r| r.address == t.socket_addr()))
        {
            return error(
                400,
                "InvalidTarget",
                &format!(
                    "The target {}:{} is not registered to target group '{}'",
                    t.address, t.port, g.config.name
                ),
            );
        }
        let addresses: Vec<SocketAddr> = targets.iter().map(Target::socket_addr).collect();
        let n = g.deregister(&addresses);
        tracing::info!(group = %g.config.name, count = n, "targets deregistered");
        ok("DeregisterTargets", "")
    }

    fn describe_groups(&self, params: &BTreeMap<String, String>) -> Reply {
        let names = string_list(params, "Names.member.");
        let arns = string_list(params, "TargetGroupArns.member.");
        let lb_filter = match params.get("LoadBalancerArn") {
            Some(arn) => match self.load_balancer(arn) {
                Some(lb) => Some(lb.name.as_str()),
                None => {
                    return error(
                        400,
                        "LoadBalancerNotFound",
                        &format!("Load balancer '{arn}' not found"),
                    )
                }
            },
            None => None,
        };
        let known = |wanted: &str| {
            self.groups.groups.iter().any(|g| {
                g.config.name == wanted || target_group_arn(&self.region, &g.config.name) == wanted
            })
        };
        if let Some(unknown) = names.iter().chain(&arns).find(|w| !known(w)) {
            return error(
                400,
                "TargetGroupNotFound",
                &format!("One or more target groups not found: '{unknown}'"),
            );
        }
        let mut items = Vec::new();
        for (index, g) in self.groups.groups.iter().enumerate() {
            let c = &g.config;
            let arn = target_group_arn(&self.region, &c.name);
            let lbs = self.load_balancers_of(index);
            if (!names.is_empty() && !names.contains(&c.name.as_str()))
                || (!arns.is_empty() && !arns.contains(&arn.as_str()))
                || lb_filter.is_some_and(|name| !lbs.iter().any(|lb| lb.name == name))
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
            let lb_arns: Vec<String> = lbs
                .iter()
                .map(|lb| load_balancer_arn(&self.region, &lb.name))
                .collect();
            items.push(format!(
                "<TargetGroupArn>{arn}</TargetGroupArn><TargetGroupName>{}</TargetGroupName><Protocol>{:?}</Protocol><Port>{}</Port>{}<TargetType>ip</TargetType><HealthCheckEnabled>{}</HealthCheckEnabled><HealthCheckProtocol>{:?}</HealthCheckProtocol><HealthCheckPort>{}</HealthCheckPort><HealthCheckPath>{}</HealthCheckPath><HealthCheckIntervalSeconds>{}</HealthCheckIntervalSeconds><HealthCheckTimeoutSeconds>{}</HealthCheckTimeoutSeconds><HealthyThresholdCount>{}</HealthyThresholdCount><UnhealthyThresholdCount>{}</UnhealthyThresholdCount><Matcher><{code}>{}</{code}></Matcher>{}<ProtocolVersion>{:?}</ProtocolVersion><IpAddressType>ipv4</IpAddressType>",
                escape(&c.name), c.protocol, c.port,
                self.vpc_id.as_deref().map(|v| el("VpcId", v)).unwrap_or_default(),
                hc.enabled, hc.protocol,
                hc.port.map(|p| p.to_string()).unwrap_or_else(|| "traffic-port".into()),
                escape(&hc.path), hc.interval.as_secs(), hc.timeout.as_secs(), hc.healthy_threshold, hc.unhealthy_threshold,
                matcher.join(","),
                members_xml("LoadBalancerArns", &lb_arns),
                c.protocol_version,
                code = if c.protocol_version == ferry_config::spec::ProtocolVersion::GRPC {
                    "GrpcCode"
                } else {
                    "HttpCode"
                },
            ));
        }
        ok("DescribeTargetGroups", &members_xml("TargetGroups", &items))
    }

    fn describe_load_balancers(&self, params: &BTreeMap<String, String>) -> Reply {
        let names = string_list(params, "Names.member.");
        let arns = string_list(params, "LoadBalancerArns.member.");
        if let Some(unknown) = names
            .iter()
            .find(|n| !self.load_balancers.iter().any(|lb| lb.name == **n))
            .or_else(|| arns.iter().find(|a| self.load_balancer(a).is_none()))
        {
            return error(
                400,
                "LoadBalancerNotFound",
                &format!("One or more load balancers not found: '{unknown}'"),
            );
        }
        let mut items = Vec::new();
        for lb in &self.load_balancers {
            let arn = load_balancer_arn(&self.region, &lb.name);
            if (!names.is_empty() && !names.contains(&lb.name.as_str()))
                || (!arns.is_empty() && !arns.contains(&arn.as_str()))
            {
                continue;
            }
            let written = self.written.iter().find(|w| w.name == lb.name);
            let scheme = match written.and_then(|w| w.scheme) {
                Some(spec::Scheme::Internal) => "internal",
                _ => "internet-facing",
            };
            let zones: Vec<String> = lb
                .nodes
                .iter()
                .map(|n| {
                    format!(
                        "{}<LoadBalancerAddresses><member>{}</member></LoadBalancerAddresses>",
                        el("ZoneName", &n.zone),
                        el("IpAddress", &n.address.to_string())
                    )
                })
                .collect();
            items.push(format!(
                "<LoadBalancerArn>{arn}</LoadBalancerArn>{}<CreatedTime>{}</CreatedTime>{}<Scheme>{scheme}</Scheme>{}<State><Code>active</Code></State><Type>application</Type>{}<IpAddressType>ipv4</IpAddressType>",
                el("DNSName", &lb.dns_name),
                iso8601(self.created),
                el("LoadBalancerName", &lb.name),
                self.vpc_id.as_deref().map(|v| el("VpcId", v)).unwrap_or_default(),
                members_xml("AvailabilityZones", &zones),
            ));
        }
        ok(
            "DescribeLoadBalancers",
            &members_xml("LoadBalancers", &items),
        )
    }

    fn describe_listeners(&self, params: &BTreeMap<String, String>) -> Reply {
        let arns = string_list(params, "ListenerArns.member.");
        let lb = match params.get("LoadBalancerArn") {
            Some(arn) => match self.load_balancer(arn) {
                Some(lb) => Some(lb),
                None => {
                    return error(
                        400,
                        "LoadBalancerNotFound",
                        &format!("One or more load balancers not found: '{arn}'"),
                    )
                }
            },
            None => None,
        };
        if lb.is_none() && arns.is_empty() {
            return error(
                400,
                "ValidationError",
                "You must specify either listener ARNs or a load balancer ARN",
            );
        }
        let all: Vec<(&LoadBalancer, &ferry_config::model::Listener, String)> = self
            .load_balancers
            .iter()
            .flat_map(|lb| {
                lb.listeners
                    .iter()
                    .map(move |l| (lb.as_ref(), l, listener_arn(&self.region, &lb.name, l.port)))
            })
            .collect();
        if let Some(unknown) = arns
            .iter()
            .find(|a| !all.iter().any(|(_, _, arn)| arn == *a))
        {
            return error(
                400,
                "ListenerNotFound",
                &format!("One or more listeners not found: '{unknown}'"),
            );
        }
        let items: Vec<String> = all
            .iter()
            .filter(|(l_lb, _, arn)| {
                lb.is_none_or(|lb| lb.name == l_lb.name)
                    && (arns.is_empty() || arns.contains(&arn.as_str()))
            })
            .map(|(l_lb, l, arn)| {
                let tls = l
                    .tls
                    .as_ref()
                    .map(|t| el("SslPolicy", &t.ssl_policy))
                    .unwrap_or_default();
                format!(
                    "<ListenerArn>{arn}</ListenerArn><LoadBalancerArn>{}</LoadBalancerArn><Port>{}</Port><Protocol>{}</Protocol>{tls}{}",
                    load_balancer_arn(&self.region, &l_lb.name),
                    l.port,
                    listener_protocol(l.protocol),
                    members_xml("DefaultActions", &[self.action_xml(&l.default_action)])
                )
            })
            .collect();
        ok("DescribeListeners", &members_xml("Listeners", &items))
    }

    fn action_xml(&self, action: &Action) -> String {
        match action {
            Action::Forward(f) => {
                let single = match f.target_groups.as_slice() {
                    [(g, _)] => el(
                        "TargetGroupArn",
                        &target_group_arn(&self.region, self.group_name(*g)),
                    ),
                    _ => String::new(),
                };
                let groups: Vec<String> = f
                    .target_groups
                    .iter()
                    .map(|(g, w)| {
                        format!(
                            "{}<Weight>{w}</Weight>",
                            el(
                                "TargetGroupArn",
                                &target_group_arn(&self.region, self.group_name(*g))
                            )
                        )
                    })
                    .collect();
                let stickiness = match f.stickiness {
                    Some(d) => format!(
                        "<TargetGroupStickinessConfig><Enabled>true</Enabled><DurationSeconds>{}</DurationSeconds></TargetGroupStickinessConfig>",
                        d.as_secs()
                    ),
                    None => "<TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>".into(),
                };
                format!(
                    "<Type>forward</Type>{single}<ForwardConfig>{}{stickiness}</ForwardConfig><Order>1</Order>",
                    members_xml("TargetGroups", &groups)
                )
            }
            Action::Redirect(r) => format!(
                "<Type>redirect</Type><RedirectConfig>{}{}{}{}{}<StatusCode>HTTP_{}</StatusCode></RedirectConfig><Order>1</Order>",
                el("Protocol", &r.protocol),
                el("Port", &r.port),
                el("Host", &r.host),
                el("Path", &r.path),
                el("Query", &r.query),
                r.status
            ),
            Action::FixedResponse(f) => format!(
                "<Type>fixed-response</Type><FixedResponseConfig>{}<StatusCode>{}</StatusCode>{}</FixedResponseConfig><Order>1</Order>",
                el("MessageBody", &f.body),
                f.status,
                f.content_type
                    .as_deref()
                    .map(|c| el("ContentType", c))
                    .unwrap_or_default()
            ),
        }
    }

    /// The header name of an `http-header` condition as the topology writes it (the model keeps
    /// it lowercased), for the rule of `lb` on `port` with `priority`.
    fn written_header_name(&self, r: &RuleRef<'_>, lowercased: &str) -> Option<String> {
        let priority = r.priority?;
        self.written
            .iter()
            .find(|w| w.name == r.lb.name)?
            .listeners
            .iter()
            .find(|l| l.port == r.port)?
            .rules
            .iter()
            .find(|rule| rule.priority == priority)?
            .conditions
            .iter()
            .filter_map(|c| c.http_header_name.as_deref())
            .find(|name| name.eq_ignore_ascii_case(lowercased))
            .map(str::to_string)
    }

    fn condition_xml(&self, r: &RuleRef<'_>, condition: &Condition) -> String {
        let patterns = |field: &str, config: &str, values: &[ferry_config::pattern::Wildcard]| {
            let values: Vec<&str> = values.iter().map(|w| w.as_str()).collect();
            format!(
                "<Field>{field}</Field>{}<{config}>{}</{config}>",
                text_members("Values", &values),
                text_members("Values", &values)
            )
        };
        match condition {
            Condition::HostHeader(v) => patterns("host-header", "HostHeaderConfig", v),
            Condition::PathPattern(v) => patterns("path-pattern", "PathPatternConfig", v),
            Condition::HttpHeader(name, v) => {
                let values: Vec<&str> = v.iter().map(|w| w.as_str()).collect();
                format!(
                    "<Field>http-header</Field><HttpHeaderConfig>{}{}</HttpHeaderConfig>",
                    el(
                        "HttpHeaderName",
                        &self
                            .written_header_name(r, name)
                            .unwrap_or_else(|| name.clone())
                    ),
                    text_members("Values", &values)
                )
            }
            Condition::HttpRequestMethod(v) => format!(
                "<Field>http-request-method</Field><HttpRequestMethodConfig>{}</HttpRequestMethodConfig>",
                text_members("Values", v)
            ),
            Condition::QueryString(v) => {
                let pairs: Vec<String> = v
                    .iter()
                    .map(|(k, value)| {
                        format!(
                            "{}{}",
                            k.as_ref().map(|k| el("Key", k.as_str())).unwrap_or_default(),
                            el("Value", value.as_str())
                        )
                    })
                    .collect();
                format!(
                    "<Field>query-string</Field><QueryStringConfig>{}</QueryStringConfig>",
                    members_xml("Values", &pairs)
                )
            }
            Condition::SourceIp(v) => {
                let values: Vec<String> = v.iter().map(|c| c.to_string()).collect();
                format!(
                    "<Field>source-ip</Field><SourceIpConfig>{}</SourceIpConfig>",
                    text_members("Values", &values)
                )
            }
        }
    }

    fn rule_xml(&self, r: &RuleRef<'_>) -> String {
        let conditions: Vec<String> = r
            .conditions
            .iter()
            .map(|c| self.condition_xml(r, c))
            .collect();
        format!(
            "<RuleArn>{}</RuleArn><Priority>{}</Priority>{}{}<IsDefault>{}</IsDefault>",
            rule_arn(&self.region, &r.lb.name, r.port, r.priority),
            r.priority
                .map(|p| p.to_string())
                .unwrap_or_else(|| "default".into()),
            members_xml("Conditions", &conditions),
            members_xml("Actions", &[self.action_xml(r.action)]),
            r.priority.is_none()
        )
    }

    fn describe_rules(&self, params: &BTreeMap<String, String>) -> Reply {
        let rule_arns = string_list(params, "RuleArns.member.");
        let listener = params.get("ListenerArn");
        let rules = self.rules();
        let shown: Vec<&RuleRef<'_>> = match (listener, rule_arns.is_empty()) {
            (Some(_), false) | (None, true) => {
                return error(
                    400,
                    "ValidationError",
                    "Specify either a listener ARN or rule ARNs, not both and not neither",
                )
            }
            (Some(arn), true) => {
                let of_listener: Vec<&RuleRef<'_>> = rules
                    .iter()
                    .filter(|r| listener_arn(&self.region, &r.lb.name, r.port) == *arn)
                    .collect();
                if of_listener.is_empty() {
                    return error(
                        400,
                        "ListenerNotFound",
                        &format!("One or more listeners not found: '{arn}'"),
                    );
                }
                of_listener
            }
            (None, false) => {
                let mut found = Vec::new();
                for wanted in &rule_arns {
                    match rules
                        .iter()
                        .find(|r| rule_arn(&self.region, &r.lb.name, r.port, r.priority) == *wanted)
                    {
                        Some(r) => found.push(r),
                        None => {
                            return error(
                                400,
                                "RuleNotFound",
                                &format!("One or more rules not found: '{wanted}'"),
                            )
                        }
                    }
                }
                found
            }
        };
        let items: Vec<String> = shown.iter().map(|r| self.rule_xml(r)).collect();
        ok("DescribeRules", &members_xml("Rules", &items))
    }

    /// The balancer's part of `GET /ferry/status`: `{"balancer": {...}}`.
    fn status(&self) -> Reply {
        let action_text = |a: &Action| match a {
            Action::Forward(f) => {
                let groups: Vec<String> = f
                    .target_groups
                    .iter()
                    .map(|(g, w)| {
                        if f.target_groups.len() > 1 {
                            format!("{}={w}", self.group_name(*g))
                        } else {
                            self.group_name(*g).to_string()
                        }
                    })
                    .collect();
                format!("forward {}", groups.join(","))
            }
            Action::Redirect(r) => format!("redirect {}", r.status),
            Action::FixedResponse(f) => format!("fixed-response {}", f.status),
        };
        let lbs: Vec<String> = self
            .load_balancers
            .iter()
            .map(|lb| {
                let nodes: Vec<String> = lb
                    .nodes
                    .iter()
                    .map(|n| {
                        format!(
                            "{{\"zone\":{},\"address\":{},\"here\":{}}}",
                            json_str(&n.zone),
                            json_str(&n.address.to_string()),
                            self.zone.as_deref().is_none_or(|z| z == n.zone)
                        )
                    })
                    .collect();
                let listeners: Vec<String> = lb
                    .listeners
                    .iter()
                    .map(|l| {
                        format!(
                            "{{\"port\":{},\"protocol\":\"{}\",\"rules\":{},\"default_action\":{}}}",
                            l.port,
                            listener_protocol(l.protocol),
                            l.rules.len(),
                            json_str(&action_text(&l.default_action))
                        )
                    })
                    .collect();
                format!(
                    "{{\"name\":{},\"dns_name\":{},\"arn\":{},\"nodes\":[{}],\"listeners\":[{}]}}",
                    json_str(&lb.name),
                    json_str(&lb.dns_name),
                    json_str(&load_balancer_arn(&self.region, &lb.name)),
                    nodes.join(","),
                    listeners.join(",")
                )
            })
            .collect();
        let groups: Vec<String> = self
            .groups
            .groups
            .iter()
            .map(|g| {
                let targets: Vec<String> = g
                    .listed()
                    .iter()
                    .map(|t| {
                        let state = g.shown_state(t);
                        let mut tracker = t.tracker.lock().map(|t| t.clone()).unwrap_or_default();
                        tracker.state = state;
                        let reason = tracker
                            .reason()
                            .map(|(r, _)| json_str(r))
                            .unwrap_or_else(|| "null".into());
                        format!(
                            "{{\"id\":{},\"port\":{},\"zone\":{},\"state\":\"{}\",\"reason\":{reason},\"in_flight\":{}}}",
                            json_str(&t.target.address.to_string()),
                            t.target.port,
                            json_str(&t.target.zone),
                            state.as_str(),
                            t.outstanding.load(Ordering::Relaxed)
                        )
                    })
                    .collect();
                format!(
                    "{{\"name\":{},\"arn\":{},\"protocol\":\"{:?}\",\"port\":{},\"health_checks\":{},\"targets\":[{}]}}",
                    json_str(&g.config.name),
                    json_str(&target_group_arn(&self.region, &g.config.name)),
                    g.config.protocol,
                    g.config.port,
                    g.config.health_check.enabled,
                    targets.join(",")
                )
            })
            .collect();
        let body = format!(
            "{{\"balancer\":{{\"region\":{},\"zone\":{},\"load_balancers\":[{}],\"target_groups\":[{}]}}}}\n",
            json_str(&self.region),
            self.zone
                .as_deref()
                .map(json_str)
                .unwrap_or_else(|| "null".into()),
            lbs.join(","),
            groups.join(",")
        );
        Reply::new(200, "application/json", body)
    }
}

impl Handler for BalancerAdmin {
    fn refresh(&self) {
        crate::metrics::targets(&self.groups);
    }

    fn handle(&self, request: &Request<'_>) -> Option<Reply> {
        if request.path == "/ferry/status" && request.method == "GET" {
            return Some(self.status());
        }
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
        let reply = match action.as_str() {
            "DescribeTargetGroups" => self.describe_groups(&params),
            "DescribeTargetHealth" | "RegisterTargets" | "DeregisterTargets" => {
                self.targets_action(&action, &params)
            }
            "DescribeLoadBalancers" => self.describe_load_balancers(&params),
            "DescribeListeners" => self.describe_listeners(&params),
            "DescribeRules" => self.describe_rules(&params),
            _ => error(
                400,
                "InvalidAction",
                &format!(
                    "The action {action} is not valid for this web service: ferry's admin listener serves DescribeTargetHealth, RegisterTargets, DeregisterTargets, DescribeTargetGroups, DescribeLoadBalancers, DescribeListeners and DescribeRules"
                ),
            ),
        };
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let tg = target_group_arn("us-east-1", "web");
        assert!(
            tg.starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/")
        );
        assert_eq!(tg, target_group_arn("us-east-1", "web"));
        let l80 = listener_arn("us-east-1", "alb", 80);
        assert_ne!(l80, listener_arn("us-east-1", "alb", 81));
        let r = rule_arn("us-east-1", "alb", 80, Some(10));
        assert!(r.contains(":listener-rule/app/alb/"));
        assert_ne!(r, rule_arn("us-east-1", "alb", 80, None));
        assert!(load_balancer_arn("eu-west-1", "alb").contains(":loadbalancer/app/alb/"));
    }
}
