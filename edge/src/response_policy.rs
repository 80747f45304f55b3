//! A behavior's response headers policy applied to pingora's `ResponseHeader` on its way to the
//! viewer, hit or miss alike (the rules are in `ferry_config::response_headers`), and the timings
//! `Server-Timing` reports.
//!
//! Preflights are not answered here. CloudFront documents the CORS settings as headers it "adds
//! ... in responses to CORS preflight requests" ("Understand response headers policies") and the
//! managed CORS-With-Preflight policy as "For preflight requests (using the HTTP OPTIONS method),
//! CloudFront adds all three of the following headers to the response" ("Use managed response
//! headers policies"): the `OPTIONS` request is checked against the behavior's allowed methods,
//! served from the cache or the origin like any other, and gets the preflight headers here.

use ferry_config::model::NamedPolicy;
use ferry_config::response_headers::{
    self, CacheResult, Fields, Served, UpstreamTiming, Viewer, SAMPLE_SCALE,
};
use ferry_config::spec::ResponseHeadersPolicy;
use pingora::cache::CachePhase;
use pingora::http::{RequestHeader, ResponseHeader};
use std::time::{Duration, Instant, SystemTime};

/// When this request reached each step, for `Server-Timing`.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The request was read (the per-request context is made then).
    received: Instant,
    /// The origin was chosen for the latest attempt (its name is resolved from the topology).
    peer: Option<Instant>,
    /// Connected (or handed a pooled connection) for the latest attempt.
    connected: Option<Instant>,
    connect: Duration,
    /// Connected to the origin's response header.
    first_byte: Option<Duration>,
    /// From the request read to the viewer's response header.
    responded: Option<Duration>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing::new()
    }
}

impl Timing {
    pub fn new() -> Timing {
        Timing {
            received: Instant::now(),
            peer: None,
            connected: None,
            connect: Duration::ZERO,
            first_byte: None,
            responded: None,
        }
    }

    /// `response_filter`: the viewer's response header is about to be written.
    pub fn responding(&mut self) {
        if self.responded.is_none() {
            self.responded = Some(self.received.elapsed());
        }
    }

    /// CloudFront's time-to-first-byte: from the request read to the response's first byte.
    pub fn to_first_byte(&self) -> Option<Duration> {
        self.responded
    }

    /// `upstream_peer`: an attempt starts.
    pub fn peer_chosen(&mut self) {
        self.peer = Some(Instant::now());
        self.connected = None;
        self.first_byte = None;
    }

    /// `connected_to_upstream`: "A value of zero (0) indicates that CloudFront reused an existing
    /// connection."
    pub fn connected(&mut self, reused: bool) {
        let now = Instant::now();
        self.connect = match (reused, self.peer) {
            (false, Some(start)) => now.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        self.connected = Some(now);
    }

    /// `upstream_response_filter`: the origin's response header arrived.
    pub fn origin_answered(&mut self) {
        if let Some(sent) = self.connected {
            self.first_byte = Some(sent.elapsed());
        }
    }

    /// From the origin chosen to its response header (the connection included), when it answered.
    pub fn origin_latency(&self) -> Option<Duration> {
        self.first_byte.map(|f| f + self.connect)
    }

    /// Since the request was read.
    pub fn elapsed(&self) -> Duration {
        self.received.elapsed()
    }

    fn upstream(&self) -> Option<UpstreamTiming> {
        self.first_byte.map(|fbl| UpstreamTiming {
            // Names resolve from the topology's table: always a cached answer.
            dns_ms: 0,
            connect_ms: millis(self.connect),
            fbl_ms: millis(fbl),
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What `Server-Timing` calls a response served in this cache phase (the same split as `X-Cache`).
fn cache_result(phase: CachePhase) -> CacheResult {
    match phase {
        CachePhase::Hit | CachePhase::Stale | CachePhase::StaleUpdating => CacheResult::Hit,
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => CacheResult::RefreshHit,
        _ => CacheResult::Miss,
    }
}

/// The sampling draw for one request: its id is already random, so a hash of it is uniform.
fn sample(request_id: &str) -> u32 {
    let hash = request_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % u64::from(SAMPLE_SCALE)) as u32
}

/// The response as [`Fields`].
struct Pingora<'a>(&'a mut ResponseHeader);

impl Fields for Pingora<'_> {
    fn has(&self, name: &str) -> bool {
        self.0.headers.contains_key(name)
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.0
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    fn set(&mut self, name: &str, value: &str) {
        if let Err(e) = self.0.insert_header(name.to_string(), value) {
            // The configuration was validated; a value that still cannot be a header is skipped.
            tracing::warn!("response headers policy: cannot set {name}: {e}");
        }
    }

    fn remove(&mut self, name: &str) {
        self.0.remove_header(name);
    }
}

/// One request's view of the policy: what it asked and how it was served.
pub struct Context<'a> {
    pub request: &'a RequestHeader,
    pub phase: CachePhase,
    pub timing: &'a Timing,
    /// `X-Amz-Cf-Pop`.
    pub pop: &'a str,
    /// `X-Amz-Cf-Id`.
    pub request_id: &'a str,
}

/// Applies the behavior's response headers policy, if it has one, to `response`.
pub fn apply(
    policy: Option<&NamedPolicy<ResponseHeadersPolicy>>,
    context: &Context<'_>,
    response: &mut ResponseHeader,
) {
    let Some(policy) = policy else {
        return;
    };
    let header = |name: &str| {
        context
            .request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
    };
    let pragma: Vec<&str> = context
        .request
        .headers
        .get_all(http::header::PRAGMA)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let pragma = pragma.join(",");
    let viewer = Viewer {
        method: context.request.method.as_str(),
        origin: header("origin"),
        access_control_request_method: header("access-control-request-method"),
        pragma: (!pragma.is_empty()).then_some(pragma.as_str()),
    };
    let served = Served {
        result: cache_result(context.phase),
        pop: context.pop,
        request_id: context.request_id,
        upstream: context.timing.upstream(),
        downstream_fbl_ms: millis(context.timing.received.elapsed()),
        sample: sample(context.request_id),
        now: SystemTime::now(),
    };
    response_headers::apply(&policy.policy, &viewer, &served, &mut Pingora(response));
}

/// [`apply`] for a miss that the edge's forward fast path serves, to the response's fields as a
/// list: the viewer's request as `viewer`. A policy with Server-Timing takes pingora's path,
/// which times the request (here the timing is left out).
pub fn apply_to_list(
    policy: &NamedPolicy<ResponseHeadersPolicy>,
    viewer: &Viewer<'_>,
    (pop, request_id): (&str, &str),
    fields: &mut FieldList,
) {
    let served = Served {
        result: CacheResult::Miss,
        pop,
        request_id,
        upstream: None,
        downstream_fbl_ms: 0,
        sample: sample(request_id),
        now: SystemTime::now(),
    };
    response_headers::apply(&policy.policy, viewer, &served, fields);
}

/// Response fields as received (names as written, values as bytes), for [`apply_to_list`]: the
/// policy reads values as text and sets its own, and every other field keeps its bytes.
#[derive(Debug, Default)]
pub struct FieldList(pub Vec<(String, Vec<u8>)>);

impl Fields for FieldList {
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.0.push((name.to_string(), value.as_bytes().to_vec()));
    }

    fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases() {
        use pingora::cache::NoCacheReason;
        for (phase, expected) in [
            (CachePhase::Hit, CacheResult::Hit),
            (CachePhase::Stale, CacheResult::Hit),
            (CachePhase::Revalidated, CacheResult::RefreshHit),
            (CachePhase::Miss, CacheResult::Miss),
            (CachePhase::Expired, CacheResult::Miss),
            (
                CachePhase::Disabled(NoCacheReason::NeverEnabled),
                CacheResult::Miss,
            ),
        ] {
            assert_eq!(cache_result(phase), expected, "{phase:?}");
        }
    }

    #[test]
    fn samples_spread() {
        let ids = crate::ids::IdSource::new();
        let below = (0..10_000)
            .filter(|_| sample(&ids.request_id()) < SAMPLE_SCALE / 2)
            .count();
        assert!(
            (4_500..5_500).contains(&below),
            "{below} of 10000 below half"
        );
    }

    #[test]
    fn fields_on_pingora() {
        let mut r = ResponseHeader::build(200, None).expect("response");
        r.append_header("Server-Timing", "a").expect("header");
        r.append_header("server-timing", "b").expect("header");
        let mut f = Pingora(&mut r);
        assert!(f.has("SERVER-TIMING"));
        assert_eq!(f.values("Server-Timing"), ["a", "b"]);
        f.set("Server-Timing", "c");
        assert_eq!(f.values("server-timing"), ["c"]);
        f.set("X-Bad", "line\nbreak");
        assert!(!f.has("x-bad"));
        f.remove("server-timing");
        assert!(!f.has("server-timing"));
    }
}
