//! The request target both tiers accept (RFC 9112 §3.2): origin-form (`/path?query`), `*` for
//! OPTIONS, or absolute-form (`http://host/path`, which the tiers then hold to the Host header);
//! never a control character, space or DEL, which a lenient parser would otherwise let through
//! percent-encoded (`GET  /a`, a NUL in the path) to an origin that reads it differently.

/// Why a request target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    /// A byte that no URI may hold raw: a control character, space or DEL.
    ForbiddenByte(u8),
    /// Neither `/...`, `*` (OPTIONS) nor `scheme://...`.
    NotAForm,
}

impl Refusal {
    pub fn reason(self) -> String {
        match self {
            Refusal::Empty => "the request target is empty".into(),
            Refusal::ForbiddenByte(b) => {
                format!("the request target holds the byte 0x{b:02x}, which no URI may hold raw")
            }
            Refusal::NotAForm => {
                "the request target is neither a path, `*` for OPTIONS, nor an absolute URI".into()
            }
        }
    }
}

/// Checks `raw`, the request target as the client sent it, for `method`.
pub fn check(method: &str, raw: &[u8]) -> Result<(), Refusal> {
    if raw.is_empty() {
        return Err(Refusal::Empty);
    }
    if let Some(&b) = raw.iter().find(|&&b| b <= 0x20 || b == 0x7f) {
        return Err(Refusal::ForbiddenByte(b));
    }
    let absolute = raw.iter().position(|&b| b == b':').is_some_and(|i| {
        i > 0
            && raw[..i]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
            && raw[i..].starts_with(b"://")
    });
    if raw[0] == b'/' || absolute || (raw == b"*" && method == "OPTIONS") {
        Ok(())
    } else {
        Err(Refusal::NotAForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let cases: &[(&str, &[u8], Result<(), Refusal>)] = &[
            ("GET", b"/", Ok(())),
            ("GET", b"/a/b?x=1&y=%20", Ok(())),
            ("GET", b"/caf\xc3\xa9", Ok(())),
            ("GET", b"http://example.test/a", Ok(())),
            ("OPTIONS", b"*", Ok(())),
            ("GET", b"*", Err(Refusal::NotAForm)),
            ("GET", b"", Err(Refusal::Empty)),
            ("GET", b" /a", Err(Refusal::ForbiddenByte(b' '))),
            ("GET", b"/a\0b", Err(Refusal::ForbiddenByte(0))),
            ("GET", b"/a\tb", Err(Refusal::ForbiddenByte(b'\t'))),
            ("GET", b"/a\x7fb", Err(Refusal::ForbiddenByte(0x7f))),
            ("GET", b"a/b", Err(Refusal::NotAForm)),
            ("GET", b"example.test:80", Err(Refusal::NotAForm)),
            ("GET", b"://x", Err(Refusal::NotAForm)),
        ];
        for (method, raw, want) in cases {
            assert_eq!(
                check(method, raw),
                *want,
                "{method} {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
