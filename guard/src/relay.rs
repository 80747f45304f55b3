//! The client side of the fast paths' forwards over HTTP/1: a request head sent over a kept-alive
//! connection to an upstream (again over a new one when the kept one turns out closed), its
//! response head read past any interim responses, and the body relayed to the client as it comes:
//! framed by its Content-Length, chunked as it is, or read to its end and chunked on the way.

use crate::chunked::Chunked;
use crate::upstream::{self, ConnectError, Pool};
use crate::wire::{copy_fields, put_field};
use crate::Timed;
use bytes::{Buf, BytesMut};
use pingora::ErrorType;
use std::future::Future;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most header lines, and bytes, of an upstream's response head.
/// (pingora's client takes as many, and heads of up to 1 MiB.)
const MAX_RESPONSE_HEADERS: usize = 256;
const MAX_RESPONSE_HEAD: usize = 1024 * 1024;
/// A body up to this size goes out in the same write as its head.
const ONE_WRITE: usize = 16 * 1024;
/// Reads of an upstream's response take up to this much at a time.
const READ_SIZE: usize = 64 * 1024;
/// Buffers larger than this are not kept for the connection's next request.
const KEPT_BUFFER: usize = 16 * 1024;

/// Why a forward failed before the client got a response: the error as pingora's path names it,
/// which each proxy turns into its own status and page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed(pub ErrorType);

impl From<ConnectError> for Failed {
    fn from(e: ConnectError) -> Failed {
        Failed(match e {
            ConnectError::Refused => ErrorType::ConnectRefused,
            ConnectError::TimedOut => ErrorType::ConnectTimedout,
            ConnectError::NoRoute => ErrorType::ConnectNoRoute,
            ConnectError::Other => ErrorType::ConnectError,
        })
    }
}

impl Failed {
    /// The connection could not be opened (nothing was sent).
    pub fn connecting(&self) -> bool {
        matches!(
            self.0,
            ErrorType::ConnectRefused
                | ErrorType::ConnectTimedout
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
        )
    }
}

/// How long each step of a forward may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Opening a connection to the upstream.
    pub connect: Duration,
    /// Each write to and read from the upstream.
    pub read: Duration,
    /// How long a connection to the upstream is kept idle for the next request.
    pub idle: Duration,
    /// Each write to the client.
    pub client: Duration,
}

/// The buffers of one client connection's forwards, reused request after request.
#[derive(Default)]
pub struct Buffers {
    /// The request head as it goes to the upstream.
    pub request: BytesMut,
    /// What the upstream sent.
    pub from_upstream: BytesMut,
    /// What goes to the client.
    pub to_client: BytesMut,
    /// Whether the client got an interim (1xx) response for this request: a failure after it
    /// can only close the connection (the final response is not sent again, nor an error page).
    pub sent_interim: bool,
}

impl Buffers {
    /// Empties the buffers for the next request, and lets go of any grown large.
    pub fn recycle(&mut self) {
        self.sent_interim = false;
        for b in [
            &mut self.request,
            &mut self.from_upstream,
            &mut self.to_client,
        ] {
            b.clear();
            if b.capacity() > KEPT_BUFFER {
                *b = BytesMut::new();
            }
        }
    }
}

/// Starts the client's head for an upstream's final response: its status line as HTTP/1.1, then
/// the upstream's fields with pingora's Date in place of the upstream's, without Connection (each
/// proxy writes the client's), a Content-Length beside a Transfer-Encoding (RFC 9112 §6.3), or
/// the fields `drop` names. Whether a Date was written.
pub fn status_and_fields(
    out: &mut BytesMut,
    raw: &[u8],
    parsed: &httparse::Response<'_, '_>,
    response: &Response,
    drop: impl Fn(&str) -> bool,
) -> bool {
    put_status_line(out, response.status, parsed.reason);
    let coded = response.coded;
    let replaced = |name: &str| {
        name.eq_ignore_ascii_case("connection")
            || name.eq_ignore_ascii_case("date")
            || (coded && name.eq_ignore_ascii_case("content-length"))
            || drop(name)
    };
    let date = pingora::protocols::http::date::get_cached_date();
    let mut dated = false;
    copy_fields(
        raw,
        parsed.headers,
        out,
        |h| !replaced(h.name),
        |h, out| {
            if h.name.eq_ignore_ascii_case("date") && !dated {
                put_field(out, h.name.as_bytes(), date.as_bytes());
                dated = true;
            }
        },
    );
    dated
}

/// A status line as pingora writes it: HTTP/1.1, the status, the reason phrase received.
pub fn put_status_line(out: &mut BytesMut, status: u16, reason: Option<&str>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    crate::front::put_decimal(out, u64::from(status));
    out.extend_from_slice(b" ");
    out.extend_from_slice(reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Ends the client's head started by [`status_and_fields`]: pingora's Date when the upstream sent
/// none (`dated` false), `Connection: keep-alive` and the empty line.
pub fn end_head(out: &mut BytesMut, dated: bool) {
    if !dated {
        let date = pingora::protocols::http::date::get_cached_date();
        put_field(out, b"Date", date.as_bytes());
    }
    put_field(out, b"Connection", b"keep-alive");
    out.extend_from_slice(b"\r\n");
}

/// Writes the client's response head for each of an upstream's response heads, interim (1xx) ones
/// first and then the final one: given the buffer to write it to, the upstream's head as
/// received, its parse and its framing.
pub type ClientHead<'a> =
    dyn FnMut(&mut BytesMut, &[u8], &httparse::Response<'_, '_>, &Response) + Send + 'a;

/// Sends the request in `cx.request` to `address` and reads the response head, writing the
/// client's into `cx.to_client` with `client_head` (interim responses are written to `conn` as
/// they come, as pingora's path writes them): over a kept-alive connection when there is one,
/// and, when `resend` allows it, again over a new one when the kept one turns out closed before
/// any byte of a response (the upstream closed it while idle; the request has no body to repeat).
pub async fn exchange(
    pool: &Pool,
    (address, conn): (SocketAddr, &mut Timed),
    timeouts: &Timeouts,
    cx: &mut Buffers,
    (head_only, resend): (bool, bool),
    client_head: &mut ClientHead<'_>,
) -> Result<(TcpStream, Response), Failed> {
    let mut kept = pool.take(address);
    loop {
        let reused = kept.is_some();
        let mut upstream = match kept.take() {
            Some(s) => s,
            None => upstream::connect(address, timeouts.connect).await?,
        };
        cx.from_upstream.clear();
        cx.to_client.clear();
        let written = within(timeouts.read, upstream.write_all(&cx.request)).await;
        let head = match written {
            Ok(()) => {
                let reading = (&mut upstream, &mut *conn);
                response_head(reading, cx, timeouts, head_only, client_head).await
            }
            Err(e) => Err((e, 0)),
        };
        match head {
            Ok(response) => return Ok((upstream, response)),
            // Closed (or reset) before a byte of a response: closed while it was idle.
            Err((Failed(ErrorType::ConnectionClosed), 0)) if reused && resend => continue,
            Err((e, _)) => return Err(e),
        }
    }
}

/// Reads the response head (past any 1xx interim response, written to the client at once); on
/// failure, the error and how many bytes the upstream had sent.
async fn response_head(
    (upstream, conn): (&mut TcpStream, &mut Timed),
    cx: &mut Buffers,
    timeouts: &Timeouts,
    head_only: bool,
    client_head: &mut ClientHead<'_>,
) -> Result<Response, (Failed, usize)> {
    let mut received = 0;
    loop {
        if !cx.from_upstream.is_empty() {
            let to_client = &mut cx.to_client;
            let parsed = parse_response(&cx.from_upstream, head_only, |raw, head, response| {
                client_head(to_client, raw, head, response)
            });
            match parsed {
                Ok(Some(response)) if (100..200).contains(&response.status) => {
                    if response.status == 101 {
                        return Err((Failed(ErrorType::InvalidHTTPHeader), received));
                    }
                    // An interim response (103 Early Hints, an unasked 100): passed on at once
                    // (as `client_head` wrote it), as pingora's path passes it.
                    cx.from_upstream.advance(response.head);
                    cx.sent_interim = true;
                    let written = write(conn, &cx.to_client, &[], timeouts.client).await;
                    cx.to_client.clear();
                    if written.is_err() {
                        return Err((Failed(ErrorType::WriteError), received));
                    }
                    continue;
                }
                Ok(Some(response)) => return Ok(response),
                Ok(None) if cx.from_upstream.len() < MAX_RESPONSE_HEAD => {}
                _ => return Err((Failed(ErrorType::InvalidHTTPHeader), received)),
            }
        }
        // Doubling: a large head is parsed again a few times, not once per 4 KiB.
        cx.from_upstream.reserve(cx.from_upstream.len().max(4096));
        match within(timeouts.read, upstream.read_buf(&mut cx.from_upstream)).await {
            Ok(0) => return Err((Failed(ErrorType::ConnectionClosed), received)),
            Ok(n) => received += n,
            Err(e) => return Err((e, received)),
        }
    }
}

/// An upstream's response head, as the client gets it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Bytes of `from_upstream` the head took.
    pub head: usize,
    pub body: Body,
    /// The upstream's connection may carry another request after this response.
    pub reusable: bool,
    /// It has a Transfer-Encoding, so any Content-Length beside it does not frame it.
    pub coded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    /// Until the upstream closes: relayed in chunks.
    UntilClose,
}

/// A response head that is not HTTP/1, or whose framing is contradictory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// An upstream's response head: `Ok(None)` while incomplete, `Err` when it is not HTTP/1 or its
/// framing is contradictory; `each_head` sees a complete one.
pub fn parse_response(
    bytes: &[u8],
    head_only: bool,
    each_head: impl FnOnce(&[u8], &httparse::Response<'_, '_>, &Response),
) -> Result<Option<Response>, Malformed> {
    let mut fields = [const { MaybeUninit::uninit() }; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    // As leniently as pingora's client reads a response: a space before a colon, and obs-fold
    // (both written out cleanly to the client, `copy_fields`).
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true);
    let head = match config.parse_response_with_uninit_headers(&mut parsed, bytes, &mut fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    // A status pingora's header type refuses (under 100) is a malformed response.
    let status = parsed
        .code
        .filter(|c| (100..=999).contains(c))
        .ok_or(Malformed)?;
    let mut length: Option<u64> = None;
    let (mut chunked, mut te) = (false, false);
    let mut close = parsed.version != Some(1);
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            for v in h.value.split(|b| *b == b',') {
                let n = std::str::from_utf8(v.trim_ascii())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(Malformed)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Malformed);
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only chunked coding is relayed as it is; any other coding ends at the close.
            te = true;
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let body = if head_only || matches!(status, 204 | 304) || (100..200).contains(&status) {
        Body::None
    } else if chunked {
        Body::Chunked
    } else if let (Some(n), false) = (length, te) {
        Body::Length(n)
    } else {
        Body::UntilClose
    };
    let response = Response {
        status,
        head,
        body,
        reusable: !close && body != Body::UntilClose,
        coded: te,
    };
    each_head(&bytes[..head], &parsed, &response);
    Ok(Some(response))
}

/// What relaying a body did.
pub struct Relayed {
    /// Body bytes written to the client.
    pub sent: usize,
    /// The upstream's connection ended cleanly after the body.
    pub reusable: bool,
}

/// Sends the client the head in `to_client` and the body as the upstream sends it. `Err`: the
/// exchange broke off (the connection must close), with the body bytes sent.
pub async fn relay(
    upstream: &mut TcpStream,
    conn: &mut Timed,
    cx: &mut Buffers,
    response: &Response,
    timeouts: &Timeouts,
) -> Result<Relayed, usize> {
    let (read, client) = (timeouts.read, timeouts.client);
    let mut rest = cx.from_upstream.split_off(response.head);
    let mut sent = 0;
    let mut reusable = response.reusable;
    match response.body {
        Body::None => {
            reusable &= rest.is_empty();
            write(conn, &cx.to_client, &[], client)
                .await
                .map_err(|_| 0usize)?;
        }
        Body::Length(length) => {
            let mut left = length;
            let mut first = true;
            loop {
                let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                reusable &= take == rest.len();
                let head: &[u8] = if first { &cx.to_client } else { &[] };
                write(conn, head, &rest[..take], client)
                    .await
                    .map_err(|_| sent)?;
                first = false;
                sent += take;
                left -= take as u64;
                if left == 0 {
                    break;
                }
                rest.clear();
                read_more(upstream, &mut rest, read)
                    .await
                    .map_err(|_| sent)?;
            }
        }
        Body::Chunked => {
            let mut chunked = Chunked::default();
            let mut first = true;
            loop {
                let Ok(end) = chunked.feed(&rest) else {
                    // Not chunked after all: the client learns of it as from pingora's path, by
                    // the head and then the close.
                    if first {
                        let _ = write(conn, &cx.to_client, &[], client).await;
                    }
                    return Err(sent);
                };
                let take = end.unwrap_or(rest.len());
                reusable &= take == rest.len();
                let head: &[u8] = if first { &cx.to_client } else { &[] };
                write(conn, head, &rest[..take], client)
                    .await
                    .map_err(|_| sent)?;
                first = false;
                // The payload, as the other bodies (and pingora) count theirs: not the framing.
                sent = usize::try_from(chunked.data()).unwrap_or(usize::MAX);
                if end.is_some() {
                    break;
                }
                rest.clear();
                read_more(upstream, &mut rest, read)
                    .await
                    .map_err(|_| sent)?;
            }
        }
        Body::UntilClose => {
            reusable = false;
            let mut framed = BytesMut::new();
            let mut first = true;
            loop {
                framed.clear();
                if first {
                    framed.extend_from_slice(&cx.to_client);
                }
                if !rest.is_empty() {
                    framed.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
                    framed.extend_from_slice(&rest);
                    framed.extend_from_slice(b"\r\n");
                    sent += rest.len();
                }
                // Each piece goes out as it comes (a stream of events waits for no later one).
                if !framed.is_empty() {
                    write(conn, &framed, &[], client).await.map_err(|_| sent)?;
                }
                first = false;
                rest.clear();
                match read_more(upstream, &mut rest, read).await {
                    Ok(()) => {}
                    Err(ReadEnd::Closed) => {
                        write(conn, b"0\r\n\r\n", &[], client)
                            .await
                            .map_err(|_| sent)?;
                        break;
                    }
                    Err(ReadEnd::Broken) => return Err(sent),
                }
            }
        }
    }
    Ok(Relayed { sent, reusable })
}

enum ReadEnd {
    /// The upstream closed the connection.
    Closed,
    /// A read failed or timed out.
    Broken,
}

/// Reads the upstream's next bytes into `into` (empty).
async fn read_more(
    upstream: &mut TcpStream,
    into: &mut BytesMut,
    timeout: Duration,
) -> Result<(), ReadEnd> {
    into.reserve(READ_SIZE);
    match tokio::time::timeout(timeout, upstream.read_buf(into)).await {
        Ok(Ok(0)) => Err(ReadEnd::Closed),
        Ok(Ok(_)) => Ok(()),
        _ => Err(ReadEnd::Broken),
    }
}

/// Writes a head and body bytes to the client (in one write when small) and flushes, within
/// `timeout`.
pub async fn write(
    conn: &mut Timed,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<(), Failed> {
    let both = async {
        if body.is_empty() {
            conn.write_all(head).await?;
        } else if head.len() + body.len() <= ONE_WRITE && !head.is_empty() {
            let mut one = Vec::with_capacity(head.len() + body.len());
            one.extend_from_slice(head);
            one.extend_from_slice(body);
            conn.write_all(&one).await?;
        } else {
            crate::front::write_both(conn, head, body).await?;
        }
        conn.flush().await
    };
    within(timeout, both).await
}

/// An I/O step within `timeout`, as a forward failure.
pub async fn within<T>(
    timeout: Duration,
    step: impl Future<Output = std::io::Result<T>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failed(match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => ErrorType::ConnectionClosed,
            _ => ErrorType::ReadError,
        })),
        Err(_) => Err(Failed(ErrorType::ReadTimedout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing() {
        // (head, HEAD request, (status, framing, reusable)), `None`: refused.
        type Case<'a> = (&'a str, bool, Option<(u16, Body, bool)>);
        let cases: &[Case] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Some((200, Body::Length(5), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Some((200, Body::None, true)),
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                false,
                Some((204, Body::None, true)),
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
                Some((304, Body::None, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Some((200, Body::Chunked, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                Some((200, Body::Chunked, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.1 200 OK\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), false)),
            ),
            (
                "HTTP/1.0 200 OK\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), false)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), true)),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\n",
                false,
                Some((100, Body::None, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                false,
                None,
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, None),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
                false,
                None,
            ),
            ("SSH-2.0-OpenSSH\r\n\r\n", false, None),
            ("HTTP/1.1 099 Low\r\n\r\n", false, None),
            (
                "HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 1\r\n\r\n",
                false,
                Some((200, Body::Length(1), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\n",
                false,
                Some((200, Body::Length(1), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
        ];
        for (head, head_only, want) in cases {
            let got = parse_response(head.as_bytes(), *head_only, |_, _, _| {})
                .ok()
                .flatten()
                .map(|r| (r.status, r.body, r.reusable));
            assert_eq!(&got, want, "{head:?} (HEAD: {head_only})");
        }
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Le", false, |_, _, _| {}),
            Ok(None)
        ));
    }
}
