//! ALB's HTTP desync mitigation (`routing.http.desync_mitigation_mode`): classifies an HTTP/1.x
//! request head as Compliant, Acceptable, Ambiguous or Severe with the rules and reason names of
//! AWS's open-source http_desync_guardian, and says what the load balancer does with a request of
//! each classification in each mode (the ALB user guide's "Desync mitigation mode" table).
//!
//! Written from http_desync_guardian's documentation (`docs/README.md`: the classification
//! reasons) and its test corpus (`tests/*.yaml`: one request per rule with the expected tier and
//! reason), and from the ALB user guide (the mode table, and the access-log `classification_reason`
//! codes); no code is taken from the library. Where ferry departs from the library the rule says
//! so with "ferry:".
//!
//! The analysis runs in the library's order — each header (its characters, empty names, names
//! that normalise to `Transfer-Encoding`/`Content-Length`), then message framing
//! (`Transfer-Encoding`, `Content-Length`, GET/HEAD bodies, both present), then the method, the
//! version and the URI — and the verdict is the first reason found at the highest tier.
//!
//! | Reason | Tier | Rule |
//! |---|---|---|
//! | `NonCompliantHeader` | Acceptable | a header name with a non-`tchar`, or a value with a control character (not HTAB) or DEL |
//! | `SpaceInUri` | Acceptable | an unescaped space in the URI |
//! | `NonCompliantVersion` | Acceptable | HTTP/0.9 (or no version), HTTP/1.2–1.9, or whitespace around the version |
//! | `GetHeadZeroContentLength` | Acceptable | GET or HEAD with `Content-Length: 0` |
//! | `NonCrLfLineTermination` | Acceptable | ([`classify_head`] only) a line ended by a bare LF |
//! | `EmptyHeader` | Ambiguous | a header name that is empty, only whitespace, or starts with `:` |
//! | `SuspiciousHeader` | Ambiguous | a name that normalises to `Transfer-Encoding`/`Content-Length` (case, whitespace, control or non-ASCII bytes around it, any delimiter for `-`, `ſ`/`ı` lookalikes); it then counts as that header for framing |
//! | `MultilineHeader` | Ambiguous | an obs-fold continuation line (a "name" that starts with SP/HTAB), except continuing `Content-Type` |
//! | `AmbiguousUri` | Ambiguous | a control character (other than CR, LF, NUL) or DEL in the URI |
//! | `UndefinedTransferEncodingSemantics` | Ambiguous | `Transfer-Encoding` on GET/HEAD, or on HTTP/1.0 or 0.9 |
//! | `UndefinedContentLengthSemantics` | Ambiguous | a non-zero `Content-Length` on GET/HEAD, or any on HTTP/0.9 |
//! | `DuplicateContentLength` | Ambiguous | several `Content-Length` headers with the same value |
//! | `BothTeClPresent` | Ambiguous | both `Transfer-Encoding` and `Content-Length` |
//! | `MissingUri`, `MissingHeaderColon`, `MissingLastEmptyLine`, `PartialHeaderLine` | Ambiguous | ([`classify_head`] only) the raw head's shape |
//! | `BadHeader` | Severe | NUL, CR or LF in a header name or value (bare CR/LF, a folded value kept raw) |
//! | `BadUri` | Severe | NUL, CR or LF in the URI |
//! | `BadVersion` | Severe | a version that is not `HTTP/1.<digit>` (nor 0.9, nor 2/3) |
//! | `BadMethod` | Severe | a method with a non-`tchar` (ferry: or an empty method) |
//! | `MultipleContentLength` | Severe | `Content-Length` headers with different values |
//! | `BadContentLength` | Severe | a `Content-Length` that is not 1*DIGIT fitting in 64 bits (sign, inner spaces, lists, overflow; ferry: or empty) |
//! | `MultipleTransferEncodingChunked` | Severe | `chunked` applied twice (ferry: anywhere in the list, not only twice in a row) |
//! | `BadTransferEncoding` | Severe | a coding other than chunked/compress/deflate/gzip/identity (an empty list element included); ferry: or `chunked` not the final coding (RFC 7230 §3.3.3: 400 and close) |
//!
//! Versions `HTTP/2` and `HTTP/3` are out of the library's scope and always Compliant; a balancer
//! that downgrades HTTP/2 to HTTP/1.1 classifies the request it sends as `HTTP/1.1`.

/// The tiers, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Classification {
    /// Complies with RFC 7230 and poses no known threat.
    Compliant,
    /// Does not comply with RFC 7230 but poses no known threat.
    Acceptable,
    /// Does not comply with RFC 7230 and servers or proxies could read it differently.
    Ambiguous,
    /// Malformed or crafted to desynchronise parsers.
    Severe,
}

impl Classification {
    /// The name ALB writes in the access log's `classification` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Compliant => "Compliant",
            Classification::Acceptable => "Acceptable",
            Classification::Ambiguous => "Ambiguous",
            Classification::Severe => "Severe",
        }
    }
}

/// A classification and the reason for it, named as http_desync_guardian names its reasons
/// (see [`reason`]); `"Compliant"` for a compliant request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The tier.
    pub classification: Classification,
    /// The first reason found at that tier.
    pub reason: &'static str,
}

impl Verdict {
    /// A compliant request.
    pub const COMPLIANT: Verdict = Verdict {
        classification: Classification::Compliant,
        reason: reason::COMPLIANT,
    };
}

/// The classification reasons, as http_desync_guardian and ALB's access logs name them.
pub mod reason {
    /// No rule matched.
    pub const COMPLIANT: &str = "Compliant";
    /// Acceptable: a header with a non-token name byte or a control byte in its value.
    pub const NON_COMPLIANT_HEADER: &str = "NonCompliantHeader";
    /// Acceptable: an unescaped space in the URI.
    pub const SPACE_IN_URI: &str = "SpaceInUri";
    /// Acceptable: HTTP/0.9, HTTP/1.2–1.9, or whitespace around the version.
    pub const NON_COMPLIANT_VERSION: &str = "NonCompliantVersion";
    /// Acceptable: GET or HEAD with `Content-Length: 0`.
    pub const GET_HEAD_ZERO_CONTENT_LENGTH: &str = "GetHeadZeroContentLength";
    /// Acceptable: a line of the raw head ended by a bare LF.
    pub const NON_CRLF_LINE_TERMINATION: &str = "NonCrLfLineTermination";
    /// Ambiguous: an empty or whitespace-only header name, or one starting with `:`.
    pub const EMPTY_HEADER: &str = "EmptyHeader";
    /// Ambiguous: control characters in the URI.
    pub const AMBIGUOUS_URI: &str = "AmbiguousUri";
    /// Ambiguous: `Content-Length` on GET/HEAD (non-zero) or HTTP/0.9.
    pub const UNDEFINED_CONTENT_LENGTH_SEMANTICS: &str = "UndefinedContentLengthSemantics";
    /// Ambiguous: `Transfer-Encoding` on GET/HEAD or before HTTP/1.1.
    pub const UNDEFINED_TRANSFER_ENCODING_SEMANTICS: &str = "UndefinedTransferEncodingSemantics";
    /// Ambiguous: `Content-Length` repeated with the same value.
    pub const DUPLICATE_CONTENT_LENGTH: &str = "DuplicateContentLength";
    /// Ambiguous: both `Transfer-Encoding` and `Content-Length`.
    pub const BOTH_TE_CL_PRESENT: &str = "BothTeClPresent";
    /// Ambiguous: a name that normalises to `Transfer-Encoding` or `Content-Length`.
    pub const SUSPICIOUS_HEADER: &str = "SuspiciousHeader";
    /// Ambiguous: an obs-fold continuation line (other than `Content-Type`'s).
    pub const MULTILINE_HEADER: &str = "MultilineHeader";
    /// Ambiguous: a raw header line without a colon.
    pub const MISSING_HEADER_COLON: &str = "MissingHeaderColon";
    /// Ambiguous: a raw request line without a URI.
    pub const MISSING_URI: &str = "MissingUri";
    /// Ambiguous: a raw head without the empty line that ends it.
    pub const MISSING_LAST_EMPTY_LINE: &str = "MissingLastEmptyLine";
    /// Ambiguous: a raw head whose last line is not terminated.
    pub const PARTIAL_HEADER_LINE: &str = "PartialHeaderLine";
    /// Severe: NUL, CR or LF in a header.
    pub const BAD_HEADER: &str = "BadHeader";
    /// Severe: NUL, CR or LF in the URI.
    pub const BAD_URI: &str = "BadUri";
    /// Severe: a malformed version.
    pub const BAD_VERSION: &str = "BadVersion";
    /// Severe: a malformed method.
    pub const BAD_METHOD: &str = "BadMethod";
    /// Severe: `Content-Length` headers with different values.
    pub const MULTIPLE_CONTENT_LENGTH: &str = "MultipleContentLength";
    /// Severe: an unparseable `Content-Length`.
    pub const BAD_CONTENT_LENGTH: &str = "BadContentLength";
    /// Severe: `chunked` applied more than once.
    pub const MULTIPLE_TRANSFER_ENCODING_CHUNKED: &str = "MultipleTransferEncodingChunked";
    /// Severe: an unknown transfer coding, or `chunked` not last.
    pub const BAD_TRANSFER_ENCODING: &str = "BadTransferEncoding";
}

/// Classifies a request head. `headers` are (name, raw value bytes) as received, in order, names
/// as sent (case preserved).
pub fn classify(method: &str, uri: &str, version: &str, headers: &[(&str, &[u8])]) -> Verdict {
    analyse(
        Tally::default(),
        method.as_bytes(),
        uri.as_bytes(),
        version.as_bytes(),
        headers,
    )
}

/// Classifies a raw request head (the bytes up to and including the empty line; anything after it
/// is ignored), adding the rules only a raw head can break: bare-LF line ends, obs-fold
/// continuation lines, header lines without a colon, a missing URI, a missing final empty line.
/// Empty lines before the request line are skipped (RFC 7230 §3.5). This is the entry point for a
/// balancer that has the head as received (pingora's `Session::to_h1_raw`), which matters because
/// pingora drops `Content-Length` from the parsed header when `Transfer-Encoding` is present.
pub fn classify_head(head: &[u8]) -> Verdict {
    const NOTHING: &[u8] = b"";
    let mut tally = Tally::default();
    let mut lines = Lines(head);
    let request_line = loop {
        match lines.next() {
            Some(line) if line.text.is_empty() => continue,
            other => break other,
        }
    };
    let Some(request_line) = request_line else {
        tally.raise(Classification::Ambiguous, reason::MISSING_URI);
        return analyse::<&[u8]>(tally, NOTHING, NOTHING, NOTHING, &[]);
    };
    tally.note_ending(request_line.ending);
    let text = request_line.text;
    let (method, uri, version) = match text.iter().position(|&b| b == b' ') {
        None => {
            tally.raise(Classification::Ambiguous, reason::MISSING_URI);
            (text, NOTHING, NOTHING)
        }
        Some(first) => {
            let (method, rest) = (&text[..first], &text[first + 1..]);
            match rest.iter().rposition(|&b| b == b' ') {
                Some(last) => (method, &rest[..last], &rest[last + 1..]),
                None if rest.starts_with(b"HTTP/") => {
                    tally.raise(Classification::Ambiguous, reason::MISSING_URI);
                    (method, NOTHING, rest)
                }
                // `GET /`: an HTTP/0.9 simple request.
                None => (method, rest, NOTHING),
            }
        }
    };

    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    let mut ended = false;
    for line in lines {
        tally.note_ending(line.ending);
        if line.text.is_empty() {
            ended = true;
            break;
        }
        let folded = line.text.first().is_some_and(|&b| is_ows(b));
        match line.text.iter().position(|&b| b == b':') {
            Some(colon) => headers.push((&line.text[..colon], trim_ows(&line.text[colon + 1..]))),
            None => {
                if !folded {
                    tally.raise(Classification::Ambiguous, reason::MISSING_HEADER_COLON);
                }
                headers.push((line.text, NOTHING));
            }
        }
    }
    if !ended {
        tally.raise(Classification::Ambiguous, reason::MISSING_LAST_EMPTY_LINE);
    }
    analyse(tally, method, uri, version, &headers)
}

/// `routing.http.desync_mitigation_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Forwards everything; only counts and logs.
    Monitor,
    /// The default: forwards Compliant and Acceptable, forwards Ambiguous then closes both
    /// connections, blocks Severe.
    #[default]
    Defensive,
    /// Forwards only Compliant requests.
    Strictest,
}

impl Mode {
    /// Parses the attribute value (`monitor`, `defensive` or `strictest`, as the ELBv2 API spells
    /// them).
    pub fn parse(attribute_value: &str) -> Option<Mode> {
        match attribute_value {
            "monitor" => Some(Mode::Monitor),
            "defensive" => Some(Mode::Defensive),
            "strictest" => Some(Mode::Strictest),
            _ => None,
        }
    }

    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Monitor => "monitor",
            Mode::Defensive => "defensive",
            Mode::Strictest => "strictest",
        }
    }
}

/// What the load balancer does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Route it.
    Forward,
    /// Route it, but close the front and back connections after this request.
    ForwardAndClose,
    /// Block it: answer 400 and close the client connection.
    Reject,
}

/// What ALB does with a request of this classification in this mode (ALB user guide table:
/// Monitor allows everything; Defensive allows Compliant and Acceptable, allows Ambiguous but
/// closes the client and target connections, blocks Severe; Strictest blocks all but Compliant).
pub fn outcome(mode: Mode, verdict: &Verdict) -> Outcome {
    match (mode, verdict.classification) {
        (Mode::Monitor, _) | (_, Classification::Compliant) => Outcome::Forward,
        (Mode::Defensive, Classification::Acceptable) => Outcome::Forward,
        (Mode::Defensive, Classification::Ambiguous) => Outcome::ForwardAndClose,
        (Mode::Defensive, Classification::Severe) | (Mode::Strictest, _) => Outcome::Reject,
    }
}

// ---------------------------------------------------------------------------------------------
// The analysis.

const TRANSFER_ENCODING: &[u8] = b"transfer-encoding";
const CONTENT_LENGTH: &[u8] = b"content-length";
/// The transfer codings http_desync_guardian accepts (RFC 7230 §4 plus RFC 2616's `identity`).
const CODINGS: [&[u8]; 5] = [b"chunked", b"compress", b"deflate", b"gzip", b"identity"];

/// The verdict so far: raised only to a strictly higher tier, so the first reason at the highest
/// tier stays.
struct Tally(Verdict);

impl Default for Tally {
    fn default() -> Self {
        Tally(Verdict::COMPLIANT)
    }
}

impl Tally {
    fn raise(&mut self, classification: Classification, reason: &'static str) {
        if classification > self.0.classification {
            self.0 = Verdict {
                classification,
                reason,
            };
        }
    }

    fn note_shape(&mut self, shape: Shape) {
        match shape {
            Shape::Clean => {}
            Shape::Odd => self.raise(Classification::Acceptable, reason::NON_COMPLIANT_HEADER),
            Shape::Bad => self.raise(Classification::Severe, reason::BAD_HEADER),
        }
    }

    fn note_ending(&mut self, ending: Ending) {
        match ending {
            Ending::CrLf => {}
            Ending::Lf => self.raise(
                Classification::Acceptable,
                reason::NON_CRLF_LINE_TERMINATION,
            ),
            Ending::Missing => self.raise(Classification::Ambiguous, reason::PARTIAL_HEADER_LINE),
        }
    }
}

/// How far a header's bytes stray from RFC 7230's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Clean,
    /// Outside the grammar but harmless (a control byte, a space in a name, non-ASCII in a name).
    Odd,
    /// NUL, CR or LF: bytes that end or split lines.
    Bad,
}

/// How a header name relates to `Transfer-Encoding` or `Content-Length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Likeness {
    /// The name itself, in any case.
    Same,
    /// Normalises to it.
    Lookalike,
    Unlike,
}

/// The request's version as far as framing rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// HTTP/0.9, written or implied by a missing version.
    Http09,
    Http10,
    /// HTTP/2 and later: out of scope.
    Http2Plus,
    /// HTTP/1.1 and everything else (malformed versions are judged separately).
    Other,
}

impl Era {
    fn of(version: &[u8]) -> Era {
        match trim_ows(version) {
            b"" | b"HTTP/0.9" => Era::Http09,
            b"HTTP/1.0" => Era::Http10,
            b"HTTP/2" | b"HTTP/2.0" | b"HTTP/3" | b"HTTP/3.0" => Era::Http2Plus,
            _ => Era::Other,
        }
    }
}

fn analyse<N: AsRef<[u8]>>(
    mut tally: Tally,
    method: &[u8],
    uri: &[u8],
    version: &[u8],
    headers: &[(N, &[u8])],
) -> Verdict {
    let era = Era::of(version);
    if era == Era::Http2Plus {
        return tally.0;
    }

    // Indexes of the headers that frame the body (the real ones and their lookalikes).
    let mut transfer_encodings = Vec::new();
    let mut content_lengths = Vec::new();
    // Whether an obs-fold line here continues Content-Type (the one header allowed to fold).
    let mut in_content_type = false;
    for (index, (name, value)) in headers.iter().enumerate() {
        let name = name.as_ref();
        let folded = name.first().is_some_and(|&b| is_ows(b));
        if folded && in_content_type {
            tally.note_shape(value_shape(name).max(value_shape(value)));
            continue;
        }
        if !folded {
            in_content_type = name.eq_ignore_ascii_case(b"content-type");
        }
        let shape = name_shape(name).max(value_shape(value));
        tally.note_shape(shape);

        let te = likeness(TRANSFER_ENCODING, name);
        let cl = if te == Likeness::Unlike {
            likeness(CONTENT_LENGTH, name)
        } else {
            Likeness::Unlike
        };
        if trim_ows(name).first().is_none_or(|&b| b == b':') {
            tally.raise(Classification::Ambiguous, reason::EMPTY_HEADER);
        } else if te == Likeness::Same {
            transfer_encodings.push(index);
        } else if cl == Likeness::Same {
            content_lengths.push(index);
        } else if shape != Shape::Bad {
            if te == Likeness::Lookalike {
                transfer_encodings.push(index);
                tally.raise(Classification::Ambiguous, reason::SUSPICIOUS_HEADER);
            } else if cl == Likeness::Lookalike {
                content_lengths.push(index);
                tally.raise(Classification::Ambiguous, reason::SUSPICIOUS_HEADER);
            } else if folded {
                // ferry: the library's raw parser flags obs-fold; given parsed headers, a
                // continuation line shows up as a "name" starting with whitespace.
                tally.raise(Classification::Ambiguous, reason::MULTILINE_HEADER);
            }
        }
    }

    if !transfer_encodings.is_empty() || !content_lengths.is_empty() {
        let values = |indexes: &[usize]| -> Vec<&[u8]> {
            indexes
                .iter()
                .filter_map(|&i| headers.get(i).map(|(_, value)| *value))
                .collect()
        };
        check_framing(
            &mut tally,
            method,
            era,
            &values(&transfer_encodings),
            &values(&content_lengths),
        );
    }
    check_method(&mut tally, method);
    check_version(&mut tally, version);
    check_uri(&mut tally, uri);
    tally.0
}

fn check_framing(
    tally: &mut Tally,
    method: &[u8],
    era: Era,
    transfer_encodings: &[&[u8]],
    content_lengths: &[&[u8]],
) {
    let has_te = !transfer_encodings.is_empty();
    // Before HTTP/1.1 there is no Transfer-Encoding, and HTTP/0.9 has no headers at all: the
    // framing cannot be read, so the other framing rules are moot.
    if has_te && matches!(era, Era::Http09 | Era::Http10) {
        tally.raise(
            Classification::Ambiguous,
            reason::UNDEFINED_TRANSFER_ENCODING_SEMANTICS,
        );
        return;
    }
    if !content_lengths.is_empty() && era == Era::Http09 {
        tally.raise(
            Classification::Ambiguous,
            reason::UNDEFINED_CONTENT_LENGTH_SEMANTICS,
        );
        return;
    }

    if has_te {
        check_transfer_codings(tally, transfer_encodings);
    }
    let length = check_content_lengths(tally, content_lengths);

    // RFC 7231 §4.3: a payload in a GET or HEAD request has no defined semantics.
    if method == b"GET" || method == b"HEAD" {
        if has_te {
            tally.raise(
                Classification::Ambiguous,
                reason::UNDEFINED_TRANSFER_ENCODING_SEMANTICS,
            );
        }
        match length {
            Some(0) => tally.raise(
                Classification::Acceptable,
                reason::GET_HEAD_ZERO_CONTENT_LENGTH,
            ),
            Some(_) => tally.raise(
                Classification::Ambiguous,
                reason::UNDEFINED_CONTENT_LENGTH_SEMANTICS,
            ),
            None => {}
        }
    }
    // RFC 7230 §3.3.3: both present "ought to be handled as an error".
    if has_te && length.is_some() {
        tally.raise(Classification::Ambiguous, reason::BOTH_TE_CL_PRESENT);
    }
}

/// Every coding of every Transfer-Encoding header, in order: each must be known, `chunked` at
/// most once, and (ferry) `chunked` last.
fn check_transfer_codings(tally: &mut Tally, values: &[&[u8]]) {
    let mut chunked_seen = false;
    let mut last_is_chunked = false;
    for value in values {
        for element in value.split(|&b| b == b',') {
            // A coding may carry parameters after `;`.
            let coding = trim_ows(element.split(|&b| b == b';').next().unwrap_or_default());
            let Some(known) = CODINGS.iter().find(|c| coding.eq_ignore_ascii_case(c)) else {
                tally.raise(Classification::Severe, reason::BAD_TRANSFER_ENCODING);
                last_is_chunked = false;
                continue;
            };
            let is_chunked = *known == b"chunked";
            if is_chunked && chunked_seen {
                tally.raise(
                    Classification::Severe,
                    reason::MULTIPLE_TRANSFER_ENCODING_CHUNKED,
                );
            }
            chunked_seen |= is_chunked;
            last_is_chunked = is_chunked;
        }
    }
    if !last_is_chunked {
        // ferry: RFC 7230 §3.3.3 — a request whose final coding is not chunked has no
        // determinable length: 400 and close. (The library accepts `chunked, identity`.)
        tally.raise(Classification::Severe, reason::BAD_TRANSFER_ENCODING);
    }
}

/// The Content-Length headers: each must be 1*DIGIT in 64 bits, and all equal. Returns the first
/// valid value.
fn check_content_lengths(tally: &mut Tally, values: &[&[u8]]) -> Option<u64> {
    let mut first: Option<u64> = None;
    for value in values {
        match (parse_length(value), first) {
            (None, _) => tally.raise(Classification::Severe, reason::BAD_CONTENT_LENGTH),
            (Some(length), None) => first = Some(length),
            (Some(length), Some(seen)) if length == seen => {
                tally.raise(Classification::Ambiguous, reason::DUPLICATE_CONTENT_LENGTH)
            }
            (Some(_), Some(_)) => {
                tally.raise(Classification::Severe, reason::MULTIPLE_CONTENT_LENGTH)
            }
        }
    }
    first
}

/// `Content-Length = 1*DIGIT` with optional whitespace around it; no sign, no list, no overflow.
/// (ferry: an empty value is refused; the library reads it as 0.)
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim_ows(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |length, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        length.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn check_method(tally: &mut Tally, method: &[u8]) {
    // ferry: an empty method is malformed too (the library only looks at the bytes present).
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        tally.raise(Classification::Severe, reason::BAD_METHOD);
    }
}

fn check_version(tally: &mut Tally, version: &[u8]) {
    let trimmed = trim_ows(version);
    if trimmed.is_empty() || trimmed == b"HTTP/0.9" {
        tally.raise(Classification::Acceptable, reason::NON_COMPLIANT_VERSION);
        return;
    }
    // HTTP-name is case-sensitive (RFC 7230 §2.6). ferry: the library compares versions as
    // bytes against "HTTP/2", which lets `http/1.1` through as an HTTP/2 version.
    match trimmed.strip_prefix(b"HTTP/1.") {
        Some(&[minor]) if minor.is_ascii_digit() => {
            if trimmed.len() != version.len() || minor > b'1' {
                tally.raise(Classification::Acceptable, reason::NON_COMPLIANT_VERSION);
            }
        }
        _ => tally.raise(Classification::Severe, reason::BAD_VERSION),
    }
}

fn check_uri(tally: &mut Tally, uri: &[u8]) {
    for &b in uri {
        if b > b' ' && b != 0x7f {
            continue;
        }
        if is_line_breaking(b) {
            tally.raise(Classification::Severe, reason::BAD_URI);
            return;
        }
        if b == b' ' {
            tally.raise(Classification::Acceptable, reason::SPACE_IN_URI);
        } else {
            tally.raise(Classification::Ambiguous, reason::AMBIGUOUS_URI);
        }
    }
}

/// Whether a header value is within RFC 7230's grammar (visible ASCII, spaces, tabs, obs-text): one
/// with a control byte makes a request only acceptable.
pub fn clean_value(value: &[u8]) -> bool {
    value_shape(value) == Shape::Clean
}

/// Whether a header name is `Transfer-Encoding` or `Content-Length` or normalises to one of them
/// (`Content_Length`): a name that frames a body, or a lookalike that makes framing ambiguous.
pub fn frames_body(name: &[u8]) -> bool {
    likeness(TRANSFER_ENCODING, name) != Likeness::Unlike
        || likeness(CONTENT_LENGTH, name) != Likeness::Unlike
}

/// How `name` relates to `target` (lowercase, words joined by `-`). A lookalike is what a
/// normalising parser could turn into the target: any bytes other than letters and digits before
/// and after it, letters in any case or as a two-byte UTF-8 letter that case-maps to the ASCII one
/// (`ſ` U+017F → `S`, `ı` U+0131 → `I`), whitespace or control bytes between letters, and for each
/// `-` any one byte (or the whitespace just skipped) followed by any run of bytes other than
/// letters and digits. (http_desync_guardian's matcher lets `Transfer Encoding` pass as unlike;
/// ferry counts it as a lookalike.)
fn likeness(target: &[u8], name: &[u8]) -> Likeness {
    if name.eq_ignore_ascii_case(target) {
        return Likeness::Same;
    }
    let mut at = name
        .iter()
        .position(u8::is_ascii_alphanumeric)
        .unwrap_or(name.len());
    // Whether whitespace or control bytes were skipped after the last letter.
    let mut gap = false;
    for &want in target {
        if want == b'-' {
            match name.get(at) {
                None => return Likeness::Unlike,
                // Whitespace after the last letter already stood in for the delimiter.
                Some(b) if b.is_ascii_alphanumeric() && gap => {}
                Some(_) => at += 1,
            }
            while name.get(at).is_some_and(|b| !b.is_ascii_alphanumeric()) {
                at += 1;
            }
        } else {
            let Some(width) = letter_width(name, at, want) else {
                return Likeness::Unlike;
            };
            at += width;
            let letter_end = at;
            while name.get(at).is_some_and(|&b| b <= b' ') {
                at += 1;
            }
            gap = at > letter_end;
        }
    }
    let rest = name.get(at..).unwrap_or_default();
    if rest.iter().any(u8::is_ascii_alphanumeric) {
        Likeness::Unlike
    } else {
        Likeness::Lookalike
    }
}

/// How many bytes at `name[at..]` spell the lowercase ASCII letter `want`, if they do.
fn letter_width(name: &[u8], at: usize, want: u8) -> Option<usize> {
    let first = *name.get(at)?;
    if first.to_ascii_lowercase() == want {
        return Some(1);
    }
    match (want, first, *name.get(at + 1)?) {
        (b's', 0xc5, 0xbf) | (b'i', 0xc4, 0xb1) => Some(2),
        _ => None,
    }
}

fn name_shape(name: &[u8]) -> Shape {
    // Every request's every header comes through here: the common case (all tchar) is one
    // branch-free pass over a table, the byte-by-byte rules only for the rest.
    if name.iter().fold(true, |ok, &b| ok & TCHAR[usize::from(b)]) {
        return Shape::Clean;
    }
    shape_of(name, is_tchar)
}

fn value_shape(value: &[u8]) -> Shape {
    // Printable ASCII, the common case, in one pass the compiler vectorises.
    if value
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(b' ') < 0x5f))
    {
        return Shape::Clean;
    }
    // field-vchar / obs-text / SP / HTAB
    shape_of(value, |b| {
        b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80
    })
}

/// [`is_tchar`] as a table.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

fn shape_of(bytes: &[u8], fits: impl Fn(u8) -> bool) -> Shape {
    let mut shape = Shape::Clean;
    for &b in bytes {
        if is_line_breaking(b) {
            return Shape::Bad;
        }
        if !fits(b) {
            shape = Shape::Odd;
        }
    }
    shape
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_line_breaking(b: u8) -> bool {
    b == 0 || b == b'\r' || b == b'\n'
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// How a raw line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    CrLf,
    Lf,
    /// The input ran out first.
    Missing,
}

struct Line<'a> {
    text: &'a [u8],
    ending: Ending,
}

/// The lines of a raw head, split on LF with a CR before it dropped.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        if self.0.is_empty() {
            return None;
        }
        let Some(lf) = self.0.iter().position(|&b| b == b'\n') else {
            let text = self.0;
            self.0 = &[];
            return Some(Line {
                text,
                ending: Ending::Missing,
            });
        };
        let (line, rest) = (&self.0[..lf], &self.0[lf + 1..]);
        self.0 = rest;
        Some(match line.strip_suffix(b"\r") {
            Some(text) => Line {
                text,
                ending: Ending::CrLf,
            },
            None => Line {
                text: line,
                ending: Ending::Lf,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Classification::{Acceptable, Ambiguous, Compliant, Severe};
    use super::Outcome::{Forward, ForwardAndClose, Reject};
    use super::*;

    /// Outcomes in Monitor, Defensive and Strictest mode, per the ALB user guide's table.
    const ALLOWED: [Outcome; 3] = [Forward, Forward, Forward];
    const ACCEPTABLE: [Outcome; 3] = [Forward, Forward, Reject];
    const AMBIGUOUS: [Outcome; 3] = [Forward, ForwardAndClose, Reject];
    const SEVERE: [Outcome; 3] = [Forward, Reject, Reject];
    const MODES: [Mode; 3] = [Mode::Monitor, Mode::Defensive, Mode::Strictest];

    type Headers = &'static [(&'static str, &'static [u8])];

    struct Row {
        case: &'static str,
        method: &'static str,
        uri: &'static str,
        version: &'static str,
        headers: Headers,
        classification: Classification,
        reason: &'static str,
        outcomes: [Outcome; 3],
    }

    #[allow(clippy::too_many_arguments)]
    const fn row(
        case: &'static str,
        method: &'static str,
        uri: &'static str,
        version: &'static str,
        headers: Headers,
        classification: Classification,
        reason: &'static str,
        outcomes: [Outcome; 3],
    ) -> Row {
        Row {
            case,
            method,
            uri,
            version,
            headers,
            classification,
            reason,
            outcomes,
        }
    }

    const H11: &str = "HTTP/1.1";
    const HOST: (&str, &[u8]) = ("Host", b"example.com");

    #[rustfmt::skip]
    const ROWS: &[Row] = &[
        // --- Compliant ---------------------------------------------------------------------
        row("plain GET", "GET", "/", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("POST with Content-Length", "POST", "/a", H11, &[HOST, ("Content-Length", b"5")], Compliant, "Compliant", ALLOWED),
        row("POST chunked", "POST", "/a", H11, &[("Transfer-Encoding", b"chunked")], Compliant, "Compliant", ALLOWED),
        row("TE value in another case: Chunked", "POST", "/", H11, &[("Transfer-Encoding", b"Chunked")], Compliant, "Compliant", ALLOWED),
        row("TE value with trailing space: `chunked `", "POST", "/", H11, &[("Transfer-Encoding", b"chunked ")], Compliant, "Compliant", ALLOWED),
        row("TE value with leading space: ` chunked`", "POST", "/", H11, &[("Transfer-Encoding", b" chunked")], Compliant, "Compliant", ALLOWED),
        row("TE name in lower case", "POST", "/", H11, &[("transfer-encoding", b"chunked")], Compliant, "Compliant", ALLOWED),
        row("TE list ending in chunked", "POST", "/", H11, &[("Transfer-Encoding", b"gzip, chunked")], Compliant, "Compliant", ALLOWED),
        row("TE split over headers, chunked last, with params", "POST", "/", H11, &[("Transfer-Encoding", b" gzip ; "), ("Transfer-Encoding", b"\tchunked;ext\t")], Compliant, "Compliant", ALLOWED),
        row("CL with leading zeros", "POST", "/", H11, &[("Content-Length", b"007")], Compliant, "Compliant", ALLOWED),
        row("CL with whitespace around", "PUT", "/", H11, &[("Content-Length", b" 22220  ")], Compliant, "Compliant", ALLOWED),
        row("CL at u64::MAX", "POST", "/", H11, &[("Content-Length", b"18446744073709551615")], Compliant, "Compliant", ALLOWED),
        row("absolute-form URI, Host agrees", "GET", "http://example.com/a?b=c", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("absolute-form URI, Host disagrees (no desync rule; pingora refuses it)", "GET", "http://other.example/a", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("asterisk-form", "OPTIONS", "*", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("percent-encoded CR LF NUL in URI", "GET", "/a%0D%0A%00", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("non-ASCII URI", "GET", "/странные-символы", H11, &[HOST], Compliant, "Compliant", ALLOWED),
        row("underscore and tchars in a name", "GET", "/", H11, &[("My_Custom.!#$%&'*+^`|~0", b"v")], Compliant, "Compliant", ALLOWED),
        row("HTAB and obs-text in a value", "GET", "/", H11, &[("X-A", b"\t\tv;\x60\x85\xa0")], Compliant, "Compliant", ALLOWED),
        row("Content-Type folded (the allowed obs-fold)", "POST", "/", H11, &[("Content-Type", b"multipart/mixed;"), (" boundary", b"x")], Compliant, "Compliant", ALLOWED),
        row("HTTP/1.0 with Content-Length", "POST", "/", "HTTP/1.0", &[("Content-Length", b"3")], Compliant, "Compliant", ALLOWED),
        row("lower-case method is a valid token (and not GET)", "get", "/", H11, &[("Content-Length", b"5")], Compliant, "Compliant", ALLOWED),
        row("HTTP/2 is out of scope", "GET", "/", "HTTP/2.0", &[("Transfer-Encoding", b"chunked"), ("Content-Length", b"1")], Compliant, "Compliant", ALLOWED),

        // --- Acceptable --------------------------------------------------------------------
        row("control byte in a value", "GET", "/", H11, &[("X-A", b"v\x01")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("DEL in a value", "GET", "/", H11, &[("X-A", b"v\x7f")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("control byte starting a name", "GET", "/", H11, &[("\x01X-A", b"v")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("separator in a name", "GET", "/", H11, &[("X-Foo(bar)", b"v")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("space inside a name", "GET", "/", H11, &[("X Foo", b"v")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("trailing space in a name (`X-Foo :`)", "GET", "/", H11, &[("X-Foo ", b"v")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("non-ASCII name", "GET", "/", H11, &[("X-Ünicode", b"v")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("odd header beside a good CL", "PUT", "/", H11, &[("X-A ", b"v"), ("Content-Length", b"10")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("odd header beside a chunked body", "PUT", "/", H11, &[("X-A", b"\x01v"), ("Transfer-Encoding", b"chunked")], Acceptable, "NonCompliantHeader", ACCEPTABLE),
        row("space in URI", "GET", "/a?q=not escaped", H11, &[HOST], Acceptable, "SpaceInUri", ACCEPTABLE),
        row("HTTP/0.9 (no version)", "GET", "/", "", &[], Acceptable, "NonCompliantVersion", ACCEPTABLE),
        row("HTTP/0.9 written", "GET", "/", "HTTP/0.9", &[], Acceptable, "NonCompliantVersion", ACCEPTABLE),
        row("HTTP/1.2", "GET", "/", "HTTP/1.2", &[HOST], Acceptable, "NonCompliantVersion", ACCEPTABLE),
        row("space after the version", "GET", "/", "HTTP/1.1 ", &[HOST], Acceptable, "NonCompliantVersion", ACCEPTABLE),
        row("GET with Content-Length: 0", "GET", "/", H11, &[("Content-Length", b"0")], Acceptable, "GetHeadZeroContentLength", ACCEPTABLE),
        row("HEAD with Content-Length: 0", "HEAD", "/", H11, &[("Content-Length", b"0")], Acceptable, "GetHeadZeroContentLength", ACCEPTABLE),

        // --- Ambiguous ---------------------------------------------------------------------
        row("CL and TE both present (CL.TE / TE.CL)", "POST", "/", H11, &[("Content-Length", b"6"), ("Transfer-Encoding", b"chunked")], Ambiguous, "BothTeClPresent", AMBIGUOUS),
        row("TE then CL", "POST", "/", H11, &[("Transfer-Encoding", b"chunked"), ("Content-Length", b"100")], Ambiguous, "BothTeClPresent", AMBIGUOUS),
        row("duplicate CL, same value", "PUT", "/", H11, &[("Content-Length", b"1000"), ("Content-Length", b"1000")], Ambiguous, "DuplicateContentLength", AMBIGUOUS),
        row("TE name with a space before the colon (`Transfer-Encoding :`)", "POST", "/", H11, &[("Transfer-Encoding ", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a tab before the colon", "POST", "/", H11, &[("Transfer-Encoding\t", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a leading space", "POST", "/", H11, &[(" Transfer-Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a control byte", "POST", "/", H11, &[("\x01Transfer-Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a trailing non-ASCII byte", "POST", "/", H11, &[("Transfer-Encoding\u{88}", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with an underscore", "POST", "/", H11, &[("Transfer_Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a space in the middle", "POST", "/", H11, &[("Transfer- Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with several hyphens", "POST", "/", H11, &[("Transfer---Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a Unicode dash", "POST", "/", H11, &[("Transfer\u{2015}Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a long s (ſ)", "POST", "/", H11, &[("Tran\u{17f}fer-Encoding", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE name with a dotless i (ı)", "POST", "/", H11, &[("Transfer-Encod\u{131}ng", b"chunked")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("CL name with an underscore", "POST", "/", H11, &[("Content_Length", b"1000")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("CL name with a leading no-break space", "POST", "/", H11, &[("\u{a0}Content-Length", b"100")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("obfuscated TE beside a CL", "POST", "/", H11, &[("Transfer-Encoding ", b"chunked"), ("Content-Length", b"1000")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("TE on HTTP/1.0", "POST", "/", "HTTP/1.0", &[("Transfer-Encoding", b"chunked")], Ambiguous, "UndefinedTransferEncodingSemantics", AMBIGUOUS),
        row("TE on HTTP/1.0 hides the CL check", "POST", "/", "HTTP/1.0", &[("Transfer-Encoding", b"chunked"), ("Content-Length", b"1"), ("Content-Length", b"2")], Ambiguous, "UndefinedTransferEncodingSemantics", AMBIGUOUS),
        row("TE on HTTP/0.9", "POST", "/", "HTTP/0.9", &[("Transfer-Encoding", b"chunked")], Ambiguous, "UndefinedTransferEncodingSemantics", AMBIGUOUS),
        row("CL on HTTP/0.9", "POST", "/", "", &[("Content-Length", b"100")], Ambiguous, "UndefinedContentLengthSemantics", AMBIGUOUS),
        row("GET with a body (CL)", "GET", "/", H11, &[("Content-Length", b"1000")], Ambiguous, "UndefinedContentLengthSemantics", AMBIGUOUS),
        row("HEAD with a body (CL)", "HEAD", "/", H11, &[("Content-Length", b"9000")], Ambiguous, "UndefinedContentLengthSemantics", AMBIGUOUS),
        row("GET with a body (TE)", "GET", "/", H11, &[("Transfer-Encoding", b"chunked")], Ambiguous, "UndefinedTransferEncodingSemantics", AMBIGUOUS),
        row("HEAD with a body (TE)", "HEAD", "/", H11, &[("Transfer-Encoding", b"chunked")], Ambiguous, "UndefinedTransferEncodingSemantics", AMBIGUOUS),
        row("odd header does not hide GET's body", "GET", "/", H11, &[("X-A", b"v\x01"), ("Content-Length", b"9000")], Ambiguous, "UndefinedContentLengthSemantics", AMBIGUOUS),
        row("empty header name", "POST", "/", H11, &[("", b"chunked"), ("Content-Length", b"1000")], Ambiguous, "EmptyHeader", AMBIGUOUS),
        row("whitespace-only header name", "POST", "/", H11, &[("   \t\t  ", b"chunked")], Ambiguous, "EmptyHeader", AMBIGUOUS),
        row("header name starting with a colon", "POST", "/", H11, &[(":SomeHeader:Transfer-Encoding:", b"chunked")], Ambiguous, "EmptyHeader", AMBIGUOUS),
        row("obs-fold continuation line", "GET", "/", H11, &[HOST, (" folded-line", b"")], Ambiguous, "MultilineHeader", AMBIGUOUS),
        row("obs-fold line mimicking a CL", "GET", "/", H11, &[("A", b"A"), (" Content-Length", b"10")], Ambiguous, "SuspiciousHeader", AMBIGUOUS),
        row("tab in URI", "GET", "/a\tHTTP/1.1", H11, &[HOST], Ambiguous, "AmbiguousUri", AMBIGUOUS),
        row("control byte in URI", "GET", "/a\x01", H11, &[HOST], Ambiguous, "AmbiguousUri", AMBIGUOUS),
        row("DEL in URI", "GET", "/a\x7f", H11, &[HOST], Ambiguous, "AmbiguousUri", AMBIGUOUS),

        // --- Severe ------------------------------------------------------------------------
        row("duplicate CL, different values", "POST", "/", H11, &[("Content-Length", b"1000"), ("Content-Length", b"100")], Severe, "MultipleContentLength", SEVERE),
        row("CL lookalike and CL disagree", "POST", "/", H11, &[("Content-Length ", b"100"), ("Content-Length", b"1000")], Severe, "MultipleContentLength", SEVERE),
        row("CL with a plus sign", "POST", "/", H11, &[("Content-Length", b"+5")], Severe, "BadContentLength", SEVERE),
        row("CL with a minus sign", "POST", "/", H11, &[("Content-Length", b"-5")], Severe, "BadContentLength", SEVERE),
        row("CL with an inner space", "POST", "/", H11, &[("Content-Length", b"1000 1000")], Severe, "BadContentLength", SEVERE),
        row("CL as a list", "POST", "/", H11, &[("Content-Length", b"1000,1000")], Severe, "BadContentLength", SEVERE),
        row("CL with a decimal point", "POST", "/", H11, &[("Content-Length", b"1000.1000")], Severe, "BadContentLength", SEVERE),
        row("CL in hex", "POST", "/", H11, &[("Content-Length", b"0x10")], Severe, "BadContentLength", SEVERE),
        row("CL with letters", "POST", "/", H11, &[("Content-Length", b"5a")], Severe, "BadContentLength", SEVERE),
        row("CL overflowing 64 bits", "POST", "/", H11, &[("Content-Length", b"18446744073709551616")], Severe, "BadContentLength", SEVERE),
        row("CL empty", "POST", "/", H11, &[("Content-Length", b"")], Severe, "BadContentLength", SEVERE),
        row("CL with a control byte", "POST", "/", H11, &[("Content-Length", b"1000\x11")], Severe, "BadContentLength", SEVERE),
        row("CL with a no-break space", "POST", "/", H11, &[("Content-Length", b"1000\xa0")], Severe, "BadContentLength", SEVERE),
        row("odd header does not hide a bad CL", "POST", "/", H11, &[("X-A", b"v\x12"), ("Content-Length", b"1000\x11")], Severe, "BadContentLength", SEVERE),
        row("unknown coding: xchunked", "POST", "/", H11, &[("Transfer-Encoding", b"xchunked")], Severe, "BadTransferEncoding", SEVERE),
        row("chunked not last: `chunked, identity`", "POST", "/", H11, &[("Transfer-Encoding", b"chunked, identity")], Severe, "BadTransferEncoding", SEVERE),
        row("no chunked at all: gzip", "POST", "/", H11, &[("Transfer-Encoding", b"gzip")], Severe, "BadTransferEncoding", SEVERE),
        row("chunked not last across headers", "POST", "/", H11, &[("Transfer-Encoding", b"chunked"), ("Transfer-Encoding", b"identity")], Severe, "BadTransferEncoding", SEVERE),
        row("empty TE list element", "POST", "/", H11, &[("Transfer-Encoding", b"chunked,")], Severe, "BadTransferEncoding", SEVERE),
        row("empty TE value", "POST", "/", H11, &[("Transfer-Encoding", b"")], Severe, "BadTransferEncoding", SEVERE),
        row("control byte before chunked", "POST", "/", H11, &[("Transfer-Encoding", b"\x01chunked")], Severe, "BadTransferEncoding", SEVERE),
        row("no-break space after chunked", "POST", "/", H11, &[("Transfer-Encoding", b"chunked\xa0")], Severe, "BadTransferEncoding", SEVERE),
        row("obfuscated TE with an unknown coding", "POST", "/", H11, &[("Transfer-Encoding ", b"xchunked")], Severe, "BadTransferEncoding", SEVERE),
        row("odd header does not hide a bad TE", "POST", "/", H11, &[("X-A", b"\x11v"), ("Transfer-Encoding", b"chunked\x80"), ("Content-Length", b"$9000")], Severe, "BadTransferEncoding", SEVERE),
        row("duplicate TE headers: chunked twice", "POST", "/", H11, &[("Transfer-Encoding", b"chunked"), ("Transfer-Encoding", b"chunked")], Severe, "MultipleTransferEncodingChunked", SEVERE),
        row("chunked, chunked", "POST", "/", H11, &[("Transfer-Encoding", b"chunked,chunked")], Severe, "MultipleTransferEncodingChunked", SEVERE),
        row("chunked twice, not adjacent", "POST", "/", H11, &[("Transfer-Encoding", b"chunked, gzip, chunked")], Severe, "MultipleTransferEncodingChunked", SEVERE),
        row("TE and TE lookalike both chunked (TE.TE)", "POST", "/", H11, &[("Transfer-Encoding ", b"chunked"), ("Transfer-Encoding", b"chunked")], Severe, "MultipleTransferEncodingChunked", SEVERE),
        row("NUL in a value", "POST", "/", H11, &[("X-A", b"value\x00content-length: 1000"), ("Content-Length", b"100")], Severe, "BadHeader", SEVERE),
        row("bare CR in a value", "POST", "/", H11, &[("X-A", b"value\rcontent-length: 1000"), ("Content-Length", b"100")], Severe, "BadHeader", SEVERE),
        row("bare LF in a value", "POST", "/", H11, &[("X-A", b"value\n content-length: 1000")], Severe, "BadHeader", SEVERE),
        row("folded value kept raw", "POST", "/", H11, &[("X-A", b"line one\r\n line two")], Severe, "BadHeader", SEVERE),
        row("NUL in a name", "POST", "/", H11, &[("X-A\x00", b"v")], Severe, "BadHeader", SEVERE),
        row("CR in a name", "POST", "/", H11, &[("X-A\r", b"v")], Severe, "BadHeader", SEVERE),
        row("LF in a name", "POST", "/", H11, &[("X-A\n", b"Content-Length:1000")], Severe, "BadHeader", SEVERE),
        row("CR in a CL value", "POST", "/", H11, &[("Content-Length", b"10\r")], Severe, "BadHeader", SEVERE),
        row("bad character beats odd ones", "PUT", "/", H11, &[("X-A\t", b"\x11\x12 then \x00"), ("Transfer-Encoding\t", b"chunked")], Severe, "BadHeader", SEVERE),
        row("method with a control byte", "GET\x01", "/", H11, &[HOST], Severe, "BadMethod", SEVERE),
        row("method with a separator", "G(ET", "/", H11, &[HOST], Severe, "BadMethod", SEVERE),
        row("method with a space", "GE T", "/", H11, &[HOST], Severe, "BadMethod", SEVERE),
        row("empty method", "", "/", H11, &[HOST], Severe, "BadMethod", SEVERE),
        row("two versions (space in URI broke the line)", "GET", "/a", "HTTP/1.1 HTTP/1.1", &[HOST], Severe, "BadVersion", SEVERE),
        row("lower-case version", "GET", "/", "http/1.1", &[HOST], Severe, "BadVersion", SEVERE),
        row("version without minor", "GET", "/", "HTTP/1", &[HOST], Severe, "BadVersion", SEVERE),
        row("version with a letter minor", "GET", "/", "HTTP/1.x", &[HOST], Severe, "BadVersion", SEVERE),
        row("not a version", "GET", "/", "FOO/1.1", &[HOST], Severe, "BadVersion", SEVERE),
        row("CR in URI", "GET", "/a\rHTTP/1.1", H11, &[HOST], Severe, "BadUri", SEVERE),
        row("LF in URI", "GET", "/a\nHTTP/1.1", H11, &[HOST], Severe, "BadUri", SEVERE),
        row("NUL in URI", "GET", "\x00/a", H11, &[HOST], Severe, "BadUri", SEVERE),
        row("request smuggled in the URI", "GET", "/a\tHTTP/1.1\r\nHost:x\r\n\r\nGET\t/b\t", H11, &[HOST], Severe, "BadUri", SEVERE),
        row("bad header found first beats bad method", "G(ET", "/", H11, &[("X-A", b"\x00")], Severe, "BadHeader", SEVERE),
    ];

    #[test]
    fn desync_rules() {
        let mut failures = Vec::new();
        for row in ROWS {
            let verdict = classify(row.method, row.uri, row.version, row.headers);
            let expected = Verdict {
                classification: row.classification,
                reason: row.reason,
            };
            if verdict != expected {
                failures.push(format!("{}: got {verdict:?}, want {expected:?}", row.case));
            }
            for (mode, want) in MODES.iter().zip(row.outcomes) {
                let got = outcome(*mode, &verdict);
                if got != want {
                    failures.push(format!(
                        "{} in {mode:?}: got {got:?}, want {want:?}",
                        row.case
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn desync_rows_cover_every_reason_of_the_parsed_analysis() {
        let parsed_reasons = [
            reason::COMPLIANT,
            reason::NON_COMPLIANT_HEADER,
            reason::SPACE_IN_URI,
            reason::NON_COMPLIANT_VERSION,
            reason::GET_HEAD_ZERO_CONTENT_LENGTH,
            reason::EMPTY_HEADER,
            reason::AMBIGUOUS_URI,
            reason::UNDEFINED_CONTENT_LENGTH_SEMANTICS,
            reason::UNDEFINED_TRANSFER_ENCODING_SEMANTICS,
            reason::DUPLICATE_CONTENT_LENGTH,
            reason::BOTH_TE_CL_PRESENT,
            reason::SUSPICIOUS_HEADER,
            reason::MULTILINE_HEADER,
            reason::BAD_HEADER,
            reason::BAD_URI,
            reason::BAD_VERSION,
            reason::BAD_METHOD,
            reason::MULTIPLE_CONTENT_LENGTH,
            reason::BAD_CONTENT_LENGTH,
            reason::MULTIPLE_TRANSFER_ENCODING_CHUNKED,
            reason::BAD_TRANSFER_ENCODING,
        ];
        for wanted in parsed_reasons {
            assert!(
                ROWS.iter().any(|row| row.reason == wanted),
                "no row for {wanted}"
            );
        }
    }

    #[test]
    fn desync_raw_heads() {
        let cases: &[(&str, &[u8], Classification, &str)] = &[
            ("clean", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Compliant, "Compliant"),
            ("body after the head is ignored", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n\x00\r\n\r", Compliant, "Compliant"),
            ("empty line before the request line", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Compliant, "Compliant"),
            ("Content-Type folded", b"POST / HTTP/1.1\r\nContent-Type: a;\r\n b\r\n\r\n", Compliant, "Compliant"),
            ("bare LF line ends", b"GET / HTTP/1.1\nHost: a\n\n", Acceptable, "NonCrLfLineTermination"),
            ("space in URI", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Acceptable, "SpaceInUri"),
            ("HTTP/0.9 simple request", b"GET /\r\n\r\n", Acceptable, "NonCompliantVersion"),
            ("CL and TE (pingora drops the CL from the parsed header)", b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", Ambiguous, "BothTeClPresent"),
            ("`Transfer-Encoding : chunked`", b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", Ambiguous, "SuspiciousHeader"),
            ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\n another-line\r\n\r\n", Ambiguous, "MultilineHeader"),
            ("obs-fold hiding a request", b"GET /a HTTP/1.1\r\nHost: t\r\nABC: 1\r\n x-ignore:\r\n\x7fGET /b: HTTP/1.1 \r\n\r\n", Ambiguous, "MultilineHeader"),
            ("header without a colon", b"GET / HTTP/1.1\r\nMy-header\r\nA: 1\r\n\r\n", Ambiguous, "MissingHeaderColon"),
            ("no URI", b"GET HTTP/1.1\r\n\r\n", Ambiguous, "MissingUri"),
            ("no final empty line", b"GET / HTTP/1.1\r\nHost: a\r\n", Ambiguous, "MissingLastEmptyLine"),
            ("unterminated line", b"GET / HTTP/1.1\r\nHost: a", Ambiguous, "PartialHeaderLine"),
            ("CR starting a header line", b"GET / HTTP/1.1\r\n\rContent-Length: 10\r\n\r\n", Severe, "BadHeader"),
            ("folded CL mimic and a real CL disagree", b"GET / HTTP/1.1\r\nA: A\r\n Content-Length: 10\r\nContent-Length: 100\r\n\r\n", Severe, "MultipleContentLength"),
            ("folded Content-Type carrying NUL", b"GET / HTTP/1.1\r\nContent-Type: a;\r\n \x00GET /smug HTTP/1.1\r\n\r\n", Severe, "BadHeader"),
            ("empty input", b"", Severe, "BadMethod"),
        ];
        let mut failures = Vec::new();
        for &(case, head, classification, reason) in cases {
            let verdict = classify_head(head);
            let expected = Verdict {
                classification,
                reason,
            };
            if verdict != expected {
                failures.push(format!("{case}: got {verdict:?}, want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn desync_mode_attribute() {
        assert_eq!(Mode::parse("monitor"), Some(Mode::Monitor));
        assert_eq!(Mode::parse("defensive"), Some(Mode::Defensive));
        assert_eq!(Mode::parse("strictest"), Some(Mode::Strictest));
        assert_eq!(Mode::parse("Defensive"), None);
        assert_eq!(Mode::parse(""), None);
        assert_eq!(Mode::default(), Mode::Defensive);
        for mode in MODES {
            assert_eq!(Mode::parse(mode.as_str()), Some(mode));
        }
    }

    #[test]
    fn desync_mode_table() {
        let verdict = |classification| Verdict {
            classification,
            reason: "x",
        };
        let table = [
            (Compliant, ALLOWED),
            (Acceptable, ACCEPTABLE),
            (Ambiguous, AMBIGUOUS),
            (Severe, SEVERE),
        ];
        for (classification, outcomes) in table {
            for (mode, want) in MODES.iter().zip(outcomes) {
                assert_eq!(
                    outcome(*mode, &verdict(classification)),
                    want,
                    "{classification:?} in {mode:?}"
                );
            }
        }
    }

    #[test]
    fn desync_lookalike_names() {
        let cases: &[(&[u8], &[u8], Likeness)] = &[
            (TRANSFER_ENCODING, b"Transfer-Encoding", Likeness::Same),
            (TRANSFER_ENCODING, b"TRANSFER-ENCODING", Likeness::Same),
            (
                TRANSFER_ENCODING,
                b"Transfer-Encoding ",
                Likeness::Lookalike,
            ),
            (TRANSFER_ENCODING, b"Transfer Encoding", Likeness::Lookalike),
            (
                TRANSFER_ENCODING,
                b"Trans fer-Encoding",
                Likeness::Lookalike,
            ),
            (
                TRANSFER_ENCODING,
                b"-Transfer-Encoding-",
                Likeness::Lookalike,
            ),
            (TRANSFER_ENCODING, b"Transfer-Encodings", Likeness::Unlike),
            (TRANSFER_ENCODING, b"X-Transfer-Encoding", Likeness::Unlike),
            (TRANSFER_ENCODING, b"TransferEncoding", Likeness::Unlike),
            (TRANSFER_ENCODING, b"Transfer-Encodin", Likeness::Unlike),
            (TRANSFER_ENCODING, b"Transfer-", Likeness::Unlike),
            (TRANSFER_ENCODING, b"", Likeness::Unlike),
            (CONTENT_LENGTH, b"Content-Length2", Likeness::Unlike),
            (CONTENT_LENGTH, b"Content-Type", Likeness::Unlike),
            (CONTENT_LENGTH, b"content.length", Likeness::Lookalike),
        ];
        for (target, name, want) in cases {
            assert_eq!(likeness(target, name), *want, "{}", name.escape_ascii());
        }
    }

    #[test]
    fn the_table_and_fast_paths_agree_with_the_rules() {
        for b in 0..=255u8 {
            assert_eq!(TCHAR[usize::from(b)], is_tchar(b), "byte {b}");
            let one = [b];
            let slow_name = shape_of(&one, is_tchar);
            assert_eq!(name_shape(&one), slow_name, "name byte {b}");
            let slow_value = shape_of(&one, |b| {
                b == b'\t' || (b' '..0x7f).contains(&b) || b >= 0x80
            });
            assert_eq!(value_shape(&one), slow_value, "value byte {b}");
        }
    }
}
