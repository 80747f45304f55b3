//! CloudFront's compression ("Serve compressed files", CloudFront Developer Guide), end to end:
//! a recording origin serves uncompressed objects, the edge compresses them with gzip or Brotli as
//! CloudFront would, and every compressed body is decoded and compared with the original.
//!
//! Compression happens on the way into the cache: a second request is a hit that serves the
//! stored compressed bytes, and the origin saw one request. The gzip and Brotli variants are
//! separate objects (the normalised Accept-Encoding is in the cache key).

mod common;

use common::*;
use std::io::Read;

/// `n` bytes of compressible text (numbered lines).
fn text(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    while out.len() < n {
        out.extend_from_slice(
            format!("line {i}: the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    out.truncate(n);
    out
}

const PAGE_SIZE: usize = 20_000;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// The body decoded per its `Content-Encoding` (strict decoders: a truncated or unterminated
/// stream fails).
fn decoded(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    match r.header("content-encoding") {
        None => return r.body.clone(),
        Some("gzip") => {
            flate2::read::GzDecoder::new(&r.body[..])
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("gzip body does not decode: {e}: {r:?}"));
        }
        Some("br") => {
            brotli::Decompressor::new(&r.body[..], 4096)
                .read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("br body does not decode: {e}: {r:?}"));
        }
        Some(other) => panic!("unexpected Content-Encoding {other}: {r:?}"),
    }
    out
}

/// The origin: what each path answers.
fn answer(req: &Request) -> Response {
    let path = req.path();
    let html = |status: u16, n: usize| {
        Response::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_header("ETag", "\"v1\"")
            .with_body(text(n))
    };
    match path {
        "/c/small.html" => html(200, 999),
        "/c/min.html" => html(200, 1000),
        "/c/max.txt" => Response::new(200)
            .with_header("Content-Type", "text/plain")
            .with_body(text(10_000_000)),
        "/c/over.txt" => Response::new(200)
            .with_header("Content-Type", "text/plain")
            .with_body(text(10_000_001)),
        "/c/image.png" => Response::new(200)
            .with_header("Content-Type", "image/png")
            .with_body(text(PAGE_SIZE)),
        "/c/no-type" => Response::new(200).with_body(text(PAGE_SIZE)),
        "/c/500.html" => html(500, PAGE_SIZE),
        "/c/404.html" => html(404, PAGE_SIZE),
        // 403 is cached (TTL > 0) only with max-age.
        "/c/403.html" => html(403, PAGE_SIZE),
        "/c/403-max-age.html" => html(403, PAGE_SIZE).with_header("Cache-Control", "max-age=60"),
        "/c/chunked.html" => html(200, PAGE_SIZE).with_header("Transfer-Encoding", "chunked"),
        "/c/encoded.html" => Response::new(200)
            .with_header("Content-Type", "text/html")
            .with_header("Content-Encoding", "gzip")
            .with_header("ETag", "\"v1\"")
            .with_body(gzip(&text(PAGE_SIZE))),
        "/c/identity.html" => html(200, PAGE_SIZE).with_header("Content-Encoding", "identity"),
        "/c/weak.html" => Response::new(200)
            .with_header("Content-Type", "text/html")
            .with_header("ETag", "W/\"w1\"")
            .with_body(text(PAGE_SIZE)),
        "/c/bad-etag.html" => Response::new(200)
            .with_header("Content-Type", "text/html")
            .with_header("ETag", "v1")
            .with_body(text(PAGE_SIZE)),
        // Fresh for 1 s; revalidated with a 304 that carries the origin's strong ETag.
        "/c/revalidate.html" if req.header("if-none-match").is_some() => Response::new(304)
            .with_header("ETag", "\"v1\"")
            .with_header("Cache-Control", "max-age=1"),
        "/c/revalidate.html" => html(200, PAGE_SIZE).with_header("Cache-Control", "max-age=1"),
        "/c/slow.html" => html(200, PAGE_SIZE).with_delay(std::time::Duration::from_millis(300)),
        "/c/vary.html" => html(200, PAGE_SIZE).with_header("Vary", "Origin, accept-encoding"),
        // An origin that gzips for the viewers that accept it.
        "/legacy/origin-gzip.js" => {
            let accepts = req
                .header("accept-encoding")
                .is_some_and(|a| a.contains("gzip"));
            let r = Response::new(200)
                .with_header("Content-Type", "application/javascript")
                .with_header("Vary", "Accept-Encoding");
            if accepts {
                r.with_header("Content-Encoding", "gzip")
                    .with_body(gzip(&text(PAGE_SIZE)))
            } else {
                r.with_body(text(PAGE_SIZE))
            }
        }
        _ => html(200, PAGE_SIZE),
    }
}

/// `compress = true` on the default behavior (Managed-CachingOptimized: gzip and Brotli in the
/// key); `/off/*` the same policy without compress; `/nocache/*` CachingDisabled with compress.
fn site(label: &str, origin: &Origin) -> Site {
    SiteBuilder::new(label, origin)
        .default_behavior("compress = true")
        .behavior("/off/*", "o", "Managed-CachingOptimized", &[])
        .behavior(
            "/nocache/*",
            "o",
            "Managed-CachingDisabled",
            &["compress = true"],
        )
        .start()
}

fn assert_compressed(r: &Response, coding: &str, original: &[u8]) {
    assert_eq!(r.header("content-encoding"), Some(coding), "{r:?}");
    assert_eq!(
        r.header("content-length"),
        None,
        "the origin's length is not the compressed one: {r:?}"
    );
    assert!(
        r.headers.has_token("vary", "accept-encoding"),
        "Vary: Accept-Encoding: {r:?}"
    );
    assert!(
        r.body.len() < original.len(),
        "{} bytes: {r:?}",
        r.body.len()
    );
    assert!(decoded(r) == original, "decoded body differs: {r:?}");
}

fn assert_identity(r: &Response, original: &[u8]) {
    assert_eq!(r.header("content-encoding"), None, "{r:?}");
    assert!(r.body == original, "body differs from the origin's: {r:?}");
}

#[test]
fn gzip_or_brotli_as_cloudfront_chooses_brotli_first() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-codings", &o);
    let page = text(PAGE_SIZE);

    let gz = s.get("/c/page.html", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.status, 200, "{gz:?}");
    assert_from_edge(&gz, "Miss from cloudfront");
    assert_compressed(&gz, "gzip", &page);

    let br = s.get("/c/page.html", &[("Accept-Encoding", "br")]);
    assert_from_edge(&br, "Miss from cloudfront");
    assert_compressed(&br, "br", &page);

    // Both accepted: Brotli, whatever the order and the weights.
    let both = s.get(
        "/c/page.html",
        &[("Accept-Encoding", "gzip;q=1.0, deflate, br;q=0.5")],
    );
    assert_from_edge(&both, "Miss from cloudfront");
    assert_compressed(&both, "br", &page);

    // Brotli refused (q=0): gzip, and that is the gzip object already cached.
    let no_br = s.get("/c/page.html", &[("Accept-Encoding", "br;q=0, gzip")]);
    assert_from_edge(&no_br, "Hit from cloudfront");
    assert_compressed(&no_br, "gzip", &page);
    assert_eq!(no_br.body, gz.body);

    assert_eq!(
        o.count_path("/c/page.html"),
        3,
        "gzip, br and br,gzip are three objects: {:#?}",
        o.requests()
    );
    // The origin is asked with the normalised Accept-Encoding, and answers uncompressed.
    let forwarded: Vec<String> = o
        .requests_matching(|r| r.path() == "/c/page.html")
        .iter()
        .map(|r| r.header("accept-encoding").unwrap_or("").to_string())
        .collect();
    assert_eq!(forwarded, ["gzip", "br", "br,gzip"]);
}

#[test]
fn compressed_once_then_served_from_the_cache() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-once", &o);
    let page = text(PAGE_SIZE);

    for coding in ["br", "gzip"] {
        let path = format!("/c/once-{coding}.html");
        let first = s.get(&path, &[("Accept-Encoding", coding)]);
        assert_from_edge(&first, "Miss from cloudfront");
        assert_compressed(&first, coding, &page);
        for _ in 0..3 {
            let again = s.get(&path, &[("Accept-Encoding", coding)]);
            assert_from_edge(&again, "Hit from cloudfront");
            assert_compressed(&again, coding, &page);
            assert!(
                again.body == first.body,
                "a hit serves the stored compressed bytes: {again:?}"
            );
            assert_eq!(again.header("etag"), Some("W/\"v1\""), "{again:?}");
        }
        // HEAD: the compressed object's header, no body.
        let head = s.request("HEAD", &path, &[("Accept-Encoding", coding)], b"");
        assert_eq!(head.status, 200, "{head:?}");
        assert_from_edge(&head, "Hit from cloudfront");
        assert_eq!(head.header("content-encoding"), Some(coding), "{head:?}");
        assert!(head.body.is_empty(), "{head:?}");
        // A range of the compressed object: ranges apply to the bytes stored, the compressed ones.
        let range = s.get(
            &path,
            &[("Accept-Encoding", coding), ("Range", "bytes=0-99")],
        );
        assert_from_edge(&range, "Hit from cloudfront");
        assert_eq!(range.header("content-encoding"), Some(coding), "{range:?}");
        match range.status {
            200 => assert!(range.body == first.body, "{range:?}"),
            206 => assert!(range.body == first.body[..100], "{range:?}"),
            other => panic!("status {other}: {range:?}"),
        }
        assert_eq!(o.count_path(&path), 1, "{:#?}", o.requests());

        // A viewer that accepts neither gets its own, uncompressed object.
        let plain = s.get(&path, &[]);
        assert_from_edge(&plain, "Miss from cloudfront");
        assert_identity(&plain, &page);
        assert_eq!(plain.header("etag"), Some("\"v1\""), "{plain:?}");
        let plain = s.get(&path, &[]);
        assert_from_edge(&plain, "Hit from cloudfront");
        assert_identity(&plain, &page);
        assert_eq!(o.count_path(&path), 2, "{:#?}", o.requests());
    }
}

#[test]
fn etag_weakened_and_vary_added() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-etag", &o);
    let page = text(PAGE_SIZE);
    let ae = [("Accept-Encoding", "gzip, br")];

    let r = s.get("/c/page.html", &ae);
    assert_compressed(&r, "br", &page);
    assert_eq!(
        r.header("etag"),
        Some("W/\"v1\""),
        "strong made weak: {r:?}"
    );
    // Viewers revalidate with either form: If-None-Match compares weakly, so the compressed and
    // the uncompressed representations stand for each other.
    for validator in ["W/\"v1\"", "\"v1\""] {
        let r = s.get(
            "/c/page.html",
            &[
                ("Accept-Encoding", "gzip, br"),
                ("If-None-Match", validator),
            ],
        );
        assert_eq!(r.status, 304, "{validator}: {r:?}");
        assert_from_edge(&r, "Hit from cloudfront");
    }
    assert_eq!(o.count_path("/c/page.html"), 1);

    let r = s.get("/c/weak.html", &ae);
    assert_compressed(&r, "br", &page);
    assert_eq!(r.header("etag"), Some("W/\"w1\""), "weak kept: {r:?}");

    let r = s.get("/c/bad-etag.html", &ae);
    assert_compressed(&r, "br", &page);
    assert_eq!(r.header("etag"), None, "invalid removed: {r:?}");

    // The origin's Vary keeps only what CloudFront keeps (Origin is not forwarded here), and
    // Accept-Encoding is not listed twice.
    let r = s.get("/c/vary.html", &ae);
    assert_compressed(&r, "br", &page);
    assert_eq!(r.headers.get_all("vary"), ["accept-encoding"], "{r:?}");
}

#[test]
fn statuses_200_403_404_with_a_ttl() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-status", &o);
    let page = text(PAGE_SIZE);
    let ae = [("Accept-Encoding", "gzip, br")];

    let r = s.get("/c/404.html", &ae);
    assert_eq!(r.status, 404, "{r:?}");
    assert_compressed(&r, "br", &page);
    let r = s.get("/c/404.html", &ae);
    assert_eq!(r.status, 404, "{r:?}");
    assert_compressed(&r, "br", &page);
    assert_eq!(o.count_path("/c/404.html"), 1, "404 is cached compressed");

    let r = s.get("/c/403-max-age.html", &ae);
    assert_eq!(r.status, 403, "{r:?}");
    assert_compressed(&r, "br", &page);

    // A 403 without max-age is not cached: TTL 0, no compression.
    let r = s.get("/c/403.html", &ae);
    assert_eq!(r.status, 403, "{r:?}");
    assert_identity(&r, &page);

    let r = s.get("/c/500.html", &ae);
    assert_eq!(r.status, 500, "{r:?}");
    assert_identity(&r, &page);
}

#[test]
fn not_compressed_when_cloudfront_would_not() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-not", &o);
    let page = text(PAGE_SIZE);
    let ae = [("Accept-Encoding", "gzip, br")];

    // The behavior says no.
    let r = s.get("/off/page.html", &ae);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_identity(&r, &page);
    assert_eq!(r.header("etag"), Some("\"v1\""), "{r:?}");

    // TTL 0 (CachingDisabled).
    let r = s.get("/nocache/page.html", &ae);
    assert_eq!(r.status, 200, "{r:?}");
    assert_identity(&r, &page);

    // Content types off the list, or none.
    for path in ["/c/image.png", "/c/no-type"] {
        let r = s.get(path, &ae);
        assert_eq!(r.status, 200, "{r:?}");
        assert_identity(&r, &page);
    }

    // No Content-Length from the origin.
    let r = s.get("/c/chunked.html", &ae);
    assert_eq!(r.status, 200, "{r:?}");
    assert_identity(&r, &page);

    // The origin set Content-Encoding: passed through as received, never compressed again.
    let r = s.get("/c/encoded.html", &ae);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{r:?}");
    assert_eq!(r.body, gzip(&page), "the origin's own bytes");
    assert_eq!(decoded(&r), page);
    assert_eq!(r.header("etag"), Some("\"v1\""), "{r:?}");
    let r = s.get("/c/identity.html", &ae);
    assert_eq!(r.header("content-encoding"), Some("identity"), "{r:?}");
    assert!(r.body == page, "{r:?}");

    // A viewer that accepts neither gzip nor br.
    for headers in [
        vec![],
        vec![("Accept-Encoding", "deflate, compress")],
        vec![("Accept-Encoding", "gzip;q=0, br;q=0")],
        vec![("Accept-Encoding", "identity")],
    ] {
        let r = s.get("/c/viewer.html", &headers);
        assert_eq!(r.status, 200, "{headers:?}: {r:?}");
        assert_identity(&r, &page);
    }
}

#[test]
fn sizes_from_1000_to_10000000_bytes() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-sizes", &o);
    let ae = [("Accept-Encoding", "gzip")];

    let r = s.get("/c/small.html", &ae);
    assert_eq!(r.status, 200, "{r:?}");
    assert_identity(&r, &text(999));
    assert_eq!(r.header("content-length"), Some("999"), "{r:?}");

    let r = s.get("/c/min.html", &ae);
    assert_compressed(&r, "gzip", &text(1000));

    let big = Client::with_timeout(std::time::Duration::from_secs(60));
    let host = [("Host", SITE_HOST), ("Accept-Encoding", "gzip")];
    let r = big.get(&s.edge, "/c/max.txt", &host);
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "{:?}",
        r.headers
    );
    assert!(
        decoded(&r) == text(10_000_000),
        "10,000,000 bytes decode to the original"
    );

    let r = big.get(&s.edge, "/c/over.txt", &host);
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(r.header("content-encoding"), None, "{:?}", r.headers);
    assert_eq!(r.body.len(), 10_000_001);
    assert!(r.body == text(10_000_001));
}

#[test]
fn http10_requests_lose_accept_encoding() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-http10", &o);
    let page = text(PAGE_SIZE);

    let raw = s.client.send_raw(
        &s.edge,
        format!(
            "GET /c/old.html HTTP/1.0\r\nHost: {SITE_HOST}\r\nAccept-Encoding: gzip, br\r\n\r\n"
        )
        .as_bytes(),
    );
    let r = raw
        .response
        .clone()
        .unwrap_or_else(|| panic!("no response: {:?} {}", raw.error, raw.text()));
    assert_eq!(r.status, 200, "{r:?}");
    assert_identity(&r, &page);
    let forwarded = o.last_for_path("/c/old.html");
    assert_eq!(
        forwarded.header("accept-encoding"),
        None,
        "the header is gone before the origin request: {forwarded:?}"
    );

    // The same viewer over HTTP/1.1 gets Brotli (another cache key).
    let r = s.get("/c/old.html", &[("Accept-Encoding", "gzip, br")]);
    assert_compressed(&r, "br", &page);
}

#[test]
fn simultaneous_misses_are_compressed_once() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-collapse", &o);
    let page = text(PAGE_SIZE);
    let edge = s.edge.clone();
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let edge = edge.clone();
            std::thread::spawn(move || {
                Client::new().get(
                    &edge,
                    "/c/slow.html",
                    &[("Host", SITE_HOST), ("Accept-Encoding", "br, gzip")],
                )
            })
        })
        .collect();
    let responses: Vec<Response> = threads
        .into_iter()
        .map(|t| t.join().expect("viewer thread"))
        .collect();
    for r in &responses {
        assert_eq!(r.status, 200, "{r:?}");
        assert_compressed(r, "br", &page);
        assert!(r.body == responses[0].body, "{r:?}");
    }
    assert_eq!(
        o.count_path("/c/slow.html"),
        1,
        "collapsed into one origin request: {:#?}",
        o.requests()
    );
}

#[test]
fn a_304_refresh_keeps_the_compressed_object_and_its_weak_etag() {
    let o = Origin::start_with("o", answer);
    let s = site("compress-304", &o);
    let page = text(PAGE_SIZE);
    let ae = [("Accept-Encoding", "br")];

    let first = s.get("/c/revalidate.html", &ae);
    assert_from_edge(&first, "Miss from cloudfront");
    assert_compressed(&first, "br", &page);
    assert_eq!(first.header("etag"), Some("W/\"v1\""), "{first:?}");

    std::thread::sleep(std::time::Duration::from_millis(2100));
    let refreshed = s.get("/c/revalidate.html", &ae);
    assert_from_edge(&refreshed, "RefreshHit from cloudfront");
    assert_compressed(&refreshed, "br", &page);
    assert!(refreshed.body == first.body, "{refreshed:?}");
    assert_eq!(
        refreshed.header("etag"),
        Some("W/\"v1\""),
        "the 304's strong ETag does not land on the compressed object: {refreshed:?}"
    );
    let conditional = o.last_for_path("/c/revalidate.html");
    assert_eq!(
        conditional.header("if-none-match"),
        Some("W/\"v1\""),
        "{conditional:?}"
    );
    let hit = s.get("/c/revalidate.html", &ae);
    assert_from_edge(&hit, "Hit from cloudfront");
    assert_eq!(hit.header("etag"), Some("W/\"v1\""), "{hit:?}");
    assert_eq!(o.count_path("/c/revalidate.html"), 2);
}

/// Legacy cache settings (`forwarded_values`) gzip as CloudFront does (Brotli needs a cache
/// policy): the viewer's Accept-Encoding, normalized to gzip, is in the cache key and goes to the
/// origin, so an origin's gzip body never reaches a viewer that did not ask for it, and the edge
/// compresses with gzip only.
#[test]
fn legacy_settings_key_the_normalized_accept_encoding_and_gzip_only() {
    let o = Origin::start_with("o", answer);
    let s = SiteBuilder::new("compress-legacy", &o)
        .legacy_behavior(
            "/legacy/*",
            "o",
            &[
                "forwarded_values = { query_string = false, cookies = { forward = \"none\" } }",
                "compress = true",
            ],
        )
        .start();
    let page = text(PAGE_SIZE);
    let path = "/legacy/origin-gzip.js";

    let zipped = s.get(path, &[("Accept-Encoding", "deflate, gzip;q=0.8")]);
    assert_from_edge(&zipped, "Miss from cloudfront");
    assert_eq!(
        zipped.header("content-encoding"),
        Some("gzip"),
        "{zipped:?}"
    );
    let plain = s.get(path, &[]);
    assert_from_edge(&plain, "Miss from cloudfront");
    assert_identity(&plain, &page);
    let sent: Vec<Option<String>> = o
        .requests_matching(|r| r.path() == path)
        .iter()
        .map(|r| r.header("accept-encoding").map(str::to_string))
        .collect();
    assert_eq!(
        sent,
        [Some("gzip".to_string()), None],
        "the origin gets the normalized header"
    );
    let again = s.get(path, &[("Accept-Encoding", "br, gzip")]);
    assert_from_edge(&again, "Hit from cloudfront");
    assert_eq!(again.header("content-encoding"), Some("gzip"), "{again:?}");
    let plain = s.get(path, &[("Accept-Encoding", "br")]);
    assert_from_edge(&plain, "Hit from cloudfront");
    assert_identity(&plain, &page);

    let compressed = s.get("/legacy/page.html", &[("Accept-Encoding", "br, gzip")]);
    assert_compressed(&compressed, "gzip", &page);
}
