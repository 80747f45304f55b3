//! The edge's admin listener: CloudFront's REST API for invalidations (`CreateInvalidation`,
//! `GetInvalidation`, `ListInvalidations`) and a read-only view of the topology's distributions
//! (`GetDistribution`, `GetDistributionConfig`, `ListDistributions`), wire-compatible so the AWS
//! CLI and SDKs work against it with `--endpoint-url`; cache statistics; and the edge's part of
//! `GET /ferry/status`.

use crate::cache::invalidations::{CreateError, Invalidation};
use crate::cache::EdgeCache;
use ferry_config::admin::{Handler, Reply, Request};
use ferry_config::invalidation::InvalidationPath;
use ferry_config::model::{Alias, Behavior, Distribution, OriginTarget};
use ferry_config::rules::percent_decode;
use ferry_config::spec;
use ferry_config::time::iso8601;
use ferry_config::Topology;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudFront API's distributions resource.
const API: &str = "/2020-05-31/distribution";
const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
/// The account ferry writes into the ARNs it makes up.
const ACCOUNT: &str = "000000000000";
/// CloudFront's quota on invalidation paths in flight: 3,000 individual paths. ferry carries out a
/// batch before answering, so one batch is all that is ever in flight.
pub const MAX_PATHS_IN_FLIGHT: usize = 3000;
/// CloudFront's quota on wildcard invalidation paths in flight.
pub const MAX_WILDCARDS_IN_FLIGHT: usize = 15;
/// ListDistributions' and ListInvalidations' default page size.
const DEFAULT_MAX_ITEMS: usize = 100;

pub struct Admin {
    pub cache: Arc<EdgeCache>,
    distributions: Vec<Listed>,
    /// The edge's viewer listeners: (what, address).
    listeners: Vec<(&'static str, SocketAddr)>,
    pop: Option<String>,
    cache_capacity: u64,
}

/// One distribution as the API shows it, rendered once: the topology does not change under a
/// running admin listener.
struct Listed {
    model: Arc<Distribution>,
    aliases: Vec<String>,
    domain_name: String,
    arn: String,
    last_modified: String,
    /// The children of `<DistributionConfig>`.
    config: String,
    /// The children of `<DistributionSummary>` after its identity (Id, ARN, Status, ...).
    summary: String,
}

impl Admin {
    /// The edge's admin handler for `topology`, over the edge's cache.
    pub fn new(cache: Arc<EdgeCache>, topology: &Topology) -> Admin {
        let now = iso8601(SystemTime::now());
        let distributions = topology
            .distributions
            .iter()
            .map(|d| {
                let written = topology.spec.distributions.iter().find(|s| s.id == d.id);
                let view = View::new(d, written, topology);
                Listed {
                    model: d.clone(),
                    aliases: view.aliases.clone(),
                    domain_name: domain_name(&d.id),
                    arn: distribution_arn(&d.id),
                    last_modified: now.clone(),
                    config: view.config(),
                    summary: view.summary(),
                }
            })
            .collect();
        Admin {
            cache,
            distributions,
            listeners: crate::listeners(topology),
            pop: topology.edge.as_ref().map(|e| e.pop.clone()),
            cache_capacity: topology.edge.as_ref().map(|e| e.cache_size).unwrap_or(0),
        }
    }

    fn find(&self, id: &str) -> Option<&Listed> {
        self.distributions.iter().find(|d| d.model.id == id)
    }
}

/// The ARN of a distribution, in CloudFront's shape.
pub fn distribution_arn(id: &str) -> String {
    format!("arn:aws:cloudfront::{ACCOUNT}:distribution/{id}")
}

/// The CloudFront domain name ferry gives a distribution: `<id>.cloudfront.net`, lowercased.
pub fn domain_name(id: &str) -> String {
    format!("{}.cloudfront.net", id.to_ascii_lowercase())
}

// ------------------------------------------------------------------------------------- XML out

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `<tag>text</tag>`, the text escaped.
fn el(tag: &str, text: &str) -> String {
    format!("<{tag}>{}</{tag}>", escape(text))
}

/// CloudFront's list shape: `<Tag><Quantity>n</Quantity><Items>...</Items></Tag>`, with no
/// `Items` when the list is empty (as CloudFront writes it). `items` are already rendered.
fn quantity_list(tag: &str, items: &[String]) -> String {
    if items.is_empty() {
        return format!("<{tag}><Quantity>0</Quantity></{tag}>");
    }
    format!(
        "<{tag}><Quantity>{}</Quantity><Items>{}</Items></{tag}>",
        items.len(),
        items.concat()
    )
}

/// A list of strings, each in `<item_tag>`.
fn text_list<S: AsRef<str>>(tag: &str, item_tag: &str, items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| el(item_tag, s.as_ref())).collect();
    quantity_list(tag, &items)
}

fn xml_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(
        status,
        "text/xml",
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>\n",
            escape(message),
            request_id()
        ),
    )
}

/// A request id in AWS's UUID shape, different for every answer.
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    uuid_from(nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15), n)
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn uuid_from(a: u64, b: u64) -> String {
    let b = b.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ a.rotate_left(17);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The id ferry gives a policy of the topology's own (`kind` keeps a cache policy and an origin
/// request policy of the same name apart): stable, in the UUID shape of CloudFront's policy ids.
pub fn policy_id(kind: &str, name: &str) -> String {
    let a = fnv(&format!("{kind}\n{name}"));
    uuid_from(a, fnv(&format!("{name}\n{kind}")))
}

fn invalidation_xml(i: &Invalidation) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invalidation xmlns=\"{XMLNS}\"><Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch>{}{}</InvalidationBatch></Invalidation>\n",
        i.id,
        i.status,
        iso8601(i.create_time),
        text_list("Paths", "Path", &i.paths),
        el("CallerReference", &i.caller_reference)
    )
}

// ---------------------------------------------------------------------- the distribution view

fn http_version(v: spec::HttpVersion) -> &'static str {
    match v {
        spec::HttpVersion::Http1_1 => "http1.1",
        spec::HttpVersion::Http2 => "http2",
        spec::HttpVersion::Http3 => "http3",
        spec::HttpVersion::Http2And3 => "http2and3",
    }
}

fn minimum_protocol_version(v: spec::MinimumProtocolVersion) -> &'static str {
    use spec::MinimumProtocolVersion as V;
    match v {
        V::SSLv3 => "SSLv3",
        V::TLSv1 => "TLSv1",
        V::TLSv1_2016 => "TLSv1_2016",
        V::TLSv1_1_2016 => "TLSv1.1_2016",
        V::TLSv1_2_2018 => "TLSv1.2_2018",
        V::TLSv1_2_2019 => "TLSv1.2_2019",
        V::TLSv1_2_2021 => "TLSv1.2_2021",
        V::TLSv1_2_2025 => "TLSv1.2_2025",
        V::TLSv1_3_2025 => "TLSv1.3_2025",
    }
}

fn origin_protocol_policy(p: spec::OriginProtocolPolicy) -> &'static str {
    match p {
        spec::OriginProtocolPolicy::HttpOnly => "http-only",
        spec::OriginProtocolPolicy::MatchViewer => "match-viewer",
        spec::OriginProtocolPolicy::HttpsOnly => "https-only",
    }
}

fn viewer_protocol_policy(p: spec::ViewerProtocolPolicy) -> &'static str {
    match p {
        spec::ViewerProtocolPolicy::AllowAll => "allow-all",
        spec::ViewerProtocolPolicy::HttpsOnly => "https-only",
        spec::ViewerProtocolPolicy::RedirectToHttps => "redirect-to-https",
    }
}

fn event_type(e: spec::FunctionEventType) -> &'static str {
    match e {
        spec::FunctionEventType::ViewerRequest => "viewer-request",
        spec::FunctionEventType::ViewerResponse => "viewer-response",
        spec::FunctionEventType::OriginRequest => "origin-request",
        spec::FunctionEventType::OriginResponse => "origin-response",
    }
}

fn ssl_protocol(p: spec::OriginSslProtocol) -> &'static str {
    match p {
        spec::OriginSslProtocol::SSLv3 => "SSLv3",
        spec::OriginSslProtocol::TLSv1 => "TLSv1",
        spec::OriginSslProtocol::TLSv1_1 => "TLSv1.1",
        spec::OriginSslProtocol::TLSv1_2 => "TLSv1.2",
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// What one distribution's XML is made from: the validated model (what the edge serves) and the
/// file as written (for what the model does not keep: comment, price class, ...).
struct View<'a> {
    model: &'a Distribution,
    written: Option<&'a spec::Distribution>,
    topology: &'a Topology,
    aliases: Vec<String>,
}

impl<'a> View<'a> {
    fn new(
        model: &'a Distribution,
        written: Option<&'a spec::Distribution>,
        topology: &'a Topology,
    ) -> View<'a> {
        let aliases = match written {
            Some(w) => w.aliases.clone(),
            None => model
                .aliases
                .iter()
                .map(|a| match a {
                    Alias::Exact(name) => name.clone(),
                    Alias::Wildcard(suffix) => format!("*{suffix}"),
                })
                .collect(),
        };
        View {
            model,
            written,
            topology,
            aliases,
        }
    }

    fn aliases(&self) -> String {
        text_list("Aliases", "CNAME", &self.aliases)
    }

    fn origins(&self) -> String {
        let items: Vec<String> = self
            .model
            .origins
            .iter()
            .map(|o| {
                let written = self
                    .written
                    .and_then(|w| w.origins.iter().find(|wo| wo.id == o.id));
                let headers: Vec<String> = o
                    .custom_headers
                    .iter()
                    .map(|(name, value)| {
                        format!(
                            "<OriginCustomHeader>{}{}</OriginCustomHeader>",
                            el("HeaderName", name),
                            el("HeaderValue", value)
                        )
                    })
                    .collect();
                let config = match written.and_then(|w| w.s3_origin_config.as_ref()) {
                    Some(s3) => format!(
                        "<S3OriginConfig>{}<OriginReadTimeout>{}</OriginReadTimeout></S3OriginConfig>",
                        el("OriginAccessIdentity", &s3.origin_access_identity),
                        o.read_timeout.as_secs()
                    ),
                    None => {
                        let custom = written.and_then(|w| w.custom_origin_config.as_ref());
                        let protocols: Vec<&str> = match custom {
                            Some(c) if !c.origin_ssl_protocols.is_empty() => {
                                c.origin_ssl_protocols.iter().map(|p| ssl_protocol(*p)).collect()
                            }
                            _ => vec!["TLSv1.2"],
                        };
                        let address_type = custom
                            .and_then(|c| c.ip_address_type)
                            .map(|t| match t {
                                spec::IpAddressType::Ipv4 => "<IpAddressType>ipv4</IpAddressType>",
                                spec::IpAddressType::Ipv6 => "<IpAddressType>ipv6</IpAddressType>",
                                spec::IpAddressType::Dualstack => {
                                    "<IpAddressType>dualstack</IpAddressType>"
                                }
                            })
                            .unwrap_or("");
                        format!(
                            "<CustomOriginConfig><HTTPPort>{}</HTTPPort><HTTPSPort>{}</HTTPSPort><OriginProtocolPolicy>{}</OriginProtocolPolicy>{}<OriginReadTimeout>{}</OriginReadTimeout><OriginKeepaliveTimeout>{}</OriginKeepaliveTimeout>{address_type}</CustomOriginConfig>",
                            o.http_port,
                            o.https_port,
                            origin_protocol_policy(o.protocol_policy),
                            text_list("OriginSslProtocols", "SslProtocol", &protocols),
                            o.read_timeout.as_secs(),
                            o.keepalive_timeout.as_secs()
                        )
                    }
                };
                let shield = match written.and_then(|w| w.origin_shield.as_ref()) {
                    Some(s) => format!(
                        "<OriginShield><Enabled>{}</Enabled>{}</OriginShield>",
                        bool_text(s.enabled),
                        s.origin_shield_region
                            .as_deref()
                            .map(|r| el("OriginShieldRegion", r))
                            .unwrap_or_default()
                    ),
                    None => "<OriginShield><Enabled>false</Enabled></OriginShield>".into(),
                };
                let access_control = written
                    .and_then(|w| w.origin_access_control_id.as_deref())
                    .unwrap_or("");
                format!(
                    "<Origin>{}{}{}{}{config}<ConnectionAttempts>{}</ConnectionAttempts><ConnectionTimeout>{}</ConnectionTimeout>{shield}{}</Origin>",
                    el("Id", &o.id),
                    el("DomainName", &o.domain_name),
                    el("OriginPath", &o.origin_path),
                    quantity_list("CustomHeaders", &headers),
                    o.connection_attempts,
                    o.connection_timeout.as_secs(),
                    el("OriginAccessControlId", access_control)
                )
            })
            .collect();
        quantity_list("Origins", &items)
    }

    fn origin_groups(&self) -> String {
        let items: Vec<String> = self
            .model
            .origin_groups
            .iter()
            .map(|g| {
                let selection = self
                    .written
                    .and_then(|w| w.origin_groups.iter().find(|wg| wg.id == g.id))
                    .map(|wg| match wg.selection_criteria {
                        spec::SelectionCriteria::Default => "default",
                        spec::SelectionCriteria::MediaQualityBased => "media-quality-based",
                    })
                    .unwrap_or("default");
                let codes: Vec<String> = g
                    .failover_status_codes
                    .iter()
                    .map(|c| format!("<StatusCode>{c}</StatusCode>"))
                    .collect();
                let members: Vec<String> = g
                    .members
                    .iter()
                    .filter_map(|i| self.model.origins.get(*i))
                    .map(|o| {
                        format!(
                            "<OriginGroupMember>{}</OriginGroupMember>",
                            el("OriginId", &o.id)
                        )
                    })
                    .collect();
                format!(
                    "<OriginGroup>{}<FailoverCriteria>{}</FailoverCriteria>{}<SelectionCriteria>{selection}</SelectionCriteria></OriginGroup>",
                    el("Id", &g.id),
                    quantity_list("StatusCodes", &codes),
                    quantity_list("Members", &members)
                )
            })
            .collect();
        quantity_list("OriginGroups", &items)
    }

    fn target_origin_id(&self, b: &Behavior) -> &str {
        match b.target {
            OriginTarget::Origin(i) => self.model.origins.get(i).map(|o| o.id.as_str()),
            OriginTarget::Group(i) => self.model.origin_groups.get(i).map(|g| g.id.as_str()),
        }
        .unwrap_or("")
    }

    /// The children of a cache behavior (the default one when `written` is the default).
    fn behavior(&self, b: &Behavior, written: Option<&spec::CacheBehavior>) -> String {
        let mut x = String::new();
        if let Some(p) = &b.path_pattern {
            x.push_str(&el("PathPattern", p.as_str()));
        }
        x.push_str(&el("TargetOriginId", self.target_origin_id(b)));
        x.push_str(
            "<TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>",
        );
        let key_groups: &[String] = written
            .map(|w| w.trusted_key_groups.as_slice())
            .unwrap_or(&[]);
        let key_group_items: Vec<String> = key_groups.iter().map(|k| el("KeyGroup", k)).collect();
        if key_group_items.is_empty() {
            x.push_str("<TrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></TrustedKeyGroups>");
        } else {
            x.push_str(&format!(
                "<TrustedKeyGroups><Enabled>true</Enabled><Quantity>{}</Quantity><Items>{}</Items></TrustedKeyGroups>",
                key_group_items.len(),
                key_group_items.concat()
            ));
        }
        x.push_str(&el(
            "ViewerProtocolPolicy",
            viewer_protocol_policy(b.viewer_protocol_policy),
        ));
        let allowed: Vec<&str> = b.allowed_methods.iter().map(|m| m.as_str()).collect();
        let cached: Vec<&str> = b.cached_methods.iter().map(|m| m.as_str()).collect();
        let allowed = text_list("AllowedMethods", "Method", &allowed);
        let cached = text_list("CachedMethods", "Method", &cached);
        // CachedMethods sits inside AllowedMethods in the API's shape.
        x.push_str(&allowed.replace("</AllowedMethods>", &format!("{cached}</AllowedMethods>")));
        let smooth = written.is_some_and(|w| w.smooth_streaming);
        x.push_str(&format!(
            "<SmoothStreaming>{}</SmoothStreaming><Compress>{}</Compress>",
            bool_text(smooth),
            bool_text(b.compress)
        ));
        let lambdas: Vec<String> = written
            .map(|w| w.lambda_function_associations.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|l| {
                format!(
                    "<LambdaFunctionAssociation>{}<EventType>{}</EventType><IncludeBody>{}</IncludeBody></LambdaFunctionAssociation>",
                    el("LambdaFunctionARN", &l.lambda_arn),
                    event_type(l.event_type),
                    bool_text(l.include_body)
                )
            })
            .collect();
        x.push_str(&quantity_list("LambdaFunctionAssociations", &lambdas));
        let functions: Vec<String> = written
            .map(|w| w.function_associations.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|f| {
                format!(
                    "<FunctionAssociation>{}<EventType>{}</EventType></FunctionAssociation>",
                    el("FunctionARN", &f.function_arn),
                    event_type(f.event_type)
                )
            })
            .collect();
        x.push_str(&quantity_list("FunctionAssociations", &functions));
        x.push_str(&el(
            "FieldLevelEncryptionId",
            written
                .and_then(|w| w.field_level_encryption_id.as_deref())
                .unwrap_or(""),
        ));
        if let Some(arn) = written.and_then(|w| w.realtime_log_config_arn.as_deref()) {
            x.push_str(&el("RealtimeLogConfigArn", arn));
        }
        let policy = &b.cache_policy;
        if policy.is_legacy() {
            x.push_str(&forwarded_values(
                written.and_then(|w| w.forwarded_values.as_ref()),
            ));
            x.push_str(&format!(
                "<MinTTL>{}</MinTTL><DefaultTTL>{}</DefaultTTL><MaxTTL>{}</MaxTTL>",
                policy.ttl.min_ttl, policy.ttl.default_ttl, policy.ttl.max_ttl
            ));
        } else {
            let id = match policy.managed_id {
                Some(id) => id.to_string(),
                None => policy_id("cache", &policy.name),
            };
            x.push_str(&el("CachePolicyId", &id));
        }
        if let Some(p) = &b.origin_request_policy {
            let id = match p.managed_id {
                Some(id) => id.to_string(),
                None => policy_id("origin-request", &p.policy.name),
            };
            x.push_str(&el("OriginRequestPolicyId", &id));
        }
        if let Some(p) = &b.response_headers_policy {
            let id = match p.managed_id {
                Some(id) => id.to_string(),
                None => policy_id("response-headers", &p.policy.name),
            };
            x.push_str(&el("ResponseHeadersPolicyId", &id));
        }
        x
    }

    fn default_behavior(&self) -> String {
        let inner = match self.model.behaviors.last() {
            Some(b) => self.behavior(b, self.written.map(|w| &w.default_cache_behavior)),
            None => String::new(),
        };
        format!("<DefaultCacheBehavior>{inner}</DefaultCacheBehavior>")
    }

    fn cache_behaviors(&self) -> String {
        let n = self.model.behaviors.len().saturating_sub(1);
        let items: Vec<String> = self.model.behaviors[..n]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let written = self.written.and_then(|w| w.cache_behaviors.get(i));
                format!(
                    "<CacheBehavior>{}</CacheBehavior>",
                    self.behavior(b, written)
                )
            })
            .collect();
        quantity_list("CacheBehaviors", &items)
    }

    fn custom_error_responses(&self) -> String {
        let items: Vec<String> = self
            .model
            .custom_error_responses
            .iter()
            .map(|e| {
                format!(
                    "<CustomErrorResponse><ErrorCode>{}</ErrorCode>{}{}<ErrorCachingMinTTL>{}</ErrorCachingMinTTL></CustomErrorResponse>",
                    e.error_code,
                    el("ResponsePagePath", e.response_page_path.as_deref().unwrap_or("")),
                    el(
                        "ResponseCode",
                        &e.response_code.map(|c| c.to_string()).unwrap_or_default()
                    ),
                    e.error_caching_min_ttl.unwrap_or(10)
                )
            })
            .collect();
        quantity_list("CustomErrorResponses", &items)
    }

    fn viewer_certificate(&self) -> String {
        let minimum = minimum_protocol_version(self.model.minimum_protocol_version);
        let aws = self
            .topology
            .spec
            .aws
            .as_ref()
            .and_then(|a| a.viewer_certificate.as_ref());
        let support = |v: &spec::ViewerCertificate| match v.ssl_support_method {
            Some(spec::SslSupportMethod::Vip) => "vip",
            Some(spec::SslSupportMethod::StaticIp) => "static-ip",
            _ => "sni-only",
        };
        match aws {
            Some(v) if v.acm_certificate_arn.is_some() => format!(
                "<ViewerCertificate><CloudFrontDefaultCertificate>false</CloudFrontDefaultCertificate>{}<SSLSupportMethod>{}</SSLSupportMethod><MinimumProtocolVersion>{minimum}</MinimumProtocolVersion><CertificateSource>acm</CertificateSource></ViewerCertificate>",
                el("ACMCertificateArn", v.acm_certificate_arn.as_deref().unwrap_or("")),
                support(v)
            ),
            Some(v) if v.iam_certificate_id.is_some() => format!(
                "<ViewerCertificate><CloudFrontDefaultCertificate>false</CloudFrontDefaultCertificate>{}<SSLSupportMethod>{}</SSLSupportMethod><MinimumProtocolVersion>{minimum}</MinimumProtocolVersion><CertificateSource>iam</CertificateSource></ViewerCertificate>",
                el("IAMCertificateId", v.iam_certificate_id.as_deref().unwrap_or("")),
                support(v)
            ),
            _ => format!(
                "<ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate><SSLSupportMethod>vip</SSLSupportMethod><MinimumProtocolVersion>{minimum}</MinimumProtocolVersion><CertificateSource>cloudfront</CertificateSource></ViewerCertificate>"
            ),
        }
    }

    fn restrictions(&self) -> String {
        let (kind, locations) = match self.written.and_then(|w| w.restrictions.as_ref()) {
            Some(r) => (
                match r.geo_restriction.restriction_type {
                    spec::GeoRestrictionType::None => "none",
                    spec::GeoRestrictionType::Whitelist => "whitelist",
                    spec::GeoRestrictionType::Blacklist => "blacklist",
                },
                r.geo_restriction.locations.as_slice(),
            ),
            None => ("none", &[][..]),
        };
        let list = text_list("X", "Location", locations);
        let inner = list
            .strip_prefix("<X>")
            .and_then(|l| l.strip_suffix("</X>"))
            .unwrap_or("");
        format!("<Restrictions><GeoRestriction><RestrictionType>{kind}</RestrictionType>{inner}</GeoRestriction></Restrictions>")
    }

    fn logging(&self) -> String {
        match self.written.and_then(|w| w.logging_config.as_ref()) {
            Some(l) => format!(
                "<Logging><Enabled>true</Enabled><IncludeCookies>{}</IncludeCookies>{}{}</Logging>",
                bool_text(l.include_cookies),
                el("Bucket", &l.bucket),
                el("Prefix", &l.prefix)
            ),
            None => "<Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket></Bucket><Prefix></Prefix></Logging>".into(),
        }
    }

    fn comment(&self) -> String {
        el(
            "Comment",
            self.written
                .and_then(|w| w.comment.as_deref())
                .unwrap_or(""),
        )
    }

    fn price_class(&self) -> &'static str {
        match self.written.and_then(|w| w.price_class) {
            Some(spec::PriceClass::PriceClass_100) => "PriceClass_100",
            Some(spec::PriceClass::PriceClass_200) => "PriceClass_200",
            _ => "PriceClass_All",
        }
    }

    /// What `DistributionConfig` and `DistributionSummary` share, in the API's order.
    fn common_tail(&self) -> String {
        format!(
            "<PriceClass>{}</PriceClass><Enabled>{}</Enabled>{}{}{}<HttpVersion>{}</HttpVersion><IsIPV6Enabled>{}</IsIPV6Enabled><Staging>false</Staging>",
            self.price_class(),
            bool_text(self.model.enabled),
            self.viewer_certificate(),
            self.restrictions(),
            el(
                "WebACLId",
                self.written
                    .and_then(|w| w.web_acl_id.as_deref())
                    .unwrap_or("")
            ),
            http_version(self.model.http_version),
            bool_text(self.written.is_none_or(|w| w.is_ipv6_enabled)),
        )
    }

    fn config(&self) -> String {
        format!(
            "{}{}{}{}{}{}{}{}{}{}{}",
            el(
                "CallerReference",
                &format!("ferry-{}-{}", self.topology.spec.stack, self.model.id)
            ),
            self.aliases(),
            el(
                "DefaultRootObject",
                self.model.default_root_object.as_deref().unwrap_or("")
            ),
            self.origins(),
            self.origin_groups(),
            self.default_behavior(),
            self.cache_behaviors(),
            self.custom_error_responses(),
            self.comment(),
            self.logging(),
            self.common_tail()
        )
    }

    fn summary(&self) -> String {
        format!(
            "{}{}{}{}{}{}{}{}",
            self.aliases(),
            self.origins(),
            self.origin_groups(),
            self.default_behavior(),
            self.cache_behaviors(),
            self.custom_error_responses(),
            self.comment(),
            self.common_tail()
        )
    }
}

/// A behavior's legacy cache settings in the API's `ForwardedValues` shape.
fn forwarded_values(f: Option<&spec::ForwardedValues>) -> String {
    let Some(f) = f else {
        return "<ForwardedValues><QueryString>false</QueryString><Cookies><Forward>none</Forward></Cookies><Headers><Quantity>0</Quantity></Headers><QueryStringCacheKeys><Quantity>0</Quantity></QueryStringCacheKeys></ForwardedValues>".into();
    };
    let forward = match f.cookies.forward {
        spec::ForwardCookies::None => "none",
        spec::ForwardCookies::Whitelist => "whitelist",
        spec::ForwardCookies::All => "all",
    };
    let names = if f.cookies.forward == spec::ForwardCookies::Whitelist {
        text_list("WhitelistedNames", "Name", &f.cookies.whitelisted_names)
    } else {
        String::new()
    };
    format!(
        "<ForwardedValues><QueryString>{}</QueryString><Cookies><Forward>{forward}</Forward>{names}</Cookies>{}{}</ForwardedValues>",
        bool_text(f.query_string),
        text_list("Headers", "Name", &f.headers),
        text_list("QueryStringCacheKeys", "Name", &f.query_string_cache_keys)
    )
}

impl Listed {
    fn distribution_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Distribution xmlns=\"{XMLNS}\">{}{}<Status>Deployed</Status><LastModifiedTime>{}</LastModifiedTime><InProgressInvalidationBatches>0</InProgressInvalidationBatches>{}<ActiveTrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedSigners><ActiveTrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></ActiveTrustedKeyGroups><DistributionConfig>{}</DistributionConfig></Distribution>\n",
            el("Id", &self.model.id),
            el("ARN", &self.arn),
            self.last_modified,
            el("DomainName", &self.domain_name),
            self.config
        )
    }

    fn config_xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DistributionConfig xmlns=\"{XMLNS}\">{}</DistributionConfig>\n",
            self.config
        )
    }

    fn summary_xml(&self) -> String {
        format!(
            "<DistributionSummary>{}{}<Status>Deployed</Status><LastModifiedTime>{}</LastModifiedTime>{}{}</DistributionSummary>",
            el("Id", &self.model.id),
            el("ARN", &self.arn),
            self.last_modified,
            el("DomainName", &self.domain_name),
            self.summary
        )
    }
}

// -------------------------------------------------------------------------------------- XML in

/// One element of a request body: its local name (namespace prefix dropped), children and text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Admin request bodies are small and shallow; deeper nesting is refused, not recursed into.
const MAX_DEPTH: usize = 32;

/// A strict little XML reader for request bodies: well-formedness (matched tags, quoted
/// attributes, known entities), no DTDs.
struct XmlReader<'a> {
    s: &'a str,
    pos: usize,
}

fn parse_xml(input: &str) -> Result<Element, String> {
    let mut r = XmlReader {
        s: input.strip_prefix('\u{feff}').unwrap_or(input),
        pos: 0,
    };
    r.misc()?;
    if r.rest().starts_with("<!") {
        return Err("document type declarations are not accepted".into());
    }
    if !r.rest().starts_with('<') {
        return Err("the body does not start with an element".into());
    }
    let root = r.element(0)?;
    r.misc()?;
    if !r.rest().is_empty() {
        return Err("there is content after the root element".into());
    }
    Ok(root)
}

impl<'a> XmlReader<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.pos += rest.len() - trimmed.len();
    }

    /// Whitespace, processing instructions and comments.
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.rest().starts_with("<?") {
                self.skip_past("?>")?;
            } else if self.rest().starts_with("<!--") {
                self.skip_past("-->")?;
            } else {
                return Ok(());
            }
        }
    }

    /// Moves past `end`; returns what came before it.
    fn skip_past(&mut self, end: &str) -> Result<&'a str, String> {
        let rest = self.rest();
        match rest.find(end) {
            Some(i) => {
                self.pos += i + end.len();
                Ok(&rest[..i])
            }
            None => Err(format!("`{end}` is missing")),
        }
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '>' | '=' | '<'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'));
        if !valid {
            return Err(format!("`{}` is not an XML name", name.escape_debug()));
        }
        self.pos += end;
        Ok(name)
    }

    /// The element starting at `<`.
    fn element(&mut self, depth: usize) -> Result<Element, String> {
        if depth > MAX_DEPTH {
            return Err("elements are nested too deeply".into());
        }
        self.pos += 1;
        let qname = self.name()?;
        let local = qname.rsplit(':').next().unwrap_or(qname);
        let mut element = Element {
            name: local.to_string(),
            ..Element::default()
        };
        loop {
            self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                return Ok(element);
            }
            if rest.starts_with('>') {
                self.pos += 1;
                break;
            }
            if rest.is_empty() {
                return Err(format!("<{qname}> is not closed"));
            }
            self.name()?;
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(format!("an attribute of <{qname}> has no value"));
            }
            self.pos += 1;
            self.skip_ws();
            let quote = if self.rest().starts_with('"') {
                "\""
            } else if self.rest().starts_with('\'') {
                "'"
            } else {
                return Err(format!("an attribute value of <{qname}> is not quoted"));
            };
            self.pos += 1;
            let value = self.skip_past(quote)?;
            if value.contains('<') {
                return Err(format!("an attribute value of <{qname}> contains `<`"));
            }
            decode(value)?;
        }
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(format!("<{qname}> is not closed"));
            }
            if rest.starts_with("</") {
                self.pos += 2;
                let close = self.name()?;
                if close != qname {
                    return Err(format!("</{close}> closes <{qname}>"));
                }
                self.skip_ws();
                if !self.rest().starts_with('>') {
                    return Err(format!("</{close}> is not closed"));
                }
                self.pos += 1;
                return Ok(element);
            }
            if rest.starts_with("<!--") {
                self.skip_past("-->")?;
            } else if rest.starts_with("<![CDATA[") {
                self.pos += "<![CDATA[".len();
                let text = self.skip_past("]]>")?;
                element.text.push_str(text);
            } else if rest.starts_with("<?") {
                self.skip_past("?>")?;
            } else if rest.starts_with('<') {
                let child = self.element(depth + 1)?;
                element.children.push(child);
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                element.text.push_str(&decode(&rest[..end])?);
                self.pos += end;
            }
        }
    }
}

/// Character data with its entity and character references replaced.
fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after
            .find(';')
            .filter(|e| *e <= 10)
            .ok_or("an `&` starts no entity reference")?;
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("`&{entity};` is not a known entity"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An InvalidationBatch, read and checked against the API's schema.
#[derive(Debug)]
struct Batch {
    paths: Vec<String>,
    caller_reference: String,
}

fn malformed(message: &str) -> Reply {
    xml_error(400, "MalformedXML", message)
}

/// AWS's message for a required member that is missing.
fn null_member(path: &str) -> Reply {
    malformed(&format!(
        "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
    ))
}

fn parse_batch(body: &str) -> Result<Batch, Reply> {
    if body.trim().is_empty() {
        return Err(null_member("invalidationBatch"));
    }
    let root = parse_xml(body).map_err(|why| {
        malformed(&format!(
            "The XML you provided was not well-formed or did not validate against our published schema: {why}"
        ))
    })?;
    if root.name != "InvalidationBatch" {
        return Err(null_member("invalidationBatch"));
    }
    let paths = root
        .child("Paths")
        .ok_or_else(|| null_member("invalidationBatch.paths"))?;
    let quantity = paths
        .child("Quantity")
        .ok_or_else(|| null_member("invalidationBatch.paths.quantity"))?;
    let quantity: usize = quantity.text.trim().parse().map_err(|_| {
        malformed(&format!(
            "Quantity `{}` is not a whole number",
            quantity.text.trim()
        ))
    })?;
    let mut items = Vec::new();
    if let Some(list) = paths.child("Items") {
        for item in &list.children {
            if item.name != "Path" {
                return Err(malformed(&format!(
                    "<{}> in Paths/Items: the items of Paths are <Path> elements",
                    item.name
                )));
            }
            items.push(item.text.clone());
        }
    }
    let caller_reference = root
        .child("CallerReference")
        .ok_or_else(|| null_member("invalidationBatch.callerReference"))?
        .text
        .clone();
    if quantity != items.len() {
        return Err(xml_error(
            400,
            "InconsistentQuantities",
            &format!(
                "The value of Quantity ({quantity}) and the size of Items ({}) don't match.",
                items.len()
            ),
        ));
    }
    if caller_reference.is_empty() {
        return Err(xml_error(
            400,
            "InvalidArgument",
            "CallerReference must not be empty.",
        ));
    }
    Ok(Batch {
        paths: items,
        caller_reference,
    })
}

/// Checks every path of a batch and CloudFront's quotas on paths in flight, before anything is
/// invalidated: a batch is carried out whole or not at all.
fn check_paths(paths: &[String]) -> Result<(), Reply> {
    if paths.is_empty() {
        return Err(xml_error(
            400,
            "InvalidArgument",
            "Your request contains no invalidation paths: give at least one.",
        ));
    }
    let mut wildcards = 0;
    for p in paths {
        match InvalidationPath::parse(p) {
            Ok(parsed) if parsed.is_wildcard() => wildcards += 1,
            Ok(_) => {}
            Err(why) => {
                return Err(xml_error(
                    400,
                    "InvalidArgument",
                    &format!("Your request contains one or more invalid invalidation paths: {why}"),
                ))
            }
        }
    }
    let individual = paths.len() - wildcards;
    if individual > MAX_PATHS_IN_FLIGHT || wildcards > MAX_WILDCARDS_IN_FLIGHT {
        return Err(xml_error(
            400,
            "TooManyInvalidationsInProgress",
            &format!(
                "Processing your request would cause the maximum number of in-progress invalidations to be exceeded: this batch has {individual} individual paths (at most {MAX_PATHS_IN_FLIGHT} in progress) and {wildcards} wildcard paths (at most {MAX_WILDCARDS_IN_FLIGHT} in progress)."
            ),
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------- routing

/// `Marker` and `MaxItems` of a list request.
struct Page {
    marker: Option<String>,
    max_items: usize,
}

fn page(query: Option<&str>) -> Result<Page, Reply> {
    let mut page = Page {
        marker: None,
        max_items: DEFAULT_MAX_ITEMS,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "Marker" if !v.is_empty() => page.marker = Some(v.into_owned()),
            "MaxItems" => {
                page.max_items = v.parse().map_err(|_| {
                    xml_error(
                        400,
                        "InvalidArgument",
                        &format!("MaxItems `{v}` is not a whole number"),
                    )
                })?
            }
            _ => {}
        }
    }
    Ok(page)
}

/// The page of `items` after `marker` (an id), and the marker of the next page when there is one.
fn paginate<'a, T>(
    items: &'a [T],
    id: impl Fn(&T) -> &str,
    page: &Page,
) -> (&'a [T], Option<String>) {
    let start = match &page.marker {
        Some(m) => items
            .iter()
            .position(|i| id(i) == m)
            .map(|p| p + 1)
            .unwrap_or(items.len()),
        None => 0,
    };
    let rest = &items[start..];
    if rest.len() > page.max_items {
        let shown = &rest[..page.max_items];
        let next = shown.last().map(|i| id(i).to_string());
        (shown, next)
    } else {
        (rest, None)
    }
}

fn list_xml(root: &str, page: &Page, shown: usize, next: Option<String>, items: String) -> String {
    let items = if shown == 0 {
        String::new()
    } else {
        format!("<Items>{items}</Items>")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">{}{}<MaxItems>{}</MaxItems><IsTruncated>{}</IsTruncated><Quantity>{shown}</Quantity>{items}</{root}>\n",
        el("Marker", page.marker.as_deref().unwrap_or("")),
        next.as_deref().map(|n| el("NextMarker", n)).unwrap_or_default(),
        page.max_items,
        bool_text(next.is_some()),
    )
}

fn xml(status: u16, body: String) -> Reply {
    Reply::new(status, "text/xml", body)
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

impl Admin {
    fn invalidation_count(&self) -> usize {
        self.distributions
            .iter()
            .map(|d| self.cache.invalidations.list(&d.model.id).len())
            .sum()
    }

    fn cache_stats(&self) -> Reply {
        let results = crate::metrics::cache_results();
        let (hits, misses) = totals(&results);
        let per: Vec<String> = self
            .distributions
            .iter()
            .map(|d| {
                let (h, m) = results.get(&d.model.id).copied().unwrap_or((0, 0));
                format!("{}:{}", json_str(&d.model.id), lookups(h, m))
            })
            .collect();
        let stats = format!(
            "{{\"objects\":{},\"bytes\":{},\"invalidations\":{},{},\"distributions\":{{{}}}}}\n",
            self.cache.store.entry_count(),
            self.cache.store.weighted_size(),
            self.invalidation_count(),
            lookups_fields(hits, misses),
            per.join(",")
        );
        Reply::new(200, "application/json", stats)
    }

    /// The edge's part of `GET /ferry/status`: `{"edge": {...}}`.
    fn status(&self) -> Reply {
        let results = crate::metrics::cache_results();
        let listeners: Vec<String> = self
            .listeners
            .iter()
            .map(|(what, address)| {
                let scheme = if what.contains("https") {
                    "https"
                } else {
                    "http"
                };
                format!(
                    "{{\"name\":{},\"address\":{},\"scheme\":\"{scheme}\"}}",
                    json_str(what),
                    json_str(&address.to_string())
                )
            })
            .collect();
        let distributions: Vec<String> = self
            .distributions
            .iter()
            .map(|d| {
                let m = &d.model;
                let aliases: Vec<String> = d.aliases.iter().map(|a| json_str(a)).collect();
                let origins: Vec<String> = m
                    .origins
                    .iter()
                    .map(|o| {
                        let port = match o.protocol_policy {
                            spec::OriginProtocolPolicy::HttpsOnly => o.https_port,
                            _ => o.http_port,
                        };
                        format!(
                            "{{\"id\":{},\"domain_name\":{},\"port\":{port},\"protocol_policy\":\"{}\"}}",
                            json_str(&o.id),
                            json_str(&o.domain_name),
                            origin_protocol_policy(o.protocol_policy)
                        )
                    })
                    .collect();
                let behaviors: Vec<String> = m
                    .behaviors
                    .iter()
                    .map(|b| {
                        let target = match b.target {
                            OriginTarget::Origin(i) => m.origins.get(i).map(|o| o.id.as_str()),
                            OriginTarget::Group(i) => {
                                m.origin_groups.get(i).map(|g| g.id.as_str())
                            }
                        }
                        .unwrap_or("");
                        let policy = if b.cache_policy.is_legacy() {
                            "(legacy cache settings)"
                        } else {
                            b.cache_policy.name.as_str()
                        };
                        format!(
                            "{{\"path_pattern\":{},\"target_origin_id\":{},\"cache_policy\":{}}}",
                            json_str(b.path_pattern.as_ref().map(|p| p.as_str()).unwrap_or("*")),
                            json_str(target),
                            json_str(policy)
                        )
                    })
                    .collect();
                let (hits, misses) = results.get(&m.id).copied().unwrap_or((0, 0));
                format!(
                    "{{\"id\":{},\"enabled\":{},\"domain_name\":{},\"aliases\":[{}],\"origins\":[{}],\"behaviors\":[{}],\"invalidations\":{},{}}}",
                    json_str(&m.id),
                    m.enabled,
                    json_str(&d.domain_name),
                    aliases.join(","),
                    origins.join(","),
                    behaviors.join(","),
                    self.cache.invalidations.list(&m.id).len(),
                    lookups_fields(hits, misses)
                )
            })
            .collect();
        let (hits, misses) = totals(&results);
        let body = format!(
            "{{\"edge\":{{\"pop\":{},\"listeners\":[{}],\"cache\":{{\"objects\":{},\"bytes\":{},\"capacity\":{},\"invalidations\":{},{}}},\"distributions\":[{}]}}}}\n",
            self.pop.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
            listeners.join(","),
            self.cache.store.entry_count(),
            self.cache.store.weighted_size(),
            self.cache_capacity,
            self.invalidation_count(),
            lookups_fields(hits, misses),
            distributions.join(",")
        );
        Reply::new(200, "application/json", body)
    }

    fn list_distributions(&self, query: Option<&str>) -> Reply {
        let page = match page(query) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let (shown, next) = paginate(&self.distributions, |d| d.model.id.as_str(), &page);
        let items: String = shown.iter().map(Listed::summary_xml).collect();
        xml(
            200,
            list_xml("DistributionList", &page, shown.len(), next, items),
        )
    }

    fn list_invalidations(&self, distribution: &str, query: Option<&str>) -> Reply {
        let page = match page(query) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let all = self.cache.invalidations.list(distribution);
        let (shown, next) = paginate(&all, |i| i.id.as_str(), &page);
        let items: String = shown
            .iter()
            .map(|i| {
                format!(
                    "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>",
                    i.id,
                    iso8601(i.create_time),
                    i.status
                )
            })
            .collect();
        xml(
            200,
            list_xml("InvalidationList", &page, shown.len(), next, items),
        )
    }

    fn route(&self, request: &Request<'_>) -> Reply {
        let (method, path) = (request.method, request.path);
        if path == "/cache/stats" && method == "GET" {
            return self.cache_stats();
        }
        if path == "/ferry/status" && method == "GET" {
            return self.status();
        }
        if path == API || path == format!("{API}/") {
            return match method {
                "GET" => self.list_distributions(request.query),
                _ => not_served(method, path),
            };
        }
        let Some(rest) = path.strip_prefix(API).and_then(|r| r.strip_prefix('/')) else {
            return xml_error(404, "NotFound", &format!("no admin resource at {path}"));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let id = parts.first().copied().unwrap_or("");
        let Some(listed) = self.find(id) else {
            return xml_error(
                404,
                "NoSuchDistribution",
                &format!("The specified distribution does not exist: {id}"),
            );
        };
        match (method, parts.as_slice()) {
            ("GET", [_]) => xml(200, listed.distribution_xml()),
            ("GET", [_, "config"]) => xml(200, listed.config_xml()),
            ("POST", [_, "invalidation"]) => self.create(id, request.body),
            ("GET", [_, "invalidation"]) => self.list_invalidations(id, request.query),
            ("GET", [_, "invalidation", invalidation]) => {
                match self.cache.invalidations.get(id, invalidation) {
                    Some(i) => xml(200, invalidation_xml(&i)),
                    None => xml_error(
                        404,
                        "NoSuchInvalidation",
                        &format!("The specified invalidation does not exist: {invalidation}"),
                    ),
                }
            }
            _ => not_served(method, path),
        }
    }

    fn create(&self, distribution: &str, body: &str) -> Reply {
        let batch = match parse_batch(body) {
            Ok(b) => b,
            Err(e) => return e,
        };
        if let Err(e) = check_paths(&batch.paths) {
            return e;
        }
        match self.cache.invalidations.create(
            self.cache.store,
            distribution,
            batch.paths,
            batch.caller_reference,
        ) {
            Ok((i, created)) => {
                tracing::info!(distribution, id = %i.id, removed = i.objects_removed, "invalidation");
                let mut shown = i.clone();
                if created {
                    // The batch is carried out before this answer; CloudFront's first answer says
                    // InProgress, and GetInvalidation then says Completed.
                    shown.status = "InProgress";
                }
                let mut reply = xml(if created { 201 } else { 200 }, invalidation_xml(&shown));
                reply.location = Some(format!(
                    "https://cloudfront.amazonaws.com{API}/{distribution}/invalidation/{}",
                    i.id
                ));
                reply
            }
            Err(CreateError::NoPaths) => xml_error(
                400,
                "InvalidArgument",
                "Your request contains no invalidation paths: give at least one.",
            ),
            Err(CreateError::BadPath(why)) => xml_error(400, "InvalidArgument", &why),
            Err(CreateError::BatchAlreadyExists(id)) => xml_error(
                409,
                "InvalidationBatchAlreadyExists",
                &format!("CallerReference was already used for invalidation {id} with other paths"),
            ),
        }
    }
}

/// Hits and misses summed over the distributions.
fn totals(results: &std::collections::BTreeMap<String, (u64, u64)>) -> (u64, u64) {
    results
        .values()
        .fold((0, 0), |(h, m), (a, b)| (h + a, m + b))
}

/// `"hits":H,"misses":M,"hit_ratio":R` (R null before the first lookup).
fn lookups_fields(hits: u64, misses: u64) -> String {
    let ratio = match hits + misses {
        0 => "null".to_string(),
        n => format!("{:.4}", hits as f64 / n as f64),
    };
    format!("\"hits\":{hits},\"misses\":{misses},\"hit_ratio\":{ratio}")
}

/// `{"hits":H,"misses":M,"hit_ratio":R}`.
fn lookups(hits: u64, misses: u64) -> String {
    format!("{{{}}}", lookups_fields(hits, misses))
}

fn not_served(method: &str, path: &str) -> Reply {
    xml_error(
        405,
        "MethodNotAllowed",
        &format!(
            "{method} {path} is not served: ferry's admin listener serves invalidations and a read-only view of the distributions"
        ),
    )
}

impl Handler for Admin {
    fn handle(&self, request: &Request<'_>) -> Option<Reply> {
        let is_ours = request.path == "/cache/stats"
            || request.path == "/ferry/status"
            || request.path == API
            || request.path.starts_with(&format!("{API}/"));
        if !is_ours {
            return None;
        }
        Some(self.route(request))
    }

    fn refresh(&self) {
        crate::metrics::cache(
            self.cache.store.entry_count(),
            self.cache.store.weighted_size(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + std::time::Duration::from_millis(1_764_028_800_123)),
            "2025-11-25T00:00:00.123Z"
        );
        let id = policy_id("cache", "short");
        assert_eq!(id, policy_id("cache", "short"));
        assert_ne!(id, policy_id("origin-request", "short"));
        assert_eq!(id.len(), 36);
        assert_eq!(
            id.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }

    #[test]
    fn reading_xml() {
        let root = parse_xml(
            "<?xml version=\"1.0\"?>\n<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>2</Quantity><Items><Path>/x</Path><Path>/y&amp;z&#x41;</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>",
        )
        .expect("well-formed");
        assert_eq!(root.name, "InvalidationBatch");
        let batch = parse_batch(
            "<InvalidationBatch><Paths><Quantity>2</Quantity><Items><Path>/x</Path><Path>/y&amp;z&#x41;</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>",
        )
        .expect("a batch");
        assert_eq!(batch.paths, ["/x", "/y&zA"]);
        assert_eq!(batch.caller_reference, "r");
        for bad in [
            "this is not xml",
            "<InvalidationBatch>",
            "<a><b></a></b>",
            "<a>&nope;</a>",
            "<a x=1></a>",
            "<a></a><b></b>",
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        ] {
            assert!(parse_xml(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse_xml(&deep).is_err());
    }

    fn code(reply: &Reply) -> String {
        let body = &reply.body;
        let start = body.find("<Code>").map(|i| i + 6).unwrap_or(0);
        let end = body.find("</Code>").unwrap_or(0);
        body.get(start..end).unwrap_or("").to_string()
    }

    #[test]
    fn bad_batches() {
        let e = parse_batch("not xml").expect_err("malformed");
        assert_eq!((e.status, code(&e).as_str()), (400, "MalformedXML"));
        let e = parse_batch("").expect_err("empty");
        assert_eq!(code(&e), "MalformedXML");
        let e = parse_batch("<InvalidationBatch><Paths><Quantity>2</Quantity><Items><Path>/a</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch>").expect_err("quantity");
        assert_eq!(code(&e), "InconsistentQuantities");
        let e = parse_batch("<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/a</Path></Items></Paths></InvalidationBatch>").expect_err("no reference");
        assert_eq!(code(&e), "MalformedXML");

        let e = check_paths(&["a".to_string()]).expect_err("no slash");
        assert_eq!((e.status, code(&e).as_str()), (400, "InvalidArgument"));
        let many: Vec<String> = (0..=MAX_PATHS_IN_FLIGHT)
            .map(|i| format!("/p/{i}"))
            .collect();
        let e = check_paths(&many).expect_err("3,001 paths");
        assert_eq!(
            (e.status, code(&e).as_str()),
            (400, "TooManyInvalidationsInProgress")
        );
        assert!(check_paths(&many[..MAX_PATHS_IN_FLIGHT]).is_ok());
        let wild: Vec<String> = (0..=MAX_WILDCARDS_IN_FLIGHT)
            .map(|i| format!("/w/{i}/*"))
            .collect();
        let e = check_paths(&wild).expect_err("16 wildcards");
        assert_eq!(code(&e), "TooManyInvalidationsInProgress");
        assert!(check_paths(&wild[..MAX_WILDCARDS_IN_FLIGHT]).is_ok());
    }

    #[test]
    fn pages() {
        let items = ["a", "b", "c"];
        let p = Page {
            marker: None,
            max_items: 2,
        };
        let (shown, next) = paginate(&items, |s| s, &p);
        assert_eq!((shown, next.as_deref()), (&items[..2], Some("b")));
        let p = Page {
            marker: Some("b".into()),
            max_items: 2,
        };
        let (shown, next) = paginate(&items, |s| s, &p);
        assert_eq!((shown, next), (&items[2..], None));
    }
}
