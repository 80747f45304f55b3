//! A fast path of ferry's own in front of pingora's HTTP/1 app. [`Front`] reads each request head
//! of a connection itself and lets a [`FastPath`] answer the requests it can (the edge's fresh
//! hits, the balancer's plain forwards) without pingora's session, header maps or state machines.
//! Any other request goes through pingora, for that request only, with the bytes already read;
//! when pingora keeps the connection alive, it comes back here for its next request. Connections
//! without a fast path run the same loop, one request through pingora at a time, so that the head
//! deadline learns where each request ends. HTTP/2 connections run pingora's streams in an accept
//! loop of ferry's (`http2`), which keeps the same idle timeout and maximum age.

use crate::Timed;
use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Shutdown, Stream, ALPN};
use pingora::server::ShutdownWatch;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a kept-alive connection of the edge may wait for its next request (pingora's default);
/// the balancer's wait is its load balancer's idle timeout.
pub const KEEPALIVE: Duration = Duration::from_secs(60);

/// The largest head a fast path reads: a larger one goes to pingora, whose limits then apply.
pub const MAX_HEAD: usize = 16 * 1024;

const READ_BUFFER: usize = 4096;

/// How long closing a connection after an error may take.
const SHUTDOWN: Duration = Duration::from_secs(1);

/// What a fast path did with the bytes read so far.
pub enum Served {
    /// The head is not complete yet: read more.
    Incomplete,
    /// pingora answers this request.
    HandOver,
    /// Answered; the request took this many bytes of the buffer.
    Answered(usize),
    /// The connection is done (closed by either side or broken).
    Close,
}

/// The requests a proxy answers itself.
#[async_trait]
pub trait FastPath: Send + Sync + 'static {
    /// What the fast path keeps of one connection.
    type Conn: Send;

    /// `None` leaves the connection to pingora from the start.
    fn connection(&self, conn: &Timed) -> Option<Self::Conn>;

    /// Answers the request at the start of `buf` (the bytes read and not yet answered), or says
    /// why not. `stopping`: the server is stopping (pingora then closes the connection after its
    /// response, and says so).
    async fn serve(
        &self,
        conn: &mut Timed,
        cx: &mut Self::Conn,
        buf: &[u8],
        stopping: bool,
    ) -> Served;
}

/// An HTTP app (pingora's) with a fast path in front.
pub struct Front<A, F> {
    inner: Arc<A>,
    fast: F,
    enabled: bool,
    /// How long a kept-alive connection may wait for its next request, on either path.
    keepalive: crate::TimeoutHandle,
    /// How long a connection may stay open at all (`None`: as long as it is used): the response
    /// after it closes it.
    max_age: Option<crate::TimeoutHandle>,
}

impl<A, F> Front<A, F> {
    /// `enabled` false hands every connection straight to `inner`; `keepalive` is how long an
    /// idle kept-alive connection waits for its next request (reloadable).
    pub fn new(inner: A, fast: F, enabled: bool, keepalive: &crate::TimeoutHandle) -> Front<A, F> {
        Front {
            inner: Arc::new(inner),
            fast,
            enabled,
            keepalive: keepalive.clone(),
            max_age: None,
        }
    }

    /// Closes each connection with the response after it has been open for `max_age`
    /// (reloadable): ALB's client keepalive.
    pub fn with_max_age(mut self, max_age: &crate::TimeoutHandle) -> Front<A, F> {
        self.max_age = Some(max_age.clone());
        self
    }

    /// Whether a connection opened at `opened` has been open for its whole allowed time.
    fn aged(&self, opened: std::time::Instant) -> bool {
        self.max_age
            .as_ref()
            .is_some_and(|max| opened.elapsed() >= max.get())
    }

    /// The keep-alive wait in pingora's whole seconds (at least 1: 0 is "forever" to pingora).
    fn keepalive_secs(&self) -> u64 {
        self.keepalive.get().as_secs().max(1)
    }
}

/// Whether a fast path is on: `VAR=0` (or `off`, `false`) turns it off, to compare with pingora's
/// path or to rule it out.
pub fn enabled_by_env(var: &str) -> bool {
    !matches!(
        std::env::var(var).as_deref(),
        Ok("0") | Ok("off") | Ok("false")
    )
}

enum Outcome {
    /// The connection ended here.
    Closed,
    /// pingora takes the connection over, with these bytes read already.
    HandOver(Bytes),
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static, F: FastPath> ServerApp for Front<A, F> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let opened = std::time::Instant::now();
        // HTTP/2 streams are pingora's, each whole, in an accept loop that keeps this app's idle
        // timeout and maximum age; any other protocol by ALPN is pingora's alone.
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            let lifetime = crate::http2::Lifetime {
                idle: self.keepalive.get(),
                until: self.max_age.as_ref().map(|max| opened + max.get()),
            };
            crate::http2::serve(&self.inner, stream, shutdown, lifetime).await;
            return None;
        }
        if matches!(stream.selected_alpn_proto(), Some(ALPN::Custom(_)))
            || !stream.as_any().is::<Timed>()
        {
            return self.inner.process_new(stream, shutdown).await;
        }
        let mut conn = timed(stream)?;
        let mut cx = self.enabled.then(|| self.fast.connection(&conn)).flatten();
        // What pingora kept of the connection's last request through it (`None`: none yet).
        // pingora's pipelining, which would leave read bytes in them, is off (its default).
        let mut reused: Option<Option<HttpPersistentSettings>> = None;
        loop {
            if let Some(cx) = cx.as_mut() {
                match self.serve(&mut conn, cx, shutdown, opened).await {
                    Outcome::Closed => return None,
                    Outcome::HandOver(read) => conn.replay(read),
                }
            }
            // One request through pingora, set up as pingora's own HTTP/1 loop sets up each
            // (which this loop stands in for, so that each request's end is known here).
            let mut session = ServerSession::new_http1(conn);
            match reused.take() {
                Some(Some(settings)) => {
                    settings.apply_to_session(&mut session);
                    // pingora keeps an HTTP/1.1 connection waiting forever (its reading of the
                    // last request's `Connection` header): the wait is ours to bound.
                    if session.get_keepalive().is_some() {
                        session.set_keepalive(Some(self.keepalive_secs()));
                    }
                }
                Some(None) => {}
                None => {
                    session.set_keepalive((!*shutdown.borrow()).then_some(self.keepalive_secs()));
                    session.set_keepalive_reuses_remaining(
                        self.inner
                            .server_options()
                            .and_then(|o| o.keepalive_request_limit),
                    );
                }
            }
            if self.aged(opened) {
                // No reuse left: pingora answers with `Connection: close` and closes.
                session.set_keepalive_reuses_remaining(Some(0));
            }
            // Kept alive, the connection comes back here for its next request.
            let (stream, kept) = self
                .inner
                .process_new_http(session, shutdown)
                .await?
                .consume();
            reused = Some(kept);
            conn = timed(stream)?;
            // pingora has read the request to its end (draining a body its answer left unread):
            // what follows begins the next head.
            conn.request_done();
        }
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await;
    }
}

/// The connection as the head deadline wrapped it.
fn timed(stream: Stream) -> Option<Box<Timed>> {
    // `None` is not reached: every HTTP/1 connection reaching the app is one.
    stream.into_any().downcast::<Timed>().ok()
}

impl<A, F: FastPath> Front<A, F> {
    async fn serve(
        &self,
        conn: &mut Timed,
        cx: &mut F::Conn,
        shutdown: &ShutdownWatch,
        opened: std::time::Instant,
    ) -> Outcome {
        let mut watch = shutdown.clone();
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        loop {
            if !buf.is_empty() {
                // An aged connection is answered as a stopping server answers: by pingora, which
                // closes it after this response.
                let stopping = *shutdown.borrow() || self.aged(opened);
                match self.fast.serve(conn, cx, &buf, stopping).await {
                    Served::Incomplete if buf.len() < MAX_HEAD => {}
                    Served::Incomplete | Served::HandOver => {
                        return Outcome::HandOver(buf.freeze())
                    }
                    Served::Close => return Outcome::Closed,
                    Served::Answered(used) => {
                        buf.advance(used.min(buf.len()));
                        // Pipelined requests already read: the next head is timed from here.
                        conn.next_head(&buf);
                        continue;
                    }
                }
            } else if buf.capacity() > 2 * READ_BUFFER {
                // An idle connection keeps no more than a fresh one.
                buf = BytesMut::with_capacity(READ_BUFFER);
            } else {
                // Reclaims the buffer's space once its requests are answered.
                buf.reserve(READ_BUFFER);
            }
            // Each read waits at most the keep-alive time, as pingora's reads of a head do (the
            // head deadline, usually shorter, runs meanwhile); a stop hands the connection to
            // pingora, which closes it at its cleanup.
            let read = tokio::select! {
                biased;
                read = tokio::time::timeout(self.keepalive.get(), conn.read_buf(&mut buf)) => read,
                _ = watch.changed() => return Outcome::HandOver(buf.freeze()),
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // Closed by the client.
                Ok(Ok(_)) => return Outcome::Closed,
                // A read error (an overdue head among them) or idle too long: closed as pingora
                // closes it (a TLS client gets its close_notify).
                Ok(Err(_)) | Err(_) => {
                    close(conn).await;
                    return Outcome::Closed;
                }
            }
        }
    }
}

/// Closes a connection as pingora closes it (a TLS client gets its close_notify), in bounded time.
pub async fn close(conn: &mut Timed) {
    let _ = tokio::time::timeout(SHUTDOWN, Shutdown::shutdown(conn)).await;
}

/// Writes a head and a large body in as few writes as the socket takes (one `writev` when it
/// takes all), without copying the body.
pub async fn write_both(conn: &mut Timed, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (mut head, mut body) = (head, body);
    while !head.is_empty() || !body.is_empty() {
        let slices = [std::io::IoSlice::new(head), std::io::IoSlice::new(body)];
        let n = conn.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        body = body.get(n - from_head..).unwrap_or_default();
    }
    Ok(())
}

/// `n` in decimal into a head, without the formatting machinery (every response writes some).
pub fn put_decimal(out: &mut bytes::BytesMut, n: u64) {
    out.extend_from_slice(decimal(n, &mut [0; 20]));
}

/// The decimal digits of `n`, written at the end of `digits`.
pub fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// A response head as pingora's HTTP/1 session writes it: the status line (HTTP/1.1, the reason
/// phrase it has), its fields, the empty line.
pub fn put_head(out: &mut bytes::BytesMut, response: &pingora::http::ResponseHeader) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(response.status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    if let Some(reason) = response.get_reason_phrase() {
        out.extend_from_slice(reason.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    response.header_to_h1_wire(out);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 86_400, u64::MAX] {
            let mut out = BytesMut::new();
            put_decimal(&mut out, n);
            assert_eq!(&out[..], n.to_string().as_bytes());
        }
    }
}
