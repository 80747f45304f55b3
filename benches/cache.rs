//! Criterion benches of the edge's hot cache path: building a CloudFront cache key for each kind of
//! cache policy, and a store lookup (metadata rebuilt, body shared).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferry_config::cache_key::{self, KeySource};
use ferry_config::model::CachePolicy;
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

/// The cache policies of a topology: managed ones and a custom one keyed on headers, cookies and
/// query strings.
fn policies() -> Vec<(String, CachePolicy)> {
    let text = r#"
stack = "bench"
[[cache_policies]]
name = "everything"
min_ttl = 0
headers_config = { header_behavior = "whitelist", headers = ["Accept-Language", "CloudFront-Viewer-Country"] }
cookies_config = { cookie_behavior = "whitelist", cookies = ["session", "ab-*"] }
query_strings_config = { query_string_behavior = "allExcept", query_strings = ["utm_source"] }
enable_accept_encoding_gzip = true
enable_accept_encoding_brotli = true
[[distributions]]
id = "d"
origins = [{ id = "o", domain_name = "o.test", custom_origin_config = { origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingOptimized" }
cache_behaviors = [
  { path_pattern = "/a", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "everything" },
  { path_pattern = "/b", target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-UseOriginCacheControlHeaders-QueryStrings" },
]
"#;
    let topology = match ferry_config::parse("bench.toml", text, Path::new(".")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    };
    topology.distributions[0]
        .behaviors
        .iter()
        .map(|b| (b.cache_policy.name.clone(), (*b.cache_policy).clone()))
        .collect()
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

criterion_group!(benches, keys, lookup);
criterion_main!(benches);
