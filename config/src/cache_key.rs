//! CloudFront's cache key: which parts of a viewer request (path, listed headers, cookies, query strings,
//! the normalised `Accept-Encoding`) identify a cached object under a cache policy, framed unambiguously
//! for pingora's `CacheKey::new(primary, "")`, plus the same cookie and query-string selections for the
//! origin request (everything in the key is also forwarded).
//!
//! Sources (Amazon CloudFront Developer Guide unless noted), cited at each decision below:
//! - "Understand the cache key" (understanding-the-cache-key.md): the default key is the distribution and
//!   the URL path; `OPTIONS` responses are keyed apart from `GET`/`HEAD`.
//! - "Control the cache key with a policy" → "Cache key settings" (controlling-the-cache-key.md): headers,
//!   cookies, query strings by behavior, and "Compression support" (the `Accept-Encoding` normalisation).
//! - "Cache content based on request headers" (header-caching.md): name case, value case, header order.
//! - "Cache content based on cookies" (Cookies.md) and "Values that you specify when you create or update
//!   a distribution" → "Whitelist cookies" (distribution-web-values-specify.md): cookie case, sorting,
//!   wildcards, the name–value pair format.
//! - "Cache content based on query string parameters" (QueryStringParameters.md): `&` only, order and case
//!   of parameters matter.
//! - "Serve compressed files" (ServingCompressedFiles.md): HTTP/1.0 requests lose `Accept-Encoding`.
//!
//! Key layout (version byte, then tagged components in a fixed order, each `tag, u32 LE length, bytes`
//! except the bare tags `O` and `-`):
//! `1 D<dist> P<path> [O] (H<name> (v<value> | -))* (C<name><value>)* [Q<query>] [E<encoding>]`.
//! A cookie (`C`) carries two length-prefixed strings. Every variable part is length-prefixed and every
//! optional or repeated part starts with its own tag, so the layout parses back in exactly one way: two
//! requests share a key exactly when they agree on everything the policy keys on. The viewer's `Host` is
//! in the key only when the policy lists it; the scheme never is (a listed `CloudFront-Forwarded-Proto`
//! header is how a policy splits HTTP from HTTPS).

use crate::model::CachePolicy;
use crate::spec::{self, CacheHeaderBehavior, CookieBehavior, QueryStringBehavior};

/// What of a request can enter the cache key.
pub trait KeySource {
    /// The URL path without the query, as received (CloudFront keys on it case-sensitively).
    fn path(&self) -> &str;
    /// The raw query string, without the `?`.
    fn query(&self) -> Option<&str>;
    /// Every value of header `lower_name` (lowercase), in request order, passed to `f`. For HTTP/2 and
    /// HTTP/3 requests, `host` should yield the `:authority`.
    fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str));
    /// Whether this is an `OPTIONS` request: CloudFront caches `OPTIONS` responses apart from `GET`/`HEAD`
    /// ("Understand the cache key" → "The default cache key"). Defaults to `false`.
    fn is_options(&self) -> bool {
        false
    }
}

/// Leading byte of every key, so that a change of layout never meets keys of the old one.
const KEY_VERSION: u8 = 1;

/// Component tags; see the module docs for the layout.
mod tag {
    pub const DISTRIBUTION: u8 = b'D';
    pub const PATH: u8 = b'P';
    pub const OPTIONS: u8 = b'O';
    pub const HEADER: u8 = b'H';
    pub const VALUE: u8 = b'v';
    pub const ABSENT: u8 = b'-';
    pub const COOKIE: u8 = b'C';
    pub const QUERY: u8 = b'Q';
    pub const ENCODING: u8 = b'E';
}

/// The viewer's Accept-Encoding normalised as CloudFront does for the policy: `Some("br,gzip")`,
/// `Some("gzip")`, `Some("br")` or `None`.
///
/// Per "Control the cache key with a policy" → "Compression support": only the codings the policy enables
/// (`EnableAcceptEncodingGzip` / `EnableAcceptEncodingBrotli`) and the viewer lists count; the result is
/// `br,gzip` (Brotli first), `gzip` or `br`, and every other value is dropped. With neither enabled, or a
/// viewer that accepts neither enabled coding, `Accept-Encoding` is not in the key (`None`). The same
/// value goes to the origin (`None` there means `Accept-Encoding: identity` when a coding is enabled).
///
/// Codings are matched case-insensitively (content codings are case-insensitive tokens, RFC 9110 §8.4.1).
/// A coding listed with `q=0` is refused by the viewer (RFC 9110 §12.4.2: weight 0 means "not
/// acceptable") and does not count; CloudFront's pages do not spell this case out. `*` and `x-gzip` do not
/// count: the page asks for `gzip` or `br` "as values". The caller drops the header of HTTP/1.0 requests
/// ("Serve compressed files" → "Request uses HTTP 1.0").
pub fn normalized_accept_encoding(
    policy: &CachePolicy,
    accept_encoding: Option<&str>,
) -> Option<&'static str> {
    if !policy.gzip && !policy.brotli {
        return None;
    }
    let mut accepted = Codings::default();
    if let Some(value) = accept_encoding {
        accepted.scan(value);
    }
    accepted.normalized(policy)
}

/// The primary key bytes: distribution id, path, and whatever the policy adds (headers, cookies, query
/// strings, normalised Accept-Encoding), unambiguously framed (see the module docs for the layout).
///
/// Decisions, each from the page named:
/// - Distribution and path only by default, never `Host` or the scheme ("Understand the cache key" → "The
///   default cache key"): two aliases of one distribution share objects, and so do HTTP and HTTPS viewers.
///   The path is taken as received, case-sensitive.
/// - Headers (`whitelist`): names case-insensitive, values case-sensitive, and the order of different
///   headers in the request does not matter ("Cache content based on request headers" → "How the case of
///   headers and header values affects caching" and "How caching based on headers affects performance"):
///   the listed headers are keyed in the policy's order under their lowercase names. Several field lines
///   of one header are keyed as their combination in request order, joined by `", "` (RFC 9110 §5.3;
///   `"; "` for `Cookie`, RFC 9113 §8.2.3), so `A: x` + `A: y` keys like `A: x, y`. An absent header and
///   an empty one are keyed apart. A listed `Host` is keyed like any other header.
/// - Cookies: see [`selected_cookies`]. Query strings: see [`selected_query`].
/// - `Accept-Encoding`: see [`normalized_accept_encoding`]; several field lines count together.
pub fn primary_key(
    distribution_id: &str,
    policy: &CachePolicy,
    request: &dyn KeySource,
) -> Vec<u8> {
    let path = request.path();
    let query = request.query().filter(|q| !q.is_empty());
    let mut out =
        Vec::with_capacity(64 + distribution_id.len() + path.len() + query.map_or(0, str::len));
    out.push(KEY_VERSION);
    put(&mut out, tag::DISTRIBUTION, distribution_id.as_bytes());
    put(&mut out, tag::PATH, path.as_bytes());
    if request.is_options() {
        out.push(tag::OPTIONS);
    }
    if policy.headers.header_behavior == CacheHeaderBehavior::Whitelist {
        for name in &policy.headers.headers {
            with_lowercase(name, |lower| write_header(&mut out, lower, request));
        }
    }
    if policy.cookies.cookie_behavior != CookieBehavior::None {
        write_cookies(&mut out, &policy.cookies, request);
    }
    write_query(&mut out, &policy.query_strings, query);
    if policy.gzip || policy.brotli {
        let mut accepted = Codings::default();
        request.for_each_header("accept-encoding", &mut |value| accepted.scan(value));
        if let Some(encoding) = accepted.normalized(policy) {
            put(&mut out, tag::ENCODING, encoding.as_bytes());
        }
    }
    out
}

/// The query string CloudFront forwards to the origin / keys on for this policy behavior (for none: None;
/// whitelist/allExcept: only the selected params; all: unchanged), exposed so the edge's origin request
/// uses the same selection.
///
/// Decisions ("Cache content based on query string parameters", and "Control the cache key with a
/// policy" → "Query strings"):
/// - Parameters are separated by `&` only: `color=red;size=large` is one parameter `color` with the value
///   `red;size=large`.
/// - Names and values are case-sensitive, and names are matched as they appear in the URL (no
///   percent-decoding, which the pages never mention).
/// - Order matters and is kept: CloudFront keys `color=red&size=large` and `size=large&color=red` apart
///   ("Always list parameters in the same order"); the selected parameters keep the request's order.
/// - Every occurrence of a selected name is kept, in request order (`a=1&a=2` differs from `a=2&a=1`).
/// - A parameter without `=` (`?flag`) is the name `flag` with no value and is kept verbatim; empty
///   segments (`a=1&&b=2`) are dropped by `whitelist`/`allExcept` and kept by `all` (unchanged).
/// - An empty query (`/path?`) is no query (`None`) whatever the behavior.
pub fn selected_query(
    behavior: QueryStringBehavior,
    names: &[String],
    query: Option<&str>,
) -> Option<String> {
    let query = query.filter(|q| !q.is_empty())?;
    match behavior {
        QueryStringBehavior::None => None,
        QueryStringBehavior::All => Some(query.to_owned()),
        QueryStringBehavior::Whitelist | QueryStringBehavior::AllExcept => {
            let mut out = String::with_capacity(query.len());
            for_each_selected_param(behavior, names, query, |param| {
                if !out.is_empty() {
                    out.push('&');
                }
                out.push_str(param);
            });
            (!out.is_empty()).then_some(out)
        }
    }
}

/// The Cookie header value with only the cookies a CookiesConfig selects (None when none selected).
///
/// Decisions ("Cache content based on cookies", and "Control the cache key with a policy" → "Cookies"):
/// - Names and values are case-sensitive ("Case sensitivity").
/// - The selected cookies are sorted by name ("CloudFront sorts cookies": "in natural order by cookie
///   name"; read as byte order), so the order in the request does not change the key; cookies of the same
///   name keep their request order. They are joined with `"; "` (RFC 6265 §4.2.1).
/// - Several `Cookie` headers (HTTP/2 sends one per cookie) count as one list.
/// - Only `name=value` pairs count ("Standard name–value pair format is required"): a pair without `=` or
///   with an empty name is dropped; spaces and tabs around names and values are trimmed.
/// - Names in `whitelist` and `allExcept` may use the wildcards `*` (any run of characters) and `?`
///   (exactly one character), case-sensitive. "Values that you specify…" → "Whitelist cookies" documents
///   them for the cookie list of the legacy cache settings (which ferry turns into a cache policy); the
///   cache-policy pages neither repeat nor exclude them, so one matcher serves both, and `allExcept`
///   uses it too.
pub fn selected_cookies(config: &spec::CookiesConfig, cookie_headers: &[&str]) -> Option<String> {
    if config.cookie_behavior == CookieBehavior::None {
        return None;
    }
    let mut spans = Spans::new();
    select_cookies(config, cookie_headers, &mut spans);
    let spans = spans.as_slice();
    if spans.is_empty() {
        return None;
    }
    let text = |src: usize, (start, end): (usize, usize)| {
        cookie_headers
            .get(src)
            .and_then(|h| h.get(start..end))
            .unwrap_or("")
    };
    let capacity = spans
        .iter()
        .map(|s| s.name.1 - s.name.0 + s.value.1 - s.value.0 + 3)
        .sum();
    let mut out = String::with_capacity(capacity);
    for span in spans {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(text(span.src, span.name));
        out.push('=');
        out.push_str(text(span.src, span.value));
    }
    Some(out)
}

// ---------------------------------------------------------------- framing

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Viewer requests are capped far below 4 GiB (20,480 bytes), so the saturation never happens.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Starts a component whose length is known only once it is written; returns where to patch it.
fn open(out: &mut Vec<u8>, tag: u8) -> usize {
    out.push(tag);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Patches the length of the component started by [`open`] at `at`.
fn close(out: &mut [u8], at: usize) {
    let len = out.len() - at - 4;
    let bytes = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    out[at..at + 4].copy_from_slice(&bytes);
}

/// Removes the component started by [`open`] at `at` (its tag is the byte before).
fn discard(out: &mut Vec<u8>, at: usize) {
    out.truncate(at - 1);
}

// ---------------------------------------------------------------- headers

/// Calls `f` with `name` in ASCII lowercase, without allocating for any realistic header name.
fn with_lowercase<R>(name: &str, f: impl FnOnce(&str) -> R) -> R {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return f(name);
    }
    let mut buf = [0u8; 128];
    if let Some(slot) = buf.get_mut(..name.len()) {
        slot.copy_from_slice(name.as_bytes());
        slot.make_ascii_lowercase();
        if let Ok(lower) = std::str::from_utf8(slot) {
            return f(lower);
        }
    }
    f(&name.to_ascii_lowercase())
}

fn write_header(out: &mut Vec<u8>, lower: &str, request: &dyn KeySource) {
    put(out, tag::HEADER, lower.as_bytes());
    let separator: &[u8] = if lower == "cookie" { b"; " } else { b", " };
    let at = open(out, tag::VALUE);
    let start = out.len();
    let mut seen = false;
    request.for_each_header(lower, &mut |value| {
        if seen {
            out.extend_from_slice(separator);
        }
        seen = true;
        out.extend_from_slice(value.as_bytes());
    });
    if seen {
        close(out, at);
    } else {
        debug_assert_eq!(out.len(), start);
        discard(out, at);
        out.push(tag::ABSENT);
    }
}

// ---------------------------------------------------------------- cookies

/// One selected cookie: `src` indexes the text it was found in, `name` and `value` are byte ranges of it,
/// `seq` is its position in the request (the tie-break that keeps equal names in request order).
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    src: usize,
    name: (usize, usize),
    value: (usize, usize),
    seq: usize,
}

/// Selected cookies: on the stack up to [`Spans::INLINE`], on the heap beyond.
struct Spans {
    inline: [Span; Spans::INLINE],
    len: usize,
    spill: Vec<Span>,
}

impl Spans {
    const INLINE: usize = 16;

    fn new() -> Spans {
        Spans {
            inline: [Span::default(); Spans::INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, span: Span) {
        if self.spill.is_empty() {
            if let Some(slot) = self.inline.get_mut(self.len) {
                *slot = span;
                self.len += 1;
                return;
            }
            self.spill.reserve(Spans::INLINE * 2);
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(span);
    }

    fn as_slice(&self) -> &[Span] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Span] {
        if self.spill.is_empty() {
            &mut self.inline[..self.len]
        } else {
            &mut self.spill
        }
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The byte range of `part` without the spaces and tabs at either end, offset by `base` (where `part`
/// starts in the text being parsed).
fn trimmed(part: &str, base: usize) -> (usize, usize) {
    let start = base + (part.len() - part.trim_start_matches(is_ows).len());
    let end = base + part.trim_end_matches(is_ows).len();
    (start, end.max(start))
}

/// Calls `f(name, value)` with the byte ranges of every well-formed `name=value` pair of a Cookie value.
fn cookie_pairs(text: &str, mut f: impl FnMut((usize, usize), (usize, usize))) {
    let mut base = 0;
    for part in text.split(';') {
        let part_base = base;
        base += part.len() + 1;
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        let name = trimmed(name, part_base);
        if name.0 == name.1 {
            continue;
        }
        let value_base = part_base + part.len() - value.len();
        f(name, trimmed(value, value_base));
    }
}

pub(crate) fn cookie_selected(config: &spec::CookiesConfig, name: &str) -> bool {
    let listed = || config.cookies.iter().any(|p| glob_matches(p, name));
    match config.cookie_behavior {
        CookieBehavior::None => false,
        CookieBehavior::Whitelist => listed(),
        CookieBehavior::AllExcept => !listed(),
        CookieBehavior::All => true,
    }
}

/// Collects the cookies of `sources` that `config` selects into `spans`, sorted by name then request order.
fn select_cookies(config: &spec::CookiesConfig, sources: &[&str], spans: &mut Spans) {
    let mut seq = 0;
    for (src, text) in sources.iter().enumerate() {
        cookie_pairs(text, |name, value| {
            let selected = text
                .get(name.0..name.1)
                .is_some_and(|n| cookie_selected(config, n));
            if selected {
                spans.push(Span {
                    src,
                    name,
                    value,
                    seq,
                });
            }
            seq += 1;
        });
    }
    let name_of = |s: &Span| {
        sources
            .get(s.src)
            .and_then(|t| t.as_bytes().get(s.name.0..s.name.1))
            .unwrap_or(b"")
    };
    spans
        .as_mut_slice()
        .sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)).then(a.seq.cmp(&b.seq)));
}

/// Keys the selected cookies. The Cookie values are first copied to the end of `out` (the callback's
/// strings do not outlive it), selected and sorted there by range, framed after it, and the copy is then
/// cut out: no allocation beyond `out` for up to [`Spans::INLINE`] selected cookies.
fn write_cookies(out: &mut Vec<u8>, config: &spec::CookiesConfig, request: &dyn KeySource) {
    let scratch = out.len();
    request.for_each_header("cookie", &mut |value| {
        out.extend_from_slice(value.as_bytes());
        out.push(b';');
    });
    let scratch_end = out.len();
    if scratch_end == scratch {
        return;
    }
    let mut spans = Spans::new();
    match std::str::from_utf8(&out[scratch..scratch_end]) {
        Ok(text) => select_cookies(config, &[text], &mut spans),
        // Unreachable: the copy is whole `&str`s joined by `;`.
        Err(_) => {
            out.truncate(scratch);
            return;
        }
    }
    for span in spans.as_slice() {
        out.push(tag::COOKIE);
        for (start, end) in [span.name, span.value] {
            put_len(out, end - start);
            out.extend_from_within(scratch + start..scratch + end);
        }
    }
    out.drain(scratch..scratch_end);
}

/// Whether cookie `name` matches `pattern`: `*` matches any run of characters (including none), `?`
/// exactly one, everything else itself (case-sensitive). Greedy, backtracking only to the last `*`;
/// no allocation.
fn glob_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return pattern == name;
    }
    let mut pi = 0;
    let mut si = 0;
    // (pattern offset just after the last `*`, name offset that star currently stops at)
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = name.get(si..).and_then(|rest| rest.chars().next()) {
        match pattern.get(pi..).and_then(|rest| rest.chars().next()) {
            Some('*') => {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                si += c.len_utf8();
                continue;
            }
            Some(p) if p == c => {
                pi += p.len_utf8();
                si += c.len_utf8();
                continue;
            }
            _ => {}
        }
        let Some((after_star, stop)) = star else {
            return false;
        };
        let Some(swallowed) = name.get(stop..).and_then(|rest| rest.chars().next()) else {
            return false;
        };
        let resume = stop + swallowed.len_utf8();
        star = Some((after_star, resume));
        pi = after_star;
        si = resume;
    }
    pattern
        .get(pi..)
        .is_some_and(|rest| rest.chars().all(|c| c == '*'))
}

// ---------------------------------------------------------------- query strings

/// Whether the query string parameter `name` is selected by `behavior` and `names`.
pub(crate) fn param_selected(behavior: QueryStringBehavior, names: &[String], name: &str) -> bool {
    let listed = || names.iter().any(|n| n == name);
    match behavior {
        QueryStringBehavior::None => false,
        QueryStringBehavior::Whitelist => listed(),
        QueryStringBehavior::AllExcept => !listed(),
        QueryStringBehavior::All => true,
    }
}

/// Calls `f` with every non-empty `&`-separated parameter of `query` that `behavior` selects, in order.
fn for_each_selected_param(
    behavior: QueryStringBehavior,
    names: &[String],
    query: &str,
    mut f: impl FnMut(&str),
) {
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let name = param.split_once('=').map_or(param, |(name, _)| name);
        if param_selected(behavior, names, name) {
            f(param);
        }
    }
}

fn write_query(out: &mut Vec<u8>, config: &spec::QueryStringsConfig, query: Option<&str>) {
    let Some(query) = query else {
        return;
    };
    let behavior = config.query_string_behavior;
    match behavior {
        QueryStringBehavior::None => {}
        QueryStringBehavior::All => put(out, tag::QUERY, query.as_bytes()),
        QueryStringBehavior::Whitelist | QueryStringBehavior::AllExcept => {
            let at = open(out, tag::QUERY);
            let start = out.len();
            for_each_selected_param(behavior, &config.query_strings, query, |param| {
                if out.len() > start {
                    out.push(b'&');
                }
                out.extend_from_slice(param.as_bytes());
            });
            if out.len() > start {
                close(out, at);
            } else {
                discard(out, at);
            }
        }
    }
}

// ---------------------------------------------------------------- Accept-Encoding

/// The compression codings a viewer accepts, of the two CloudFront knows.
#[derive(Debug, Default, Clone, Copy)]
struct Codings {
    gzip: bool,
    br: bool,
}

impl Codings {
    /// Adds the codings one `Accept-Encoding` field line accepts (listed with a weight above 0).
    fn scan(&mut self, value: &str) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let Some(coding) = parts.next() else {
                continue;
            };
            let coding = coding.trim_matches(is_ows);
            let gzip = coding.eq_ignore_ascii_case("gzip");
            if !gzip && !coding.eq_ignore_ascii_case("br") {
                continue;
            }
            let refused = parts.any(|param| {
                param.split_once('=').is_some_and(|(k, v)| {
                    k.trim_matches(is_ows).eq_ignore_ascii_case("q")
                        && is_zero_weight(v.trim_matches(is_ows))
                })
            });
            if refused {
                continue;
            }
            if gzip {
                self.gzip = true;
            } else {
                self.br = true;
            }
        }
    }

    fn normalized(self, policy: &CachePolicy) -> Option<&'static str> {
        match (policy.brotli && self.br, policy.gzip && self.gzip) {
            (true, true) => Some("br,gzip"),
            (true, false) => Some("br"),
            (false, true) => Some("gzip"),
            (false, false) => None,
        }
    }
}

/// `0`, `0.`, `0.0`, `0.00`, `0.000` (RFC 9110 §12.4.2 `qvalue`). Malformed weights count as non-zero.
fn is_zero_weight(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('0') else {
        return false;
    };
    rest.is_empty()
        || rest
            .strip_prefix('.')
            .is_some_and(|d| d.len() <= 3 && d.bytes().all(|b| b == b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttl::TtlSettings;
    use std::collections::HashMap;

    // ------------------------------------------------------------ fixtures

    #[derive(Debug, Clone, Default)]
    struct Req {
        path: String,
        query: Option<String>,
        headers: Vec<(String, String)>,
        options: bool,
    }

    impl Req {
        fn q(mut self, query: &str) -> Req {
            self.query = Some(query.to_owned());
            self
        }
        fn h(mut self, name: &str, value: &str) -> Req {
            self.headers.push((name.to_owned(), value.to_owned()));
            self
        }
        fn options(mut self) -> Req {
            self.options = true;
            self
        }
    }

    fn req(path: &str) -> Req {
        Req {
            path: path.to_owned(),
            ..Req::default()
        }
    }

    impl KeySource for Req {
        fn path(&self) -> &str {
            &self.path
        }
        fn query(&self) -> Option<&str> {
            self.query.as_deref()
        }
        fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str)) {
            assert_eq!(lower_name, lower_name.to_ascii_lowercase());
            for (name, value) in &self.headers {
                if name.eq_ignore_ascii_case(lower_name) {
                    f(value);
                }
            }
        }
        fn is_options(&self) -> bool {
            self.options
        }
    }

    /// `(behavior, names, Cookie headers, expected Cookie value)`.
    type CookieCase<'a> = (
        CookieBehavior,
        &'a [&'a str],
        &'a [&'a str],
        Option<&'a str>,
    );
    /// `(behavior, names, query, expected query)`.
    type QueryCase<'a> = (
        QueryStringBehavior,
        &'a [&'a str],
        Option<&'a str>,
        Option<&'a str>,
    );

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn base() -> CachePolicy {
        CachePolicy {
            name: "test".into(),
            managed_id: None,
            ttl: TtlSettings {
                min_ttl: 1,
                default_ttl: 86400,
                max_ttl: 31536000,
            },
            gzip: false,
            brotli: false,
            headers: spec::CacheHeadersConfig::default(),
            cookies: spec::CookiesConfig::default(),
            query_strings: spec::QueryStringsConfig::default(),
        }
    }

    fn headers(names: &[&str]) -> CachePolicy {
        CachePolicy {
            headers: spec::CacheHeadersConfig {
                header_behavior: CacheHeaderBehavior::Whitelist,
                headers: strings(names),
            },
            ..base()
        }
    }

    fn cookie_config(behavior: CookieBehavior, names: &[&str]) -> spec::CookiesConfig {
        spec::CookiesConfig {
            cookie_behavior: behavior,
            cookies: strings(names),
        }
    }

    fn cookies(behavior: CookieBehavior, names: &[&str]) -> CachePolicy {
        CachePolicy {
            cookies: cookie_config(behavior, names),
            ..base()
        }
    }

    fn queries(behavior: QueryStringBehavior, names: &[&str]) -> CachePolicy {
        CachePolicy {
            query_strings: spec::QueryStringsConfig {
                query_string_behavior: behavior,
                query_strings: strings(names),
            },
            ..base()
        }
    }

    fn encodings(gzip: bool, brotli: bool) -> CachePolicy {
        CachePolicy {
            gzip,
            brotli,
            ..base()
        }
    }

    /// Runs a table of `(what, policy, a, b, same key?)`.
    fn check_pairs(cases: &[(&str, CachePolicy, Req, Req, bool)]) {
        for (what, policy, a, b, same) in cases {
            let ka = primary_key("E1", policy, a);
            let kb = primary_key("E1", policy, b);
            assert_eq!(
                ka == kb,
                *same,
                "{what}: {a:?} vs {b:?}\n  {:?}\n  {:?}",
                String::from_utf8_lossy(&ka),
                String::from_utf8_lossy(&kb)
            );
        }
    }

    // ------------------------------------------------------------ base key

    #[test]
    fn default_key_is_distribution_and_path() {
        use CookieBehavior as C;
        use QueryStringBehavior as Q;
        let p = base;
        check_pairs(&[
            ("identical", p(), req("/a"), req("/a"), true),
            ("path case", p(), req("/a"), req("/A"), false),
            ("path", p(), req("/a"), req("/a/"), false),
            ("path not normalised", p(), req("/a/b"), req("/a//b"), false),
            ("query ignored", p(), req("/a").q("x=1"), req("/a"), true),
            (
                "host ignored",
                p(),
                req("/a").h("Host", "one.example"),
                req("/a").h("Host", "two.example"),
                true,
            ),
            (
                "cookie ignored",
                p(),
                req("/a").h("Cookie", "s=1"),
                req("/a").h("Cookie", "s=2"),
                true,
            ),
            (
                "other header ignored",
                p(),
                req("/a").h("Accept-Language", "de"),
                req("/a"),
                true,
            ),
            (
                "accept-encoding ignored without gzip/br",
                p(),
                req("/a").h("Accept-Encoding", "gzip"),
                req("/a"),
                true,
            ),
            (
                "x-forwarded-proto ignored",
                p(),
                req("/a").h("X-Forwarded-Proto", "http"),
                req("/a").h("X-Forwarded-Proto", "https"),
                true,
            ),
            (
                "options keyed apart",
                p(),
                req("/a").options(),
                req("/a"),
                false,
            ),
            (
                "cookie none",
                cookies(C::None, &[]),
                req("/a").h("Cookie", "s=1"),
                req("/a").h("Cookie", "s=2"),
                true,
            ),
            (
                "query none",
                queries(Q::None, &[]),
                req("/a").q("x=1"),
                req("/a").q("x=2"),
                true,
            ),
            (
                "headers whitelist but empty",
                headers(&[]),
                req("/a").h("X", "1"),
                req("/a"),
                true,
            ),
        ]);
        let p = base();
        assert_ne!(
            primary_key("E1", &p, &req("/a")),
            primary_key("E2", &p, &req("/a"))
        );
    }

    #[test]
    fn key_layout() {
        let p = CachePolicy {
            gzip: true,
            brotli: true,
            ..headers(&["X-A"])
        };
        let r = req("/p").h("x-a", "1").h("accept-encoding", "gzip, br");
        let mut want = vec![1u8];
        want.extend_from_slice(
            b"D\x02\0\0\0E1P\x02\0\0\0/pH\x03\0\0\0x-av\x01\0\0\x001E\x07\0\0\0br,gzip",
        );
        assert_eq!(primary_key("E1", &p, &r), want);
    }

    // ------------------------------------------------------------ headers

    #[test]
    fn header_whitelist_pairs() {
        let p = || headers(&["Accept-Language", "X-Device"]);
        let r = || req("/a");
        check_pairs(&[
            (
                "same value",
                p(),
                r().h("Accept-Language", "en"),
                r().h("Accept-Language", "en"),
                true,
            ),
            (
                "name case ignored",
                p(),
                r().h("Accept-Language", "en"),
                r().h("accept-language", "en"),
                true,
            ),
            (
                "policy name case ignored",
                headers(&["ACCEPT-LANGUAGE"]),
                r().h("accept-language", "en"),
                r().h("Accept-Language", "en"),
                true,
            ),
            (
                "value case kept",
                p(),
                r().h("Accept-Language", "en"),
                r().h("Accept-Language", "EN"),
                false,
            ),
            (
                "value differs",
                p(),
                r().h("Accept-Language", "en"),
                r().h("Accept-Language", "de"),
                false,
            ),
            (
                "absent vs empty",
                p(),
                r(),
                r().h("Accept-Language", ""),
                false,
            ),
            (
                "absent vs present",
                p(),
                r(),
                r().h("X-Device", "mobile"),
                false,
            ),
            (
                "order of different headers ignored",
                p(),
                r().h("Accept-Language", "en").h("X-Device", "m"),
                r().h("X-Device", "m").h("Accept-Language", "en"),
                true,
            ),
            (
                "unlisted header ignored",
                p(),
                r().h("Accept-Language", "en").h("X-Other", "1"),
                r().h("Accept-Language", "en").h("X-Other", "2"),
                true,
            ),
            (
                "field lines combine",
                p(),
                r().h("X-Device", "a").h("X-Device", "b"),
                r().h("X-Device", "a, b"),
                true,
            ),
            (
                "field line order kept",
                p(),
                r().h("X-Device", "a").h("X-Device", "b"),
                r().h("X-Device", "b").h("X-Device", "a"),
                false,
            ),
            (
                "field lines vs first only",
                p(),
                r().h("X-Device", "a").h("X-Device", "b"),
                r().h("X-Device", "a"),
                false,
            ),
            (
                "value moved between headers",
                p(),
                r().h("Accept-Language", "x"),
                r().h("X-Device", "x"),
                false,
            ),
            (
                "host unlisted",
                p(),
                r().h("Host", "a.example"),
                r().h("Host", "b.example"),
                true,
            ),
            (
                "host listed",
                headers(&["Host"]),
                r().h("Host", "a.example"),
                r().h("Host", "b.example"),
                false,
            ),
            (
                "host listed, same",
                headers(&["Host"]),
                r().h("Host", "a.example"),
                r().h("host", "a.example"),
                true,
            ),
            (
                "cookie listed as header joins with ;",
                headers(&["Cookie"]),
                r().h("Cookie", "a=1").h("Cookie", "b=2"),
                r().h("Cookie", "a=1; b=2"),
                true,
            ),
            (
                "wildcard is no header",
                headers(&["*"]),
                r().h("X", "1"),
                r().h("X", "2"),
                true,
            ),
        ]);
    }

    #[test]
    fn header_names_lowercase_without_limit() {
        let long = format!("X-{}", "Ab".repeat(100));
        let p = headers(&[long.as_str()]);
        let a = req("/").h(&long.to_ascii_lowercase(), "1");
        let b = req("/").h(&long, "2");
        assert_ne!(primary_key("E", &p, &a), primary_key("E", &p, &b));
        assert_eq!(
            primary_key("E", &p, &a),
            primary_key("E", &p, &req("/").h(&long, "1"))
        );
        with_lowercase("Accept-Language", |l| assert_eq!(l, "accept-language"));
        with_lowercase("x-already", |l| assert_eq!(l, "x-already"));
        with_lowercase(&long, |l| assert_eq!(l, long.to_ascii_lowercase()));
    }

    // ------------------------------------------------------------ cookies

    #[test]
    fn cookie_pairs_by_behavior() {
        use CookieBehavior as C;
        let r = || req("/a");
        check_pairs(&[
            // whitelist
            (
                "wl: listed equal",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "session=1; x=1"),
                r().h("Cookie", "x=2; session=1"),
                true,
            ),
            (
                "wl: listed differs",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "session=1"),
                r().h("Cookie", "session=2"),
                false,
            ),
            (
                "wl: value case",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "session=a"),
                r().h("Cookie", "session=A"),
                false,
            ),
            (
                "wl: name case means unlisted",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "Session=1"),
                r(),
                true,
            ),
            (
                "wl: absent vs unlisted only",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "x=1"),
                r(),
                true,
            ),
            (
                "wl: present vs absent",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "session=1"),
                r(),
                false,
            ),
            (
                "wl: empty value vs absent",
                cookies(C::Whitelist, &["session"]),
                r().h("Cookie", "session="),
                r(),
                false,
            ),
            (
                "wl: order of listed ignored",
                cookies(C::Whitelist, &["a", "b"]),
                r().h("Cookie", "a=1; b=2"),
                r().h("Cookie", "b=2; a=1"),
                true,
            ),
            (
                "wl: split across headers",
                cookies(C::Whitelist, &["a", "b"]),
                r().h("Cookie", "a=1").h("Cookie", "b=2"),
                r().h("Cookie", "b=2; a=1"),
                true,
            ),
            (
                "wl: spacing ignored",
                cookies(C::Whitelist, &["a", "b"]),
                r().h("Cookie", "a=1;b=2"),
                r().h("Cookie", " a = 1 ;\tb=2 ; "),
                true,
            ),
            (
                "wl: duplicates order kept",
                cookies(C::Whitelist, &["a"]),
                r().h("Cookie", "a=1; a=2"),
                r().h("Cookie", "a=2; a=1"),
                false,
            ),
            (
                "wl: duplicate vs single",
                cookies(C::Whitelist, &["a"]),
                r().h("Cookie", "a=1; a=1"),
                r().h("Cookie", "a=1"),
                false,
            ),
            (
                "wl: star wildcard",
                cookies(C::Whitelist, &["userid_*"]),
                r().h("Cookie", "userid_42=x"),
                r().h("Cookie", "userid_42=y"),
                false,
            ),
            (
                "wl: star wildcard other ignored",
                cookies(C::Whitelist, &["userid_*"]),
                r().h("Cookie", "user_42=x"),
                r().h("Cookie", "user_42=y"),
                true,
            ),
            (
                "wl: question wildcard",
                cookies(C::Whitelist, &["v?"]),
                r().h("Cookie", "v1=x"),
                r().h("Cookie", "v1=y"),
                false,
            ),
            (
                "wl: question wildcard needs one",
                cookies(C::Whitelist, &["v?"]),
                r().h("Cookie", "v12=x"),
                r().h("Cookie", "v12=y"),
                true,
            ),
            (
                "wl: pair without = dropped",
                cookies(C::Whitelist, &["a"]),
                r().h("Cookie", "a; b=1"),
                r(),
                true,
            ),
            (
                "wl: comma is no separator",
                cookies(C::Whitelist, &["a"]),
                r().h("Cookie", "a=1, b=2"),
                r().h("Cookie", "a=1"),
                false,
            ),
            // allExcept
            (
                "ae: excluded ignored",
                cookies(C::AllExcept, &["_ga"]),
                r().h("Cookie", "_ga=1; s=1"),
                r().h("Cookie", "s=1; _ga=2"),
                true,
            ),
            (
                "ae: other differs",
                cookies(C::AllExcept, &["_ga"]),
                r().h("Cookie", "s=1"),
                r().h("Cookie", "s=2"),
                false,
            ),
            (
                "ae: wildcard exclusion",
                cookies(C::AllExcept, &["_g*"]),
                r().h("Cookie", "_gid=1; s=1"),
                r().h("Cookie", "s=1"),
                true,
            ),
            (
                "ae: only excluded vs none",
                cookies(C::AllExcept, &["_ga"]),
                r().h("Cookie", "_ga=1"),
                r(),
                true,
            ),
            // all
            (
                "all: any differs",
                cookies(C::All, &[]),
                r().h("Cookie", "x=1"),
                r().h("Cookie", "x=2"),
                false,
            ),
            (
                "all: order ignored",
                cookies(C::All, &[]),
                r().h("Cookie", "b=2; a=1; c=3"),
                r().h("Cookie", "a=1; c=3; b=2"),
                true,
            ),
            (
                "all: name case kept",
                cookies(C::All, &[]),
                r().h("Cookie", "a=1"),
                r().h("Cookie", "A=1"),
                false,
            ),
            (
                "all: value vs name move",
                cookies(C::All, &[]),
                r().h("Cookie", "ab=c"),
                r().h("Cookie", "a=bc"),
                false,
            ),
            (
                "all: empty cookie header vs none",
                cookies(C::All, &[]),
                r().h("Cookie", ""),
                r(),
                true,
            ),
            (
                "all: garbage only vs none",
                cookies(C::All, &[]),
                r().h("Cookie", "junk; =x"),
                r(),
                true,
            ),
        ]);
    }

    #[test]
    fn many_cookies_spill_to_the_heap() {
        let forward: Vec<String> = (0..40).map(|i| format!("c{i:02}={i}")).collect();
        let backward: Vec<String> = forward.iter().rev().cloned().collect();
        let p = cookies(CookieBehavior::All, &[]);
        let a = req("/").h("Cookie", &forward.join("; "));
        let b = req("/").h("Cookie", &backward.join("; "));
        assert_eq!(primary_key("E", &p, &a), primary_key("E", &p, &b));
        let mut changed = forward.clone();
        changed[39] = "c39=x".into();
        let c = req("/").h("Cookie", &changed.join("; "));
        assert_ne!(primary_key("E", &p, &a), primary_key("E", &p, &c));
        let refs: Vec<&str> = backward.iter().map(String::as_str).collect();
        assert_eq!(
            selected_cookies(&p.cookies, &refs).as_deref(),
            Some(forward.join("; ").as_str())
        );
    }

    #[test]
    fn selected_cookies_table() {
        use CookieBehavior as C;
        let cases: &[CookieCase] = &[
            (C::None, &[], &["a=1"], None),
            (C::All, &[], &[], None),
            (C::All, &[], &[""], None),
            (C::All, &[], &["b=2; a=1"], Some("a=1; b=2")),
            (C::All, &[], &["b=2", "a=1"], Some("a=1; b=2")),
            (C::All, &[], &["a=2; a=1"], Some("a=2; a=1")),
            (C::All, &[], &["B=1; a=1"], Some("B=1; a=1")),
            (C::All, &[], &[" a = 1 ;b=\"q v\";"], Some("a=1; b=\"q v\"")),
            (C::All, &[], &["a=b=c"], Some("a=b=c")),
            (C::All, &[], &["flag; =v; x=1"], Some("x=1")),
            (C::All, &[], &["a="], Some("a=")),
            (C::Whitelist, &["a"], &["b=2; a=1"], Some("a=1")),
            (C::Whitelist, &["a"], &["A=1"], None),
            (C::Whitelist, &["c"], &["a=1; b=2"], None),
            (
                C::Whitelist,
                &["b", "a"],
                &["c=3; b=2; a=1"],
                Some("a=1; b=2"),
            ),
            (
                C::Whitelist,
                &["s*"],
                &["sess=1; x=2; s=3"],
                Some("s=3; sess=1"),
            ),
            (
                C::Whitelist,
                &["*_id"],
                &["user_id=1; id=2"],
                Some("user_id=1"),
            ),
            (
                C::Whitelist,
                &["a?c"],
                &["abc=1; ac=2; abbc=3"],
                Some("abc=1"),
            ),
            (C::AllExcept, &["a"], &["b=2; a=1"], Some("b=2")),
            (C::AllExcept, &["a"], &["a=1"], None),
            (C::AllExcept, &["_*"], &["_ga=1; z=2; _gid=3"], Some("z=2")),
            (C::AllExcept, &[], &["b=2; a=1"], Some("a=1; b=2")),
        ];
        for (behavior, names, headers, want) in cases {
            let config = cookie_config(*behavior, names);
            assert_eq!(
                selected_cookies(&config, headers).as_deref(),
                *want,
                "{behavior:?} {names:?} {headers:?}"
            );
        }
    }

    #[test]
    fn glob_table() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ABC", false),
            ("*", "", true),
            ("*", "anything", true),
            ("a*", "a", true),
            ("a*", "ab", true),
            ("a*", "ba", false),
            ("*a", "ba", true),
            ("*a*", "bab", true),
            ("*a*", "bbb", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a*b", "abab", true),
            ("?", "", false),
            ("?", "x", true),
            ("?", "é", true),
            ("?", "xy", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("**", "x", true),
            ("*?", "", false),
            ("*?", "x", true),
            ("userid_*", "userid_", true),
            ("userid_*", "userid", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(glob_matches(pattern, name), want, "{pattern:?} ~ {name:?}");
        }
    }

    // ------------------------------------------------------------ query strings

    #[test]
    fn query_pairs_by_behavior() {
        use QueryStringBehavior as Q;
        let r = || req("/a");
        check_pairs(&[
            // whitelist
            (
                "wl: listed equal",
                queries(Q::Whitelist, &["color"]),
                r().q("color=red&size=l"),
                r().q("size=m&color=red"),
                true,
            ),
            (
                "wl: listed differs",
                queries(Q::Whitelist, &["color"]),
                r().q("color=red"),
                r().q("color=blue"),
                false,
            ),
            (
                "wl: value case",
                queries(Q::Whitelist, &["color"]),
                r().q("color=red"),
                r().q("color=Red"),
                false,
            ),
            (
                "wl: name case means unlisted",
                queries(Q::Whitelist, &["color"]),
                r().q("Color=red"),
                r(),
                true,
            ),
            (
                "wl: unlisted only vs none",
                queries(Q::Whitelist, &["color"]),
                r().q("size=l"),
                r(),
                true,
            ),
            (
                "wl: order of listed kept",
                queries(Q::Whitelist, &["a", "b"]),
                r().q("a=1&b=2"),
                r().q("b=2&a=1"),
                false,
            ),
            (
                "wl: duplicates kept",
                queries(Q::Whitelist, &["a"]),
                r().q("a=1&a=2"),
                r().q("a=1"),
                false,
            ),
            (
                "wl: duplicate order kept",
                queries(Q::Whitelist, &["a"]),
                r().q("a=1&a=2"),
                r().q("a=2&a=1"),
                false,
            ),
            (
                "wl: semicolon is no separator",
                queries(Q::Whitelist, &["color"]),
                r().q("color=red;size=large"),
                r().q("color=red"),
                false,
            ),
            (
                "wl: semicolon hides name",
                queries(Q::Whitelist, &["color"]),
                r().q("size=large;color=red"),
                r(),
                true,
            ),
            (
                "wl: empty segments ignored",
                queries(Q::Whitelist, &["a", "b"]),
                r().q("a=1&&b=2&"),
                r().q("a=1&b=2"),
                true,
            ),
            (
                "wl: flag vs empty value",
                queries(Q::Whitelist, &["a"]),
                r().q("a"),
                r().q("a="),
                false,
            ),
            (
                "wl: no decoding",
                queries(Q::Whitelist, &["a b"]),
                r().q("a%20b=1"),
                r(),
                true,
            ),
            // allExcept
            (
                "ae: excluded ignored",
                queries(Q::AllExcept, &["utm"]),
                r().q("id=1&utm=x"),
                r().q("id=1&utm=y"),
                true,
            ),
            (
                "ae: excluded removed",
                queries(Q::AllExcept, &["utm"]),
                r().q("utm=x&id=1"),
                r().q("id=1"),
                true,
            ),
            (
                "ae: other differs",
                queries(Q::AllExcept, &["utm"]),
                r().q("id=1"),
                r().q("id=2"),
                false,
            ),
            (
                "ae: order kept",
                queries(Q::AllExcept, &["utm"]),
                r().q("a=1&b=2"),
                r().q("b=2&a=1"),
                false,
            ),
            (
                "ae: only excluded vs none",
                queries(Q::AllExcept, &["utm"]),
                r().q("utm=1"),
                r(),
                true,
            ),
            // all
            (
                "all: identical",
                queries(Q::All, &[]),
                r().q("a=1&b=2"),
                r().q("a=1&b=2"),
                true,
            ),
            (
                "all: order kept",
                queries(Q::All, &[]),
                r().q("a=1&b=2"),
                r().q("b=2&a=1"),
                false,
            ),
            (
                "all: name case",
                queries(Q::All, &[]),
                r().q("color=red"),
                r().q("Color=red"),
                false,
            ),
            (
                "all: value case",
                queries(Q::All, &[]),
                r().q("color=red"),
                r().q("color=Red"),
                false,
            ),
            (
                "all: present vs none",
                queries(Q::All, &[]),
                r().q("a=1"),
                r(),
                false,
            ),
            (
                "all: empty vs none",
                queries(Q::All, &[]),
                r().q(""),
                r(),
                true,
            ),
            (
                "all: raw, unnormalised",
                queries(Q::All, &[]),
                r().q("a=1&&b=2"),
                r().q("a=1&b=2"),
                false,
            ),
        ]);
    }

    #[test]
    fn selected_query_table() {
        use QueryStringBehavior as Q;
        let cases: &[QueryCase] = &[
            (Q::None, &[], Some("a=1"), None),
            (Q::None, &["a"], Some("a=1"), None),
            (Q::All, &[], None, None),
            (Q::All, &[], Some(""), None),
            (Q::All, &[], Some("b=2&a=1"), Some("b=2&a=1")),
            (Q::All, &[], Some("a=1&&b"), Some("a=1&&b")),
            (Q::Whitelist, &["a"], None, None),
            (Q::Whitelist, &["a"], Some(""), None),
            (Q::Whitelist, &["a"], Some("b=2"), None),
            (Q::Whitelist, &["a"], Some("b=2&a=1"), Some("a=1")),
            (
                Q::Whitelist,
                &["a", "b"],
                Some("c=3&b=2&a=1"),
                Some("b=2&a=1"),
            ),
            (Q::Whitelist, &["a"], Some("a=1&a=2"), Some("a=1&a=2")),
            (Q::Whitelist, &["a"], Some("A=1"), None),
            (Q::Whitelist, &["a"], Some("a"), Some("a")),
            (Q::Whitelist, &["a"], Some("a=&b"), Some("a=")),
            (Q::Whitelist, &["a"], Some("a=x=y"), Some("a=x=y")),
            (Q::Whitelist, &["a"], Some("&&a=1&&"), Some("a=1")),
            (Q::Whitelist, &["a"], Some("a=1;b=2"), Some("a=1;b=2")),
            (Q::Whitelist, &["a"], Some("a%3D=1"), None),
            (Q::Whitelist, &["a+b"], Some("a+b=1"), Some("a+b=1")),
            (Q::AllExcept, &["a"], Some("b=2&a=1&c=3"), Some("b=2&c=3")),
            (Q::AllExcept, &["a"], Some("a=1"), None),
            (Q::AllExcept, &["a"], Some("A=1"), Some("A=1")),
            (Q::AllExcept, &[], Some("b&&a=1"), Some("b&a=1")),
            (Q::AllExcept, &["a"], Some("=x&a"), Some("=x")),
        ];
        for (behavior, names, query, want) in cases {
            assert_eq!(
                selected_query(*behavior, &strings(names), *query).as_deref(),
                *want,
                "{behavior:?} {names:?} {query:?}"
            );
        }
    }

    // ------------------------------------------------------------ Accept-Encoding

    #[test]
    fn accept_encoding_table() {
        // (gzip enabled, brotli enabled, viewer header, normalised)
        let cases: &[(bool, bool, Option<&str>, Option<&str>)] = &[
            (false, false, Some("gzip, br"), None),
            (false, false, None, None),
            (true, true, None, None),
            (true, true, Some(""), None),
            (true, true, Some("gzip, deflate, br"), Some("br,gzip")),
            (true, true, Some("br,gzip"), Some("br,gzip")),
            (true, true, Some("gzip"), Some("gzip")),
            (true, true, Some("br"), Some("br")),
            (true, true, Some("deflate"), None),
            (true, true, Some("identity"), None),
            (true, true, Some("*"), None),
            (true, true, Some("x-gzip"), None),
            (true, true, Some("gzip2, abr"), None),
            (true, true, Some("GZIP, Br"), Some("br,gzip")),
            (
                true,
                true,
                Some(" gzip ;q=1.0 ,\tbr;q=0.5"),
                Some("br,gzip"),
            ),
            (true, true, Some("gzip;q=0, br"), Some("br")),
            (true, true, Some("gzip, br;q=0"), Some("gzip")),
            (true, true, Some("gzip; Q = 0.000 , br;q=0.0"), None),
            (true, true, Some("gzip;q=0."), None),
            (true, true, Some("gzip;q=0.001"), Some("gzip")),
            (true, true, Some("gzip;q=0.0000"), Some("gzip")),
            (true, true, Some("gzip;q=junk"), Some("gzip")),
            (true, true, Some("gzip;level=0"), Some("gzip")),
            (true, true, Some("gzip;q=0, gzip"), Some("gzip")),
            (true, false, Some("gzip, br"), Some("gzip")),
            (true, false, Some("br"), None),
            (true, false, Some("gzip"), Some("gzip")),
            (false, true, Some("gzip, br"), Some("br")),
            (false, true, Some("gzip"), None),
            (false, true, Some("br;q=0"), None),
        ];
        for (gzip, brotli, header, want) in cases {
            assert_eq!(
                normalized_accept_encoding(&encodings(*gzip, *brotli), *header),
                *want,
                "gzip={gzip} br={brotli} {header:?}"
            );
        }
    }

    #[test]
    fn accept_encoding_pairs() {
        let r = || req("/a");
        let both = || encodings(true, true);
        check_pairs(&[
            (
                "both: same normalised",
                both(),
                r().h("Accept-Encoding", "gzip, deflate, br"),
                r().h("Accept-Encoding", "br, gzip"),
                true,
            ),
            (
                "both: gzip vs both",
                both(),
                r().h("Accept-Encoding", "gzip"),
                r().h("Accept-Encoding", "gzip, br"),
                false,
            ),
            (
                "both: gzip vs br",
                both(),
                r().h("Accept-Encoding", "gzip"),
                r().h("Accept-Encoding", "br"),
                false,
            ),
            (
                "both: deflate vs none",
                both(),
                r().h("Accept-Encoding", "deflate"),
                r(),
                true,
            ),
            (
                "both: gzip vs none",
                both(),
                r().h("Accept-Encoding", "gzip"),
                r(),
                false,
            ),
            (
                "both: split field lines",
                both(),
                r().h("Accept-Encoding", "gzip").h("Accept-Encoding", "br"),
                r().h("Accept-Encoding", "br,gzip"),
                true,
            ),
            (
                "gzip only: br ignored",
                encodings(true, false),
                r().h("Accept-Encoding", "gzip, br"),
                r().h("Accept-Encoding", "gzip"),
                true,
            ),
            (
                "gzip only: br alone vs none",
                encodings(true, false),
                r().h("Accept-Encoding", "br"),
                r(),
                true,
            ),
            (
                "br only: gzip ignored",
                encodings(false, true),
                r().h("Accept-Encoding", "gzip, br"),
                r().h("Accept-Encoding", "br"),
                true,
            ),
            (
                "neither: not in key",
                encodings(false, false),
                r().h("Accept-Encoding", "gzip"),
                r().h("Accept-Encoding", "br"),
                true,
            ),
        ]);
    }

    // ------------------------------------------------------------ framing

    /// What a request means to a policy, computed the slow, obvious way.
    fn meaning(dist: &str, policy: &CachePolicy, r: &Req) -> String {
        let header_values = |lower: &str| -> Vec<&str> {
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(lower))
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let listed: Vec<(String, Option<String>)> = match policy.headers.header_behavior {
            CacheHeaderBehavior::None => vec![],
            CacheHeaderBehavior::Whitelist => policy
                .headers
                .headers
                .iter()
                .map(|n| {
                    let lower = n.to_ascii_lowercase();
                    let values = header_values(&lower);
                    let joined = (!values.is_empty()).then(|| values.join(", "));
                    (lower, joined)
                })
                .collect(),
        };
        let cookie_headers = header_values("cookie");
        let encodings = header_values("accept-encoding").join(",");
        format!(
            "{:?}",
            (
                dist,
                &r.path,
                r.options,
                listed,
                selected_cookies(&policy.cookies, &cookie_headers),
                selected_query(
                    policy.query_strings.query_string_behavior,
                    &policy.query_strings.query_strings,
                    r.query.as_deref()
                ),
                normalized_accept_encoding(policy, Some(&encodings)),
            )
        )
    }

    /// Keys every combination of awkward inputs (values that contain the tags, forged length prefixes,
    /// separators) and checks that keys and meanings correspond one to one: no two meanings share a key
    /// (a framing collision) and no meaning gets two keys.
    fn check_framing(policy: &CachePolicy) {
        let dists: &[&str] = &["E", "EP", "E\x02\0\0\0"];
        let paths: &[&str] = &["", "/", "/P", "/O", "P/"];
        let xa: &[&[&str]] = &[&[], &[""], &["1"], &["1", "2"], &["1, 2"], &["v\x01\0\0\0"]];
        let xb: &[&[&str]] = &[&[], &["1"], &["-"], &["1E\x04\0\0\0gzip"]];
        let cookies: &[Option<&str>] = &[
            None,
            Some("a=1"),
            Some("a=1; b=2"),
            Some("b=2;a=1"),
            Some("ab="),
            Some("a=1C"),
        ];
        let queries: &[Option<&str>] = &[
            None,
            Some(""),
            Some("a=1"),
            Some("b=2&a=1"),
            Some("Q"),
            Some("a=1E\x04\0\0\0gzip"),
        ];
        let encodings: &[Option<&str>] = &[None, Some("gzip"), Some("br, gzip")];
        let radix = [
            dists.len(),
            paths.len(),
            xa.len(),
            xb.len(),
            cookies.len(),
            queries.len(),
            encodings.len(),
            2,
        ];
        let total: usize = radix.iter().product();
        let mut by_key: HashMap<Vec<u8>, String> = HashMap::new();
        let mut by_meaning: HashMap<String, Vec<u8>> = HashMap::new();
        for n in 0..total {
            let mut digit = [0; 8];
            let mut rest = n;
            for (d, r) in digit.iter_mut().zip(radix) {
                *d = rest % r;
                rest /= r;
            }
            let dist = dists[digit[0]];
            let mut r = req(paths[digit[1]]);
            for v in xa[digit[2]] {
                r = r.h("X-A", v);
            }
            for v in xb[digit[3]] {
                r = r.h("x-b", v);
            }
            if let Some(c) = cookies[digit[4]] {
                r = r.h("Cookie", c);
            }
            r.query = queries[digit[5]].map(str::to_owned);
            if let Some(e) = encodings[digit[6]] {
                r = r.h("Accept-Encoding", e);
            }
            r.options = digit[7] == 1;
            let key = primary_key(dist, policy, &r);
            let meaning = meaning(dist, policy, &r);
            if let Some(old) = by_key.insert(key.clone(), meaning.clone()) {
                assert_eq!(
                    old,
                    meaning,
                    "collision on {:?}",
                    String::from_utf8_lossy(&key)
                );
            }
            if let Some(old) = by_meaning.insert(meaning.clone(), key.clone()) {
                assert_eq!(old, key, "two keys for {meaning}");
            }
        }
        assert_eq!(by_key.len(), by_meaning.len());
        assert!(by_key.len() > 300, "{} keys", by_key.len());
    }

    #[test]
    fn framing_is_injective_everything_keyed() {
        check_framing(&CachePolicy {
            gzip: true,
            brotli: true,
            headers: spec::CacheHeadersConfig {
                header_behavior: CacheHeaderBehavior::Whitelist,
                headers: strings(&["x-a", "X-B"]),
            },
            cookies: cookie_config(CookieBehavior::All, &[]),
            query_strings: spec::QueryStringsConfig {
                query_string_behavior: QueryStringBehavior::All,
                query_strings: vec![],
            },
            ..base()
        });
    }

    #[test]
    fn framing_is_injective_selections() {
        check_framing(&CachePolicy {
            gzip: true,
            brotli: false,
            headers: spec::CacheHeadersConfig {
                header_behavior: CacheHeaderBehavior::Whitelist,
                headers: strings(&["X-B"]),
            },
            cookies: cookie_config(CookieBehavior::Whitelist, &["a"]),
            query_strings: spec::QueryStringsConfig {
                query_string_behavior: QueryStringBehavior::AllExcept,
                query_strings: strings(&["b"]),
            },
            ..base()
        });
        check_framing(&CachePolicy {
            cookies: cookie_config(CookieBehavior::AllExcept, &["b"]),
            query_strings: spec::QueryStringsConfig {
                query_string_behavior: QueryStringBehavior::Whitelist,
                query_strings: strings(&["a"]),
            },
            ..base()
        });
    }

    #[test]
    fn framing_collisions_by_hand() {
        let all = CachePolicy {
            headers: spec::CacheHeadersConfig {
                header_behavior: CacheHeaderBehavior::Whitelist,
                headers: strings(&["X-A", "X-B"]),
            },
            cookies: cookie_config(CookieBehavior::All, &[]),
            query_strings: spec::QueryStringsConfig {
                query_string_behavior: QueryStringBehavior::All,
                query_strings: vec![],
            },
            ..base()
        };
        let k = |dist: &str, r: &Req| primary_key(dist, &all, r);
        // The distribution id and the path cannot trade bytes.
        assert_ne!(k("Ea", &req("/b")), k("E", &req("a/b")));
        // A header value cannot spill into the next header.
        assert_ne!(
            k("E", &req("/").h("X-A", "1").h("X-B", "")),
            k("E", &req("/").h("X-A", "").h("X-B", "1"))
        );
        assert_ne!(
            k("E", &req("/").h("X-A", "1\x01\0\0\0v2")),
            k("E", &req("/").h("X-A", "1").h("X-B", "2"))
        );
        // Absent is not the same as the absent marker as a value.
        assert_ne!(k("E", &req("/")), k("E", &req("/").h("X-A", "-")));
        // A cookie value cannot become a cookie name, nor a query.
        assert_ne!(
            k("E", &req("/").h("Cookie", "a=b")),
            k("E", &req("/").h("Cookie", "ab="))
        );
        assert_ne!(
            k("E", &req("/").h("Cookie", "a=1")),
            k("E", &req("/").q("a=1"))
        );
        // The path cannot absorb the query.
        assert_ne!(k("E", &req("/a").q("b")), k("E", &req("/a?b")));
    }
}
