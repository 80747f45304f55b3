//! The `CloudFront-*` headers CloudFront computes about a viewer (its protocol, address, country,
//! HTTP version and device type) for the cache policies and origin request policies that name
//! them. A viewer's own `CloudFront-*` headers never count: the edge drops them, so that a viewer
//! cannot choose its country or its cache entry.
//!
//! ferry knows what it can measure: the protocol, the address and port, the HTTP version, the
//! country from the topology's `[geo]` networks, and the device from the User-Agent. The
//! headers that need CloudFront's location databases (city, region, ASN, coordinates, time zone,
//! postal and metro codes) and the TLS fingerprints are not sent.

use crate::model::Behavior;
use crate::spec::{CacheHeaderBehavior, OriginHeaderBehavior};
use std::net::SocketAddr;

/// What the edge knows of the viewer of a request.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub https: bool,
    pub address: Option<SocketAddr>,
    pub country: Option<&'a str>,
    /// `1.0`, `1.1`, `2.0` or `3.0`.
    pub http_version: &'a str,
    pub user_agent: Option<&'a str>,
}

/// Whether `lower` (a lowercased header name) is one CloudFront generates.
pub fn is_cloudfront_header(lower: &str) -> bool {
    // Bytes, not a str slice: a name from a file may have a multibyte character at byte 11.
    lower
        .as_bytes()
        .get(..11)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"cloudfront-"))
        && lower.len() > 11
}

/// The `CloudFront-*` headers the behavior's cache policy puts in the cache key.
pub fn in_cache_key(behavior: &Behavior) -> impl Iterator<Item = &str> {
    let headers = &behavior.cache_policy.headers;
    let listed = headers.header_behavior == CacheHeaderBehavior::Whitelist;
    headers
        .headers
        .iter()
        .filter(move |h| listed && is_cloudfront_header(h))
        .map(String::as_str)
}

/// Whether the origin gets one of CloudFront's device headers (`CloudFront-Is-*-Viewer`), which
/// CloudFront derives from the User-Agent: an origin's `Vary: User-Agent` then stays in the
/// response, and the device headers in the cache key stand in for the User-Agent itself.
pub fn forwards_device_headers(behavior: &Behavior) -> bool {
    to_origin(behavior).any(|h| {
        let h = h.as_bytes();
        h.len() > 21
            && h[..14].eq_ignore_ascii_case(b"cloudfront-is-")
            && h[h.len() - 7..].eq_ignore_ascii_case(b"-viewer")
    })
}

/// The `CloudFront-*` headers the origin receives: those in the cache key and those the origin
/// request policy lists (whitelist, or allViewerAndWhitelistCloudFront).
pub fn to_origin(behavior: &Behavior) -> impl Iterator<Item = &str> {
    let from_policy = behavior.origin_request_policy.iter().flat_map(|p| {
        let h = &p.policy.headers_config;
        let listed = matches!(
            h.header_behavior,
            OriginHeaderBehavior::Whitelist | OriginHeaderBehavior::AllViewerAndWhitelistCloudFront
        );
        h.headers
            .iter()
            .filter(move |h| listed && is_cloudfront_header(h))
            .map(String::as_str)
    });
    in_cache_key(behavior).chain(from_policy)
}

/// The value CloudFront gives the header `name` (any case) for `viewer`; `None` when ferry cannot
/// know it, and the header is then not sent.
pub fn value(name: &str, viewer: &Viewer<'_>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let device = || Device::of(viewer.user_agent.unwrap_or(""));
    let flag = |b: bool| Some(if b { "true" } else { "false" }.to_string());
    match lower.as_str() {
        "cloudfront-forwarded-proto" => Some(if viewer.https { "https" } else { "http" }.into()),
        // `198.51.100.10:46532`; an IPv6 address is followed by its port the same way.
        "cloudfront-viewer-address" => viewer.address.map(|a| format!("{}:{}", a.ip(), a.port())),
        "cloudfront-viewer-country" => viewer.country.map(str::to_string),
        "cloudfront-viewer-http-version" => Some(viewer.http_version.to_string()),
        "cloudfront-is-android-viewer" => flag(device().android),
        "cloudfront-is-ios-viewer" => flag(device().ios),
        "cloudfront-is-mobile-viewer" => flag(device().mobile),
        "cloudfront-is-tablet-viewer" => flag(device().tablet),
        "cloudfront-is-smarttv-viewer" => flag(device().smart_tv),
        "cloudfront-is-desktop-viewer" => flag(device().desktop()),
        _ => None,
    }
}

/// The device classes CloudFront tells from a User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Device {
    android: bool,
    ios: bool,
    mobile: bool,
    tablet: bool,
    smart_tv: bool,
}

impl Device {
    fn of(user_agent: &str) -> Device {
        let has = |needle: &str| {
            user_agent
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        let android = has("android");
        let ipad = has("ipad");
        let ios = has("iphone") || ipad || has("ipod");
        let smart_tv = has("smart-tv")
            || has("smarttv")
            || has("googletv")
            || has("appletv")
            || has("hbbtv")
            || has("crkey");
        // Android phones say "Mobile"; Android tablets do not.
        let tablet = ipad || has("tablet") || (android && !has("mobile"));
        let mobile = !tablet && (has("mobi") || has("iphone") || has("ipod") || android);
        Device {
            android,
            ios,
            mobile,
            tablet,
            smart_tv,
        }
    }

    fn desktop(&self) -> bool {
        !(self.mobile || self.tablet || self.smart_tv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(user_agent: &str) -> Viewer<'_> {
        Viewer {
            https: true,
            address: Some("198.51.100.10:46532".parse().expect("an address")),
            country: Some("DE"),
            http_version: "2.0",
            user_agent: Some(user_agent),
        }
    }

    #[test]
    fn values_from_what_the_edge_knows() {
        let v = viewer("curl/8.0");
        let cases = [
            ("CloudFront-Forwarded-Proto", Some("https")),
            ("cloudfront-viewer-address", Some("198.51.100.10:46532")),
            ("CloudFront-Viewer-Country", Some("DE")),
            ("CloudFront-Viewer-Http-Version", Some("2.0")),
            ("CloudFront-Is-Desktop-Viewer", Some("true")),
            ("CloudFront-Is-Mobile-Viewer", Some("false")),
            ("CloudFront-Viewer-City", None),
            ("CloudFront-Viewer-ASN", None),
        ];
        for (name, want) in cases {
            assert_eq!(value(name, &v).as_deref(), want, "{name}");
        }
        let v6 = Viewer {
            address: Some("[2001:db8::1]:443".parse().expect("an address")),
            country: None,
            https: false,
            ..v
        };
        assert_eq!(
            value("CloudFront-Viewer-Address", &v6).as_deref(),
            Some("2001:db8::1:443")
        );
        assert_eq!(value("CloudFront-Viewer-Country", &v6), None);
        assert_eq!(
            value("CloudFront-Forwarded-Proto", &v6).as_deref(),
            Some("http")
        );
    }

    #[test]
    fn devices_from_user_agents() {
        // (user agent, android, ios, mobile, tablet, smart tv, desktop)
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
                [false, false, false, false, false, true],
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
                [false, true, true, false, false, false],
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Mobile/15E148",
                [false, true, false, true, false, false],
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36",
                [true, false, true, false, false, false],
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X200) Chrome/120.0 Safari/537.36",
                [true, false, false, true, false, false],
            ),
            (
                "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) SamsungBrowser/4.0 TV Safari/537.36",
                [false, false, false, false, true, false],
            ),
        ];
        for (ua, [android, ios, mobile, tablet, tv, desktop]) in cases {
            let d = Device::of(ua);
            assert_eq!(
                (
                    d.android,
                    d.ios,
                    d.mobile,
                    d.tablet,
                    d.smart_tv,
                    d.desktop()
                ),
                (android, ios, mobile, tablet, tv, desktop),
                "{ua}"
            );
        }
    }

    #[test]
    fn only_cloudfront_names_count() {
        for (name, want) in [
            ("CloudFront-Viewer-Country", true),
            ("cloudfront-is-mobile-viewer", true),
            ("CloudFront-", false),
            ("X-CloudFront-Thing", false),
            ("Accept", false),
            ("cloudfront\u{e9}-x", false),
            ("Cloudfront\u{e9}", false),
        ] {
            assert_eq!(is_cloudfront_header(name), want, "{name}");
        }
    }
}
