//! Choosing a distribution by the request's Host: exact aliases first, then wildcard aliases (the
//! longest suffix wins), then the edge's default distribution.

use ferry_config::model::{Alias, Distribution};
use std::collections::HashMap;
use std::sync::Arc;

pub struct Hosts {
    exact: HashMap<String, usize>,
    /// (suffix with its leading dot, distribution), longest first.
    wildcards: Vec<(String, usize)>,
    default: Option<usize>,
}

impl Hosts {
    pub fn new(distributions: &[Arc<Distribution>], default: Option<usize>) -> Hosts {
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (i, d) in distributions.iter().enumerate().filter(|(_, d)| d.enabled) {
            for alias in &d.aliases {
                match alias {
                    Alias::Exact(name) => {
                        exact.insert(name.clone(), i);
                    }
                    Alias::Wildcard(suffix) => wildcards.push((suffix.clone(), i)),
                }
            }
        }
        wildcards.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        Hosts {
            exact,
            wildcards,
            default,
        }
    }

    /// `host` lowercased, without its port.
    pub fn lookup(&self, host: &str) -> Option<usize> {
        if let Some(i) = self.exact.get(host) {
            return Some(*i);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, i)| *i)
            .or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> ferry_config::Topology {
        let text = r#"
stack = "t"
[edge]
http = "127.0.0.1:1"
default_distribution = "fallback"
[[distributions]]
id = "a"
aliases = ["www.example.test", "*.example.test"]
origins = [{ id = "o", domain_name = "o.test", custom_origin_config = { origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }
[[distributions]]
id = "b"
aliases = ["*.api.example.test", "exact.example.test"]
origins = [{ id = "o", domain_name = "o.test", custom_origin_config = { origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }
[[distributions]]
id = "fallback"
origins = [{ id = "o", domain_name = "o.test", custom_origin_config = { origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }
"#;
        ferry_config::parse("t.toml", text, std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn exact_then_longest_wildcard_then_default() {
        let t = topology();
        let hosts = Hosts::new(
            &t.distributions,
            t.edge.as_ref().and_then(|e| e.default_distribution),
        );
        for (host, expected) in [
            ("www.example.test", Some(0)),
            ("exact.example.test", Some(1)),
            ("x.example.test", Some(0)),
            ("v1.api.example.test", Some(1)),
            ("api.example.test", Some(0)),
            ("example.test", Some(2)),
            ("other.test", Some(2)),
        ] {
            assert_eq!(hosts.lookup(host), expected, "{host}");
        }
        let no_default = Hosts::new(&t.distributions, None);
        assert_eq!(no_default.lookup("other.test"), None);
    }
}
