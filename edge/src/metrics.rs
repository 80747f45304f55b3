//! The edge's Prometheus metrics, in the process's one registry (`prometheus::default_registry()`,
//! which pingora's prometheus service uses too). A metric that cannot be registered is logged and
//! left out; requests never fail on metrics.

use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use std::sync::LazyLock;
use std::time::Duration;

/// Registers `metric` in the default registry; `None` (logged) when it cannot be made or registered.
fn register<C: Collector + Clone + 'static>(metric: prometheus::Result<C>) -> Option<C> {
    let metric = metric
        .map_err(|e| tracing::warn!("edge metric not created: {e}"))
        .ok()?;
    if let Err(e) = prometheus::default_registry().register(Box::new(metric.clone())) {
        tracing::warn!("edge metric not registered: {e}");
        return None;
    }
    Some(metric)
}

static REQUESTS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_edge_requests_total",
            "Edge requests by distribution, cache behavior (its path pattern, `*` for the default), status class and cache result (x-edge-result-type).",
        ),
        &["distribution", "behavior", "status_class", "cache_result"],
    ))
});

static RESPONSE_BYTES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_edge_response_bytes_total",
            "Response body bytes the edge sent to viewers.",
        ),
        &["distribution"],
    ))
});

static REQUEST_BYTES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_edge_request_bytes_total",
            "Request body bytes the edge received from viewers.",
        ),
        &["distribution"],
    ))
});

static ORIGIN_LATENCY: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new(
            "ferry_edge_origin_latency_seconds",
            "From connecting to an origin to its response header.",
        ),
        &["distribution", "origin"],
    ))
});

static FAST_HITS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register(IntCounter::new(
        "ferry_edge_fast_hits_total",
        "Hits answered by the edge's HTTP/1 fast path (also counted in ferry_edge_requests_total).",
    ))
});

static FAST_FORWARDS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register(IntCounter::new(
        "ferry_edge_fast_forwards_total",
        "Requests the edge forwarded without caching by its HTTP/1 fast path (also counted in ferry_edge_requests_total).",
    ))
});

static CACHE_OBJECTS: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    register(IntGauge::new(
        "ferry_edge_cache_objects",
        "Objects in the edge cache.",
    ))
});

static CACHE_BYTES: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    register(IntGauge::new(
        "ferry_edge_cache_bytes",
        "Bytes held by the edge cache.",
    ))
});

static CACHE_FILES: LazyLock<Option<IntGauge>> = LazyLock::new(|| {
    register(IntGauge::new(
        "ferry_edge_cache_files",
        "Cached bodies kept in files (64 KiB and more), sent without a copy.",
    ))
});

/// Shared with the balancer's counter of the same name (label `log`).
pub static ACCESS_LOG_DROPPED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register(IntCounter::with_opts(
        Opts::new(
            "ferry_access_log_dropped_total",
            "Access log lines dropped because the writer was behind.",
        )
        .const_label("log", "edge"),
    ))
});

pub use ferry_config::admin::status_class;

/// Registers every edge metric, so that they are listed from the first scrape.
pub fn init() {
    for metric in [&REQUESTS, &RESPONSE_BYTES, &REQUEST_BYTES] {
        LazyLock::force(metric);
    }
    LazyLock::force(&ORIGIN_LATENCY);
    LazyLock::force(&FAST_HITS);
    LazyLock::force(&FAST_FORWARDS);
    LazyLock::force(&CACHE_OBJECTS);
    LazyLock::force(&CACHE_BYTES);
    LazyLock::force(&CACHE_FILES);
    LazyLock::force(&ACCESS_LOG_DROPPED);
}

/// The label a behavior's requests count under: its path pattern, `*` for the default one.
pub fn behavior_label(behavior: &ferry_config::model::Behavior) -> &str {
    behavior.path_pattern.as_ref().map_or("*", |p| p.as_str())
}

/// One finished request.
pub struct Finished<'a> {
    pub distribution: &'a str,
    /// The behavior's path pattern, `*` for the default one.
    pub behavior: &'a str,
    pub status: Option<u16>,
    pub cache_result: &'a str,
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// The origin and its latency, when one answered.
    pub origin: Option<(&'a str, Duration)>,
}

pub fn request(r: Finished<'_>) {
    let Finished {
        distribution,
        behavior,
        status,
        cache_result,
        bytes_in,
        bytes_out,
        origin,
    } = r;
    if let Some(m) = REQUESTS.as_ref() {
        m.with_label_values(&[distribution, behavior, status_class(status), cache_result])
            .inc();
    }
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    if let Some(m) = RESPONSE_BYTES.as_ref() {
        m.with_label_values(&[distribution])
            .inc_by(count(bytes_out));
    }
    if let Some(m) = REQUEST_BYTES.as_ref() {
        m.with_label_values(&[distribution]).inc_by(count(bytes_in));
    }
    if let (Some(m), Some((origin, latency))) = (ORIGIN_LATENCY.as_ref(), origin) {
        m.with_label_values(&[distribution, origin])
            .observe(latency.as_secs_f64());
    }
}

/// Cache lookups per distribution since the process started, from the request counter: (hits,
/// misses), where a hit is CloudFront's `Hit` or `RefreshHit` and a miss its `Miss`; errors,
/// redirects and refusals are not lookups.
pub fn cache_results() -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Some(m) = REQUESTS.as_ref() else {
        return out;
    };
    for family in prometheus::core::Collector::collect(m) {
        for metric in family.get_metric() {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == name)
                    .map(|l| l.value().to_string())
                    .unwrap_or_default()
            };
            let count = metric.get_counter().get_value() as u64;
            let entry: &mut (u64, u64) = out.entry(label("distribution")).or_default();
            match label("cache_result").as_str() {
                "Hit" | "RefreshHit" => entry.0 += count,
                "Miss" => entry.1 += count,
                _ => {}
            }
        }
    }
    out
}

/// The cache gauges, at scrape time.
pub fn cache(objects: u64, bytes: u64) {
    if let Some(g) = CACHE_OBJECTS.as_ref() {
        g.set(i64::try_from(objects).unwrap_or(i64::MAX));
    }
    if let Some(g) = CACHE_BYTES.as_ref() {
        g.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
    if let Some(g) = CACHE_FILES.as_ref() {
        g.set(i64::try_from(crate::cache::body_file::kept()).unwrap_or(i64::MAX));
    }
}

/// A request the fast path forwarded (its outcome is counted by [`request`]).
pub fn fast_forward() {
    if let Some(c) = FAST_FORWARDS.as_ref() {
        c.inc();
    }
}

pub fn access_log_dropped() {
    if let Some(c) = ACCESS_LOG_DROPPED.as_ref() {
        c.inc();
    }
}

/// The counters a fast hit adds to, resolved once: what [`request`] does for a request with no
/// body, no origin and `status`, without looking the labels up each time (the hit fast path keeps
/// one per cached object), and the fast path's own count.
pub struct Resolved {
    requests: Option<IntCounter>,
    response_bytes: Option<IntCounter>,
}

impl Resolved {
    pub fn new(distribution: &str, behavior: &str, status: u16, cache_result: &str) -> Resolved {
        let class = status_class(Some(status));
        // A request without a body adds nothing to the request bytes, but its series is made as
        // `request` makes it.
        if let Some(m) = REQUEST_BYTES.as_ref() {
            m.with_label_values(&[distribution]).inc_by(0);
        }
        Resolved {
            requests: REQUESTS
                .as_ref()
                .map(|m| m.with_label_values(&[distribution, behavior, class, cache_result])),
            response_bytes: RESPONSE_BYTES
                .as_ref()
                .map(|m| m.with_label_values(&[distribution])),
        }
    }

    pub fn count(&self, bytes_out: usize) {
        if let Some(m) = FAST_HITS.as_ref() {
            m.inc();
        }
        if let Some(m) = &self.requests {
            m.inc();
        }
        if let Some(m) = &self.response_bytes {
            m.inc_by(u64::try_from(bytes_out).unwrap_or(u64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(504)), "5xx");
        assert_eq!(status_class(None), "-");
        assert_eq!(status_class(Some(0)), "-");
    }
}
