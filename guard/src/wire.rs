//! HTTP/1 head bytes as the fast paths write them: field lines copied as received where they can
//! be, replaced where they must be, and written out cleanly where the sender was lenient.

use bytes::BytesMut;

/// Whether a request field sends its request to pingora's path, on either fast path: a body or its
/// announcement (or a name that could be read as one), an upgrade, or a hop-by-hop field pingora
/// strips from what it forwards (`Proxy-*` among them).
pub fn refused_field(name: &str) -> bool {
    const REFUSED: &[&str] = &[
        "content-length",
        "transfer-encoding",
        "expect",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "http2-settings",
    ];
    REFUSED.iter().any(|r| name.eq_ignore_ascii_case(r))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
        || ferry_config::desync::frames_body(name.as_bytes())
}

/// One `name: value` line of a head.
pub fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Whether every line of a head ends with CRLF (no bare LF).
pub fn crlf_only(head: &[u8]) -> bool {
    line_ends(head).0
}

/// Of a head's line ends: whether all are CRLF (no bare LF), and whether any line continues the
/// one before (obs-fold, which only a response can have). One pass over byte pairs, which the
/// compiler vectorises (heads are short: a search per line costs more in calls than it saves).
fn line_ends(head: &[u8]) -> (bool, bool) {
    let (bare, folded) = head.iter().zip(head.get(1..).unwrap_or_default()).fold(
        (false, false),
        |(bare, folded), (&a, &b)| {
            (
                bare | ((b == b'\n') & (a != b'\r')),
                folded | ((a == b'\n') & ((b == b' ') | (b == b'\t'))),
            )
        },
    );
    (!bare && head.first() != Some(&b'\n'), folded)
}

/// Writes a parsed head's field lines to `out`: those `keep` keeps as they were received (runs of
/// them in one copy), and for each of the others what `instead` writes in its place. `raw` is the
/// whole head the fields were parsed from.
pub fn copy_fields<'f>(
    raw: &[u8],
    fields: &[httparse::Header<'f>],
    out: &mut BytesMut,
    keep: impl Fn(&httparse::Header<'f>) -> bool,
    mut instead: impl FnMut(&httparse::Header<'f>, &mut BytesMut),
) {
    // The field lines end where the final empty line begins.
    let end = raw.len().saturating_sub(2);
    let base = raw.as_ptr() as usize;
    let start = |h: &httparse::Header<'_>| {
        (h.name.as_ptr() as usize)
            .checked_sub(base)
            .filter(|s| *s <= end)
    };
    let (crlf, folded) = line_ends(raw);
    let mut last = 0;
    let laid_out = raw.len() >= 2
        && crlf
        && fields.iter().all(|h| {
            // In order, within the head.
            let at = start(h);
            let fine = at.is_some_and(|at| at >= last);
            last = at.unwrap_or(last);
            fine
        });
    if !laid_out {
        // Not laid out as expected: field by field.
        for h in fields {
            if keep(h) {
                put_unfolded(out, h.name.as_bytes(), h.value);
            } else {
                instead(h, out);
            }
        }
        return;
    }
    let mut run: Option<usize> = None;
    for h in fields {
        let at = start(h).unwrap_or(end);
        let kept = keep(h);
        // As received only when written as `name:` on one line (a target's response may have a
        // space before the colon, or obs-fold: those are written out cleanly).
        let clean = raw.get(at + h.name.len()) == Some(&b':')
            && !(folded && h.value.iter().any(|&b| b == b'\r' || b == b'\n'));
        if kept && clean {
            run.get_or_insert(at);
            continue;
        }
        if let Some(from) = run.take() {
            out.extend_from_slice(raw.get(from..at).unwrap_or_default());
        }
        if kept {
            put_unfolded(out, h.name.as_bytes(), h.value);
        } else {
            instead(h, out);
        }
    }
    if let Some(from) = run {
        out.extend_from_slice(raw.get(from..end).unwrap_or_default());
    }
}

/// A field line with any obs-fold in its value replaced by one space, as pingora writes it.
pub fn put_unfolded(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    let mut folding = false;
    for &b in value {
        match (b, folding) {
            (b'\r' | b'\n', _) => folding = true,
            (b' ' | b'\t', true) => {}
            (_, true) => {
                out.extend_from_slice(b" ");
                out.extend_from_slice(&[b]);
                folding = false;
            }
            (_, false) => out.extend_from_slice(&[b]),
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::MaybeUninit;

    #[test]
    fn fields_are_copied_as_received_or_replaced() {
        let cases: &[(&str, &str)] = &[
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX-A:  1\r\nConnection: keep-alive\r\nX-B: 2\r\n\r\n",
                "Host: b\r\nX-A:  1\r\nX-B: 2\r\n",
            ),
            ("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", ""),
            (
                "GET / HTTP/1.1\r\nX-A: 1\r\nConnection: keep-alive\r\n\r\n",
                "X-A: 1\r\n",
            ),
            // Bare LF: field by field, with CRLF.
            (
                "GET / HTTP/1.1\nHost: a\nX-A:  1\nX-B: 2\n\n",
                "Host: b\r\nX-A: 1\r\nX-B: 2\r\n",
            ),
        ];
        for (raw, want) in cases {
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Request::new(&mut headers);
            let head = match parsed.parse(raw.as_bytes()) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("{raw:?}: {other:?}"),
            };
            let mut out = BytesMut::new();
            copy_fields(
                &raw.as_bytes()[..head],
                parsed.headers,
                &mut out,
                |h| !["host", "connection"].contains(&h.name.to_ascii_lowercase().as_str()),
                |h, out| {
                    if h.name == "Host" {
                        put_field(out, b"Host", b"b");
                    }
                },
            );
            assert_eq!(String::from_utf8_lossy(&out), *want, "{raw:?}");
        }
    }

    #[test]
    fn folded_and_spaced_fields_are_written_out_cleanly() {
        let raw = "HTTP/1.1 200 OK\r\nA: 1\r\nX-Bad : v\r\nX-Fold: a\r\n  b\r\nB: 2\r\n\r\n";
        let mut fields = [const { MaybeUninit::uninit() }; 8];
        let mut parsed = httparse::Response::new(&mut []);
        let mut config = httparse::ParserConfig::default();
        config
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true);
        let head = match config.parse_response_with_uninit_headers(
            &mut parsed,
            raw.as_bytes(),
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}"),
        };
        let mut out = BytesMut::new();
        copy_fields(
            &raw.as_bytes()[..head],
            parsed.headers,
            &mut out,
            |_| true,
            |_, _| {},
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "A: 1\r\nX-Bad: v\r\nX-Fold: a b\r\nB: 2\r\n"
        );
    }
}
