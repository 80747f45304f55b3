//! CloudFront's cache-lifetime decision: how long an origin response stays in the edge cache, if at all.
//!
//! Sources, all from the CloudFront Developer Guide:
//! - "Manage how long content stays in the cache (expiration)" (Expiration.md): the MinTTL/DefaultTTL/MaxTTL
//!   table, Expires vs max-age, the 100-year maximum, stale-while-revalidate / stale-if-error.
//! - "How CloudFront processes HTTP 4xx and 5xx status codes from your origin" (HTTPStatusCodes.md): which
//!   error statuses are cached always and which only with `max-age`/`s-maxage`.
//! - "Control how long CloudFront caches errors" (custom-error-pages-expiration.md): the error TTL is the
//!   greater of the Error Caching Minimum TTL and the origin's header, header capped at MaxTTL; `no-store`,
//!   `no-cache` and `private` prevent caching only for 404, 410, 414 and 501.
//! - "Request and response behavior for custom origins" → "Redirects": CloudFront caches a `302`.
//!
//! A `Store` with `ttl: 0` means: keep the object, but it is stale on arrival, so every request goes to the
//! origin as a conditional request and a `304` lets the edge serve the stored copy (a `RefreshHit`). That is
//! what CloudFront does when all TTLs are 0 ("CloudFront always verifies that it has the most recent content
//! from the origin", Knowledge Center "cloudfront-cache-files-time"), and it is why `max-age=0` with MinTTL 0
//! is a `Store { ttl: 0 }`, not a `DoNotCache`: only `no-cache`/`no-store`/`private` forbid storing.

use std::time::SystemTime;

/// The behavior's TTL settings, seconds (from its cache policy or legacy settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlSettings {
    pub min_ttl: u64,
    pub default_ttl: u64,
    pub max_ttl: u64,
}

/// The parts of an origin's Cache-Control that CloudFront reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses one or more Cache-Control header values (iterate all of them), tolerant of case, spaces, quotes,
    /// unknown directives, `no-cache="Set-Cookie"` field-name forms (treat as no-cache), bad numbers (ignore
    /// that directive), and huge numbers (saturate).
    ///
    /// When a numeric directive repeats, the first valid occurrence wins, one of the two options RFC 9111
    /// §4.2.1 allows (the other, treating the response as stale, would throw away a usable lifetime).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> CacheControl {
        let mut cc = CacheControl::default();
        for value in values {
            for directive in directives(value) {
                cc.apply(directive);
            }
        }
        cc
    }

    fn apply(&mut self, directive: &str) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(unquote(argument.trim()))),
            None => (directive.trim(), None),
        };
        let seconds_slot = if name.eq_ignore_ascii_case("max-age") {
            Some(&mut self.max_age)
        } else if name.eq_ignore_ascii_case("s-maxage") {
            Some(&mut self.s_maxage)
        } else if name.eq_ignore_ascii_case("stale-while-revalidate") {
            Some(&mut self.stale_while_revalidate)
        } else if name.eq_ignore_ascii_case("stale-if-error") {
            Some(&mut self.stale_if_error)
        } else {
            None
        };
        if let Some(slot) = seconds_slot {
            if slot.is_none() {
                *slot = argument.and_then(delta_seconds);
            }
            return;
        }
        // The field-name argument (`no-cache="Set-Cookie"`) asks shared caches to strip those fields; CloudFront
        // does not do partial no-cache, so any form of the directive counts as the whole directive.
        if name.eq_ignore_ascii_case("no-cache") {
            self.no_cache = true;
        } else if name.eq_ignore_ascii_case("no-store") {
            self.no_store = true;
        } else if name.eq_ignore_ascii_case("private") {
            self.private = true;
        }
    }

    fn forbids_storing(&self) -> bool {
        self.no_cache || self.no_store || self.private
    }
}

/// Splits a header value at commas that are not inside a quoted string (`no-cache="a, b"` is one directive),
/// trimming and skipping empty elements.
fn directives(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, b) in rest.bytes().enumerate() {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if in_quotes => escaped = true,
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        // `end` is either the length or the offset of an ASCII comma, so both slices are on char boundaries.
        let item = rest.get(..end).unwrap_or_default().trim();
        rest = rest.get(end + 1..).unwrap_or_default();
        if !item.is_empty() {
            return Some(item);
        }
    })
}

fn unquote(argument: &str) -> &str {
    argument
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(argument)
}

/// RFC 9111 §1.2.2 delta-seconds: ASCII digits only; too large a value saturates instead of being rejected
/// ("the greatest positive integer it can conveniently represent").
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// What the origin's response says, already extracted from its headers.
#[derive(Debug, Clone, Default)]
pub struct OriginResponse<'a> {
    pub status: u16,
    pub cache_control: CacheControl,
    /// Whether the response has a `Cache-Control` header at all (307 and 308 need one).
    pub has_cache_control: bool,
    pub expires: Option<&'a str>,
    pub date: Option<&'a str>,
}

/// What the edge does with an origin response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheDecision {
    /// Not stored at all.
    DoNotCache,
    /// Stored; `ttl` seconds of freshness. `revalidate_always` is true for the MinTTL>0 + no-cache/no-store/private
    /// row (stored for MinTTL but every request still goes to the origin; the stored copy is only served if the
    /// origin is unreachable). The stale windows come from stale-while-revalidate / stale-if-error.
    ///
    /// `ttl: 0` means stored but stale at once: each request revalidates with the origin (see the module docs).
    Store {
        ttl: u64,
        revalidate_always: bool,
        stale_while_revalidate: u64,
        stale_if_error: u64,
    },
}

/// CloudFront's default error caching minimum TTL.
pub const DEFAULT_ERROR_CACHING_MIN_TTL: u64 = 10;

/// The largest max-age CloudFront honours (100 years).
///
/// Expiration.md gives the limit as "100 years" without saying which years; 365-day years are used. The cap
/// applies to every lifetime that comes from the origin (max-age, s-maxage, Expires, the stale windows),
/// which also keeps `now + ttl` far from `SystemTime` overflow for the caller. Configured TTLs are not capped.
pub const MAX_HONOURED_AGE: u64 = 100 * 365 * 24 * 60 * 60;

/// 2xx/3xx statuses cached without explicit freshness (DefaultTTL applies): RFC 9110 §15.1's heuristically
/// cacheable set, plus 302 because CloudFront's "Redirects" section says it caches a `302` with no
/// condition on freshness headers. 304 is here because its headers set the refreshed lifetime of the stored
/// object it validates.
const CACHEABLE_BY_DEFAULT: &[u16] = &[200, 203, 204, 206, 300, 301, 302, 304];

/// http-3xx-status-codes.md: "CloudFront caches 307 and 308 responses only when you include the
/// Cache-Control header in responses from the origin" (an `Expires` alone does not qualify); with one,
/// the TTL table applies as to any status cacheable by default.
const CACHED_ONLY_WITH_CACHE_CONTROL: &[u16] = &[307, 308];

/// HTTPStatusCodes.md, "HTTP 4xx and 5xx status codes that CloudFront always caches". 410 is not in that
/// list, but custom-error-pages-expiration.md names it with 404/414/501 as an error whose `no-store` stops
/// error caching, which only makes sense if CloudFront error-caches 410; RFC 9110 also makes 410
/// heuristically cacheable. It is therefore treated like 404.
const ERRORS_ALWAYS_CACHED: &[u16] = &[404, 410, 414, 500, 501, 502, 503, 504];

/// HTTPStatusCodes.md, "HTTP 4xx status codes that CloudFront caches based on Cache-Control headers": only
/// with `max-age` or `s-maxage` (an `Expires` header does not qualify). Older revisions of the page listed
/// 405 as always cached; the current page, which the reference follows, lists it here.
const ERRORS_CACHED_WITH_MAX_AGE: &[u16] = &[400, 403, 405, 412, 415];

/// custom-error-pages-expiration.md: for these, origin `no-store`/`no-cache`/`private` prevent error caching;
/// for every other cached error CloudFront ignores those directives.
const ERRORS_HONOURING_NO_STORE: &[u16] = &[404, 410, 414, 501];

/// The TTL decision for an origin response. `now` is the edge's clock; `error_caching_min_ttl` comes from the
/// distribution's custom_error_responses for that status, or None for the default of 10 s.
///
/// By status: 404, 410, 414, 500–504 are error-cached always, and 400, 403, 405, 412, 415 only with
/// `max-age`/`s-maxage`, for max(error caching minimum TTL, origin lifetime capped at MaxTTL); 200, 203, 204,
/// 206, 300, 301, 302 follow the TTL table, and 307, 308 too when the response has a `Cache-Control`
/// header; other 2xx/3xx follow it only when the origin gave an explicit lifetime; everything else is not
/// cached. For a 304, pass the 304's headers: the result is the
/// refreshed lifetime of the stored object it validated.
pub fn decide(
    settings: TtlSettings,
    response: &OriginResponse<'_>,
    now: SystemTime,
    error_caching_min_ttl: Option<u64>,
) -> CacheDecision {
    let status = response.status;
    if ERRORS_ALWAYS_CACHED.contains(&status) || ERRORS_CACHED_WITH_MAX_AGE.contains(&status) {
        return decide_error(settings, response, now, error_caching_min_ttl);
    }
    let cc = &response.cache_control;
    let explicit = origin_ttl(response, now);
    // RFC 9111 §3: any final status may be stored when the origin gives it an explicit lifetime.
    let storable = if CACHED_ONLY_WITH_CACHE_CONTROL.contains(&status) {
        response.has_cache_control
    } else {
        CACHEABLE_BY_DEFAULT.contains(&status)
            || ((200..400).contains(&status) && explicit.is_some())
    };
    if !storable {
        return CacheDecision::DoNotCache;
    }
    if cc.forbids_storing() {
        // With MinTTL > 0 the copy exists only to be served when the origin is unreachable; an explicit
        // `stale-if-error=0` forbids exactly that (Expiration.md), which leaves nothing to keep it for.
        if settings.min_ttl == 0 || cc.stale_if_error == Some(0) {
            return CacheDecision::DoNotCache;
        }
        return store(settings.min_ttl.min(settings.max_ttl), true, cc);
    }
    // Both columns of the table are one clamp: with MinTTL = 0 the lower bound is a no-op.
    let ttl = explicit.unwrap_or(settings.default_ttl);
    store(clamp(ttl, settings), false, cc)
}

fn decide_error(
    settings: TtlSettings,
    response: &OriginResponse<'_>,
    now: SystemTime,
    error_caching_min_ttl: Option<u64>,
) -> CacheDecision {
    let cc = &response.cache_control;
    let status = response.status;
    if ERRORS_CACHED_WITH_MAX_AGE.contains(&status) && cc.max_age.is_none() && cc.s_maxage.is_none()
    {
        return CacheDecision::DoNotCache;
    }
    if ERRORS_HONOURING_NO_STORE.contains(&status) && cc.forbids_storing() {
        return CacheDecision::DoNotCache;
    }
    // The origin's value counts whether or not the distribution sets its own Error Caching Minimum TTL: the
    // documented rule is "the greater of the value in the header or the value of Error Caching Minimum TTL",
    // and the header "cannot be greater than the Maximum TTL" (custom-error-pages-expiration.md). MinTTL plays
    // no part in error caching.
    let floor = error_caching_min_ttl.unwrap_or(DEFAULT_ERROR_CACHING_MIN_TTL);
    let from_origin = origin_ttl(response, now).map_or(0, |ttl| ttl.min(settings.max_ttl));
    let ttl = floor.max(from_origin);
    // An Error Caching Minimum TTL of 0 is how operators turn error caching off; a stored error that must be
    // revalidated on every request would be pointless.
    if ttl == 0 {
        return CacheDecision::DoNotCache;
    }
    store(ttl, false, cc)
}

/// The lifetime the origin asked for, capped at 100 years: `s-maxage` over `max-age` over `Expires`.
fn origin_ttl(response: &OriginResponse<'_>, now: SystemTime) -> Option<u64> {
    let cc = &response.cache_control;
    let ttl = match cc.s_maxage.or(cc.max_age) {
        Some(seconds) => seconds,
        None => expires_ttl(response.expires?, response.date, now),
    };
    Some(ttl.min(MAX_HONOURED_AGE))
}

/// Seconds from now until `Expires`; 0 when it is in the past or unparseable (RFC 9111 §5.3: an invalid
/// Expires means "already expired").
///
/// Expiration.md says CloudFront caches "until the date in the Expires header", so the edge's own clock is
/// the reference. When the origin's `Date` is ahead of the edge, RFC 9111's `Expires − Date` lifetime is the
/// smaller one and is used instead: a clock skew must not lengthen the lifetime the origin granted.
fn expires_ttl(expires: &str, date: Option<&str>, now: SystemTime) -> u64 {
    let Ok(expires) = httpdate::parse_http_date(expires.trim()) else {
        return 0;
    };
    let mut ttl = seconds_between(now, expires);
    if let Some(date) = date.and_then(|d| httpdate::parse_http_date(d.trim()).ok()) {
        ttl = ttl.min(seconds_between(date, expires));
    }
    ttl
}

fn seconds_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map_or(0, |d| d.as_secs())
}

/// Lower bound first so that an inconsistent configuration (MinTTL > MaxTTL, which AWS rejects) still never
/// exceeds MaxTTL, matching "never above MaxTTL".
fn clamp(ttl: u64, settings: TtlSettings) -> u64 {
    ttl.max(settings.min_ttl).min(settings.max_ttl)
}

fn store(ttl: u64, revalidate_always: bool, cc: &CacheControl) -> CacheDecision {
    CacheDecision::Store {
        ttl,
        revalidate_always,
        stale_while_revalidate: cc.stale_while_revalidate.unwrap_or(0).min(MAX_HONOURED_AGE),
        stale_if_error: cc.stale_if_error.unwrap_or(0).min(MAX_HONOURED_AGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Tue, 14 Nov 2023 22:13:20 GMT
    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    /// An HTTP date `offset` seconds from [`NOW`].
    fn at(offset: i64) -> String {
        let secs = NOW.checked_add_signed(offset).expect("offset in range");
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// An `Expires` or `Date` header in a table row.
    #[derive(Clone, Copy)]
    enum Hdr {
        Absent,
        /// Seconds relative to NOW, formatted as an IMF-fixdate.
        Rel(i64),
        Raw(&'static str),
    }
    use Hdr::{Absent, Raw, Rel};

    impl Hdr {
        fn render(self) -> Option<String> {
            match self {
                Absent => None,
                Rel(offset) => Some(at(offset)),
                Raw(text) => Some(text.to_owned()),
            }
        }
    }

    const fn ttls(min_ttl: u64, default_ttl: u64, max_ttl: u64) -> TtlSettings {
        TtlSettings {
            min_ttl,
            default_ttl,
            max_ttl,
        }
    }

    /// MinTTL 0 with the cache-policy defaults.
    const ZERO: TtlSettings = ttls(0, 86_400, 31_536_000);
    /// MinTTL 0 with a small MaxTTL, to see the upper clamp.
    const ZERO_SMALL: TtlSettings = ttls(0, 300, 3_600);
    /// MinTTL > 0.
    const MIN60: TtlSettings = ttls(60, 300, 3_600);
    /// All three TTLs 0 (the managed CachingDisabled policy).
    const OFF: TtlSettings = ttls(0, 0, 0);
    /// No upper bound, to see the 100-year cap.
    const UNBOUNDED: TtlSettings = ttls(0, 86_400, u64::MAX);

    const NO: CacheDecision = CacheDecision::DoNotCache;

    const fn stale(ttl: u64, revalidate_always: bool, swr: u64, sie: u64) -> CacheDecision {
        CacheDecision::Store {
            ttl,
            revalidate_always,
            stale_while_revalidate: swr,
            stale_if_error: sie,
        }
    }

    /// Stored for `ttl`, no stale windows.
    const fn st(ttl: u64) -> CacheDecision {
        stale(ttl, false, 0, 0)
    }

    /// Stored for `ttl` but revalidated on every request.
    const fn rv(ttl: u64) -> CacheDecision {
        stale(ttl, true, 0, 0)
    }

    const ERRORS_ALWAYS: &[u16] = &[404, 410, 414, 500, 501, 502, 503, 504];
    const ERRORS_GATED: &[u16] = &[400, 403, 405, 412, 415];

    /// One table row: `statuses` are all checked against the same expectation.
    struct Row {
        what: &'static str,
        settings: TtlSettings,
        statuses: &'static [u16],
        cache_control: &'static str,
        expires: Hdr,
        date: Hdr,
        ecmt: Option<u64>,
        want: CacheDecision,
    }

    /// A 200 with only a Cache-Control header.
    const fn cc(
        what: &'static str,
        settings: TtlSettings,
        cache_control: &'static str,
        want: CacheDecision,
    ) -> Row {
        Row {
            what,
            settings,
            statuses: &[200],
            cache_control,
            expires: Absent,
            date: Absent,
            ecmt: None,
            want,
        }
    }

    /// A 200 with Cache-Control, Expires and Date.
    const fn ex(
        what: &'static str,
        settings: TtlSettings,
        cache_control: &'static str,
        expires: Hdr,
        date: Hdr,
        want: CacheDecision,
    ) -> Row {
        Row {
            what,
            settings,
            statuses: &[200],
            cache_control,
            expires,
            date,
            ecmt: None,
            want,
        }
    }

    /// Several statuses with Cache-Control and an error caching minimum TTL.
    const fn sc(
        what: &'static str,
        settings: TtlSettings,
        statuses: &'static [u16],
        cache_control: &'static str,
        ecmt: Option<u64>,
        want: CacheDecision,
    ) -> Row {
        Row {
            what,
            settings,
            statuses,
            cache_control,
            expires: Absent,
            date: Absent,
            ecmt,
            want,
        }
    }

    fn run(rows: &[Row]) {
        for r in rows {
            let expires = r.expires.render();
            let date = r.date.render();
            for &code in r.statuses {
                let response = OriginResponse {
                    status: code,
                    cache_control: CacheControl::parse([r.cache_control]),
                    has_cache_control: !r.cache_control.is_empty(),
                    expires: expires.as_deref(),
                    date: date.as_deref(),
                };
                assert_eq!(
                    decide(r.settings, &response, now(), r.ecmt),
                    r.want,
                    "{}: status {code}, Cache-Control {:?}, Expires {expires:?}, Date {date:?}, ECMT {:?}",
                    r.what,
                    r.cache_control,
                    r.ecmt,
                );
            }
        }
    }

    #[rustfmt::skip]
    #[test]
    fn max_age_row() {
        run(&[
            cc("MinTTL 0: N below MaxTTL",  ZERO,       "max-age=600",  st(600)),
            cc("MinTTL 0: N above MaxTTL",  ZERO_SMALL, "max-age=7200", st(3600)),
            cc("MinTTL 0: N = MaxTTL",      ZERO_SMALL, "max-age=3600", st(3600)),
            cc("MinTTL 0: tiny N kept",     ZERO,       "max-age=1",    st(1)),
            cc("MinTTL 0: N below Default", ZERO_SMALL, "max-age=10",   st(10)),
            cc("MinTTL>0: Min < N < Max",   MIN60,      "max-age=600",  st(600)),
            cc("MinTTL>0: N < Min",         MIN60,      "max-age=30",   st(60)),
            cc("MinTTL>0: N = Min",         MIN60,      "max-age=60",   st(60)),
            cc("MinTTL>0: N > Max",         MIN60,      "max-age=7200", st(3600)),
            cc("MinTTL>0: N = Max",         MIN60,      "max-age=3600", st(3600)),
            cc("public is irrelevant",      ZERO,       "public, max-age=600", st(600)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn s_maxage_row() {
        run(&[
            cc("MinTTL 0: s-maxage wins",         ZERO,       "max-age=600, s-maxage=1200", st(1200)),
            cc("MinTTL 0: order irrelevant",      ZERO,       "s-maxage=1200, max-age=600", st(1200)),
            cc("MinTTL 0: wins when smaller",     ZERO,       "max-age=600, s-maxage=5",    st(5)),
            cc("MinTTL 0: s-maxage alone",        ZERO,       "s-maxage=900",               st(900)),
            cc("MinTTL 0: s-maxage above MaxTTL", ZERO_SMALL, "max-age=1, s-maxage=99999",  st(3600)),
            cc("MinTTL>0: s-maxage inside",       MIN60,      "max-age=10, s-maxage=600",   st(600)),
            cc("MinTTL>0: s-maxage < Min",        MIN60,      "s-maxage=30, max-age=600",   st(60)),
            cc("MinTTL>0: s-maxage > Max",        MIN60,      "s-maxage=9000, max-age=600", st(3600)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn expires_row() {
        run(&[
            ex("MinTTL 0: future",         ZERO,       "", Rel(600),           Absent, st(600)),
            ex("MinTTL 0: beyond MaxTTL",  ZERO_SMALL, "", Rel(7200),          Absent, st(3600)),
            ex("MinTTL 0: past",           ZERO,       "", Rel(-600),          Absent, st(0)),
            ex("MinTTL 0: now",            ZERO,       "", Rel(0),             Absent, st(0)),
            ex("MinTTL 0: garbage",        ZERO,       "", Raw("not a date"),  Absent, st(0)),
            ex("MinTTL 0: `0`",            ZERO,       "", Raw("0"),           Absent, st(0)),
            ex("MinTTL 0: empty",          ZERO,       "", Raw(""),            Absent, st(0)),
            ex("MinTTL>0: inside",         MIN60,      "", Rel(600),           Absent, st(600)),
            ex("MinTTL>0: below Min",      MIN60,      "", Rel(30),            Absent, st(60)),
            ex("MinTTL>0: above Max",      MIN60,      "", Rel(7200),          Absent, st(3600)),
            ex("MinTTL>0: past",           MIN60,      "", Rel(-600),          Absent, st(60)),
            ex("MinTTL>0: garbage",        MIN60,      "", Raw("Tomorrow"),    Absent, st(60)),
            // The three HTTP-date formats for NOW + 600.
            ex("IMF-fixdate", ZERO, "", Raw("Tue, 14 Nov 2023 22:23:20 GMT"),     Absent, st(600)),
            ex("RFC 850",     ZERO, "", Raw("Tuesday, 14-Nov-23 22:23:20 GMT"),   Absent, st(600)),
            ex("asctime",     ZERO, "", Raw("Tue Nov 14 22:23:20 2023"),          Absent, st(600)),
            ex("spaces",      ZERO, "", Raw("  Tue, 14 Nov 2023 22:23:20 GMT "),  Absent, st(600)),
            // Date: the edge clock rules unless the origin's clock is ahead of it.
            ex("Date behind the edge",     ZERO,       "", Rel(600), Rel(-100),        st(600)),
            ex("Date equal to now",        ZERO,       "", Rel(600), Rel(0),           st(600)),
            ex("Date ahead of the edge",   ZERO,       "", Rel(600), Rel(300),         st(300)),
            ex("Date after Expires",       ZERO,       "", Rel(600), Rel(900),         st(0)),
            ex("Date equal to Expires",    ZERO,       "", Rel(600), Rel(600),         st(0)),
            ex("garbage Date ignored",     ZERO,       "", Rel(600), Raw("yesterday"), st(600)),
            ex("Date ahead, MinTTL>0",     MIN60,      "", Rel(600), Rel(570),         st(60)),
            ex("Date alone is nothing",    ZERO_SMALL, "", Absent,   Rel(0),           st(300)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn max_age_and_expires_row() {
        run(&[
            ex("MinTTL 0: max-age wins",     ZERO,  "max-age=60",   Rel(6000),   Absent, st(60)),
            ex("MinTTL 0: max-age=0 wins",   ZERO,  "max-age=0",    Rel(6000),   Absent, st(0)),
            ex("MinTTL 0: over past",        ZERO,  "max-age=600",  Rel(-600),   Absent, st(600)),
            ex("MinTTL 0: over garbage",     ZERO,  "max-age=600",  Raw("junk"), Absent, st(600)),
            ex("MinTTL 0: s-maxage wins",    ZERO,  "s-maxage=60",  Rel(6000),   Absent, st(60)),
            ex("MinTTL>0: max-age wins",     MIN60, "max-age=600",  Rel(60_000), Absent, st(600)),
            ex("MinTTL>0: then clamped",     MIN60, "max-age=10",   Rel(600),    Absent, st(60)),
            ex("bad max-age: Expires used",  ZERO,  "max-age=abc",  Rel(600),    Absent, st(600)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn no_headers_row() {
        run(&[
            cc("MinTTL 0: DefaultTTL",          ZERO,                   "", st(86_400)),
            cc("MinTTL 0: small DefaultTTL",    ZERO_SMALL,             "", st(300)),
            cc("MinTTL>0: Default > Min",       MIN60,                  "", st(300)),
            cc("MinTTL>0: Min > Default",       ttls(600, 300, 3600),   "", st(600)),
            cc("MinTTL>0: Min = Default",       ttls(300, 300, 3600),   "", st(300)),
            cc("Default above Max",             ttls(0, 86_400, 3600),  "", st(3600)),
            cc("Min above Max: Max still wins", ttls(7200, 300, 3600),  "", st(3600)),
            cc("all TTLs 0",                    OFF,                    "", st(0)),
            cc("unrelated directives",  ZERO_SMALL, "public, must-revalidate, immutable", st(300)),
            cc("unparseable max-age",   ZERO_SMALL, "max-age=soon",                       st(300)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn no_cache_no_store_private_row() {
        run(&[
            cc("MinTTL 0: no-cache",           ZERO,  "no-cache",                    NO),
            cc("MinTTL 0: no-store",           ZERO,  "no-store",                    NO),
            cc("MinTTL 0: private",            ZERO,  "private",                     NO),
            cc("MinTTL 0: all three",          ZERO,  "private, no-cache, no-store", NO),
            cc("MinTTL 0: field-name form",    ZERO,  "no-cache=\"Set-Cookie\"",     NO),
            cc("MinTTL 0: private=field",      ZERO,  "private=\"X-User\"",          NO),
            cc("MinTTL 0: beats max-age",      ZERO,  "no-cache, max-age=600",       NO),
            cc("MinTTL 0: beats s-maxage",     ZERO,  "private, s-maxage=600",       NO),
            cc("MinTTL>0: no-cache",           MIN60, "no-cache",                    rv(60)),
            cc("MinTTL>0: no-store",           MIN60, "no-store",                    rv(60)),
            cc("MinTTL>0: private",            MIN60, "private",                     rv(60)),
            cc("MinTTL>0: beats max-age",      MIN60, "no-store, max-age=600",       rv(60)),
            cc("MinTTL>0: beats small max-age", MIN60, "private, max-age=5",         rv(60)),
            cc("MinTTL>0: capped by MaxTTL",   ttls(7200, 7200, 3600), "no-cache",   rv(3600)),
            cc("MinTTL>0: stale-if-error=0",   MIN60, "no-cache, stale-if-error=0",  NO),
            cc("MinTTL>0: windows carried",    MIN60, "no-cache, stale-if-error=30, stale-while-revalidate=5",
               stale(60, true, 5, 30)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn zero_lifetimes() {
        run(&[
            cc("max-age=0, MinTTL 0",          ZERO,  "max-age=0",               st(0)),
            cc("s-maxage=0, MinTTL 0",         ZERO,  "s-maxage=0, max-age=600", st(0)),
            cc("max-age=0, MinTTL>0",          MIN60, "max-age=0",               st(60)),
            cc("s-maxage=0, MinTTL>0",         MIN60, "s-maxage=0",              st(60)),
            cc("CachingDisabled, max-age",     OFF,   "max-age=600",             st(0)),
            cc("CachingDisabled, no-store",    OFF,   "no-store",                NO),
            ex("CachingDisabled, Expires",     OFF,   "", Rel(600), Absent,      st(0)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn stale_windows() {
        run(&[
            cc("both windows", ZERO, "max-age=600, stale-while-revalidate=30, stale-if-error=86400",
               stale(600, false, 30, 86_400)),
            cc("only swr",          ZERO_SMALL, "stale-while-revalidate=30",        stale(300, false, 30, 0)),
            cc("only sie",          MIN60,      "max-age=1, stale-if-error=7",      stale(60, false, 0, 7)),
            cc("bad value ignored", ZERO,       "max-age=60, stale-if-error=x",     st(60)),
            cc("huge windows capped at 100 years", ZERO,
               "max-age=60, stale-while-revalidate=99999999999999999999999, stale-if-error=18446744073709551615",
               stale(60, false, MAX_HONOURED_AGE, MAX_HONOURED_AGE)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn hundred_year_cap() {
        assert_eq!(MAX_HONOURED_AGE, 3_153_600_000);
        run(&[
            cc("max-age just under",  UNBOUNDED, "max-age=3153599999",            st(3_153_599_999)),
            cc("max-age at the cap",  UNBOUNDED, "max-age=3153600000",            st(MAX_HONOURED_AGE)),
            cc("max-age above",       UNBOUNDED, "max-age=3153600001",            st(MAX_HONOURED_AGE)),
            cc("max-age saturated",   UNBOUNDED, "max-age=99999999999999999999",  st(MAX_HONOURED_AGE)),
            cc("s-maxage saturated",  UNBOUNDED, "s-maxage=18446744073709551616", st(MAX_HONOURED_AGE)),
            cc("cap, then MaxTTL",    ZERO,      "max-age=99999999999",           st(31_536_000)),
            cc("cap, then MinTTL",    ttls(u64::MAX, 0, u64::MAX), "max-age=5",   st(u64::MAX)),
            cc("config not capped",   ttls(0, u64::MAX, u64::MAX), "",            st(u64::MAX)),
            ex("far Expires",         UNBOUNDED, "", Raw("Fri, 31 Dec 9999 23:59:59 GMT"), Absent,
               st(MAX_HONOURED_AGE)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn success_and_redirect_statuses() {
        run(&[
            sc("cacheable by default",          ZERO_SMALL, CACHEABLE_BY_DEFAULT, "",           None, st(300)),
            sc("cacheable by default, max-age", ZERO,       CACHEABLE_BY_DEFAULT, "max-age=60", None, st(60)),
            sc("cacheable by default, no-store", MIN60,     CACHEABLE_BY_DEFAULT, "no-store",   None, rv(60)),
            sc("307/308 without Cache-Control", ZERO_SMALL, CACHED_ONLY_WITH_CACHE_CONTROL, "", None, NO),
            sc("307/308, Cache-Control public", ZERO_SMALL, CACHED_ONLY_WITH_CACHE_CONTROL, "public", None, st(300)),
            sc("307/308, max-age",              ZERO,       CACHED_ONLY_WITH_CACHE_CONTROL, "max-age=60", None, st(60)),
            sc("307/308, no-store",             MIN60,      CACHED_ONLY_WITH_CACHE_CONTROL, "no-store", None, rv(60)),
            sc("explicit only, no lifetime",    ZERO_SMALL, &[201, 202, 205, 303, 305, 399], "", None, NO),
            sc("explicit only, max-age",        ZERO,       &[201, 202, 205, 303, 399], "max-age=60", None, st(60)),
            sc("explicit only, s-maxage",       MIN60,      &[201, 303], "s-maxage=1",          None, st(60)),
            sc("explicit only, no-cache",       MIN60,      &[201, 303], "no-cache",            None, NO),
            sc("explicit only, no-cache + age", MIN60,      &[201, 303], "no-cache, max-age=9", None, rv(60)),
            sc("informational or bogus",        ZERO, &[0, 100, 101, 199, 600, 999], "max-age=60", None, NO),
            sc("uncached 4xx", ZERO, &[401, 402, 406, 408, 409, 411, 413, 416, 418, 429, 451], "", None, NO),
            sc("uncached 4xx with max-age",     ZERO, &[401, 408, 416, 429], "max-age=600", Some(60), NO),
            sc("uncached 5xx",                  ZERO, &[505, 507, 511, 599], "max-age=600", None, NO),
        ]);
        run(&[Row {
            what: "303 with Expires",
            settings: ZERO,
            statuses: &[201, 303],
            cache_control: "",
            expires: Rel(600),
            date: Absent,
            ecmt: None,
            want: st(600),
        }, Row {
            what: "307/308 with Expires alone",
            settings: ZERO,
            statuses: CACHED_ONLY_WITH_CACHE_CONTROL,
            cache_control: "",
            expires: Rel(600),
            date: Absent,
            ecmt: None,
            want: NO,
        }]);
    }

    #[rustfmt::skip]
    #[test]
    fn error_statuses() {
        run(&[
            // Always cached.
            sc("default ECMT",            ZERO,  ERRORS_ALWAYS, "",                          None,      st(10)),
            sc("MinTTL plays no part",    MIN60, ERRORS_ALWAYS, "",                          None,      st(10)),
            sc("custom ECMT",             ZERO,  ERRORS_ALWAYS, "",                          Some(300), st(300)),
            sc("ECMT 0 disables",         ZERO,  ERRORS_ALWAYS, "",                          Some(0),   NO),
            sc("ECMT 0, origin max-age",  ZERO,  ERRORS_ALWAYS, "max-age=60",                Some(0),   st(60)),
            sc("origin above default",    ZERO,  ERRORS_ALWAYS, "max-age=60",                None,      st(60)),
            sc("origin below default",    ZERO,  ERRORS_ALWAYS, "max-age=5",                 None,      st(10)),
            sc("origin above custom",     ZERO,  ERRORS_ALWAYS, "s-maxage=600",              Some(30),  st(600)),
            sc("origin below custom",     ZERO,  ERRORS_ALWAYS, "max-age=600",               Some(900), st(900)),
            sc("s-maxage over max-age",   ZERO,  ERRORS_ALWAYS, "max-age=600, s-maxage=20",  None,      st(20)),
            sc("origin capped by MaxTTL", MIN60, ERRORS_ALWAYS, "max-age=7200",              None,      st(3600)),
            sc("ECMT not capped",         MIN60, ERRORS_ALWAYS, "max-age=7200",              Some(9000), st(9000)),
            sc("max-age=0",               ZERO,  ERRORS_ALWAYS, "max-age=0",                 None,      st(10)),
            sc("100-year cap",        UNBOUNDED, ERRORS_ALWAYS, "max-age=99999999999",       None,      st(MAX_HONOURED_AGE)),
            sc("windows carried",         ZERO,  ERRORS_ALWAYS, "stale-while-revalidate=4",  None,      stale(10, false, 4, 0)),
            // no-store, no-cache and private are honoured only for 404, 410, 414 and 501.
            sc("no-store honoured",  ZERO,  &[404, 410, 414, 501], "no-store",              None,     NO),
            sc("no-cache honoured",  MIN60, &[404, 410, 414, 501], "no-cache, max-age=600", Some(60), NO),
            sc("private honoured",   ZERO,  &[404, 410, 414, 501], "private",               Some(60), NO),
            sc("no-store ignored",   ZERO,  &[500, 502, 503, 504], "no-store",              None,     st(10)),
            sc("no-cache ignored",   ZERO,  &[500, 502, 503, 504], "no-cache, max-age=60",  None,     st(60)),
            sc("private ignored",    ZERO,  &[500, 502, 503, 504], "private",               Some(30), st(30)),
            // Cached only with max-age or s-maxage.
            sc("gated: no header",        ZERO,       ERRORS_GATED, "",                        None,      NO),
            sc("gated: ECMT alone",       ZERO,       ERRORS_GATED, "",                        Some(300), NO),
            sc("gated: other directives", ZERO,       ERRORS_GATED, "public, must-revalidate", None,      NO),
            sc("gated: bad max-age",      ZERO,       ERRORS_GATED, "max-age=x",               None,      NO),
            sc("gated: max-age",          ZERO,       ERRORS_GATED, "max-age=60",              None,      st(60)),
            sc("gated: s-maxage",         ZERO,       ERRORS_GATED, "s-maxage=60",             None,      st(60)),
            sc("gated: small max-age",    ZERO,       ERRORS_GATED, "max-age=3",               None,      st(10)),
            sc("gated: max-age=0",        ZERO,       ERRORS_GATED, "max-age=0",               None,      st(10)),
            sc("gated: ECMT above",       ZERO,       ERRORS_GATED, "max-age=60",              Some(120), st(120)),
            sc("gated: ECMT 0",           ZERO,       ERRORS_GATED, "max-age=0",               Some(0),   NO),
            sc("gated: capped by MaxTTL", ZERO_SMALL, ERRORS_GATED, "max-age=7200",            None,      st(3600)),
            sc("gated: no-store ignored", ZERO,       ERRORS_GATED, "no-store, max-age=60",    None,      st(60)),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn error_statuses_with_expires() {
        let row = |what, statuses, expires, ecmt, want| Row {
            what, settings: ZERO, statuses, cache_control: "", expires, date: Absent, ecmt, want,
        };
        run(&[
            row("future Expires",          ERRORS_ALWAYS, Rel(600),       None,      st(600)),
            row("ECMT above Expires",      ERRORS_ALWAYS, Rel(600),       Some(900), st(900)),
            row("past Expires",            ERRORS_ALWAYS, Rel(-600),      None,      st(10)),
            row("garbage Expires",         ERRORS_ALWAYS, Raw("garbage"), Some(20),  st(20)),
            // Expires does not open the gate: only max-age / s-maxage do.
            row("gated: Expires is not enough", ERRORS_GATED, Rel(600),  None,      NO),
        ]);
    }

    #[rustfmt::skip]
    #[test]
    fn parse_cache_control() {
        let with = |f: fn(&mut CacheControl)| {
            let mut c = CacheControl::default();
            f(&mut c);
            c
        };
        let none = CacheControl::default();
        let cases: &[(&[&str], CacheControl)] = &[
            (&[],                                  none.clone()),
            (&[""],                                none.clone()),
            (&[" , ,, "],                          none.clone()),
            (&["max-age=60"],                      with(|c| c.max_age = Some(60))),
            (&["MAX-AGE=60"],                      with(|c| c.max_age = Some(60))),
            (&["Max-Age=0"],                       with(|c| c.max_age = Some(0))),
            (&["  max-age = 60  "],                with(|c| c.max_age = Some(60))),
            (&["max-age=\"60\""],                  with(|c| c.max_age = Some(60))),
            (&["max-age=007"],                     with(|c| c.max_age = Some(7))),
            (&["max-age=abc"],                     none.clone()),
            (&["max-age=-1"],                      none.clone()),
            (&["max-age=+1"],                      none.clone()),
            (&["max-age=1.5"],                     none.clone()),
            (&["max-age=1e3"],                     none.clone()),
            (&["max-age=6 0"],                     none.clone()),
            (&["max-age=60;"],                     none.clone()),
            (&["max-age="],                        none.clone()),
            (&["max-age=\"\""],                    none.clone()),
            (&["max-age=\"60"],                    none.clone()),
            (&["max-age"],                         none.clone()),
            (&["max-age=６０"],                    none.clone()),
            (&["max-age=18446744073709551615"],    with(|c| c.max_age = Some(u64::MAX))),
            (&["max-age=18446744073709551616"],    with(|c| c.max_age = Some(u64::MAX))),
            (&["max-age=999999999999999999999999999999"], with(|c| c.max_age = Some(u64::MAX))),
            // Repeats: the first valid occurrence wins, across header lines too.
            (&["max-age=60, max-age=120"],         with(|c| c.max_age = Some(60))),
            (&["max-age=bad, max-age=120"],        with(|c| c.max_age = Some(120))),
            (&["max-age=60", "max-age=120"],       with(|c| c.max_age = Some(60))),
            (&["s-maxage=10"],                     with(|c| c.s_maxage = Some(10))),
            (&["S-MaxAge=10"],                     with(|c| c.s_maxage = Some(10))),
            (&["s-max-age=10"],                    none.clone()),
            (&["max-age=60", "s-maxage=30"],       with(|c| { c.max_age = Some(60); c.s_maxage = Some(30); })),
            (&["no-cache"],                        with(|c| c.no_cache = true)),
            (&["No-Cache"],                        with(|c| c.no_cache = true)),
            (&["no-store"],                        with(|c| c.no_store = true)),
            (&["PRIVATE"],                         with(|c| c.private = true)),
            (&["no-cache=\"Set-Cookie\""],         with(|c| c.no_cache = true)),
            (&["no-cache=Set-Cookie"],             with(|c| c.no_cache = true)),
            (&["private=\"X-User\""],              with(|c| c.private = true)),
            (&["no-cache=\"Set-Cookie, X-Foo\", max-age=60"], with(|c| { c.no_cache = true; c.max_age = Some(60); })),
            // Commas and escaped quotes inside quoted strings do not split directives.
            (&["x-ext=\"a, max-age=5\", s-maxage=9"],         with(|c| c.s_maxage = Some(9))),
            (&["x-ext=\"a \\\" , max-age=5\", s-maxage=9"],   with(|c| c.s_maxage = Some(9))),
            // An unterminated quote swallows the rest of its header line, not the next line.
            (&["no-cache=\"Set-Cookie, max-age=60", "s-maxage=5"], with(|c| { c.no_cache = true; c.s_maxage = Some(5); })),
            (&["no-cache, no-store, private"],     with(|c| { c.no_cache = true; c.no_store = true; c.private = true; })),
            (&["public, must-revalidate, proxy-revalidate, immutable, no-transform, x-custom=\"a,b\""], none.clone()),
            (&[",,, max-age=5 ,,"],                with(|c| c.max_age = Some(5))),
            (&["max-age=5,no-store"],              with(|c| { c.max_age = Some(5); c.no_store = true; })),
            (&["stale-while-revalidate=30, stale-if-error=600"],
                                                   with(|c| { c.stale_while_revalidate = Some(30); c.stale_if_error = Some(600); })),
            (&["Stale-If-Error=0"],                with(|c| c.stale_if_error = Some(0))),
            (&["stale-while-revalidate"],          none.clone()),
            (&["mäx-age=5, max-age=6"],            with(|c| c.max_age = Some(6))),
            (&["日本=1, no-store"],                with(|c| c.no_store = true)),
        ];
        for (values, want) in cases {
            assert_eq!(&CacheControl::parse(values.iter().copied()), want, "{values:?}");
        }
    }

    #[test]
    fn parse_accepts_owned_header_iterators() {
        let headers = [String::from("max-age=1"), String::from("no-store")];
        let parsed = CacheControl::parse(headers.iter().map(String::as_str));
        assert_eq!(parsed.max_age, Some(1));
        assert!(parsed.no_store);
    }
}
