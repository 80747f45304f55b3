//! Prometheus metrics at `/metrics` on the admin listener and the access logs
//! (`FERRY_EDGE_ACCESS_LOG`, `FERRY_BALANCER_ACCESS_LOG`), through a running `ferry up` with an
//! edge distribution and a balancer.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The samples of a Prometheus text exposition: `name{labels}` → value. Panics on a line that is
/// not a comment, a blank line or a sample.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap_or("");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad TYPE line: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        if let Some((name, labels)) = series.split_once('{') {
            assert!(labels.ends_with('}'), "unclosed labels: {line}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name: {line}"
            );
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no sample {series} in {:#?}", samples.keys()))
}

/// Waits until `path` holds at least `n` lines containing `needle` (the log is written after
/// the response has gone), then returns all its lines.
fn log_lines(path: &std::path::Path, needle: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.iter().filter(|l| l.contains(needle)).count() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Scrapes `/metrics` until `ready` holds of its samples (a request is counted in pingora's
/// `logging` hook, just after its response has gone), or 10 s have passed; returns the last scrape.
fn scrape(
    client: &Client,
    admin: &str,
    ready: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> (String, BTreeMap<String, f64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = client.get(admin, "/metrics", &[]);
        assert_eq!(response.status, 200, "{response:?}");
        assert!(
            response
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
            "{response:?}"
        );
        let text = response.body_text();
        let samples = parse_metrics(&text);
        if ready(&samples) || Instant::now() > deadline {
            return (text, samples);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_and_access_logs_of_the_edge_and_the_balancer() {
    let origin = Origin::start("site");
    let target = Origin::start("target");
    let ports = free_ports(3);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let admin = format!("127.0.0.1:{}", ports[1]);
    let node = format!("127.0.0.1:{}", ports[2]);
    let mut toml = SiteBuilder::new("observability", &origin).toml(&edge, &admin);
    toml.push('\n');
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(
            ports[2],
            r#"  default_actions = [{ type = "forward", target_group = "tg" }]"#,
        )],
    ));
    toml.push_str(&target_group_block(
        "tg",
        &[(target.port(), "a")],
        "enabled = false",
        "",
    ));
    let topology = Topology::write("observability", &toml);
    let edge_log = topology.dir().path().join("edge.log");
    let balancer_log = topology.dir().path().join("balancer.log");
    let edge_log_s = edge_log.to_string_lossy().to_string();
    let balancer_log_s = balancer_log.to_string_lossy().to_string();
    let _ferry = Ferry::start_with_env(
        &["up", topology.path_str(), "--admin", admin.as_str()],
        &[
            ("FERRY_EDGE_ACCESS_LOG", edge_log_s.as_str()),
            ("FERRY_BALANCER_ACCESS_LOG", balancer_log_s.as_str()),
        ],
        &[edge.as_str(), admin.as_str(), node.as_str()],
    );
    let client = Client::new();
    // wait_ready's probes went to the edge (no Host: 400s) and the balancer: count from here.
    // A probe's count is recorded after its response is sent: read until it has settled.
    let balancer_count = || {
        parse_metrics(&client.get(&admin, "/metrics", &[]).body_text())
            .get(r#"ferry_balancer_requests_total{load_balancer="alb",status_class="2xx",target_group="tg",zone="a"}"#)
            .copied()
            .unwrap_or(0.0)
    };
    let mut balancer_before = balancer_count();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(150));
        let now = balancer_count();
        if now == balancer_before {
            break;
        }
        balancer_before = now;
    }

    let miss = client.get(&edge, "/obs.html", &[("Host", SITE_HOST)]);
    assert_eq!(miss.status, 200, "{miss:?}");
    assert_eq!(x_cache(&miss), "Miss from cloudfront");
    let hit = client.get(&edge, "/obs.html", &[("Host", SITE_HOST)]);
    assert_eq!(hit.status, 200, "{hit:?}");
    assert_eq!(x_cache(&hit), "Hit from cloudfront");
    let forwarded = client.get(&node, "/api?x=1", &[("User-Agent", "obs \"test\"")]);
    assert_eq!(forwarded.status, 200, "{forwarded:?}");
    assert_eq!(served_by(&forwarded), "target");

    let miss_series = r#"ferry_edge_requests_total{behavior="*",cache_result="Miss",distribution="site",status_class="2xx"}"#;
    let hit_series = r#"ferry_edge_requests_total{behavior="*",cache_result="Hit",distribution="site",status_class="2xx"}"#;
    let balancer_series = r#"ferry_balancer_requests_total{load_balancer="alb",status_class="2xx",target_group="tg",zone="a"}"#;
    let (text, m) = scrape(&client, &admin, |m| {
        m.contains_key(miss_series)
            && m.contains_key(hit_series)
            && m.get(balancer_series).copied().unwrap_or(0.0) > balancer_before
    });
    assert_eq!(sample(&m, miss_series), 1.0, "{text}");
    assert_eq!(sample(&m, hit_series), 1.0, "{text}");
    let body_bytes = miss.body.len() + hit.body.len();
    assert_eq!(
        sample(
            &m,
            r#"ferry_edge_response_bytes_total{distribution="site"}"#
        ),
        body_bytes as f64
    );
    assert_eq!(
        sample(
            &m,
            r#"ferry_edge_origin_latency_seconds_count{distribution="site",origin="o"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, "ferry_edge_cache_objects"), 1.0);
    // The hit ratio per distribution, in the cache statistics and the status document.
    let stats = client.get(&admin, "/cache/stats", &[]).body_text();
    assert!(
        stats.contains(r#""distributions":{"site":{"hits":1,"misses":1,"hit_ratio":0.5000}}"#),
        "{stats}"
    );
    let status = client.get(&admin, "/ferry/status", &[]).body_text();
    assert!(
        status.contains(r#""invalidations":0,"hits":1,"misses":1,"hit_ratio":0.5000}"#),
        "{status}"
    );
    assert!(sample(&m, "ferry_edge_cache_bytes") >= miss.body.len() as f64);
    assert_eq!(
        sample(
            &m,
            r#"ferry_balancer_requests_total{load_balancer="alb",status_class="2xx",target_group="tg",zone="a"}"#
        ) - balancer_before,
        1.0,
        "{text}"
    );
    assert!(
        sample(
            &m,
            r#"ferry_balancer_target_response_seconds_count{target_group="tg"}"#
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"ferry_balancer_healthy_targets{target_group="tg",zone="a"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"ferry_balancer_unhealthy_targets{target_group="tg",zone="a"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(&m, r#"ferry_access_log_dropped_total{log="edge"}"#),
        0.0
    );
    assert_eq!(
        sample(&m, r#"ferry_access_log_dropped_total{log="balancer"}"#),
        0.0
    );
    assert!(text.contains("# TYPE ferry_edge_origin_latency_seconds histogram"));
    assert_eq!(
        sample(&m, r#"ferry_edge_request_bytes_total{distribution="site"}"#),
        0.0
    );
    assert!(
        sample(
            &m,
            r#"ferry_balancer_bytes_total{direction="sent",load_balancer="alb"}"#
        ) > 0.0,
        "{text}"
    );
    assert!(m.contains_key("ferry_active_connections"), "{text}");
    // Admin scrapes are not requests of the tiers: once the last request's context is gone (just
    // after its metrics are counted), nothing is in flight.
    let (text, m) = scrape(&client, &admin, |m| {
        m.get("ferry_requests_in_flight") == Some(&0.0)
    });
    assert_eq!(sample(&m, "ferry_requests_in_flight"), 0.0, "{text}");

    // The edge's CloudFront log: headers, then 33 tab-separated fields per line.
    let lines = log_lines(&edge_log, "/obs.html", 2);
    assert_eq!(lines[0], "#Version: 1.0", "{lines:#?}");
    let fields: Vec<&str> = lines[1]
        .strip_prefix("#Fields: ")
        .unwrap_or_else(|| panic!("no #Fields line: {lines:#?}"))
        .split(' ')
        .collect();
    assert_eq!(fields.len(), 33);
    assert_eq!(fields[13], "x-edge-result-type");
    let ours: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.get(7) == Some(&"/obs.html"))
        .collect();
    assert_eq!(ours.len(), 2, "{lines:#?}");
    for (f, (response, result)) in ours.iter().zip([(&miss, "Miss"), (&hit, "Hit")]) {
        assert_eq!(f.len(), 33, "{f:?}");
        assert_eq!(f[5], "GET");
        assert_eq!(f[8], "200");
        assert_eq!(f[13], result);
        assert_eq!(f[22], result);
        assert_eq!(f[28], result);
        assert_eq!(Some(f[14]), response.header("x-amz-cf-id"));
        assert_eq!(f[15], SITE_HOST);
        assert_eq!(f[16], "http");
        assert_eq!(f[4], "127.0.0.1");
        assert!(f[0].len() == 10 && f[1].len() == 8, "{f:?}");
        // Plain HTTP: no TLS fields; a time to first byte within the time taken.
        assert_eq!((f[20], f[21]), ("-", "-"), "{f:?}");
        let ttfb: f64 = f[27]
            .parse()
            .unwrap_or_else(|_| panic!("time-to-first-byte {f:?}"));
        let taken: f64 = f[18].parse().unwrap_or(-1.0);
        assert!(ttfb >= 0.0 && ttfb <= taken + 0.001, "{f:?}");
    }

    // The balancer's ALB log: 30 space-separated fields, quoted ones quoted.
    let lines = log_lines(&balancer_log, "/api?x=1", 1);
    let ours: Vec<Vec<String>> = lines
        .iter()
        .map(|l| ferry_balancer::access_log::split(l))
        .filter(|f| f.get(12).is_some_and(|r| r.contains("/api?x=1")))
        .collect();
    assert_eq!(ours.len(), 1, "{lines:#?}");
    let f = &ours[0];
    assert_eq!(f.len(), 30, "{f:?}");
    assert_eq!(f[0], "http");
    assert!(f[2].starts_with("app/alb/"), "{f:?}");
    assert_eq!(f[4], target.addr().to_string());
    assert_eq!(f[8], "200");
    assert_eq!(f[9], "200");
    assert_eq!(
        f[12],
        format!("GET http://127.0.0.1:{}/api?x=1 HTTP/1.1", ports[2])
    );
    assert_eq!(f[13], "obs \"test\"");
    assert!(f[16].contains(":targetgroup/tg/"), "{f:?}");
    assert!(f[17].contains("Root=1-"), "{f:?}");
    assert_eq!(f[22], "forward");
    // The default action matched: priority 0; no redirect, no desync classification.
    assert_eq!(f[20], "0", "{f:?}");
    assert_eq!((f[23].as_str(), f[27].as_str()), ("-", "-"), "{f:?}");
    let raw = lines
        .iter()
        .find(|l| l.contains("/api?x=1"))
        .map(String::as_str)
        .unwrap_or("");
    assert!(raw.contains(&format!(
        " \"GET http://127.0.0.1:{}/api?x=1 HTTP/1.1\" \"obs \\\"test\\\"\" ",
        ports[2]
    )));
}

#[test]
fn an_unanswered_balancer_request_logs_no_target_status() {
    // A target that refuses connections: the balancer answers 502 itself.
    let dead: u16 = dead_addr()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("dead port");
    let ports = free_ports(1);
    let node = format!("127.0.0.1:{}", ports[0]);
    let mut toml = "stack = \"e2e-observability-dead\"\n\n".to_string();
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(
            ports[0],
            r#"  default_actions = [{ type = "forward", target_group = "tg" }]"#,
        )],
    ));
    toml.push_str(&target_group_block(
        "tg",
        &[(dead, "a")],
        "enabled = false",
        "",
    ));
    let topology = Topology::write("observability-dead", &toml);
    let log = topology.dir().path().join("balancer.log");
    let log_s = log.to_string_lossy().to_string();
    let admin = format!("127.0.0.1:{}", free_port());
    let _ferry = Ferry::start_with_env(
        &["up", topology.path_str(), "--admin", admin.as_str()],
        &[("FERRY_BALANCER_ACCESS_LOG", log_s.as_str())],
        &[node.as_str(), admin.as_str()],
    );
    let client = Client::new();
    let r = client.get(&node, "/down", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    let lines = log_lines(&log, "/down", 1);
    let f = lines
        .iter()
        .map(|l| ferry_balancer::access_log::split(l))
        .find(|f| f.get(12).is_some_and(|r| r.contains("/down")))
        .unwrap_or_else(|| panic!("no line for /down: {lines:#?}"));
    assert_eq!(f.len(), 30);
    assert_eq!(f[8], "502");
    assert_eq!(f[9], "-");
    assert_eq!(f[6], "-1");
    let series = r#"ferry_balancer_requests_total{load_balancer="alb",status_class="5xx",target_group="tg",zone="a"}"#;
    let (_, m) = scrape(&client, &admin, |m| m.contains_key(series));
    assert!(
        sample(
            &m,
            r#"ferry_balancer_requests_total{load_balancer="alb",status_class="5xx",target_group="tg",zone="a"}"#
        ) >= 1.0
    );
}
