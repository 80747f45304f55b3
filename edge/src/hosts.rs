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
