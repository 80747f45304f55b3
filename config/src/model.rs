//! The validated topology: references resolved to indices, defaults applied, patterns compiled, so
//! that the data planes never meet a configuration error on a request path.

use crate::net::Cidr;
use crate::pattern::Wildcard;
use crate::spec::{self, Method, OriginProtocolPolicy, Spec, ViewerProtocolPolicy};
use crate::ttl::TtlSettings;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Topology {
    /// The file as written, for the provisioner, which maps it field for field.
    pub spec: Spec,
    /// Where relative paths in the file (certificates) are resolved from.
    pub base_dir: PathBuf,
    pub edge: Option<Edge>,
    /// Static name resolution: `[resolve]` plus every load balancer's `dns_name` -> its nodes.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
    pub distributions: Vec<Arc<Distribution>>,
    pub load_balancers: Vec<Arc<LoadBalancer>>,
    pub target_groups: Vec<Arc<TargetGroup>>,
    pub demo_targets: Vec<DemoTarget>,
}

impl Topology {
    /// Every zone that has a balancer node, across load balancers.
    pub fn zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self
            .load_balancers
            .iter()
            .flat_map(|lb| lb.nodes.iter().map(|n| n.zone.clone()))
            .collect();
        zones.sort();
        zones.dedup();
        zones
    }
}

#[derive(Debug, Clone)]
pub struct DemoTarget {
    pub name: String,
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    /// The admin listener, when the topology asks for one.
    pub admin: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub cache_size: u64,
    pub cache_max_object_size: u64,
    pub pop: String,
    /// Index into `Topology::distributions`.
    pub default_distribution: Option<usize>,
    pub default_certificate: Option<CertificateFiles>,
    pub certificates: Vec<CertificateFiles>,
    /// `default_certificate` and `certificates`, loaded and checked at validation, for SNI.
    pub certificate_store: Option<Arc<crate::tls::CertificateStore>>,
    pub threads: usize,
    /// Each thread pinned to a CPU, connections steered to the thread of their CPU.
    pub pin_threads: bool,
    /// How long a viewer may take to send a request head, from its first byte.
    pub client_header_timeout: std::time::Duration,
    /// How long a viewer may take none of a response being sent to it.
    pub send_timeout: std::time::Duration,
    /// The country of viewer addresses, for geo restriction.
    pub client_countries: crate::geo::Countries,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

// ---------------------------------------------------------------- edge

#[derive(Debug, Clone)]
pub struct Distribution {
    pub id: String,
    pub enabled: bool,
    pub aliases: Vec<Alias>,
    pub default_root_object: Option<String>,
    pub http_version: spec::HttpVersion,
    pub minimum_protocol_version: spec::MinimumProtocolVersion,
    pub origins: Vec<Origin>,
    pub origin_groups: Vec<OriginGroup>,
    /// Ordered: the `cache_behaviors` in file order, then the default behavior (pattern `None`).
    pub behaviors: Vec<Behavior>,
    pub custom_error_responses: Vec<spec::CustomErrorResponse>,
    /// `restrictions.geo_restriction`, unless its type is `none`.
    pub geo_restriction: Option<crate::geo::GeoRestriction>,
}

impl Distribution {
    /// The first behavior whose path pattern matches; the default behavior otherwise.
    pub fn behavior_for(&self, path: &str) -> &Behavior {
        let last = self.behaviors.len().saturating_sub(1);
        self.behaviors
            .iter()
            .find(|b| b.path_pattern.as_ref().is_none_or(|p| p.matches(path)))
            .unwrap_or(&self.behaviors[last])
    }
}

/// A CNAME: an exact host, or `*.suffix` matching one or more labels in front of the suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alias {
    Exact(String),
    /// The suffix including its leading dot, lowercased: `.example.test`.
    Wildcard(String),
}

impl Alias {
    pub fn parse(alias: &str) -> Alias {
        let lower = alias.to_ascii_lowercase();
        match lower.strip_prefix('*') {
            Some(suffix) => Alias::Wildcard(suffix.to_string()),
            None => Alias::Exact(lower),
        }
    }

    /// `host` must already be lowercased and stripped of its port.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Alias::Exact(name) => name == host,
            Alias::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Origin {
    pub id: String,
    pub domain_name: String,
    pub origin_path: String,
    pub custom_headers: Vec<(String, String)>,
    pub connection_attempts: u32,
    pub connection_timeout: Duration,
    pub protocol_policy: OriginProtocolPolicy,
    pub http_port: u16,
    pub https_port: u16,
    pub read_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// `response_completion_timeout`: the whole response is due within it (`None`: no limit).
    pub response_completion: Option<Duration>,
    /// `custom_origin_config.ca_bundle` (local runs): more CAs trusted for the origin's
    /// certificate, besides the system roots.
    pub ca_bundle: Option<CaBundle>,
}

/// A PEM file of CA certificates, read and checked at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// Resolved against the topology file's directory.
    pub file: PathBuf,
    /// The certificates (DER) in file order: at least one, each a usable trust anchor.
    pub certificates: Arc<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone)]
pub struct OriginGroup {
    pub id: String,
    /// Indices into `Distribution::origins`, primary first.
    pub members: [usize; 2],
    pub failover_status_codes: Vec<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginTarget {
    Origin(usize),
    Group(usize),
}

#[derive(Debug, Clone)]
pub struct Behavior {
    pub path_pattern: Option<Wildcard>,
    pub target: OriginTarget,
    pub viewer_protocol_policy: ViewerProtocolPolicy,
    pub allowed_methods: Vec<Method>,
    pub cached_methods: Vec<Method>,
    pub cache_policy: Arc<CachePolicy>,
    pub origin_request_policy: Option<Arc<NamedPolicy<spec::OriginRequestPolicy>>>,
    pub response_headers_policy: Option<Arc<NamedPolicy<spec::ResponseHeadersPolicy>>>,
    pub compress: bool,
    /// The public keys of the behavior's `trusted_key_groups`: requests must be signed.
    pub trusted_keys: Option<Arc<crate::signed::TrustedKeys>>,
}

/// A cache policy with its defaults applied (or legacy behavior settings turned into one).
#[derive(Debug, Clone)]
pub struct CachePolicy {
    /// Empty for a behavior's legacy `forwarded_values` settings, which have no policy.
    pub name: String,
    /// The AWS id of a managed policy.
    pub managed_id: Option<&'static str>,
    pub ttl: TtlSettings,
    pub gzip: bool,
    pub brotli: bool,
    pub headers: spec::CacheHeadersConfig,
    pub cookies: spec::CookiesConfig,
    pub query_strings: spec::QueryStringsConfig,
}

impl CachePolicy {
    /// Legacy cache settings (`forwarded_values`), under which CloudFront forwards viewer headers
    /// it has no rule for; with a cache policy it forwards only what the policies name.
    pub fn is_legacy(&self) -> bool {
        self.name.is_empty()
    }

    /// Whether the cache key holds the viewer header `lower` (a lowercased name).
    pub fn keys_header(&self, lower: &str) -> bool {
        self.headers.header_behavior == spec::CacheHeaderBehavior::Whitelist
            && self
                .headers
                .headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case(lower))
    }
}

#[derive(Debug, Clone)]
pub struct NamedPolicy<T> {
    pub managed_id: Option<&'static str>,
    pub policy: T,
}

// ---------------------------------------------------------------- balancer

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub name: String,
    pub dns_name: String,
    pub nodes: Vec<Node>,
    /// Normalised to the ELBv2 API's strings.
    pub attributes: BTreeMap<String, String>,
    pub idle_timeout: Duration,
    /// `client_keep_alive.seconds`: how long a client connection may stay open, busy or not;
    /// the response after it says `Connection: close`.
    pub client_keepalive: Duration,
    pub xff_mode: XffMode,
    pub preserve_host_header: bool,
    /// `routing.http.xff_client_port.enabled`: the client's port joins its address in
    /// X-Forwarded-For.
    pub xff_client_port: bool,
    /// `routing.http.drop_invalid_header_fields.enabled`: request headers whose names are not
    /// letters, digits and hyphens are removed before the request reaches a target.
    pub drop_invalid_header_fields: bool,
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub zone: String,
    pub address: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XffMode {
    Append,
    Preserve,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub port: u16,
    pub protocol: spec::ListenerProtocol,
    /// Sorted by priority, lowest first.
    pub rules: Vec<Rule>,
    pub default_action: Action,
    /// HTTPS listeners only.
    pub tls: Option<ListenerTls>,
    /// What the listener's attributes do to every response it sends.
    pub response_headers: ResponseHeaderEdits,
    /// The TLS version and cipher headers to forward, by the names the listener gives them: set
    /// on HTTPS listeners of a load balancer with
    /// `routing.http.x_amzn_tls_version_and_cipher_suite.enabled`.
    pub tls_headers: Option<TlsHeaderNames>,
}

/// ALB's response header modification (listener attributes `routing.http.response.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseHeaderEdits {
    /// `routing.http.response.server.enabled = false`: responses carry no Server header.
    pub remove_server: bool,
    /// Headers set on every response, replacing a target's own (name, value).
    pub set: Vec<(String, String)>,
}

impl ResponseHeaderEdits {
    pub fn is_empty(&self) -> bool {
        !self.remove_server && self.set.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsHeaderNames {
    pub version: String,
    pub cipher_suite: String,
}

/// An HTTPS listener's TLS: its certificates (loaded and checked at validation) and security policy.
#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// The `ssl_policy` as written, or ELB's API default `ELBSecurityPolicy-2016-08`.
    pub ssl_policy: String,
    /// What the policy means on rustls.
    pub minimum: crate::tls::MinimumTls,
    /// Whether the policy allows TLS 1.3 (else TLS 1.2 is the most a client gets).
    pub tls13: bool,
    /// HTTP/2 by ALPN: the load balancer's `routing.http2.enabled` (on unless set to false).
    pub http2: bool,
    pub default_certificate: CertificateFiles,
    pub certificates: Vec<CertificateFiles>,
    /// The default certificate and the others, chosen by SNI.
    pub store: Arc<crate::tls::CertificateStore>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub priority: u32,
    pub conditions: Vec<Condition>,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Condition {
    HostHeader(Vec<Wildcard>),
    PathPattern(Vec<Wildcard>),
    /// Header name lowercased.
    HttpHeader(String, Vec<Wildcard>),
    HttpRequestMethod(Vec<String>),
    QueryString(Vec<(Option<Wildcard>, Wildcard)>),
    SourceIp(Vec<Cidr>),
}

#[derive(Debug, Clone)]
pub enum Action {
    Forward(Forward),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

#[derive(Debug, Clone)]
pub struct Forward {
    /// (index into `Topology::target_groups`, weight).
    pub target_groups: Vec<(usize, u32)>,
    /// Target-group stickiness (`AWSALBTG`) duration, when enabled.
    pub stickiness: Option<Duration>,
    /// This action's own position in its rotation over the weights (one per action, as each of
    /// ALB's rules splits its traffic apart from the others).
    pub rotation: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub protocol: String,
    pub port: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct TargetGroup {
    pub name: String,
    pub protocol: spec::TargetProtocol,
    /// What ferry speaks to the targets: HTTP/1.1, HTTP/2 (h2c to HTTP targets, ALPN `h2` over
    /// TLS), or gRPC (HTTP/2, gRPC requests only, health checked with gRPC).
    pub protocol_version: spec::ProtocolVersion,
    pub port: u16,
    pub health_check: HealthCheck,
    pub algorithm: Algorithm,
    pub slow_start: Duration,
    pub deregistration_delay: Duration,
    pub stickiness: Option<Stickiness>,
    /// `None` = use the load balancer's setting (always on for ALB).
    pub cross_zone: Option<bool>,
    /// `target_group_health.unhealthy_state_routing.minimum_healthy_targets.*`.
    pub min_healthy: MinHealthy,
    pub attributes: BTreeMap<String, String>,
    pub targets: Vec<Target>,
    /// Whether a listener's action forwards to it. ALB neither checks nor routes to the targets of
    /// a group no listener uses (`unused`, `Target.NotInUse`).
    pub in_use: bool,
}

/// How many healthy targets a target group needs before ALB stops routing to its unhealthy ones
/// too (target group health, "unhealthy state routing"): below either threshold it fails open and
/// routes to every target it can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinHealthy {
    /// `.count` (default 1: fail open only when none is healthy).
    pub count: usize,
    /// `.percentage` (default off).
    pub percent: Option<u32>,
}

impl Default for MinHealthy {
    fn default() -> MinHealthy {
        MinHealthy {
            count: 1,
            percent: None,
        }
    }
}

impl MinHealthy {
    /// Whether `healthy` of `usable` targets is below a threshold, so that all `usable` get traffic.
    pub fn fails_open(&self, healthy: usize, usable: usize) -> bool {
        let below_count = healthy < self.count;
        let below_percent = self
            .percent
            .is_some_and(|p| (healthy as u128) * 100 < u128::from(p) * (usable as u128));
        below_count || below_percent
    }
}

#[cfg(test)]
mod min_healthy_tests {
    use super::MinHealthy;

    #[test]
    fn below_either_threshold_fails_open() {
        let default = MinHealthy::default();
        let two = MinHealthy {
            count: 2,
            percent: None,
        };
        let half = MinHealthy {
            count: 1,
            percent: Some(50),
        };
        let cases = [
            (default, 0, 4, true),
            (default, 1, 4, false),
            (two, 1, 4, true),
            (two, 2, 4, false),
            (half, 1, 4, true),
            (half, 2, 4, false),
            (half, 2, 5, true),
            (half, 0, 0, true),
            (half, 3, 5, false),
        ];
        for (min, healthy, usable, want) in cases {
            assert_eq!(
                min.fails_open(healthy, usable),
                want,
                "{min:?} {healthy}/{usable}"
            );
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
    WeightedRandom { anomaly_mitigation: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stickiness {
    LbCookie {
        duration: Duration,
    },
    AppCookie {
        cookie_name: String,
        duration: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: spec::TargetProtocol,
    /// `None` = the traffic port.
    pub port: Option<u16>,
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// Inclusive ranges of accepted status codes: HTTP ones, gRPC ones (`grpc-status`) for a gRPC
    /// target group.
    pub matcher: Vec<(u16, u16)>,
    /// HTTP/1.1 checks, HTTP/2 ones for an HTTP/2 group, gRPC ones for a gRPC group.
    pub protocol_version: spec::ProtocolVersion,
}

impl HealthCheck {
    pub fn accepts(&self, status: u16) -> bool {
        self.matcher
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub address: IpAddr,
    pub port: u16,
    /// A zone of the load balancers' nodes, or [`Target::ALL_ZONES`].
    pub zone: String,
}

impl Target {
    /// The zone of a target that every zone's nodes send to, cross-zone or not: what
    /// `RegisterTargets` gives one registered without an `AvailabilityZone` (ALB's `all`).
    pub const ALL_ZONES: &'static str = "all";

    /// Whether the nodes of `zone` send to this target when cross-zone load balancing is off.
    pub fn serves_zone(&self, zone: &str) -> bool {
        self.zone == zone || self.zone == Target::ALL_ZONES
    }

    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }
}
