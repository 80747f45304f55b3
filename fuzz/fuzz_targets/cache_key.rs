//! The cache key builder with a policy that keys on headers, cookies and query strings: the same
//! request always gives the same key, and two requests for different paths never share one (a
//! shared key would serve one URL's object for another).
#![no_main]

use arbitrary::Arbitrary;
use ferry_config::cache_key::{primary_key, KeySource};
use ferry_config::model::CachePolicy;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const TOPOLOGY: &str = r#"
stack = "fuzz"
[edge]
http = "127.0.0.1:8080"
[[cache_policies]]
name = "everything"
default_ttl = 60
headers_config = { header_behavior = "whitelist", headers = ["X-A", "Origin"] }
cookies_config = { cookie_behavior = "whitelist", cookies = ["session", "lang"] }
query_strings_config = { query_string_behavior = "allExcept", query_strings = ["utm"] }
enable_accept_encoding_gzip = true
enable_accept_encoding_brotli = true
[[distributions]]
id = "d"
aliases = ["a.test"]
origins = [{ id = "o", domain_name = "127.0.0.1", custom_origin_config = { http_port = 9000, origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "everything" }
"#;

fn policy() -> Option<&'static Arc<CachePolicy>> {
    static POLICY: OnceLock<Option<Arc<CachePolicy>>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let t = ferry_config::parse("fuzz.toml", TOPOLOGY, std::path::Path::new(".")).ok()?;
            let d = t.distributions.first()?;
            Some(d.behaviors.last()?.cache_policy.clone())
        })
        .as_ref()
}

#[derive(Arbitrary, Debug)]
struct Request {
    path: String,
    query: Option<String>,
    headers: Vec<(u8, String)>,
    options: bool,
}

const NAMES: [&str; 5] = ["x-a", "origin", "cookie", "accept-encoding", "host"];

impl KeySource for Request {
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str)) {
        for (n, v) in &self.headers {
            if NAMES[usize::from(*n) % NAMES.len()] == lower_name {
                f(v);
            }
        }
    }
    fn is_options(&self) -> bool {
        self.options
    }
}

fuzz_target!(|pair: (Request, String)| {
    let Some(policy) = policy() else {
        panic!("the fuzz topology does not load");
    };
    let (request, other_path) = pair;
    let key = primary_key("d", policy, &request);
    assert_eq!(key, primary_key("d", policy, &request), "not deterministic");
    if other_path != request.path {
        let other = Request {
            path: other_path,
            query: request.query.clone(),
            headers: request.headers.clone(),
            options: request.options,
        };
        assert_ne!(key, primary_key("d", policy, &other), "two paths, one key");
    }
});
