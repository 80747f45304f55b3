//! Where a chunked message body ends, read as it streams by: the fast paths relay an upstream's
//! chunked body as it is and need to know its last byte, to reuse the connection after it.

/// A chunked body's framing, fed the body's bytes in order.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
    /// Chunk data bytes so far (the payload, without the framing).
    data: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line.
    #[default]
    SizeStart,
    /// In the size's digits.
    Size(u64),
    /// In whitespace after the digits (before `;` or the line end).
    SizeSpace(u64),
    /// In the chunk extensions.
    Extension(u64),
    /// The size line's CR was seen.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field line.
    Trailer,
    TrailerLf,
    /// The final CR was seen.
    EndLf,
    Done,
}

/// The body's framing is not chunked coding.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Chunk sizes beyond this many hex digits are refused rather than overflowed.
const MAX_SIZE_DIGITS: u32 = 15;

impl Chunked {
    /// Takes the next bytes of the body. `Ok(Some(n))`: the body ended with the `n`th byte
    /// (what follows is not part of it); `Ok(None)`: every byte belongs to the body, which goes on.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<usize>, Malformed> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            self.state = match self.state {
                State::SizeStart => State::Size(u64::from(hex(b).ok_or(Malformed)?)),
                State::Size(size) => match b {
                    b'\r' => State::SizeLf { size },
                    b' ' | b'\t' => State::SizeSpace(size),
                    b';' => State::Extension(size),
                    _ => {
                        let digit = hex(b).ok_or(Malformed)?;
                        if size >> (4 * MAX_SIZE_DIGITS - 4) != 0 {
                            return Err(Malformed);
                        }
                        State::Size(size << 4 | u64::from(digit))
                    }
                },
                State::SizeSpace(size) => match b {
                    b'\r' => State::SizeLf { size },
                    b' ' | b'\t' => State::SizeSpace(size),
                    b';' => State::Extension(size),
                    // `5 6`: not one size.
                    _ => return Err(Malformed),
                },
                State::Extension(size) if b == b'\r' => State::SizeLf { size },
                State::Extension(size) if text(b) => State::Extension(size),
                State::SizeLf { size } if b == b'\n' => {
                    if size == 0 {
                        State::TrailerStart
                    } else {
                        State::Data(size)
                    }
                }
                State::Data(left) => {
                    let take = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    i += take;
                    self.data += take as u64;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => State::SizeStart,
                State::TrailerStart if b == b'\r' => State::EndLf,
                State::TrailerStart | State::Trailer if text(b) => State::Trailer,
                State::Trailer if b == b'\r' => State::TrailerLf,
                State::TrailerLf if b == b'\n' => State::TrailerStart,
                State::EndLf if b == b'\n' => State::Done,
                State::Done => return Ok(Some(i)),
                _ => return Err(Malformed),
            };
            i += 1;
        }
        Ok((self.state == State::Done).then_some(bytes.len()))
    }
}

impl Chunked {
    /// The chunk data fed so far: the body's payload, as counted when it is sent.
    pub fn data(&self) -> u64 {
        self.data
    }
}

/// A byte a field line or extension may hold: visible ASCII, space, tab, obs-text (no control
/// byte, no bare CR or LF).
fn text(b: u8) -> bool {
    b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes; where it ended.
    fn end(body: &[u8], step: usize) -> Result<Option<usize>, Malformed> {
        let mut c = Chunked::default();
        let mut at = 0;
        for piece in body.chunks(step) {
            if let Some(n) = c.feed(piece)? {
                return Ok(Some(at + n));
            }
            at += piece.len();
        }
        Ok(None)
    }

    #[test]
    fn bodies_end_where_their_last_chunk_and_trailers_end() {
        type Case<'a> = (&'a [u8], Result<Option<usize>, Malformed>);
        let cases: &[Case] = &[
            (b"0\r\n\r\n", Ok(Some(5))),
            (b"5\r\nhello\r\n0\r\n\r\n", Ok(Some(15))),
            (b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1", Ok(Some(15))),
            (b"A;name=val\r\n0123456789\r\n0\r\n\r\n", Ok(Some(29))),
            (b"a \r\n0123456789\r\n0\r\n\r\n", Ok(Some(21))),
            (b"0\r\nExpires: never\r\nX: y\r\n\r\n", Ok(Some(27))),
            (b"5\r\nhel", Ok(None)),
            (b"5\r\nhello\r\n0\r\n", Ok(None)),
            (b"0\r\n\r", Ok(None)),
            (b"x\r\n", Err(Malformed)),
            (b"5\r\nhelloX", Err(Malformed)),
            (b"5\nhello", Err(Malformed)),
            (b"0\r\n\n", Err(Malformed)),
            (b"1000000000000000\r\n", Err(Malformed)),
            (b"5 6\r\nhello\r\n", Err(Malformed)),
            (b"5 ;x\r\nhello\r\n0\r\n\r\n", Ok(Some(18))),
            (b"5;a\nb\r\nhello\r\n", Err(Malformed)),
            (b"5;a\x01\r\nhello\r\n", Err(Malformed)),
            (b"0\r\nX: a\x00b\r\n\r\n", Err(Malformed)),
        ];
        for (body, want) in cases {
            for step in [1, 2, 3, 7, 1000] {
                assert_eq!(
                    &end(body, step),
                    want,
                    "{:?} in steps of {step}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn the_payload_is_counted_without_the_framing() {
        let body = b"5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 3, body.len()] {
            let mut c = Chunked::default();
            for piece in body.chunks(step) {
                assert!(c.feed(piece).is_ok());
            }
            assert_eq!(c.data(), 5 + 26, "in pieces of {step}");
        }
    }
}
