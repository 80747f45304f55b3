//! Which viewer request headers CloudFront forwards to a custom origin, per the "Headers to the
//! origin" table (RequestAndResponseBehaviorCustomOrigin) and the behavior's policies.

use crate::cache_key::{cookie_selected, param_selected};
use crate::model::Behavior;
use crate::spec::{CookieBehavior, OriginHeaderBehavior, QueryStringBehavior};
use std::borrow::Cow;

/// Headers CloudFront always removes, whatever the policies say.
const ALWAYS_REMOVED: &[&str] = &[
    "x-forwarded-proto",
    "x-real-ip",
    "x-http-method-override",
    "te",
    "trailer",
    "expect",
    "upgrade",
    "connection",
    "keep-alive",
];

/// Headers CloudFront removes unless a policy forwards them.
const REMOVED_UNLESS_FORWARDED: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-language",
    "referer",
    "cookie",
    "authorization",
    "user-agent",
    "host",
];

/// Headers about the request itself that reach the origin whatever the policies say (the
/// message framing, conditional and range requests).
const ALWAYS_FORWARDED: &[&str] = &[
    "content-length",
    "content-type",
    "content-encoding",
    "content-language",
    "content-md5",
    "content-range",
    "transfer-encoding",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "max-forwards",
    "x-forwarded-for",
];

/// Hop-by-hop and CloudFront-owned headers: set by the edge itself, never copied from the viewer
/// (the `CloudFront-*` ones it computes, see `viewer_headers`).
fn always_removed(lower: &str) -> bool {
    ALWAYS_REMOVED.contains(&lower)
        || lower.starts_with("proxy-")
        || lower.starts_with("x-edge-")
        || lower.starts_with("x-amz-cf-")
        || crate::viewer_headers::is_cloudfront_header(lower)
}

/// True when the behavior's cache policy or origin request policy forwards the header `lower`.
pub fn policy_forwards(behavior: &Behavior, lower: &str) -> bool {
    let cache = &behavior.cache_policy;
    if lower == "cookie" {
        let cookies_in_orp = behavior
            .origin_request_policy
            .as_ref()
            .is_some_and(|p| p.policy.cookies_config.cookie_behavior != CookieBehavior::None);
        return cache.cookies.cookie_behavior != CookieBehavior::None || cookies_in_orp;
    }
    if cache.keys_header(lower) {
        return true;
    }
    let Some(orp) = &behavior.origin_request_policy else {
        return false;
    };
    let h = &orp.policy.headers_config;
    let listed = h.headers.iter().any(|x| x.eq_ignore_ascii_case(lower));
    match h.header_behavior {
        OriginHeaderBehavior::None => false,
        OriginHeaderBehavior::Whitelist => listed,
        OriginHeaderBehavior::AllViewer | OriginHeaderBehavior::AllViewerAndWhitelistCloudFront => {
            true
        }
        OriginHeaderBehavior::AllExcept => !listed,
    }
}

/// Whether a viewer header reaches the origin. `lower` is the lowercased name.
pub fn forwards(behavior: &Behavior, lower: &str, method: &str) -> bool {
    if always_removed(lower) {
        return false;
    }
    // Authorization is removed on GET and HEAD, and on OPTIONS when OPTIONS responses are cached;
    // other methods carry it to the origin ("Request and response behavior for custom origins").
    let cached_options = method == "OPTIONS"
        && behavior
            .cached_methods
            .contains(&crate::spec::Method::OPTIONS);
    if lower == "authorization" && method != "GET" && method != "HEAD" && !cached_options {
        return true;
    }
    if ALWAYS_FORWARDED.contains(&lower) {
        return true;
    }
    // With a cache policy, a viewer header reaches the origin only when a policy names it
    // ("Control origin requests with a policy"); legacy settings forward what they do not remove.
    if behavior.cache_policy.is_legacy() && !REMOVED_UNLESS_FORWARDED.contains(&lower) {
        return true;
    }
    policy_forwards(behavior, lower)
}

/// The query string the origin receives: the parameters in the cache key plus those the origin
/// request policy forwards, in request order ("Control origin requests with a policy").
pub fn forwarded_query<'q>(behavior: &Behavior, query: Option<&'q str>) -> Option<Cow<'q, str>> {
    let query = query.filter(|q| !q.is_empty())?;
    let cache = &behavior.cache_policy.query_strings;
    let orp = behavior
        .origin_request_policy
        .as_ref()
        .map(|p| &p.policy.query_strings_config);
    if cache.query_string_behavior == QueryStringBehavior::All
        || orp.is_some_and(|o| o.query_string_behavior == QueryStringBehavior::All)
    {
        return Some(Cow::Borrowed(query));
    }
    let selected = |name: &str| {
        param_selected(cache.query_string_behavior, &cache.query_strings, name)
            || orp.is_some_and(|o| param_selected(o.query_string_behavior, &o.query_strings, name))
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| selected(p.split_once('=').map_or(p, |(name, _)| name)))
        .collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
}

/// The Cookie header the origin receives: the cookies in the cache key plus those the origin
/// request policy forwards; `None` when no cookie goes to the origin.
pub fn forwarded_cookies(behavior: &Behavior, cookie_headers: &[&str]) -> Option<String> {
    let cache = &behavior.cache_policy.cookies;
    let orp = behavior
        .origin_request_policy
        .as_ref()
        .map(|p| &p.policy.cookies_config);
    let kept: Vec<&str> = cookie_headers
        .iter()
        .flat_map(|h| h.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name).trim();
            !pair.is_empty()
                && (cookie_selected(cache, name) || orp.is_some_and(|o| cookie_selected(o, name)))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CachePolicy, NamedPolicy, OriginTarget};
    use crate::spec::{
        self, CacheHeaderBehavior, CacheHeadersConfig, CookiesConfig, QueryStringsConfig,
        ViewerProtocolPolicy,
    };
    use crate::ttl::TtlSettings;
    use std::sync::Arc;

    fn behavior(
        cache: (
            QueryStringBehavior,
            &[&str],
            CookieBehavior,
            &[&str],
            &[&str],
        ),
        orp: Option<spec::OriginRequestPolicy>,
    ) -> Behavior {
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Behavior {
            path_pattern: None,
            target: OriginTarget::Origin(0),
            viewer_protocol_policy: ViewerProtocolPolicy::AllowAll,
            allowed_methods: vec![spec::Method::GET, spec::Method::HEAD],
            cached_methods: vec![spec::Method::GET, spec::Method::HEAD],
            cache_policy: Arc::new(CachePolicy {
                name: "p".into(),
                managed_id: None,
                ttl: TtlSettings {
                    min_ttl: 0,
                    default_ttl: 60,
                    max_ttl: 60,
                },
                gzip: false,
                brotli: false,
                headers: CacheHeadersConfig {
                    header_behavior: if cache.4.is_empty() {
                        CacheHeaderBehavior::None
                    } else {
                        CacheHeaderBehavior::Whitelist
                    },
                    headers: strs(cache.4),
                },
                cookies: CookiesConfig {
                    cookie_behavior: cache.2,
                    cookies: strs(cache.3),
                },
                query_strings: QueryStringsConfig {
                    query_string_behavior: cache.0,
                    query_strings: strs(cache.1),
                },
            }),
            origin_request_policy: orp.map(|policy| {
                Arc::new(NamedPolicy {
                    managed_id: None,
                    policy,
                })
            }),
            response_headers_policy: None,
            compress: false,
            trusted_keys: None,
        }
    }

    fn orp(
        headers: (OriginHeaderBehavior, &[&str]),
        cookies: CookieBehavior,
        qs: (QueryStringBehavior, &[&str]),
    ) -> spec::OriginRequestPolicy {
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        spec::OriginRequestPolicy {
            name: "o".into(),
            comment: None,
            headers_config: spec::OriginHeadersConfig {
                header_behavior: headers.0,
                headers: strs(headers.1),
            },
            cookies_config: CookiesConfig {
                cookie_behavior: cookies,
                cookies: vec![],
            },
            query_strings_config: QueryStringsConfig {
                query_string_behavior: qs.0,
                query_strings: strs(qs.1),
            },
        }
    }

    use CookieBehavior as C;
    use OriginHeaderBehavior as H;
    use QueryStringBehavior as Q;

    #[test]
    fn headers_to_the_origin() {
        let none = behavior((Q::None, &[], C::None, &[], &[]), None);
        let keyed = behavior((Q::None, &[], C::None, &[], &["Accept-Language"]), None);
        let all_viewer = behavior(
            (Q::None, &[], C::None, &[], &[]),
            Some(orp((H::AllViewer, &[]), C::None, (Q::None, &[]))),
        );
        let except_host = behavior(
            (Q::None, &[], C::None, &[], &[]),
            Some(orp((H::AllExcept, &["host"]), C::None, (Q::None, &[]))),
        );
        let cases: Vec<(&Behavior, &str, &str, bool)> = vec![
            (&none, "accept-language", "GET", false),
            (&keyed, "accept-language", "GET", true),
            (&none, "x-custom", "GET", false),
            (&all_viewer, "x-custom", "GET", true),
            (&none, "content-type", "POST", true),
            (&none, "if-none-match", "GET", true),
            (&none, "x-forwarded-proto", "GET", false),
            (&all_viewer, "x-forwarded-proto", "GET", false),
            (&none, "proxy-authorization", "GET", false),
            (&none, "authorization", "GET", false),
            (&none, "authorization", "POST", true),
            (&all_viewer, "authorization", "GET", true),
            (&all_viewer, "host", "GET", true),
            (&except_host, "host", "GET", false),
            (&except_host, "referer", "GET", true),
            (&none, "user-agent", "GET", false),
            (&none, "cookie", "GET", false),
            (&none, "x-edge-location", "GET", false),
        ];
        for (b, name, method, expected) in cases {
            assert_eq!(forwards(b, name, method), expected, "{name} {method}");
        }
    }

    #[test]
    fn query_and_cookies_union_of_policies() {
        let b = behavior(
            (Q::Whitelist, &["a"], C::Whitelist, &["s"], &[]),
            Some(orp((H::None, &[]), C::None, (Q::Whitelist, &["c"]))),
        );
        assert_eq!(
            forwarded_query(&b, Some("a=1&b=2&c=3&a=4")).as_deref(),
            Some("a=1&c=3&a=4")
        );
        assert_eq!(forwarded_query(&b, Some("b=2")), None);
        assert_eq!(forwarded_query(&b, None), None);
        let all = behavior(
            (Q::None, &[], C::All, &[], &[]),
            Some(orp((H::None, &[]), C::None, (Q::All, &[]))),
        );
        assert_eq!(
            forwarded_query(&all, Some("x=1&y")).as_deref(),
            Some("x=1&y")
        );
        assert_eq!(
            forwarded_cookies(&b, &["s=1; t=2", "u=3"]).as_deref(),
            Some("s=1")
        );
        assert_eq!(
            forwarded_cookies(&all, &["s=1; t=2", "u=3"]).as_deref(),
            Some("s=1; t=2; u=3")
        );
        assert_eq!(forwarded_cookies(&b, &["t=2"]), None);
    }
}
