//! The store: bounded by `[edge] cache_size` (memory stays bounded and objects get evicted, judged
//! by the process's VmRSS and origin counts), objects above `cache_max_object_size` served whole but
//! not stored, and range requests sliced from a cached object.

mod common;

use common::*;

/// The bytes of object `i` of `len` bytes: a pattern that differs per object and per position.
fn object_body(i: usize, len: usize) -> Vec<u8> {
    let tag = format!("[{i}]");
    tag.bytes()
        .chain((0..).map(|k: usize| b'a' + (k % 26) as u8))
        .take(len)
        .collect()
}

/// `/<prefix>/<i>` answers `object_body(i, len)` with `max-age=3600`.
fn objects_origin(len: usize) -> Origin {
    Origin::start_with("o", move |req| {
        let i: usize = req
            .path()
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Response::new(200)
            .with_header("Content-Type", "application/octet-stream")
            .with_header("Cache-Control", "max-age=3600")
            .with_body(object_body(i, len))
    })
}

/// GETs every path in turn over keep-alive connections (reconnecting when the edge closes one),
/// asserting a 200 with the expected body; returns how many answers were hits.
fn get_all(site: &Site, paths: impl Iterator<Item = (usize, String)>, len: usize) -> usize {
    let mut conn: Option<Conn> = None;
    let mut hits = 0;
    for (i, path) in paths {
        let mut attempt = 0;
        let r = loop {
            attempt += 1;
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(
                    site.client
                        .connect(&site.edge)
                        .unwrap_or_else(|e| panic!("connect to the edge: {e}")),
                ),
            };
            match c.request("GET", &path, &[("Host", SITE_HOST)], b"") {
                Ok(r) => {
                    if r.headers.has_token("connection", "close") {
                        conn = None;
                    }
                    break r;
                }
                Err(e) if attempt < 3 => {
                    conn = None;
                    eprintln!("GET {path}: {e}; reconnecting");
                }
                Err(e) => panic!("GET {path}: {e}\n{}", site.ferry.output_report()),
            }
        };
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(
            r.body == object_body(i, len),
            "{path}: wrong body ({} bytes): {r:?}",
            r.body.len()
        );
        if x_cache(&r) == "Hit from cloudfront" {
            hits += 1;
        }
    }
    hits
}

fn paths(
    prefix: &str,
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = (usize, String)> + '_ {
    range.map(move |i| (i, format!("/{prefix}/{i}")))
}

const MIB: u64 = 1024;

#[test]
fn a_1mib_store_evicts_and_stays_bounded_over_2000_objects() {
    const LEN: usize = 4096;
    const N: usize = 2000;
    let o = objects_origin(LEN);
    let site = SiteBuilder::new("store-bounded", &o)
        .edge("cache_size = \"1MiB\"")
        .start();

    // Warm up (connection pools, buffers, the allocator), then take the baseline.
    get_all(&site, paths("warm", 0..200), LEN);
    let base = rss_kib(site.ferry.pid());

    get_all(&site, paths("obj", 0..N), LEN);
    let after = rss_kib(site.ferry.pid());
    assert!(
        after <= base + 40 * MIB,
        "VmRSS grew from {base} KiB to {after} KiB over {N} objects of {LEN} bytes with cache_size 1MiB"
    );
    assert_eq!(o.count_prefix("/obj/"), N);

    // A second pass. Whatever the eviction order, no more than 1MiB of 4KiB objects can be hits.
    let early_hits = get_all(&site, paths("obj", 0..100), LEN);
    let hits = early_hits + get_all(&site, paths("obj", 100..N), LEN);
    assert!(
        hits <= 256,
        "{hits} of {N} objects were hits on a second pass: more than 1MiB of them was kept"
    );
    assert_eq!(o.count_prefix("/obj/"), 2 * N - hits);

    // A full store still takes new objects that are asked for.
    let fresh = (0..5)
        .map(|_| site.get("/fresh/1", &[]))
        .filter(|r| x_cache(r) == "Hit from cloudfront")
        .count();
    assert!(
        fresh >= 1,
        "a new object asked for 5 times was never a hit: {:#?}",
        o.requests_matching(|r| r.path() == "/fresh/1")
    );
    let after = rss_kib(site.ferry.pid());
    assert!(
        after <= base + 40 * MIB,
        "VmRSS grew from {base} KiB to {after} KiB"
    );

    // The first objects were evicted to make room for the later ones: CloudFront "might evict
    // the file ... to make room for files that have been requested more recently" (Expiration.md).
    assert!(
        early_hits <= 10,
        "{early_hits} of the first 100 objects were still cached after {N} others had been requested since"
    );
}

#[test]
fn memory_stays_bounded_when_far_more_than_the_store_passes_through() {
    const LEN: usize = 64 * 1024;
    const N: usize = 1200; // 75 MiB through a 1 MiB store
    let o = objects_origin(LEN);
    let site = SiteBuilder::new("store-rss", &o)
        .edge("cache_size = \"1MiB\"")
        .start();

    get_all(&site, paths("warm", 0..50), LEN);
    let base = rss_kib(site.ferry.pid());
    get_all(&site, paths("big", 0..N), LEN);
    let after = rss_kib(site.ferry.pid());
    assert!(
        after <= base + 40 * MIB,
        "VmRSS grew from {base} KiB to {after} KiB while {} MiB of distinct objects passed through a 1MiB store",
        N * LEN / (1 << 20)
    );
}

#[test]
fn an_object_above_cache_max_object_size_is_served_whole_but_not_cached() {
    let big = object_body(7, 100 * 1024);
    let small = object_body(8, 32 * 1024);
    let (b, s) = (big.clone(), small.clone());
    let o = Origin::start_with("o", move |req| {
        let r = Response::new(200)
            .with_header("Content-Type", "application/octet-stream")
            .with_header("Cache-Control", "max-age=3600");
        match req.path() {
            "/big" => r.with_body(b.clone()),
            // No Content-Length: the size is known only at the end.
            "/big-chunked" => r
                .with_header("Transfer-Encoding", "chunked")
                .with_body(b.clone()),
            _ => r.with_body(s.clone()),
        }
    });
    let site = SiteBuilder::new("store-max-object", &o)
        .edge("cache_size = \"1MiB\"")
        .edge("cache_max_object_size = \"64KiB\"")
        .start();

    for path in ["/big", "/big-chunked"] {
        for _ in 0..2 {
            let r = site.get(path, &[]);
            assert_eq!(r.status, 200, "{path}: {r:?}");
            assert!(
                r.body == big,
                "{path}: the whole object ({} bytes) reaches the viewer, got {}",
                big.len(),
                r.body.len()
            );
            assert_from_edge(&r, "Miss from cloudfront");
        }
        assert_eq!(
            o.count_path(path),
            2,
            "{path} is above cache_max_object_size: not stored: {:#?}",
            o.requests()
        );
    }

    for _ in 0..2 {
        let r = site.get("/small", &[]);
        assert!(r.body == small, "{r:?}");
    }
    assert_eq!(o.count_path("/small"), 1, "{:#?}", o.requests());
}

/// An edge whose origin answers every path with the 100 bytes `0123456789` × 10 and ignores
/// Range, as many origins do: the full object is cached and ranges are sliced from it.
fn range_site(label: &str) -> (Origin, Site, String) {
    let body = "0123456789".repeat(10);
    let b = body.clone();
    let o = Origin::start_with("o", move |_req| {
        Response::text(200, b.clone()).with_header("Cache-Control", "max-age=3600")
    });
    let site = SiteBuilder::new(label, &o).start();
    (o, site, body)
}

#[test]
fn range_requests_are_served_from_the_cached_object() {
    let (o, site, body) = range_site("store-range");

    let r = site.get("/r/full", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), body);

    let r = site.get("/r/full", &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 0-9/100"), "{r:?}");
    assert_eq!(r.body_text(), "0123456789", "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");

    let r = site.get("/r/full", &[("Range", "bytes=95-")]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 95-99/100"), "{r:?}");
    assert_eq!(r.body_text(), "56789", "{r:?}");

    let r = site.get("/r/full", &[("Range", "bytes=-3")]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 97-99/100"), "{r:?}");
    assert_eq!(r.body_text(), "789", "{r:?}");

    assert_eq!(o.count_path("/r/full"), 1, "{:#?}", o.requests());
}

#[test]
fn a_range_on_a_miss_is_answered_and_the_whole_object_stored() {
    let (o, site, body) = range_site("store-range-miss");

    let r = site.get("/r/first", &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes 10-19/100"), "{r:?}");
    assert_eq!(r.body_text(), "0123456789", "{r:?}");
    let r = site.get("/r/first", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), body);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/r/first"), 1, "{:#?}", o.requests());
}

#[test]
fn malformed_ranges_get_the_whole_object() {
    // Reference §1.1, Range requests: "Malformed ranges return 200 with the full object: ranges
    // not ascending, overlapping, or negative" (RFC 9110 §14.2: an invalid Range is ignored).
    let (o, site, body) = range_site("store-range-malformed");
    assert_eq!(site.get("/r/m", &[]).status, 200);

    let mut wrong = Vec::new();
    for range in ["bytes=9-2", "bytes=0-9,5-20", "bytes=abc", "bytes=--5"] {
        let r = site.get("/r/m", &[("Range", range)]);
        if r.status != 200 || r.body_text() != body {
            wrong.push(format!("Range: {range} got {r:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not the whole object:\n{}",
        wrong.join("\n")
    );
    assert_eq!(o.count_path("/r/m"), 1, "{:#?}", o.requests());
}

#[test]
fn unsatisfiable_ranges_get_416() {
    // RFC 9110 §15.5.17: 416 with `Content-Range: bytes */<length>` (the reference names no other
    // behaviour for this case).
    let (o, site, _) = range_site("store-range-416");
    assert_eq!(site.get("/r/u", &[]).status, 200);

    let r = site.get("/r/u", &[("Range", "bytes=200-300")]);
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("content-range"), Some("bytes */100"), "{r:?}");
    assert_eq!(o.count_path("/r/u"), 1, "{:#?}", o.requests());
}
