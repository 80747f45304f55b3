//! Wildcard matching (`*` and `?`) shared by CloudFront cache-behavior path patterns and ALB rule conditions.
//!
//! Both services use the same tiny glob language: `*` matches any run of characters (including none) and
//! `?` matches exactly one character; everything else is literal and there is no escape, except in ALB
//! query-string conditions, where `\*` and `\?` are a literal `*` and `?`. They differ otherwise only
//! in case sensitivity and in whether a leading `/` is implied, which the constructors at the bottom encode.
//!
//! Case-insensitive matching folds ASCII letters only (`A`–`Z` ≡ `a`–`z`). Non-ASCII characters must match
//! exactly. Host names reach the balancer in ASCII (IDNA), and header values and query strings are
//! overwhelmingly ASCII, so full Unicode folding would cost an allocation per match for no practical gain.

/// Whether letters must match in case. Insensitive folds ASCII letters only (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Sensitive,
    Insensitive,
}

/// One compiled pattern element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`; consecutive stars are collapsed at compile time since `**` means the same as `*`.
    Star,
    /// `?`
    One,
    /// Any other character, already ASCII-lowercased for [`Case::Insensitive`].
    Lit(char),
}

/// A compiled pattern with `*` (any run of characters, including none) and `?` (exactly one character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wildcard {
    source: String,
    case: Case,
    tokens: Vec<Token>,
    /// The text the input must equal when the pattern has no wildcard (escapes resolved).
    literal: Option<String>,
}

impl Wildcard {
    /// Compiles `pattern`. Every string is a valid pattern, so this cannot fail.
    pub fn new(pattern: &str, case: Case) -> Wildcard {
        Wildcard::compile(pattern, case, false)
    }

    /// Compiles `pattern` where `\*` and `\?` stand for a literal `*` and `?` (any other `\` is
    /// itself), as ALB query-string conditions read their values.
    pub fn with_escapes(pattern: &str, case: Case) -> Wildcard {
        Wildcard::compile(pattern, case, true)
    }

    fn compile(pattern: &str, case: Case, escapes: bool) -> Wildcard {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut text = String::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '\\' if escapes && matches!(chars.peek(), Some('*' | '?')) => {
                    let escaped = chars.next().unwrap_or(c);
                    text.push(escaped);
                    Token::Lit(escaped)
                }
                '*' => Token::Star,
                '?' => Token::One,
                _ => {
                    text.push(c);
                    Token::Lit(fold(c, case))
                }
            };
            if token == Token::Star && tokens.last() == Some(&Token::Star) {
                continue;
            }
            tokens.push(token);
        }
        let literal = tokens
            .iter()
            .all(|t| matches!(t, Token::Lit(_)))
            .then_some(text);
        Wildcard {
            source: pattern.to_owned(),
            case,
            tokens,
            literal,
        }
    }

    /// Whether `input` matches the whole pattern (patterns are anchored at both ends).
    ///
    /// Greedy two-pointer matching with a single backtrack point at the most recent `*`: when a later
    /// literal fails, only the last star needs to absorb one more character, because any match an earlier
    /// star could enable is also reachable from the later one. That bounds the work to
    /// O(len(pattern) × len(input)) with no recursion and no allocation.
    pub fn matches(&self, input: &str) -> bool {
        if let Some(text) = &self.literal {
            return match self.case {
                Case::Sensitive => input == text,
                Case::Insensitive => input.eq_ignore_ascii_case(text),
            };
        }
        let tokens = &self.tokens;
        let mut ti = 0;
        // Byte offset into `input`, always on a char boundary.
        let mut si = 0;
        // (token index just after the last `*`, input offset that star currently stops at)
        let mut backtrack: Option<(usize, usize)> = None;
        while let Some(c) = input.get(si..).and_then(|rest| rest.chars().next()) {
            match tokens.get(ti) {
                Some(Token::Star) => {
                    backtrack = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Some(Token::One) => {
                    ti += 1;
                    si += c.len_utf8();
                    continue;
                }
                Some(Token::Lit(p)) if *p == fold(c, self.case) => {
                    ti += 1;
                    si += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            // Mismatch, or pattern exhausted with input left: let the last star swallow one more char.
            let Some((after_star, star_end)) = backtrack else {
                return false;
            };
            let Some(swallowed) = input.get(star_end..).and_then(|rest| rest.chars().next()) else {
                return false;
            };
            let resume = star_end + swallowed.len_utf8();
            backtrack = Some((after_star, resume));
            ti = after_star;
            si = resume;
        }
        tokens.iter().skip(ti).all(|t| *t == Token::Star)
    }

    /// The pattern as passed to [`Wildcard::new`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern has no `*` or `?` (so matching is plain string equality).
    pub fn is_literal(&self) -> bool {
        self.literal.is_some()
    }

    /// The case rule the pattern was compiled with.
    pub fn case(&self) -> Case {
        self.case
    }
}

fn fold(c: char, case: Case) -> char {
    match case {
        Case::Sensitive => c,
        Case::Insensitive => c.to_ascii_lowercase(),
    }
}

/// Number of `*` and `?` characters in a pattern (ALB counts at most 5 wildcards per rule).
pub fn wildcard_count(pattern: &str) -> usize {
    pattern.chars().filter(|c| matches!(c, '*' | '?')).count()
}

/// The wildcards of a pattern read [`Wildcard::with_escapes`]: an escaped `*` or `?` is not one.
pub fn escaped_wildcard_count(pattern: &str) -> usize {
    let mut count = 0;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?')) => {
                chars.next();
            }
            '*' | '?' => count += 1,
            _ => {}
        }
    }
    count
}

/// A CloudFront cache-behavior path pattern: case sensitive; the leading `/` is optional in CloudFront
/// (`images/*.jpg` behaves as `/images/*.jpg`; a pattern starting with `*` stays as it is).
///
/// The returned [`Wildcard::as_str`] is the normalised form (with the `/`), since that is what is matched.
/// An empty pattern therefore becomes `/`. Matched against the URI path only, without the query string.
/// Sources: CloudFront API Reference, `CacheBehavior.PathPattern` ("CloudFront behavior is the same with or
/// without the leading /"), and Developer Guide, "Cache behavior settings" → "Path pattern" (case
/// sensitive; examples `/images/*.jpg`, `/*.jpg`, `*.gif`, `/images/*`).
pub fn cloudfront_path_pattern(pattern: &str) -> Wildcard {
    if pattern.starts_with('/') || pattern.starts_with('*') {
        Wildcard::new(pattern, Case::Sensitive)
    } else {
        let mut normalised = String::with_capacity(pattern.len() + 1);
        normalised.push('/');
        normalised.push_str(pattern);
        Wildcard::new(&normalised, Case::Sensitive)
    }
}

/// ALB `host-header` condition value: case-insensitive. Source: ELB User Guide, "Condition types for
/// listener rules" → "Host conditions".
pub fn alb_host_pattern(pattern: &str) -> Wildcard {
    Wildcard::new(pattern, Case::Insensitive)
}

/// ALB `path-pattern` condition value: case-sensitive, matched against the path only (no query string).
/// Source: ELB User Guide, "Condition types for listener rules" → "Path conditions".
pub fn alb_path_pattern(pattern: &str) -> Wildcard {
    Wildcard::new(pattern, Case::Sensitive)
}

/// ALB `http-header` condition value: case-insensitive (the header name is compared case-insensitively
/// by the caller). Source: ELB User Guide, "Condition types for listener rules" → "HTTP header conditions".
pub fn alb_header_value_pattern(pattern: &str) -> Wildcard {
    Wildcard::new(pattern, Case::Insensitive)
}

/// ALB `query-string` condition key or value: case-insensitive, and `\*` / `\?` match a literal `*` /
/// `?` (QueryStringConditionConfig: "To search for a literal '*' or '?' character in a query string,
/// you must escape these characters in Values using a '\' character"). Source: ELB User Guide,
/// "Condition types for listener rules" → "Query string conditions".
pub fn alb_query_pattern(pattern: &str) -> Wildcard {
    Wildcard::with_escapes(pattern, Case::Insensitive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(&str, &str, bool)], case: Case) {
        for &(pattern, input, want) in cases {
            let w = Wildcard::new(pattern, case);
            assert_eq!(
                w.matches(input),
                want,
                "pattern {pattern:?} ({case:?}) against {input:?}"
            );
        }
    }

    #[test]
    fn sensitive_matching() {
        check(
            &[
                // literal
                ("abc", "abc", true),
                ("abc", "abcd", false),
                ("abc", "ab", false),
                ("abc", "ABC", false),
                ("/a/b", "/a/b", true),
                // empty pattern / empty input
                ("", "", true),
                ("", "a", false),
                ("a", "", false),
                ("*", "", true),
                ("**", "", true),
                ("?", "", false),
                ("*?", "", false),
                // `*` matches everything
                ("*", "anything/at/all?x=1", true),
                ("*", "*", true),
                // `*` at the start
                ("*.jpg", "a.jpg", true),
                ("*.jpg", ".jpg", true),
                ("*.jpg", "/x/y/z.jpg", true),
                ("*.jpg", "a.jpeg", false),
                ("*.jpg", "a.jpg.png", false),
                // `*` in the middle
                ("a*z", "az", true),
                ("a*z", "abcz", true),
                ("a*z", "abczq", false),
                ("a*z", "zbca", false),
                ("/img/*/x", "/img/a/b/x", true),
                ("/img/*/x", "/img//x", true),
                ("/img/*/x", "/img/x", false),
                // `*` at the end
                ("abc*", "abc", true),
                ("abc*", "abcdef", true),
                ("abc*", "ab", false),
                ("abc*", "xabc", false),
                // several `*`
                ("*a*b*", "ab", true),
                ("*a*b*", "xxaxxbxx", true),
                ("*a*b*", "ba", false),
                ("a*b*c", "abc", true),
                ("a*b*c", "aXbYc", true),
                ("a*b*c", "aXbYcZ", false),
                ("a*b*c", "acb", false),
                ("*ab*ab*", "abab", true),
                ("*ab*ab*", "aabab", true),
                ("*ab*ab*", "aba", false),
                ("a**b", "ab", true),
                ("a**b", "axxb", true),
                // backtracking needed: first candidate for the star is wrong
                ("*aab", "aaab", true),
                ("*abc", "ababc", true),
                ("a*abc", "aabababc", true),
                ("a*abc", "aababab", false),
                // `?`
                ("?", "a", true),
                ("?", "ab", false),
                ("a?c", "abc", true),
                ("a?c", "ac", false),
                ("a?c", "abbc", false),
                ("??", "ab", true),
                ("??", "a", false),
                ("???", "abc", true),
                // `*?` and `?*`: at least one character
                ("*?", "a", true),
                ("*?", "abc", true),
                ("?*", "a", true),
                ("?*", "", false),
                ("a*?", "a", false),
                ("a*?", "ab", true),
                ("a*?b", "ab", false),
                ("a*?b", "axb", true),
                ("a*?b", "axyzb", true),
                ("*?*", "x", true),
                // the wildcard characters in the input are plain characters
                ("a?c", "a*c", true),
                ("a\\*", "a\\xyz", true),
                ("a\\*", "a*", false),
            ],
            Case::Sensitive,
        );
    }

    #[test]
    fn insensitive_matching() {
        check(
            &[
                ("abc", "ABC", true),
                ("ABC", "abc", true),
                ("AbC", "aBc", true),
                ("abc", "abd", false),
                ("*.Example.COM", "www.example.com", true),
                ("*.example.com", "WWW.EXAMPLE.COM", true),
                ("A?C", "abc", true),
                ("a*Z", "AbcZ", true),
                ("a*Z", "Abcz", true),
                ("a*Z", "Abcy", false),
                ("", "", true),
                ("*", "", true),
                // ASCII folding only: non-ASCII letters are compared exactly
                ("café", "CAFé", true),
                ("café", "CAFÉ", false),
                ("straße", "STRASSE", false),
            ],
            Case::Insensitive,
        );
    }

    #[test]
    fn utf8_input() {
        check(
            &[
                ("/caf?", "/café", true),
                ("/caf?", "/cafe\u{301}", false), // decomposed: `e` + combining accent is two chars
                ("/caf??", "/cafe\u{301}", true),
                ("/?", "/日", true),
                ("/??", "/日", false),
                ("*本", "日本", true),
                ("日*", "日本語", true),
                ("日?語", "日本語", true),
                ("*語", "日本", false),
                ("*é*", "😀é😀", true),
                ("?é?", "😀é😀", true),
                ("?", "😀", true),
                ("*😀", "a😀b😀", true),
                ("*😀b", "a😀😀b", true),
                ("*😀b", "a😀😀c", false),
            ],
            Case::Sensitive,
        );
        check(
            &[("ÉTÉ*", "ÉTÉ-2024", true), ("*Z", "日本z", true)],
            Case::Insensitive,
        );
    }

    #[test]
    fn pathological_input_is_linear_per_star() {
        let input = "a".repeat(10_000);
        let w = Wildcard::new("a*a*a*a*a*b", Case::Sensitive);
        assert!(!w.matches(&input));
        let w = Wildcard::new("a*a*a*a*a*a", Case::Sensitive);
        assert!(w.matches(&input));
        let w = Wildcard::new("*?*?*?*?*?b", Case::Insensitive);
        assert!(!w.matches(&input));
        let w = Wildcard::new("*a*a*a*a*a*b*", Case::Sensitive);
        let mut long = input.clone();
        long.push('b');
        assert!(w.matches(&long));
    }

    #[test]
    fn accessors() {
        let cases: &[(&str, Case, bool, usize)] = &[
            ("", Case::Sensitive, true, 0),
            ("abc", Case::Sensitive, true, 0),
            ("ABC", Case::Insensitive, true, 0),
            ("*", Case::Sensitive, false, 1),
            ("a?c", Case::Insensitive, false, 1),
            ("**", Case::Sensitive, false, 2),
            ("/api/v?/*/users/*", Case::Sensitive, false, 3),
            ("*?*?*?", Case::Sensitive, false, 6),
            ("日本", Case::Sensitive, true, 0),
        ];
        for &(pattern, case, literal, count) in cases {
            let w = Wildcard::new(pattern, case);
            assert_eq!(w.as_str(), pattern, "as_str of {pattern:?}");
            assert_eq!(w.is_literal(), literal, "is_literal of {pattern:?}");
            assert_eq!(w.case(), case, "case of {pattern:?}");
            assert_eq!(
                wildcard_count(pattern),
                count,
                "wildcard_count of {pattern:?}"
            );
        }
    }

    #[test]
    fn equality_reflects_case() {
        assert_eq!(
            Wildcard::new("a*", Case::Sensitive),
            Wildcard::new("a*", Case::Sensitive)
        );
        assert_ne!(
            Wildcard::new("a*", Case::Sensitive),
            Wildcard::new("a*", Case::Insensitive)
        );
        assert_ne!(
            Wildcard::new("A*", Case::Insensitive),
            Wildcard::new("a*", Case::Insensitive)
        );
    }

    #[test]
    fn cloudfront_normalisation() {
        let cases: &[(&str, &str)] = &[
            ("/images/*.jpg", "/images/*.jpg"),
            ("images/*.jpg", "/images/*.jpg"),
            ("*.gif", "*.gif"),
            ("*", "*"),
            ("/*", "/*"),
            ("?x", "/?x"),
            ("", "/"),
            ("a", "/a"),
        ];
        for &(written, normalised) in cases {
            assert_eq!(
                cloudfront_path_pattern(written).as_str(),
                normalised,
                "{written:?}"
            );
        }
    }

    #[test]
    fn cloudfront_doc_examples() {
        // CloudFront Developer Guide, "Cache behavior settings" → "Path pattern".
        let cases: &[(&str, &str, bool)] = &[
            ("/images/*.jpg", "/images/a.jpg", true),
            ("/images/*.jpg", "/images/sub/a.jpg", true),
            ("/images/*.jpg", "/images/a.JPG", false),
            ("/images/*.jpg", "/img/a.jpg", false),
            ("/images/*.jpg", "/Images/a.jpg", false),
            ("images/*.jpg", "/images/a.jpg", true),
            ("images/*.jpg", "images/a.jpg", false),
            ("/*.jpg", "/a.jpg", true),
            ("/*.jpg", "/images/a.jpg", true),
            ("/*.jpg", "/a.jpeg", false),
            ("*.gif", "/a.gif", true),
            ("*.gif", "/deep/path/a.gif", true),
            ("*.gif", "/a.GIF", false),
            ("/images/*", "/images/", true),
            ("/images/*", "/images/a/b/c.png", true),
            ("/images/*", "/images", false),
            ("/images/*", "/imagesx/a", false),
            ("images/*", "/images/a", true),
            ("*", "/", true),
            ("*", "/anything", true),
            ("/*", "/anything/else", true),
            ("/a?c", "/abc", true),
            ("/a?c", "/ac", false),
            ("/index.html", "/index.html", true),
            ("index.html", "/index.html", true),
            ("/index.html", "/INDEX.html", false),
        ];
        for &(pattern, path, want) in cases {
            assert_eq!(
                cloudfront_path_pattern(pattern).matches(path),
                want,
                "{pattern:?} against {path:?}"
            );
        }
    }

    #[test]
    fn query_string_values_escape_star_and_question_mark() {
        let cases = [
            (r"a\*", "a*", true),
            (r"a\*", "ab", false),
            (r"a\*", r"a\xyz", false),
            (r"a\?b", "a?b", true),
            (r"a\?b", "axb", false),
            (r"\**", "*anything", true),
            (r"a\b", r"a\b", true),
            ("v*", "V2", true),
            (r"A\*", "a*", true),
        ];
        for (pattern, input, want) in cases {
            assert_eq!(
                alb_query_pattern(pattern).matches(input),
                want,
                "{pattern:?} against {input:?}"
            );
        }
        assert!(alb_query_pattern(r"a\*").is_literal());
        assert_eq!(escaped_wildcard_count(r"a\*b*\?c?"), 2);
        assert_eq!(escaped_wildcard_count(r"a\b"), 0);
        // Elsewhere a backslash is an ordinary character.
        assert!(alb_path_pattern(r"/a\*").matches(r"/a\xyz"));
    }

    #[test]
    fn alb_doc_examples_and_case_rules() {
        type Ctor = fn(&str) -> Wildcard;
        let host: Ctor = alb_host_pattern;
        let path: Ctor = alb_path_pattern;
        let header: Ctor = alb_header_value_pattern;
        let query: Ctor = alb_query_pattern;
        let cases: &[(&str, Ctor, &str, &str, bool)] = &[
            // host-header: case-insensitive
            ("host", host, "*.example.com", "www.example.com", true),
            ("host", host, "*.example.com", "WWW.Example.COM", true),
            ("host", host, "*.example.com", "a.b.example.com", true),
            ("host", host, "*.example.com", "example.com", false),
            ("host", host, "*.example.com", "www.example.org", false),
            ("host", host, "example.com", "EXAMPLE.com", true),
            ("host", host, "www.example.com", "example.com", false),
            ("host", host, "?.example.com", "a.example.com", true),
            ("host", host, "?.example.com", "ab.example.com", false),
            // path-pattern: case-sensitive
            ("path", path, "/img/*", "/img/a.png", true),
            ("path", path, "/img/*", "/img/", true),
            ("path", path, "/img/*", "/IMG/a.png", false),
            ("path", path, "/img/*", "/img", false),
            ("path", path, "/api/v?/users", "/api/v1/users", true),
            ("path", path, "/api/v?/users", "/api/v2/users", true),
            ("path", path, "/api/v?/users", "/api/v10/users", false),
            ("path", path, "/api/v?/users", "/api/V1/users", false),
            ("path", path, "/api/v?/users", "/api/v1/Users", false),
            ("path", path, "/api/v?/users", "/api/v1/users/", false),
            ("path", path, "*.html", "/a/b.html", true),
            // http-header value: case-insensitive
            (
                "header",
                header,
                "*Mobile*",
                "Mozilla/5.0 (iPhone) mobile Safari",
                true,
            ),
            ("header", header, "*mobile*", "MOBILE", true),
            ("header", header, "*mobile*", "desktop", false),
            ("header", header, "gzip", "GZIP", true),
            // query-string key/value: case-insensitive
            ("query", query, "version", "VERSION", true),
            ("query", query, "v?", "V2", true),
            ("query", query, "*beta*", "ProductBETA1", true),
            ("query", query, "*beta*", "alpha", false),
        ];
        for &(what, ctor, pattern, input, want) in cases {
            assert_eq!(
                ctor(pattern).matches(input),
                want,
                "{what}: {pattern:?} against {input:?}"
            );
        }
        assert_eq!(alb_host_pattern("X").case(), Case::Insensitive);
        assert_eq!(alb_path_pattern("X").case(), Case::Sensitive);
        assert_eq!(alb_header_value_pattern("X").case(), Case::Insensitive);
        assert_eq!(alb_query_pattern("X").case(), Case::Insensitive);
        assert_eq!(cloudfront_path_pattern("/X").case(), Case::Sensitive);
    }
}
