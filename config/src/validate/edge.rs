//! Validation of the CloudFront side: the `[edge]` section, policies and distributions.

use super::Ctx;
use crate::error::FieldPath;
use crate::managed::{self, Managed, PREFIX};
use crate::model::{
    self, Alias, Behavior, CachePolicy, CertificateFiles, NamedPolicy, OriginTarget,
};
use crate::pattern;
use crate::spec::{self, Method, Spec};
use crate::suggest;
use crate::tls;
use crate::ttl::TtlSettings;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_TTL: u64 = 86_400;
const MAX_TTL: u64 = 31_536_000;

pub(super) fn edge_and_distributions(
    ctx: &mut Ctx<'_, '_>,
    spec: &Spec,
    base_dir: &Path,
) -> (Option<model::Edge>, Vec<Arc<model::Distribution>>) {
    let root = FieldPath::root();
    let policies = Policies::new(ctx, spec, base_dir);

    let ids = ctx.unique(
        "distribution id",
        spec.distributions
            .iter()
            .enumerate()
            .map(|(i, d)| (root.key("distributions").index(i).key("id"), d.id.as_str())),
    );
    let mut aliases_seen: HashMap<String, usize> = HashMap::new();
    let mut distributions = Vec::new();
    for (i, d) in spec.distributions.iter().enumerate() {
        let path = root.key("distributions").index(i);
        for (j, alias) in d.aliases.iter().enumerate() {
            let lower = alias.to_ascii_lowercase();
            match aliases_seen.insert(lower.clone(), i) {
                Some(first) if first == i => ctx.error(
                    &path.key("aliases").index(j),
                    format!("alias `{alias}` is listed twice in this distribution"),
                ),
                Some(_) => ctx.error(
                    &path.key("aliases").index(j),
                    format!("alias `{alias}` is already used by another distribution (CNAMEAlreadyExists)"),
                ),
                None => {}
            }
        }
        if let Some(mut dist) = distribution(ctx, &path, d, &policies) {
            origin_ca_bundles(ctx, &path, d, &mut dist, base_dir);
            distributions.push(Arc::new(dist));
        }
    }

    let edge = match (&spec.edge, spec.distributions.is_empty()) {
        (None, true) => None,
        (section, _) => edge_section(ctx, section.as_ref(), &ids, base_dir),
    };
    (edge, distributions)
}

fn edge_section(
    ctx: &mut Ctx<'_, '_>,
    section: Option<&spec::EdgeSection>,
    distribution_ids: &HashMap<&str, usize>,
    base_dir: &Path,
) -> Option<model::Edge> {
    let path = FieldPath::root().key("edge");
    let default_section = spec::EdgeSection {
        http: Some("127.0.0.1:8080".into()),
        https: None,
        admin: None,
        admin_token: None,
        cache_size: None,
        cache_max_object_size: None,
        pop: None,
        default_distribution: None,
        default_certificate: None,
        certificates: Vec::new(),
        threads: None,
        pin_threads: None,
        client_header_timeout: None,
        send_timeout: None,
        client_countries: Default::default(),
    };
    let s = section.unwrap_or(&default_section);
    let http = s
        .http
        .as_ref()
        .and_then(|a| ctx.socket_addr(&path.key("http"), a));
    let https = s
        .https
        .as_ref()
        .and_then(|a| ctx.socket_addr(&path.key("https"), a));
    if s.http.is_none() && s.https.is_none() {
        ctx.error(
            &path,
            "the edge needs `http` or `https` (an address:port to listen on)",
        );
    }
    // A non-loopback admin listener needs a token, from the file or FERRY_ADMIN_TOKEN: the
    // process checks that when it starts (a file may be validated where the variable is not set).
    let admin = s
        .admin
        .as_ref()
        .and_then(|a| ctx.socket_addr(&path.key("admin"), a));
    let cache_size = s.cache_size.map(|b| b.0).unwrap_or(512 << 20);
    if cache_size < 1 << 20 {
        ctx.error(&path.key("cache_size"), "the cache needs at least 1MiB");
    }
    let cache_max_object_size = s
        .cache_max_object_size
        .map(|b| b.0)
        .unwrap_or(cache_size / 4);
    if cache_max_object_size > cache_size {
        ctx.error(
            &path.key("cache_max_object_size"),
            "larger than cache_size: no object that size could be stored",
        );
    }
    let pop = s.pop.clone().unwrap_or_else(|| "LOC1".into());
    if pop.is_empty() || pop.len() > 16 || !pop.chars().all(|c| c.is_ascii_alphanumeric()) {
        ctx.error(
            &path.key("pop"),
            "a PoP name is 1 to 16 letters and digits, like `LOC1` or `FRA56`",
        );
    }
    let default_distribution = s.default_distribution.as_ref().and_then(|id| {
        let found = distribution_ids.get(id.as_str()).copied();
        if found.is_none() {
            reference_error(
                ctx,
                &path.key("default_distribution"),
                "distribution",
                id,
                distribution_ids.keys().copied(),
            );
        }
        found
    });
    let default_certificate = s
        .default_certificate
        .as_ref()
        .map(|pair| certificate_pair(ctx, &path.key("default_certificate"), pair, base_dir));
    let certificates: Vec<_> = s
        .certificates
        .iter()
        .enumerate()
        .map(|(i, pair)| certificate_pair(ctx, &path.key("certificates").index(i), pair, base_dir))
        .collect();
    let certificate_store = certificate_store(
        ctx,
        &path.key("certificates"),
        default_certificate.as_ref(),
        &certificates,
    );
    let default_certificate = default_certificate.map(|(files, _)| files);
    let certificates = certificates.into_iter().map(|(files, _)| files).collect();
    if https.is_some() && default_certificate.is_none() {
        ctx.error(
            &path.key("https"),
            "an https listener needs `default_certificate = { cert = \"...pem\", key = \"...key\" }`",
        );
    }
    let threads = match s.threads {
        Some(t) => ctx.range(&path.key("threads"), t, 1, 256),
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let client_header_timeout = std::time::Duration::from_secs(match s.client_header_timeout {
        Some(t) => ctx.range(&path.key("client_header_timeout"), t, 1, 3600),
        None => 60,
    });
    let send_timeout = std::time::Duration::from_secs(match s.send_timeout {
        Some(t) => ctx.range(&path.key("send_timeout"), t, 1, 3600),
        None => 60,
    });
    let mut countries = Vec::new();
    for (network, country) in &s.client_countries {
        let at = path.key("client_countries").key(network);
        match crate::net::Cidr::parse(network) {
            Ok(cidr) => countries.push((cidr, country.clone())),
            Err(e) => ctx.error(&at, e),
        }
        if !is_country(country) {
            ctx.error(
                &at,
                format!("`{country}` is not an ISO 3166-1 alpha-2 country code like `US`"),
            );
        }
    }
    Some(model::Edge {
        client_countries: crate::geo::Countries::new(countries),
        client_header_timeout,
        send_timeout,
        http,
        https,
        admin,
        admin_token: s.admin_token.clone(),
        cache_size,
        cache_max_object_size,
        pop,
        default_distribution,
        default_certificate,
        certificates,
        certificate_store,
        threads,
        pin_threads: s.pin_threads.unwrap_or(false),
    })
}

/// A `{ cert, key }` pair: its paths resolved against the topology's directory, and the files
/// loaded and checked (PEM, X.509, a usable key that matches), so that a bad certificate is an
/// error at its field rather than a failed start.
pub(super) fn certificate_pair(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    pair: &spec::CertificatePair,
    base_dir: &Path,
) -> (CertificateFiles, Option<tls::LoadedCertificate>) {
    let files = CertificateFiles {
        cert: base_dir.join(&pair.cert),
        key: base_dir.join(&pair.key),
    };
    // Both files when both are missing, not only the first.
    let mut readable = true;
    for (field, file) in [("cert", &files.cert), ("key", &files.key)] {
        if let Err(e) = std::fs::File::open(file) {
            ctx.error(
                &path.key(field),
                format!("cannot read {}: {e}", file.display()),
            );
            readable = false;
        }
    }
    if !readable {
        return (files, None);
    }
    match tls::load(&files) {
        Ok(loaded) => (files, Some(loaded)),
        Err(e) => {
            ctx.error(&path.key(e.field().as_str()), e.to_string());
            (files, None)
        }
    }
}

/// The SNI store over a default certificate and others, when they all loaded. A certificate other
/// than the default is only ever chosen by a DNS name in its subjectAltName, so it needs one.
pub(super) fn certificate_store(
    ctx: &mut Ctx<'_, '_>,
    certificates_path: &FieldPath,
    default: Option<&(CertificateFiles, Option<tls::LoadedCertificate>)>,
    others: &[(CertificateFiles, Option<tls::LoadedCertificate>)],
) -> Option<Arc<tls::CertificateStore>> {
    for (i, (files, loaded)) in others.iter().enumerate() {
        if loaded.as_ref().is_some_and(|l| l.dns_names.is_empty()) {
            ctx.error(
                &certificates_path.index(i).key("cert"),
                format!(
                    "{} has no DNS name in its subjectAltName, so no SNI can ever choose it: add the names it serves, or make it the default_certificate",
                    files.cert.display()
                ),
            );
        }
    }
    let default = default?.1.clone()?;
    let others = others
        .iter()
        .map(|(_, loaded)| loaded.clone())
        .collect::<Option<Vec<_>>>()?;
    Some(Arc::new(tls::CertificateStore::new(Some(default), others)))
}

/// The `what` named `name` among `known`, or a reference error at `path` (with a suggestion).
fn referred<T: Clone>(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    what: &str,
    name: &str,
    known: &HashMap<String, T>,
) -> Option<T> {
    let found = known.get(name).cloned();
    if found.is_none() {
        reference_error(ctx, path, what, name, known.keys().map(String::as_str));
    }
    found
}

pub(super) fn reference_error<'n>(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    what: &str,
    name: &str,
    known: impl IntoIterator<Item = &'n str> + Clone,
) {
    let mut message = format!("no {what} named `{name}`");
    if let Some(best) = suggest::closest(name, known.clone()) {
        message.push_str(&format!("; did you mean `{best}`?"));
    } else {
        let mut names: Vec<&str> = known.into_iter().collect();
        names.sort();
        if names.is_empty() {
            message.push_str(" (none is defined)");
        } else if names.len() <= 12 {
            message.push_str(&format!(" (defined: {})", names.join(", ")));
        }
    }
    ctx.error(path, message);
}

// ---------------------------------------------------------------- policies

struct Policies {
    /// Key group name → the public keys it holds, by key id.
    key_groups: HashMap<String, HashMap<String, Vec<u8>>>,
    cache: HashMap<String, Arc<CachePolicy>>,
    origin_request: HashMap<String, Arc<NamedPolicy<spec::OriginRequestPolicy>>>,
    response_headers: HashMap<String, Arc<NamedPolicy<spec::ResponseHeadersPolicy>>>,
}

/// `public_keys` loaded and checked (RSA, PEM), then `key_groups` as maps of key id → key.
fn key_groups(
    ctx: &mut Ctx<'_, '_>,
    spec: &Spec,
    base_dir: &Path,
) -> HashMap<String, HashMap<String, Vec<u8>>> {
    let root = FieldPath::root();
    let mut keys: HashMap<&str, (String, Vec<u8>)> = HashMap::new();
    for (i, k) in spec.public_keys.iter().enumerate() {
        let path = root.key("public_keys").index(i).key("encoded_key");
        let pem = if k.encoded_key.trim_start().starts_with("-----BEGIN") {
            k.encoded_key.clone()
        } else {
            match std::fs::read_to_string(base_dir.join(&k.encoded_key)) {
                Ok(text) => text,
                Err(e) => {
                    ctx.error(&path, format!("cannot read `{}`: {e}", k.encoded_key));
                    continue;
                }
            }
        };
        match crate::signed::rsa_public_key(&pem) {
            Ok(der) => {
                let id = k.id.clone().unwrap_or_else(|| k.name.clone());
                if keys.insert(k.name.as_str(), (id, der)).is_some() {
                    ctx.error(
                        &root.key("public_keys").index(i).key("name"),
                        format!("a second public key named `{}`", k.name),
                    );
                }
            }
            Err(e) => ctx.error(&path, e),
        }
    }
    let mut groups = HashMap::new();
    for (i, g) in spec.key_groups.iter().enumerate() {
        let path = root.key("key_groups").index(i);
        if g.items.is_empty() || g.items.len() > 5 {
            ctx.error(&path.key("items"), "a key group holds 1 to 5 public keys");
        }
        let mut members = HashMap::new();
        for (j, name) in g.items.iter().enumerate() {
            match keys.get(name.as_str()) {
                Some((id, der)) => {
                    members.insert(id.clone(), der.clone());
                }
                None => reference_error(
                    ctx,
                    &path.key("items").index(j),
                    "public key",
                    name,
                    keys.keys().copied(),
                ),
            }
        }
        if groups.insert(g.name.clone(), members).is_some() {
            ctx.error(
                &path.key("name"),
                format!("a second key group named `{}`", g.name),
            );
        }
    }
    groups
}

fn check_policy_name(ctx: &mut Ctx<'_, '_>, path: &FieldPath, name: &str) {
    if name.starts_with(PREFIX) {
        ctx.error(
            path,
            format!("names starting with `{PREFIX}` are AWS's managed policies; pick another name"),
        );
    }
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        ctx.error(
            path,
            "a policy name is 1 to 128 letters, digits, `-` and `_`",
        );
    }
}

/// A behavior list (`headers`, `cookies`, `query_strings`) must be present exactly when the behavior
/// names items.
fn check_items(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    behavior: &str,
    needs_items: bool,
    items: &[String],
) {
    if needs_items && items.is_empty() {
        ctx.error(
            path,
            format!("`{behavior}` needs at least one name in this list"),
        );
    }
    if !needs_items && !items.is_empty() {
        ctx.error(
            path,
            format!("`{behavior}` takes no names; remove the list or change the behavior"),
        );
    }
}

impl Policies {
    fn new(ctx: &mut Ctx<'_, '_>, spec: &Spec, base_dir: &Path) -> Policies {
        let root = FieldPath::root();
        let key_groups = key_groups(ctx, spec, base_dir);
        let mut cache: HashMap<String, Arc<CachePolicy>> = HashMap::new();
        for m in managed::cache_policies() {
            let Managed { id, policy, .. } = m;
            if let Some(p) = cache_policy(ctx, None, &policy, Some(id)) {
                cache.insert(policy.name.clone(), Arc::new(p));
            }
        }
        let mut origin_request = HashMap::new();
        for m in managed::origin_request_policies() {
            origin_request.insert(
                m.policy.name.clone(),
                Arc::new(NamedPolicy {
                    managed_id: Some(m.id),
                    policy: m.policy,
                }),
            );
        }
        let mut response_headers = HashMap::new();
        for m in managed::response_headers_policies() {
            response_headers.insert(
                m.policy.name.clone(),
                Arc::new(NamedPolicy {
                    managed_id: Some(m.id),
                    policy: m.policy,
                }),
            );
        }

        ctx.unique(
            "cache policy name",
            spec.cache_policies.iter().enumerate().map(|(i, p)| {
                (
                    root.key("cache_policies").index(i).key("name"),
                    p.name.as_str(),
                )
            }),
        );
        for (i, p) in spec.cache_policies.iter().enumerate() {
            let path = root.key("cache_policies").index(i);
            check_policy_name(ctx, &path.key("name"), &p.name);
            if let Some(policy) = cache_policy(ctx, Some(&path), p, None) {
                cache.insert(p.name.clone(), Arc::new(policy));
            }
        }

        ctx.unique(
            "origin request policy name",
            spec.origin_request_policies
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        root.key("origin_request_policies").index(i).key("name"),
                        p.name.as_str(),
                    )
                }),
        );
        for (i, p) in spec.origin_request_policies.iter().enumerate() {
            let path = root.key("origin_request_policies").index(i);
            check_policy_name(ctx, &path.key("name"), &p.name);
            origin_request_policy(ctx, &path, p);
            origin_request.insert(
                p.name.clone(),
                Arc::new(NamedPolicy {
                    managed_id: None,
                    policy: p.clone(),
                }),
            );
        }

        ctx.unique(
            "response headers policy name",
            spec.response_headers_policies
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        root.key("response_headers_policies").index(i).key("name"),
                        p.name.as_str(),
                    )
                }),
        );
        for (i, p) in spec.response_headers_policies.iter().enumerate() {
            let path = root.key("response_headers_policies").index(i);
            check_policy_name(ctx, &path.key("name"), &p.name);
            response_headers_policy(ctx, &path, p);
            response_headers.insert(
                p.name.clone(),
                Arc::new(NamedPolicy {
                    managed_id: None,
                    policy: p.clone(),
                }),
            );
        }
        Policies {
            key_groups,
            cache,
            origin_request,
            response_headers,
        }
    }
}

fn cache_policy(
    ctx: &mut Ctx<'_, '_>,
    path: Option<&FieldPath>,
    p: &spec::CachePolicy,
    managed_id: Option<&'static str>,
) -> Option<CachePolicy> {
    // CloudFront's defaults: DefaultTTL 86400 (or MinTTL when larger), MaxTTL 31536000 (or DefaultTTL
    // when larger).
    let default_ttl = p.default_ttl.unwrap_or(DEFAULT_TTL.max(p.min_ttl));
    let max_ttl = p.max_ttl.unwrap_or(MAX_TTL.max(default_ttl));
    if let Some(path) = path {
        if default_ttl < p.min_ttl {
            ctx.error(
                &path.key("default_ttl"),
                format!(
                    "default_ttl ({default_ttl}) must be at least min_ttl ({})",
                    p.min_ttl
                ),
            );
        }
        if max_ttl < default_ttl {
            ctx.error(
                &path.key("max_ttl"),
                format!("max_ttl ({max_ttl}) must be at least default_ttl ({default_ttl})"),
            );
        }
        let h = &p.headers_config;
        check_items(
            ctx,
            &path.key("headers_config").key("headers"),
            "header_behavior",
            h.header_behavior == spec::CacheHeaderBehavior::Whitelist,
            &h.headers,
        );
        let c = &p.cookies_config;
        use spec::CookieBehavior as C;
        check_items(
            ctx,
            &path.key("cookies_config").key("cookies"),
            "cookie_behavior",
            matches!(c.cookie_behavior, C::Whitelist | C::AllExcept),
            &c.cookies,
        );
        let q = &p.query_strings_config;
        use spec::QueryStringBehavior as Q;
        check_items(
            ctx,
            &path.key("query_strings_config").key("query_strings"),
            "query_string_behavior",
            matches!(q.query_string_behavior, Q::Whitelist | Q::AllExcept),
            &q.query_strings,
        );
        for (field, list) in [
            ("headers_config", &h.headers),
            ("cookies_config", &c.cookies),
            ("query_strings_config", &q.query_strings),
        ] {
            if list.len() > 10 {
                ctx.error(
                    &path.key(field),
                    format!(
                        "{} names; a cache policy takes at most 10 (CloudFront quota)",
                        list.len()
                    ),
                );
            }
        }
        if max_ttl == 0
            && (p.enable_accept_encoding_gzip
                || p.enable_accept_encoding_brotli
                || h.header_behavior != spec::CacheHeaderBehavior::None
                || c.cookie_behavior != C::None
                || q.query_string_behavior != Q::None)
        {
            ctx.error(
                &path.key("max_ttl"),
                "with caching disabled (all TTLs 0) CloudFront allows nothing in the cache key: use an origin request policy to forward values",
            );
        }
        if h.headers
            .iter()
            .any(|x| x.eq_ignore_ascii_case("accept-encoding"))
        {
            ctx.error(
                &path.key("headers_config").key("headers"),
                "Accept-Encoding is not a header to list: use enable_accept_encoding_gzip / enable_accept_encoding_brotli",
            );
        }
    }
    Some(CachePolicy {
        name: p.name.clone(),
        managed_id,
        ttl: TtlSettings {
            min_ttl: p.min_ttl,
            default_ttl,
            max_ttl,
        },
        gzip: p.enable_accept_encoding_gzip,
        brotli: p.enable_accept_encoding_brotli,
        headers: p.headers_config.clone(),
        cookies: p.cookies_config.clone(),
        query_strings: p.query_strings_config.clone(),
    })
}

fn origin_request_policy(ctx: &mut Ctx<'_, '_>, path: &FieldPath, p: &spec::OriginRequestPolicy) {
    use spec::OriginHeaderBehavior as H;
    let h = &p.headers_config;
    let needs = matches!(
        h.header_behavior,
        H::Whitelist | H::AllViewerAndWhitelistCloudFront | H::AllExcept
    );
    check_items(
        ctx,
        &path.key("headers_config").key("headers"),
        "header_behavior",
        needs,
        &h.headers,
    );
    if h.header_behavior == H::AllViewerAndWhitelistCloudFront {
        for (i, name) in h.headers.iter().enumerate() {
            if !name.to_ascii_lowercase().starts_with("cloudfront-") {
                ctx.error(
                    &path.key("headers_config").key("headers").index(i),
                    format!("`{name}`: allViewerAndWhitelistCloudFront lists only CloudFront-* headers (all viewer headers are already forwarded)"),
                );
            }
        }
    }
    use spec::CookieBehavior as C;
    let c = &p.cookies_config;
    check_items(
        ctx,
        &path.key("cookies_config").key("cookies"),
        "cookie_behavior",
        matches!(c.cookie_behavior, C::Whitelist | C::AllExcept),
        &c.cookies,
    );
    use spec::QueryStringBehavior as Q;
    let q = &p.query_strings_config;
    check_items(
        ctx,
        &path.key("query_strings_config").key("query_strings"),
        "query_string_behavior",
        matches!(q.query_string_behavior, Q::Whitelist | Q::AllExcept),
        &q.query_strings,
    );
}

/// Response headers CloudFront will not let a policy add or remove.
const PROTECTED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "warning",
    "x-cache",
    "x-forwarded-proto",
    "x-real-ip",
];

fn protected_response_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PROTECTED_RESPONSE_HEADERS.contains(&lower.as_str())
        || ["x-amz-cf-", "x-amzn-", "x-edge-", "x-accel-"]
            .iter()
            .any(|p| lower.starts_with(p))
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn response_headers_policy(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    p: &spec::ResponseHeadersPolicy,
) {
    if let Some(cors) = &p.cors_config {
        let cp = path.key("cors_config");
        const METHODS: &[&str] = &[
            "GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "ALL",
        ];
        for (i, m) in cors.access_control_allow_methods.iter().enumerate() {
            if !METHODS.contains(&m.as_str()) {
                ctx.error(
                    &cp.key("access_control_allow_methods").index(i),
                    format!("`{m}` is not one of {}", METHODS.join(", ")),
                );
            }
        }
        for (field, list) in [
            (
                "access_control_allow_methods",
                &cors.access_control_allow_methods,
            ),
            (
                "access_control_allow_origins",
                &cors.access_control_allow_origins,
            ),
            (
                "access_control_allow_headers",
                &cors.access_control_allow_headers,
            ),
        ] {
            if list.is_empty() {
                ctx.error(&cp.key(field), "give at least one value (`*` for any)");
            }
        }
        if cors.access_control_allow_credentials
            && cors.access_control_allow_origins.iter().any(|o| o == "*")
        {
            ctx.error(&cp.key("access_control_allow_credentials"), "browsers refuse credentials with `Access-Control-Allow-Origin: *`; list the origins");
        }
    }
    // A control byte (CR, LF...) in a value would end the header and start another in every
    // response; CloudFront refuses the policy.
    let header_value = |ctx: &mut Ctx<'_, '_>, path: FieldPath, value: &str| {
        if crate::rules::header_text(value.as_bytes()).is_none() {
            ctx.error(
                &path,
                "a header value has visible ASCII characters, spaces and tabs only",
            );
        }
    };
    for (i, h) in p.custom_headers_config.iter().enumerate() {
        let hp = path.key("custom_headers_config").index(i);
        if !is_header_name(&h.header) || protected_response_header(&h.header) {
            ctx.error(
                &hp.key("header"),
                format!("`{}` cannot be set by a response headers policy", h.header),
            );
        }
        header_value(ctx, hp.key("value"), &h.value);
    }
    if let Some(security) = &p.security_headers_config {
        let sp = path.key("security_headers_config");
        if let Some(csp) = &security.content_security_policy {
            header_value(
                ctx,
                sp.key("content_security_policy")
                    .key("content_security_policy"),
                &csp.content_security_policy,
            );
        }
        if let Some(xss) = &security.xss_protection {
            let xp = sp.key("xss_protection");
            if let Some(uri) = &xss.report_uri {
                header_value(ctx, xp.key("report_uri"), uri);
                if xss.mode_block {
                    ctx.error(
                        &xp.key("report_uri"),
                        "report_uri cannot be given with mode_block = true (CloudFront refuses both): keep one",
                    );
                }
            }
        }
    }
    ctx.unique(
        "custom header",
        p.custom_headers_config.iter().enumerate().map(|(i, h)| {
            (
                path.key("custom_headers_config").index(i).key("header"),
                h.header.as_str(),
            )
        }),
    );
    for (i, h) in p.remove_headers_config.iter().enumerate() {
        if !is_header_name(&h.header) || protected_response_header(&h.header) {
            ctx.error(
                &path.key("remove_headers_config").index(i).key("header"),
                format!(
                    "`{}` cannot be removed by a response headers policy",
                    h.header
                ),
            );
        }
    }
    if let Some(st) = &p.server_timing_headers_config {
        if let Some(rate) = st.sampling_rate {
            if !(0.0..=100.0).contains(&rate) {
                ctx.error(
                    &path
                        .key("server_timing_headers_config")
                        .key("sampling_rate"),
                    "a percentage from 0 to 100",
                );
            }
        }
    }
}

// ---------------------------------------------------------------- distributions

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Characters CloudFront accepts in a path pattern (CloudFront Developer Guide, "Path pattern").
fn is_path_pattern_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.*$/~\"'@:+&?".contains(c)
}

/// Headers CloudFront will not let an origin's custom headers set.
const PROTECTED_ORIGIN_HEADERS: &[&str] = &[
    "cache-control",
    "connection",
    "content-length",
    "cookie",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "request-range",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-real-ip",
];

fn distribution(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    d: &spec::Distribution,
    policies: &Policies,
) -> Option<model::Distribution> {
    if d.id.is_empty()
        || !d
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        ctx.error(
            &path.key("id"),
            "a distribution id is letters, digits, `-` and `_`",
        );
    }
    let mut aliases = Vec::new();
    for (i, alias) in d.aliases.iter().enumerate() {
        let bare = alias.strip_prefix("*.").unwrap_or(alias);
        if !is_host_name(bare) || bare.contains('*') {
            ctx.error(
                &path.key("aliases").index(i),
                format!(
                    "`{alias}` is not a domain name (a wildcard is allowed only as a leading `*.`)"
                ),
            );
        }
        aliases.push(Alias::parse(alias));
    }
    if let Some(root) = &d.default_root_object {
        if root.starts_with('/') || root.len() > 255 || root.is_empty() {
            ctx.error(
                &path.key("default_root_object"),
                "an object name without a leading `/`, like `index.html`",
            );
        }
    }

    // Origins and groups.
    if d.origins.is_empty() {
        ctx.error(
            &path.key("origins"),
            "a distribution needs at least one origin",
        );
    }
    let origin_ids = ctx.unique(
        "origin id",
        d.origins
            .iter()
            .enumerate()
            .map(|(i, o)| (path.key("origins").index(i).key("id"), o.id.as_str())),
    );
    let origins: Vec<model::Origin> = d
        .origins
        .iter()
        .enumerate()
        .map(|(i, o)| origin(ctx, &path.key("origins").index(i), o))
        .collect();
    let mut origin_groups = Vec::new();
    let group_ids: HashMap<&str, usize> = d
        .origin_groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    for (i, g) in d.origin_groups.iter().enumerate() {
        let gp = path.key("origin_groups").index(i);
        if origin_ids.contains_key(g.id.as_str()) {
            ctx.error(&gp.key("id"), format!("`{}` is already an origin id", g.id));
        }
        if g.members.len() != 2 {
            ctx.error(
                &gp.key("members"),
                "an origin group has exactly two members: the primary first, then the secondary",
            );
        }
        let members: Vec<usize> = g
            .members
            .iter()
            .enumerate()
            .filter_map(|(j, m)| {
                let found = origin_ids.get(m.as_str()).copied();
                if found.is_none() {
                    reference_error(
                        ctx,
                        &gp.key("members").index(j),
                        "origin",
                        m,
                        origin_ids.keys().copied(),
                    );
                }
                found
            })
            .collect();
        if g.members.len() == 2 && g.members[0] == g.members[1] {
            ctx.error(
                &gp.key("members"),
                "the two members must be different origins",
            );
        }
        const FAILOVER: &[u16] = crate::failover::CRITERIA_CODES;
        if g.failover_criteria.status_codes.is_empty() {
            ctx.error(
                &gp.key("failover_criteria").key("status_codes"),
                "give at least one status code",
            );
        }
        for (j, code) in g.failover_criteria.status_codes.iter().enumerate() {
            if !FAILOVER.contains(code) {
                ctx.error(
                    &gp.key("failover_criteria").key("status_codes").index(j),
                    format!("{code} cannot trigger failover; allowed: 400, 403, 404, 416, 500, 502, 503, 504"),
                );
            }
        }
        if let [primary, secondary] = members[..] {
            origin_groups.push(model::OriginGroup {
                id: g.id.clone(),
                members: [primary, secondary],
                failover_status_codes: g.failover_criteria.status_codes.clone(),
            });
        }
    }
    ctx.unique(
        "origin group id",
        d.origin_groups
            .iter()
            .enumerate()
            .map(|(i, g)| (path.key("origin_groups").index(i).key("id"), g.id.as_str())),
    );

    // Behaviors: the ordered ones, then the default.
    let mut behaviors = Vec::new();
    let mut patterns: HashMap<&str, usize> = HashMap::new();
    for (i, b) in d.cache_behaviors.iter().enumerate() {
        let bp = path.key("cache_behaviors").index(i);
        match &b.path_pattern {
            None => ctx.error(
                &bp,
                "missing required field `path_pattern` (only the default behavior has none)",
            ),
            Some(p) => {
                if patterns.insert(p.as_str(), i).is_some() {
                    ctx.error(
                        &bp.key("path_pattern"),
                        format!(
                            "duplicate path pattern `{p}`: the later behavior could never match"
                        ),
                    );
                }
            }
        }
        behaviors.push(behavior(ctx, &bp, b, &origin_ids, &group_ids, policies));
    }
    let dp = path.key("default_cache_behavior");
    if d.default_cache_behavior.path_pattern.is_some() {
        ctx.error(
            &dp.key("path_pattern"),
            "the default behavior matches every path (`*`); it takes no path_pattern",
        );
    }
    behaviors.push(behavior(
        ctx,
        &dp,
        &d.default_cache_behavior,
        &origin_ids,
        &group_ids,
        policies,
    ));

    // Errors.
    const ERROR_CODES: &[u16] = &[400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
    const RESPONSE_CODES: &[u16] = &[200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
    let mut seen = HashMap::new();
    for (i, e) in d.custom_error_responses.iter().enumerate() {
        let ep = path.key("custom_error_responses").index(i);
        if !ERROR_CODES.contains(&e.error_code) {
            ctx.error(&ep.key("error_code"), format!("{} is not an error code CloudFront customises; allowed: 400, 403, 404, 405, 414, 416, 500-504", e.error_code));
        }
        if seen.insert(e.error_code, i).is_some() {
            ctx.error(
                &ep.key("error_code"),
                format!("duplicate error_code {}", e.error_code),
            );
        }
        match (&e.response_page_path, e.response_code) {
            (Some(p), Some(code)) => {
                if !p.starts_with('/') {
                    ctx.error(&ep.key("response_page_path"), "a path starting with `/`");
                }
                if !RESPONSE_CODES.contains(&code) {
                    ctx.error(&ep.key("response_code"), format!("{code} is not allowed; allowed: 200, 400, 403, 404, 405, 414, 416, 500-504"));
                }
            }
            (None, None) => {}
            (Some(_), None) => {
                ctx.error(&ep.key("response_code"), "required with response_page_path")
            }
            (None, Some(_)) => {
                ctx.error(&ep.key("response_page_path"), "required with response_code")
            }
        }
        if let Some(ttl) = e.error_caching_min_ttl {
            ctx.range(&ep.key("error_caching_min_ttl"), ttl, 0, MAX_TTL);
        }
    }
    if let Some(r) = &d.restrictions {
        let g = &r.geo_restriction;
        let gp = path.key("restrictions").key("geo_restriction");
        if (g.restriction_type == spec::GeoRestrictionType::None) != g.locations.is_empty() {
            ctx.error(
                &gp.key("locations"),
                "locations are required with whitelist/blacklist and not allowed with none",
            );
        }
        for (i, l) in g.locations.iter().enumerate() {
            if !is_country(l) {
                ctx.error(
                    &gp.key("locations").index(i),
                    format!("`{l}` is not an ISO 3166-1 alpha-2 country code like `US`"),
                );
            }
        }
    }
    if let Some(l) = &d.logging_config {
        if !l.bucket.ends_with(".s3.amazonaws.com") {
            ctx.error(
                &path.key("logging_config").key("bucket"),
                "the bucket's domain name, like `logs.s3.amazonaws.com`",
            );
        }
    }

    Some(model::Distribution {
        id: d.id.clone(),
        enabled: d.enabled,
        aliases,
        default_root_object: d.default_root_object.clone(),
        http_version: d.http_version,
        minimum_protocol_version: d.minimum_protocol_version,
        origins,
        origin_groups,
        behaviors: behaviors.into_iter().collect::<Option<Vec<Behavior>>>()?,
        custom_error_responses: d.custom_error_responses.clone(),
        geo_restriction: d.restrictions.as_ref().and_then(|r| {
            let g = &r.geo_restriction;
            (g.restriction_type != spec::GeoRestrictionType::None).then(|| {
                crate::geo::GeoRestriction {
                    allow_listed: g.restriction_type == spec::GeoRestrictionType::Whitelist,
                    countries: g.locations.clone(),
                }
            })
        }),
    })
}

/// An ISO 3166-1 alpha-2 code's shape: two upper-case letters.
fn is_country(code: &str) -> bool {
    code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase())
}

fn origin(ctx: &mut Ctx<'_, '_>, path: &FieldPath, o: &spec::Origin) -> model::Origin {
    if !is_host_name(&o.domain_name) {
        ctx.error(
            &path.key("domain_name"),
            format!("`{}` is not a domain name", o.domain_name),
        );
    }
    if !o.origin_path.is_empty()
        && (!o.origin_path.starts_with('/') || o.origin_path.ends_with('/'))
    {
        ctx.error(
            &path.key("origin_path"),
            "starts with `/` and does not end with `/`, like `/production`",
        );
    }
    let mut custom_headers = Vec::new();
    for (name, value) in &o.custom_headers {
        let lower = name.to_ascii_lowercase();
        if !is_header_name(name)
            || PROTECTED_ORIGIN_HEADERS.contains(&lower.as_str())
            || lower.starts_with("x-amz-")
            || lower.starts_with("x-edge-")
        {
            ctx.error(
                &path.key("custom_headers").key(name),
                format!("CloudFront does not allow `{name}` as a custom origin header"),
            );
        }
        // A control byte (CR, LF...) would end the field and start another in the origin
        // request; visible ASCII, spaces and tabs only, as a header value takes.
        if crate::rules::header_text(value.as_bytes()).is_none() {
            ctx.error(
                &path.key("custom_headers").key(name),
                "a custom origin header's value has visible ASCII characters, spaces and tabs only",
            );
        }
        if o.custom_headers
            .keys()
            .filter(|other| other.eq_ignore_ascii_case(name))
            .count()
            > 1
        {
            ctx.error(
                &path.key("custom_headers").key(name),
                format!("`{name}` is named twice (header names are not case-sensitive)"),
            );
        }
        custom_headers.push((name.clone(), value.clone()));
    }
    let connection_attempts = ctx.range(
        &path.key("connection_attempts"),
        o.connection_attempts.unwrap_or(3),
        1,
        3,
    );
    let connection_timeout = ctx.range(
        &path.key("connection_timeout"),
        o.connection_timeout.unwrap_or(10),
        1,
        10,
    );
    match (&o.custom_origin_config, &o.s3_origin_config) {
        (Some(_), Some(_)) => ctx.error(path, "an origin has either custom_origin_config or s3_origin_config, not both"),
        (None, None) => ctx.error(path, "missing `custom_origin_config = { origin_protocol_policy = \"http-only\" }` (or s3_origin_config)"),
        _ => {}
    }
    let cp = path.key("custom_origin_config");
    let c = o.custom_origin_config.as_ref();
    let port = |ctx: &mut Ctx<'_, '_>, field: &str, value: Option<u16>, default: u16| {
        let v = value.unwrap_or(default);
        if !(v == 80 || v == 443 || v >= 1024) {
            ctx.error(
                &cp.key(field),
                format!("{v}: CloudFront allows 80, 443 and 1024-65535"),
            );
        }
        v
    };
    let http_port = port(ctx, "http_port", c.and_then(|c| c.http_port), 80);
    let https_port = port(ctx, "https_port", c.and_then(|c| c.https_port), 443);
    let read = ctx.range(
        &cp.key("origin_read_timeout"),
        c.and_then(|c| c.origin_read_timeout).unwrap_or(30),
        1,
        120,
    );
    let keepalive = ctx.range(
        &cp.key("origin_keepalive_timeout"),
        c.and_then(|c| c.origin_keepalive_timeout).unwrap_or(5),
        1,
        120,
    );
    if let Some(done) = o.response_completion_timeout {
        if done < read {
            ctx.error(
                &path.key("response_completion_timeout"),
                format!("must be at least origin_read_timeout ({read})"),
            );
        }
    }
    model::Origin {
        id: o.id.clone(),
        domain_name: o.domain_name.to_ascii_lowercase(),
        origin_path: o.origin_path.clone(),
        custom_headers,
        connection_attempts,
        connection_timeout: Duration::from_secs(connection_timeout.into()),
        protocol_policy: c
            .map(|c| c.origin_protocol_policy)
            .unwrap_or(spec::OriginProtocolPolicy::HttpsOnly),
        http_port,
        https_port,
        read_timeout: Duration::from_secs(read.into()),
        keepalive_timeout: Duration::from_secs(keepalive.into()),
        response_completion: o
            .response_completion_timeout
            .map(|s| Duration::from_secs(s.into())),
        // Read by `origin_ca_bundles`, which knows the topology's directory.
        ca_bundle: None,
    }
}

/// Each origin's `custom_origin_config.ca_bundle` (local runs): the file resolved against the
/// topology's directory and loaded, or an error at that field.
fn origin_ca_bundles(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    d: &spec::Distribution,
    dist: &mut model::Distribution,
    base_dir: &Path,
) {
    for (i, (o, model)) in d.origins.iter().zip(dist.origins.iter_mut()).enumerate() {
        let Some(name) = o
            .custom_origin_config
            .as_ref()
            .and_then(|c| c.ca_bundle.as_ref())
        else {
            continue;
        };
        match load_ca_bundle(&base_dir.join(name)) {
            Ok(bundle) => model.ca_bundle = Some(bundle),
            Err(message) => ctx.error(
                &path
                    .key("origins")
                    .index(i)
                    .key("custom_origin_config")
                    .key("ca_bundle"),
                message,
            ),
        }
    }
}

/// Reads a PEM file of CA certificates and checks that it holds at least one certificate and that
/// each is X.509 that rustls accepts as a trust anchor. Errors name the file.
fn load_ca_bundle(file: &Path) -> Result<model::CaBundle, String> {
    use rustls::pki_types::pem::{PemObject, SectionKind};
    use std::io::Read;
    let shown = file.display();
    let handle = std::fs::File::open(file).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    handle
        .take(tls::MAX_PEM_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > tls::MAX_PEM_SIZE {
        return Err(format!(
            "{shown} is larger than {} bytes: is this the right file?",
            tls::MAX_PEM_SIZE
        ));
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not valid PEM: {e}"))?;
    let certificates: Vec<Vec<u8>> = sections
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| der)
        .collect();
    if certificates.is_empty() {
        return Err(format!(
            "{shown} holds no certificate: a CA bundle is PEM `-----BEGIN CERTIFICATE-----` blocks"
        ));
    }
    for (i, der) in certificates.iter().enumerate() {
        let n = i + 1;
        x509_parser::parse_x509_certificate(der).map_err(|e| {
            format!("{shown}: certificate {n} in the file cannot be parsed as X.509: {e}")
        })?;
        rustls::RootCertStore::empty()
            .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
            .map_err(|e| format!("{shown}: certificate {n} cannot be a trusted CA: {e}"))?;
    }
    Ok(model::CaBundle {
        file: file.to_path_buf(),
        certificates: Arc::new(certificates),
    })
}

fn methods_are(set: &[Method], expected: &[Method]) -> bool {
    let mut a = set.to_vec();
    a.sort();
    a.dedup();
    let mut b = expected.to_vec();
    b.sort();
    a.len() == set.len() && a == b
}

fn behavior(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    b: &spec::CacheBehavior,
    origin_ids: &HashMap<&str, usize>,
    group_ids: &HashMap<&str, usize>,
    policies: &Policies,
) -> Option<Behavior> {
    use Method::*;
    let path_pattern = b.path_pattern.as_ref().map(|p| {
        if p.is_empty() || p.len() > 255 || !p.chars().all(is_path_pattern_char) {
            ctx.error(
                &path.key("path_pattern"),
                format!("`{p}` is not a path pattern CloudFront accepts: up to 255 of A-Z a-z 0-9 _ - . * $ / ~ \" ' @ : + & ?"),
            );
        }
        pattern::cloudfront_path_pattern(p)
    });
    let target = match (
        origin_ids.get(b.target_origin_id.as_str()),
        group_ids.get(b.target_origin_id.as_str()),
    ) {
        (Some(i), _) => Some(OriginTarget::Origin(*i)),
        (None, Some(i)) => Some(OriginTarget::Group(*i)),
        (None, None) => {
            reference_error(
                ctx,
                &path.key("target_origin_id"),
                "origin or origin group",
                &b.target_origin_id,
                origin_ids.keys().chain(group_ids.keys()).copied(),
            );
            None
        }
    };
    let allowed = b.allowed_methods.clone().unwrap_or(vec![GET, HEAD]);
    let all = [GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE];
    let allowed_ok = methods_are(&allowed, &[GET, HEAD])
        || methods_are(&allowed, &[GET, HEAD, OPTIONS])
        || methods_are(&allowed, &all);
    if !allowed_ok {
        ctx.error(
            &path.key("allowed_methods"),
            "CloudFront allows exactly [GET, HEAD], [GET, HEAD, OPTIONS] or all seven methods",
        );
    }
    let cached = b.cached_methods.clone().unwrap_or(vec![GET, HEAD]);
    if !(methods_are(&cached, &[GET, HEAD]) || methods_are(&cached, &[GET, HEAD, OPTIONS])) {
        ctx.error(
            &path.key("cached_methods"),
            "CloudFront caches exactly [GET, HEAD] or [GET, HEAD, OPTIONS]",
        );
    } else if allowed_ok && cached.iter().any(|m| !allowed.contains(m)) {
        // (Not said of a refused allowed_methods: that mistake is already reported.)
        ctx.error(
            &path.key("cached_methods"),
            "cached methods must also be allowed methods",
        );
    }

    let legacy_ttls = b.min_ttl.is_some() || b.default_ttl.is_some() || b.max_ttl.is_some();
    let cache_policy = match (&b.cache_policy, &b.forwarded_values) {
        (Some(_), Some(_)) => {
            ctx.error(
                &path.key("forwarded_values"),
                "a behavior has either cache_policy or the legacy forwarded_values, not both",
            );
            None
        }
        (Some(name), None) => {
            if legacy_ttls {
                ctx.error(&path.key(if b.min_ttl.is_some() { "min_ttl" } else if b.default_ttl.is_some() { "default_ttl" } else { "max_ttl" }), "TTLs belong to the cache policy; the behavior's own TTLs go with forwarded_values only");
            }
            referred(
                ctx,
                &path.key("cache_policy"),
                "cache policy",
                name,
                &policies.cache,
            )
        }
        (None, Some(fv)) => Some(Arc::new(legacy_policy(ctx, path, b, fv))),
        (None, None) => {
            ctx.error(path, "missing `cache_policy` (for example \"Managed-CachingOptimized\" or \"Managed-CachingDisabled\")");
            None
        }
    };
    let forward_all = b
        .forwarded_values
        .as_ref()
        .is_some_and(forwards_all_headers);
    let origin_request_policy = if forward_all && b.origin_request_policy.is_none() {
        Some(legacy_forward_all())
    } else {
        b.origin_request_policy.as_ref().and_then(|name| {
            let key = path.key("origin_request_policy");
            referred(
                ctx,
                &key,
                "origin request policy",
                name,
                &policies.origin_request,
            )
        })
    };
    let response_headers_policy = b.response_headers_policy.as_ref().and_then(|name| {
        let key = path.key("response_headers_policy");
        referred(
            ctx,
            &key,
            "response headers policy",
            name,
            &policies.response_headers,
        )
    });
    let mut events = HashMap::new();
    for (i, f) in b.function_associations.iter().enumerate() {
        use spec::FunctionEventType as E;
        if !matches!(f.event_type, E::ViewerRequest | E::ViewerResponse) {
            ctx.error(
                &path.key("function_associations").index(i).key("event_type"),
                "CloudFront Functions run on viewer-request or viewer-response only",
            );
        }
        if events.insert(f.event_type, ()).is_some() {
            ctx.error(
                &path.key("function_associations").index(i).key("event_type"),
                "one function per event type",
            );
        }
    }
    let trusted_keys = (!b.trusted_key_groups.is_empty()).then(|| {
        let mut keys = HashMap::new();
        for (i, name) in b.trusted_key_groups.iter().enumerate() {
            match policies.key_groups.get(name) {
                Some(group) => keys.extend(group.iter().map(|(k, v)| (k.clone(), v.clone()))),
                None => reference_error(
                    ctx,
                    &path.key("trusted_key_groups").index(i),
                    "key group",
                    name,
                    policies.key_groups.keys().map(String::as_str),
                ),
            }
        }
        Arc::new(crate::signed::TrustedKeys::new(keys))
    });
    Some(Behavior {
        trusted_keys,
        path_pattern,
        target: target?,
        viewer_protocol_policy: b.viewer_protocol_policy,
        allowed_methods: allowed,
        cached_methods: cached,
        cache_policy: cache_policy?,
        origin_request_policy,
        response_headers_policy,
        compress: b.compress,
    })
}

/// Legacy settings that forward every header (`headers = ["*"]`).
fn forwards_all_headers(fv: &spec::ForwardedValues) -> bool {
    fv.headers.iter().any(|h| h == "*")
}

/// What legacy `headers = ["*"]` forwards: every viewer header (Host and User-Agent included),
/// as the origin request policy it amounts to (the cache policy's cookies and query strings go
/// with it).
fn legacy_forward_all() -> Arc<NamedPolicy<spec::OriginRequestPolicy>> {
    Arc::new(NamedPolicy {
        managed_id: None,
        policy: spec::OriginRequestPolicy {
            name: String::new(),
            comment: None,
            headers_config: spec::OriginHeadersConfig {
                header_behavior: spec::OriginHeaderBehavior::AllViewer,
                headers: Vec::new(),
            },
            cookies_config: Default::default(),
            query_strings_config: Default::default(),
        },
    })
}

/// Legacy `forwarded_values` + behavior TTLs, expressed as the cache policy they amount to.
fn legacy_policy(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    b: &spec::CacheBehavior,
    fv: &spec::ForwardedValues,
) -> CachePolicy {
    let min_ttl = b.min_ttl.unwrap_or(0);
    let default_ttl = b.default_ttl.unwrap_or(DEFAULT_TTL.max(min_ttl));
    let max_ttl = b.max_ttl.unwrap_or(MAX_TTL.max(default_ttl));
    // As for a cache policy: each ordering mistake is reported at the TTL the file sets (a default
    // never breaks the order: it follows the TTLs that are set).
    if default_ttl < min_ttl {
        ctx.error(
            &path.key("default_ttl"),
            format!("default_ttl ({default_ttl}) must be at least min_ttl ({min_ttl})"),
        );
    }
    if max_ttl < default_ttl {
        ctx.error(
            &path.key("max_ttl"),
            format!("max_ttl ({max_ttl}) must be at least default_ttl ({default_ttl})"),
        );
    }
    let all_headers = forwards_all_headers(fv);
    if all_headers && min_ttl != 0 {
        ctx.error(
            &path.key("min_ttl"),
            "with all headers forwarded (`*`) min_ttl must be 0",
        );
    }
    use spec::{CookieBehavior as C, ForwardCookies as F, QueryStringBehavior as Q};
    // "CloudFront doesn't cache the objects that are associated with this cache behavior.
    // Instead, CloudFront sends every request to the origin."
    let (default_ttl, max_ttl) = if all_headers {
        (0, 0)
    } else {
        (default_ttl, max_ttl)
    };
    CachePolicy {
        name: String::new(),
        managed_id: None,
        ttl: TtlSettings {
            min_ttl,
            default_ttl,
            max_ttl,
        },
        // Legacy settings gzip (Brotli needs a cache policy): the viewer's Accept-Encoding,
        // normalized to gzip, is in the key and goes to the origin, unless the behavior keys on
        // the header itself, which turns compression off.
        gzip: !all_headers
            && !fv
                .headers
                .iter()
                .any(|h| h.eq_ignore_ascii_case("accept-encoding")),
        brotli: false,
        // All headers (`*`) go to the origin (see `legacy_forward_all`) and nothing is cached:
        // there is no key to make.
        headers: spec::CacheHeadersConfig {
            header_behavior: if fv.headers.is_empty() || all_headers {
                spec::CacheHeaderBehavior::None
            } else {
                spec::CacheHeaderBehavior::Whitelist
            },
            headers: if all_headers {
                Vec::new()
            } else {
                fv.headers.clone()
            },
        },
        cookies: spec::CookiesConfig {
            cookie_behavior: match fv.cookies.forward {
                F::None => C::None,
                F::Whitelist => C::Whitelist,
                F::All => C::All,
            },
            cookies: fv.cookies.whitelisted_names.clone(),
        },
        query_strings: spec::QueryStringsConfig {
            query_string_behavior: match (fv.query_string, fv.query_string_cache_keys.is_empty()) {
                (false, _) => Q::None,
                (true, true) => Q::All,
                (true, false) => Q::Whitelist,
            },
            query_strings: fv.query_string_cache_keys.clone(),
        },
    }
}
