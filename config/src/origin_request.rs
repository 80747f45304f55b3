//! Which viewer request headers CloudFront forwards to a custom origin, per the "Headers to the
//! origin" table (RequestAndResponseBehaviorCustomOrigin) and the behavior's policies.

use crate::model::Behavior;
use crate::spec::{CacheHeaderBehavior, CookieBehavior, OriginHeaderBehavior};

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

/// Hop-by-hop and CloudFront-owned headers: set by the edge itself, never copied from the viewer.
fn always_removed(lower: &str) -> bool {
    ALWAYS_REMOVED.contains(&lower)
        || lower.starts_with("proxy-")
        || lower.starts_with("x-edge-")
        || lower.starts_with("x-amz-cf-")
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
    if cache.headers.header_behavior == CacheHeaderBehavior::Whitelist
        && cache
            .headers
            .headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(lower))
    {
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

/// Whether a viewer header reaches the origin. `lower` is the lowercased name. Authorization is
/// forwarded for methods other than GET and HEAD even without a policy, as CloudFront does.
pub fn forwards(behavior: &Behavior, lower: &str, method: &str) -> bool {
    if always_removed(lower) {
        return false;
    }
    if lower == "authorization" && method != "GET" && method != "HEAD" {
        return true;
    }
    if REMOVED_UNLESS_FORWARDED.contains(&lower) {
        return policy_forwards(behavior, lower);
    }
    true
}
