//! The balancer's Prometheus metrics, in the process's one registry (`prometheus::default_registry()`,
//! which pingora's prometheus service uses too). A metric that cannot be registered is logged and
//! left out; requests never fail on metrics.

use crate::select::Groups;
use ferry_config::health::Check;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts};
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

/// Registers `metric` in the default registry; `None` (logged) when it cannot be made or registered.
fn register<C: Collector + Clone + 'static>(metric: prometheus::Result<C>) -> Option<C> {
    let metric = metric
        .map_err(|e| tracing::warn!("balancer metric not created: {e}"))
        .ok()?;
    if let Err(e) = prometheus::default_registry().register(Box::new(metric.clone())) {
        tracing::warn!("balancer metric not registered: {e}");
        return None;
    }
    Some(metric)
}

static REQUESTS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_balancer_requests_total",
            "Balancer requests by load balancer, zone, target group and status class.",
        ),
        &["load_balancer", "zone", "target_group", "status_class"],
    ))
});

static BYTES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_balancer_bytes_total",
            "Body bytes by load balancer and direction (`received` from clients, `sent` to them).",
        ),
        &["load_balancer", "direction"],
    ))
});

static TARGET_RESPONSE: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new(
            "ferry_balancer_target_response_seconds",
            "From the request sent to a target to its response header.",
        ),
        &["target_group"],
    ))
});

static HEALTHY: LazyLock<Option<IntGaugeVec>> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "ferry_balancer_healthy_targets",
            "Registered targets taking traffic, by target group and zone.",
        ),
        &["target_group", "zone"],
    ))
});

static UNHEALTHY: LazyLock<Option<IntGaugeVec>> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "ferry_balancer_unhealthy_targets",
            "Registered targets not taking traffic (initial, unhealthy), by target group and zone.",
        ),
        &["target_group", "zone"],
    ))
});

static HEALTH_CHECKS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register(IntCounterVec::new(
        Opts::new(
            "ferry_balancer_health_checks_total",
            "Health checks by target group and result (success, mismatch, timeout, failed).",
        ),
        &["target_group", "result"],
    ))
});

static FAST_FORWARDS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register(IntCounter::new(
        "ferry_balancer_fast_forwards_total",
        "Requests forwarded by the balancer's HTTP/1 fast path (also counted in ferry_balancer_requests_total).",
    ))
});

/// Counts a request the fast path forwarded.
pub fn fast_forward() {
    if let Some(m) = FAST_FORWARDS.as_ref() {
        m.inc();
    }
}

/// Shared with the edge's counter of the same name (label `log`).
static ACCESS_LOG_DROPPED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register(IntCounter::with_opts(
        Opts::new(
            "ferry_access_log_dropped_total",
            "Access log lines dropped because the writer was behind.",
        )
        .const_label("log", "balancer"),
    ))
});

/// Registers every balancer metric, so that they are listed from the first scrape.
pub fn init() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&BYTES);
    LazyLock::force(&TARGET_RESPONSE);
    LazyLock::force(&HEALTHY);
    LazyLock::force(&UNHEALTHY);
    LazyLock::force(&HEALTH_CHECKS);
    LazyLock::force(&ACCESS_LOG_DROPPED);
    LazyLock::force(&FAST_FORWARDS);
}

pub use ferry_config::admin::status_class;

/// One finished request.
pub struct Finished<'a> {
    pub load_balancer: &'a str,
    pub zone: &'a str,
    pub target_group: &'a str,
    pub status: Option<u16>,
    pub target_response: Option<Duration>,
    pub received: usize,
    pub sent: usize,
}

pub fn request(r: Finished<'_>) {
    let Finished {
        load_balancer,
        zone,
        target_group,
        status,
        target_response,
        received,
        sent,
    } = r;
    if let Some(m) = REQUESTS.as_ref() {
        m.with_label_values(&[load_balancer, zone, target_group, status_class(status)])
            .inc();
    }
    if let Some(m) = BYTES.as_ref() {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        m.with_label_values(&[load_balancer, "received"])
            .inc_by(count(received));
        m.with_label_values(&[load_balancer, "sent"])
            .inc_by(count(sent));
    }
    if let (Some(m), Some(t)) = (TARGET_RESPONSE.as_ref(), target_response) {
        m.with_label_values(&[target_group])
            .observe(t.as_secs_f64());
    }
}

/// The series one kind of forwarded request adds to (load balancer, zone, target group, status
/// class), resolved once: what [`request`] does for a request without a body, without looking the
/// labels up each time (the fast path keeps them per thread).
pub struct Resolved {
    requests: Option<IntCounter>,
    sent: Option<IntCounter>,
    target_response: Option<prometheus::Histogram>,
}

impl Resolved {
    pub fn new(load_balancer: &str, zone: &str, target_group: &str, status: u16) -> Resolved {
        if let Some(m) = BYTES.as_ref() {
            // Made as `request` makes it, though a request without a body adds nothing to it.
            m.with_label_values(&[load_balancer, "received"]).inc_by(0);
        }
        Resolved {
            requests: REQUESTS.as_ref().map(|m| {
                m.with_label_values(&[
                    load_balancer,
                    zone,
                    target_group,
                    status_class(Some(status)),
                ])
            }),
            sent: BYTES
                .as_ref()
                .map(|m| m.with_label_values(&[load_balancer, "sent"])),
            target_response: TARGET_RESPONSE
                .as_ref()
                .map(|m| m.with_label_values(&[target_group])),
        }
    }

    pub fn count(&self, sent: usize, target_response: Duration) {
        if let Some(m) = &self.requests {
            m.inc();
        }
        if let Some(m) = &self.sent {
            m.inc_by(u64::try_from(sent).unwrap_or(u64::MAX));
        }
        if let Some(m) = &self.target_response {
            m.observe(target_response.as_secs_f64());
        }
    }
}

pub fn check_result(check: &Check) -> &'static str {
    match check {
        Check::Success => "success",
        Check::Mismatch(_) => "mismatch",
        Check::Timeout => "timeout",
        Check::Failed => "failed",
    }
}

/// One health check of one target.
pub fn health_check(target_group: &str, check: &Check) {
    if let Some(m) = HEALTH_CHECKS.as_ref() {
        m.with_label_values(&[target_group, check_result(check)])
            .inc();
    }
}

/// The target health gauges, from the live target state (at scrape time). Draining targets count
/// as neither healthy nor unhealthy, as in ALB's HealthyHostCount/UnHealthyHostCount.
pub fn targets(groups: &Groups) {
    let mut counts: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for group in &groups.groups {
        for target in group.listed().iter() {
            let count = counts
                .entry((group.config.name.clone(), target.target.zone.clone()))
                .or_default();
            if target.is_draining() || !group.config.in_use {
                continue;
            }
            if target.is_healthy() {
                count.0 += 1;
            } else {
                count.1 += 1;
            }
        }
    }
    if let (Some(healthy), Some(unhealthy)) = (HEALTHY.as_ref(), UNHEALTHY.as_ref()) {
        healthy.reset();
        unhealthy.reset();
        for ((group, zone), (h, u)) in counts {
            healthy.with_label_values(&[&group, &zone]).set(h);
            unhealthy.with_label_values(&[&group, &zone]).set(u);
        }
    }
}

pub fn access_log_dropped() {
    if let Some(c) = ACCESS_LOG_DROPPED.as_ref() {
        c.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_results() {
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "-");
        assert_eq!(check_result(&Check::Mismatch(500)), "mismatch");
        assert_eq!(check_result(&Check::Success), "success");
    }
}
