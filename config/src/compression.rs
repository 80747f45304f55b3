//! Whether CloudFront compresses an origin response, and with which coding: the pure decision the
//! edge takes on the origin response before it is cached, so that the cached object is the
//! compressed one and is compressed once.
//!
//! Sources, CloudFront Developer Guide, "Serve compressed files" (ServingCompressedFiles.md), unless
//! noted:
//! - "How CloudFront compression works": only when the behavior's `Compress` is on and the viewer's
//!   `Accept-Encoding` lists `gzip` or `br`; when it lists both, Brotli. Brotli only when the cache
//!   policy enables it (`EnableAcceptEncodingBrotli`); the compressed object is cached apart from the
//!   uncompressed one, keyed by the normalised `Accept-Encoding` ("Control the cache key with a
//!   policy" → "Compression support"; see [`crate::cache_key::normalized_accept_encoding`]).
//! - "Conditions for compression": a size of 1,000 to 10,000,000 bytes, read from `Content-Length`
//!   (no `Content-Length`, no compression); no `Content-Encoding` in the response, whatever its value
//!   (the origin compressed it, or chose not to: it is cached and served as received); status 200,
//!   403 or 404; a TTL above 0; a request over HTTP/1.0 loses its `Accept-Encoding` (the edge drops
//!   it before the cache key is computed, so such a request arrives here accepting nothing).
//! - "File types that CloudFront compresses": [`CONTENT_TYPES`], matched on the media type of
//!   `Content-Type` (parameters such as `charset` ignored, case-insensitive).
//! - "`ETag` header conversion": see [`weak_etag`].
//!
//! ferry compresses only with a coding that the cache policy puts in the cache key (`gzip` /
//! `br` enabled): the key is what keeps a compressed object away from a viewer that did not ask for
//! it. Legacy cache settings (`forwarded_values`) key on gzip alone (Brotli needs a cache policy),
//! unless they key on `Accept-Encoding` itself or forward all headers.

/// The content types CloudFront compresses ("File types that CloudFront compresses"), as listed;
/// `vnd.apple.mpegurl` (no `/`) included verbatim.
pub const CONTENT_TYPES: &[&str] = &[
    "application/dash+xml",
    "application/eot",
    "application/font",
    "application/font-sfnt",
    "application/javascript",
    "application/json",
    "application/opentype",
    "application/otf",
    "application/pkcs7-mime",
    "application/protobuf",
    "application/rss+xml",
    "application/truetype",
    "application/ttf",
    "application/vnd.apple.mpegurl",
    "application/vnd.ms-fontobject",
    "application/xhtml+xml",
    "application/xml",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "application/x-font-ttf",
    "application/x-httpd-cgi",
    "application/x-javascript",
    "application/x-mpegurl",
    "application/x-opentype",
    "application/x-otf",
    "application/x-perl",
    "application/x-ttf",
    "font/eot",
    "font/opentype",
    "font/otf",
    "font/ttf",
    "image/svg+xml",
    "text/css",
    "text/csv",
    "text/html",
    "text/javascript",
    "text/js",
    "text/plain",
    "text/richtext",
    "text/tab-separated-values",
    "text/xml",
    "text/x-component",
    "text/x-java-source",
    "text/x-script",
    "vnd.apple.mpegurl",
];

/// The smallest object CloudFront compresses, bytes (inclusive).
pub const MIN_SIZE: u64 = 1_000;
/// The largest object CloudFront compresses, bytes (inclusive).
pub const MAX_SIZE: u64 = 10_000_000;
/// The statuses whose bodies CloudFront compresses.
pub const STATUSES: [u16; 3] = [200, 403, 404];

/// A content coding CloudFront compresses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Brotli,
}

impl Coding {
    /// The `Content-Encoding` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
        }
    }
}

/// What of the viewer request and the behavior the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// The behavior's `Compress`.
    pub compress: bool,
    /// The viewer's `Accept-Encoding` as normalised for the cache key
    /// ([`crate::cache_key::normalized_accept_encoding`]): `br,gzip`, `br`, `gzip` or `None`. It
    /// holds only the codings the cache policy enables.
    pub accept_encoding: Option<&'a str>,
}

/// What of the origin response the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct OriginResponse<'a> {
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: Option<&'a str>,
    /// The `Content-Length` value (`None` when absent or given more than once with different values).
    pub content_length: Option<&'a str>,
    /// Whether the response has a `Content-Encoding` header, whatever its value.
    pub content_encoding: bool,
    /// The TTL the edge gives the object, seconds (0 when it is not cached at all).
    pub ttl: u64,
}

/// The coding CloudFront compresses this response with for this viewer, or `None` to pass it
/// through as received.
pub fn decide(viewer: &Viewer<'_>, response: &OriginResponse<'_>) -> Option<Coding> {
    if !viewer.compress || response.content_encoding || response.ttl == 0 {
        return None;
    }
    if !STATUSES.contains(&response.status) {
        return None;
    }
    let size = response.content_length.and_then(content_length)?;
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return None;
    }
    if !response.content_type.is_some_and(compressible_type) {
        return None;
    }
    coding(viewer.accept_encoding?)
}

/// The coding for a normalised `Accept-Encoding`: Brotli when the viewer accepts it, else gzip.
fn coding(normalized: &str) -> Option<Coding> {
    let mut gzip = false;
    for token in normalized.split(',').map(str::trim) {
        if token.eq_ignore_ascii_case("br") {
            return Some(Coding::Brotli);
        }
        gzip |= token.eq_ignore_ascii_case("gzip");
    }
    gzip.then_some(Coding::Gzip)
}

/// Whether the media type of a `Content-Type` value is on CloudFront's list.
pub fn compressible_type(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    CONTENT_TYPES
        .iter()
        .any(|t| t.eq_ignore_ascii_case(media_type))
}

/// A `Content-Length` value: ASCII digits only (RFC 9110 §8.6), surrounding spaces allowed.
fn content_length(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The `ETag` a compressed object carries ("`ETag` header conversion"): a valid strong value (it
/// begins with `"`) is made weak by prefixing `W/`; a weak value (it begins with `W/`) is kept as
/// received; any other value is invalid and the header is removed (`None`).
pub fn weak_etag(etag: &str) -> Option<String> {
    if etag.starts_with("W/") {
        Some(etag.to_string())
    } else if etag.starts_with('"') {
        Some(format!("W/{etag}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(compress: bool, accept_encoding: Option<&str>) -> Viewer<'_> {
        Viewer {
            compress,
            accept_encoding,
        }
    }

    fn response() -> OriginResponse<'static> {
        OriginResponse {
            status: 200,
            content_type: Some("text/html; charset=utf-8"),
            content_length: Some("5000"),
            content_encoding: false,
            ttl: 86_400,
        }
    }

    #[test]
    fn coding_follows_the_normalized_accept_encoding_brotli_first() {
        let r = response();
        for (compress, accept, want) in [
            (true, Some("br,gzip"), Some(Coding::Brotli)),
            (true, Some("br"), Some(Coding::Brotli)),
            (true, Some("gzip"), Some(Coding::Gzip)),
            (true, Some("gzip,br"), Some(Coding::Brotli)),
            (true, None, None),
            (true, Some(""), None),
            (true, Some("identity"), None),
            (false, Some("br,gzip"), None),
            (false, Some("gzip"), None),
        ] {
            assert_eq!(
                decide(&viewer(compress, accept), &r),
                want,
                "compress={compress} {accept:?}"
            );
        }
    }

    #[test]
    fn conditions_on_the_origin_response() {
        let v = viewer(true, Some("br,gzip"));
        let base = response();
        let cases: Vec<(&str, OriginResponse<'_>, bool)> = vec![
            ("as is", base, true),
            (
                "status 403",
                OriginResponse {
                    status: 403,
                    ..base
                },
                true,
            ),
            (
                "status 404",
                OriginResponse {
                    status: 404,
                    ..base
                },
                true,
            ),
            (
                "status 206",
                OriginResponse {
                    status: 206,
                    ..base
                },
                false,
            ),
            (
                "status 301",
                OriginResponse {
                    status: 301,
                    ..base
                },
                false,
            ),
            (
                "status 500",
                OriginResponse {
                    status: 500,
                    ..base
                },
                false,
            ),
            (
                "status 503",
                OriginResponse {
                    status: 503,
                    ..base
                },
                false,
            ),
            ("ttl 0", OriginResponse { ttl: 0, ..base }, false),
            ("ttl 1", OriginResponse { ttl: 1, ..base }, true),
            (
                "content-encoding present",
                OriginResponse {
                    content_encoding: true,
                    ..base
                },
                false,
            ),
            (
                "no content-length",
                OriginResponse {
                    content_length: None,
                    ..base
                },
                false,
            ),
            (
                "999 bytes",
                OriginResponse {
                    content_length: Some("999"),
                    ..base
                },
                false,
            ),
            (
                "1000 bytes",
                OriginResponse {
                    content_length: Some("1000"),
                    ..base
                },
                true,
            ),
            (
                "10,000,000 bytes",
                OriginResponse {
                    content_length: Some("10000000"),
                    ..base
                },
                true,
            ),
            (
                "10,000,001 bytes",
                OriginResponse {
                    content_length: Some("10000001"),
                    ..base
                },
                false,
            ),
            (
                "0 bytes",
                OriginResponse {
                    content_length: Some("0"),
                    ..base
                },
                false,
            ),
            (
                "length with spaces",
                OriginResponse {
                    content_length: Some(" 2000 "),
                    ..base
                },
                true,
            ),
            (
                "signed length",
                OriginResponse {
                    content_length: Some("+2000"),
                    ..base
                },
                false,
            ),
            (
                "length not a number",
                OriginResponse {
                    content_length: Some("2k"),
                    ..base
                },
                false,
            ),
            (
                "length overflowing u64",
                OriginResponse {
                    content_length: Some("99999999999999999999999"),
                    ..base
                },
                false,
            ),
            (
                "no content-type",
                OriginResponse {
                    content_type: None,
                    ..base
                },
                false,
            ),
            (
                "image/png",
                OriginResponse {
                    content_type: Some("image/png"),
                    ..base
                },
                false,
            ),
            (
                "application/octet-stream",
                OriginResponse {
                    content_type: Some("application/octet-stream"),
                    ..base
                },
                false,
            ),
        ];
        for (what, r, compresses) in cases {
            assert_eq!(decide(&v, &r).is_some(), compresses, "{what}: {r:?}");
        }
    }

    #[test]
    fn content_types_on_the_list_by_media_type() {
        for (content_type, listed) in [
            ("text/html", true),
            ("TEXT/HTML", true),
            ("text/html;charset=utf-8", true),
            (" text/css ; charset=utf-8", true),
            ("application/javascript", true),
            ("application/json", true),
            ("image/svg+xml", true),
            ("font/woff2", false),
            ("application/wasm", false),
            ("vnd.apple.mpegurl", true),
            ("text/htmlx", false),
            ("text", false),
            ("", false),
            ("application/ld+json", false),
            ("text/event-stream", false),
        ] {
            assert_eq!(compressible_type(content_type), listed, "{content_type:?}");
        }
        for t in CONTENT_TYPES {
            assert!(compressible_type(t), "{t}");
            assert_eq!(*t, t.to_ascii_lowercase(), "{t}");
        }
        assert_eq!(CONTENT_TYPES.len(), 45);
    }

    #[test]
    fn etag_conversion() {
        for (etag, want) in [
            ("\"abc\"", Some("W/\"abc\"")),
            ("W/\"abc\"", Some("W/\"abc\"")),
            ("\"\"", Some("W/\"\"")),
            ("abc", None),
            ("w/\"abc\"", None),
            ("", None),
        ] {
            assert_eq!(weak_etag(etag).as_deref(), want, "{etag:?}");
        }
    }

    #[test]
    fn coding_tokens() {
        assert_eq!(Coding::Gzip.as_str(), "gzip");
        assert_eq!(Coding::Brotli.as_str(), "br");
    }
}
