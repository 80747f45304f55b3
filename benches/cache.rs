//! Criterion benches of the edge's hot cache path: choosing a cache behavior among 25 by path
//! pattern, building a CloudFront cache key for each kind of cache policy, CloudFront's TTL
//! decision for an origin response, and a store lookup (metadata rebuilt, body shared).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferry_config::cache_key::{self, KeySource};
use ferry_config::model::CachePolicy;
use ferry_config::ttl::{self, CacheControl, OriginResponse, TtlSettings};
use ferry_edge::cache::store::Store;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::http::ResponseHeader;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

struct Request {
    headers: Vec<(&'static str, &'static str)>,
}

impl KeySource for Request {
    fn path(&self) -> &str {
        "/static/css/site.min.css"
    }
    fn query(&self) -> Option<&str> {
        Some("v=1234&utm_source=news&lang=en")
    }
    fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str)) {
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case(lower_name) {
                f(v);
            }
        }
    }
}

fn parse(text: &str) -> ferry_config::Topology {
    match ferry_config::parse("bench.toml", text, Path::new(".")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

const ORIGIN: &str = r#"origins = [{ id = "o", domain_name = "o.test", custom_origin_config = { origin_protocol_policy = "http-only" } }]"#;

/// The cache policies of a topology, one per kind of key: managed ones (nothing but the URL; the
/// query string), and custom ones keyed on listed headers, cookies and query strings, on all
/// cookies and query strings, and on all but some.
fn policies() -> Vec<(String, CachePolicy)> {
    let mut text = String::from(
        r#"
stack = "bench"
[[cache_policies]]
name = "whitelists"
min_ttl = 0
headers_config = { header_behavior = "whitelist", headers = ["Accept-Language", "CloudFront-Viewer-Country"] }
cookies_config = { cookie_behavior = "whitelist", cookies = ["session", "ab-*"] }
query_strings_config = { query_string_behavior = "whitelist", query_strings = ["v", "lang"] }
enable_accept_encoding_gzip = true
enable_accept_encoding_brotli = true
[[cache_policies]]
name = "all"
min_ttl = 0
cookies_config = { cookie_behavior = "all" }
query_strings_config = { query_string_behavior = "all" }
enable_accept_encoding_gzip = true
[[cache_policies]]
name = "all-except"
min_ttl = 0
cookies_config = { cookie_behavior = "allExcept", cookies = ["tracking"] }
query_strings_config = { query_string_behavior = "allExcept", query_strings = ["utm_source"] }
[[distributions]]
id = "d"
"#,
    );
    text.push_str(ORIGIN);
    text.push_str(
        r#"
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingOptimized" }
cache_behaviors = [
  { path_pattern = "/a", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "whitelists" },
  { path_pattern = "/b", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "all" },
  { path_pattern = "/c", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "all-except" },
  { path_pattern = "/d", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-UseOriginCacheControlHeaders-QueryStrings" },
]
"#,
    );
    parse(&text).distributions[0]
        .behaviors
        .iter()
        .map(|b| (b.cache_policy.name.clone(), (*b.cache_policy).clone()))
        .collect()
}

/// A distribution of 24 cache behaviors and the default, with patterns as sites write them
/// (prefixes, extensions, wildcards in the middle).
fn distribution_of_25() -> std::sync::Arc<ferry_config::model::Distribution> {
    let mut text = format!("stack = \"bench\"\n[[distributions]]\nid = \"d\"\n{ORIGIN}\n");
    text.push_str(r#"default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingOptimized" }"#);
    text.push_str("\ncache_behaviors = [\n");
    for i in 0..24 {
        let pattern = match i % 4 {
            0 => format!("/api/v{i}/*"),
            1 => format!("/static/{i}/*.css"),
            2 => format!("*.ext{i}"),
            _ => format!("/img/??/{i}/*.jpg"),
        };
        text.push_str(&format!(
            "  {{ path_pattern = \"{pattern}\", target_origin_id = \"o\", viewer_protocol_policy = \"allow-all\", cache_policy = \"Managed-CachingOptimized\" }},\n"
        ));
    }
    text.push_str("]\n");
    parse(&text).distributions.remove(0)
}

fn behaviors(c: &mut Criterion) {
    let distribution = distribution_of_25();
    let mut group = c.benchmark_group("behavior_of_25");
    for (name, path, want) in [
        ("first", "/api/v0/users/42", 0),
        ("last", "/img/ab/23/photos/cat.jpg", 23),
        ("default", "/index.html", 24),
    ] {
        let found = distribution.behavior_for(path);
        assert!(std::ptr::eq(found, &distribution.behaviors[want]), "{path}");
        group.bench_function(name, |b| {
            b.iter(|| distribution.behavior_for(black_box(path)))
        });
    }
    group.finish();
}

fn ttls(c: &mut Criterion) {
    let settings = TtlSettings {
        min_ttl: 1,
        default_ttl: 86_400,
        max_ttl: 31_536_000,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let mut group = c.benchmark_group("ttl");
    for (name, cache_control, expires) in [
        (
            "max_age",
            "public, max-age=3600, stale-while-revalidate=60",
            None,
        ),
        ("s_maxage", "max-age=60, s-maxage=600", None),
        ("no_store", "private, no-store", None),
        ("expires", "", Some("Thu, 01 Dec 2026 16:00:00 GMT")),
        ("default", "", None),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = OriginResponse {
                    status: 200,
                    cache_control: CacheControl::parse(
                        Some(black_box(cache_control)).filter(|v| !v.is_empty()),
                    ),
                    has_cache_control: !cache_control.is_empty(),
                    expires: black_box(expires),
                    date: Some("Thu, 26 Nov 2026 16:00:00 GMT"),
                };
                ttl::decide(settings, &response, now, None)
            })
        });
    }
    group.finish();
}

fn keys(c: &mut Criterion) {
    let request = Request {
        headers: vec![
            ("host", "www.example.test"),
            ("accept-encoding", "gzip, deflate, br"),
            ("accept-language", "en-GB,en;q=0.9"),
            ("cookie", "session=abc123; ab-test=7; tracking=zzz"),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        ],
    };
    let mut group = c.benchmark_group("cache_key");
    for (name, policy) in policies() {
        group.bench_function(name, |b| {
            b.iter(|| cache_key::primary_key(black_box("d"), &policy, &request))
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let store: &'static Store = Box::leak(Box::new(Store::new(64 << 20, None)));
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let key = CacheKey::new(&b"bench-key"[..], "d\n/obj");
    let mut header = match ResponseHeader::build(200, None) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    };
    for (n, v) in [
        ("content-type", "text/css"),
        ("cache-control", "max-age=3600"),
        ("etag", "\"abc\""),
    ] {
        let _ = header.insert_header(n, v);
    }
    let now = SystemTime::now();
    let meta = CacheMeta::new(now + Duration::from_secs(3600), now, 0, 0, header);
    runtime.block_on(async {
        let span = pingora::cache::trace::Span::inactive().handle();
        if let Ok(mut miss) = store.get_miss_handler(&key, &meta, &span).await {
            let _ = miss
                .write_body(bytes::Bytes::from(vec![b'x'; 1024]), true)
                .await;
            let _ = miss.finish().await;
        }
    });
    c.bench_function("store_lookup_hit_1KiB", |b| {
        b.iter_batched(
            || key.clone(),
            |k| black_box(store.get(&k)),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, behaviors, keys, ttls, lookup);
criterion_main!(benches);
