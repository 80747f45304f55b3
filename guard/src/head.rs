//! A deadline for the request head. pingora times each read of a request head out on its own, so
//! a client that sends a byte every few seconds (slowloris) holds a connection and a task forever.
//! [`HeadDeadline`] wraps an HTTP app: every HTTP/1 connection's stream is wrapped in a [`Timed`]
//! whose reads fail once the head of the request being read is not complete `timeout` after its
//! first byte (nginx's `client_header_timeout`, HAProxy's `timeout http-request`). The deadline is
//! armed when a connection is accepted and by the first byte after each request's end (which
//! the app that reads the connection marks: [`Timed::next_head`], [`Timed::request_done`]), and
//! disarmed by the empty line that ends a head, so an idle kept-alive connection between requests
//! (pingora's keep-alive timeout) and a slow body (the tiers' own timeouts) are not its business.
//! HTTP/2 streams, framed otherwise, are not timed.
//!
//! The same wrapper bounds a stalled send: a write that makes no progress for the send timeout
//! (a client that stopped reading its response) fails with `TimedOut`, and the connection with it,
//! on every path that writes to the client (nginx's `send_timeout`; pingora sets no write timeout
//! on a downstream session unless told, and the fast paths write to the socket themselves).
//!
//! The same wrapper tells a graceful stop what each connection is doing (just accepted, in a
//! request, idle between requests: [`connection_phases`]), and holds pingora's cleanup, which
//! drops connections waiting for a head, until the just-accepted ones have begun their request.

use async_trait::async_trait;
use ferry_config::counter::Sharded;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{GetProxyDigest, GetSocketDigest, GetTimingDigest};
use pingora::protocols::{Peek, Shutdown, Ssl, Stream, UniqueID, UniqueIDType, ALPN};
use pingora::protocols::{SocketDigest, TimingDigest};
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// An app whose HTTP/1 connections must send each request head within a timeout, and whose
/// connections (HTTP/2 too) must take some of what is sent to them within another.
pub struct HeadDeadline<A> {
    inner: Arc<A>,
    /// The timeouts in milliseconds, which a topology reload may change.
    timeout: Arc<AtomicU64>,
    send_timeout: Arc<AtomicU64>,
    overdue_reply: Option<OverdueReply>,
}

/// The whole HTTP/1.1 response written (best effort) before closing a connection whose request
/// head began but is overdue: ALB's 408. Made when needed, so that it carries the date and the
/// listener's current response header settings.
pub type OverdueReply = Arc<dyn Fn() -> bytes::Bytes + Send + Sync>;

impl<A> HeadDeadline<A> {
    /// The app, whose head timeout `head` sets and whose send timeout `send` sets (one handle may
    /// serve the apps of several threads, and both timeouts).
    pub fn new(inner: A, head: &TimeoutHandle, send: &TimeoutHandle) -> HeadDeadline<A> {
        HeadDeadline {
            inner: Arc::new(inner),
            timeout: head.0.clone(),
            send_timeout: send.0.clone(),
            overdue_reply: None,
        }
    }

    /// Answers `reply()` to a request whose head began and is overdue, rather than only closing
    /// (a connection that sent nothing of a request is still closed without a word).
    pub fn with_overdue_reply(mut self, reply: OverdueReply) -> HeadDeadline<A> {
        self.overdue_reply = Some(reply);
        self
    }

    fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout.load(Ordering::Relaxed))
    }
}

/// Changes the head timeout of new requests.
#[derive(Debug, Clone)]
pub struct TimeoutHandle(Arc<AtomicU64>);

impl TimeoutHandle {
    pub fn new(timeout: Duration) -> TimeoutHandle {
        let handle = TimeoutHandle(Arc::new(AtomicU64::new(0)));
        handle.set(timeout);
        handle
    }

    pub fn set(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.store(ms, Ordering::Relaxed);
    }

    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for HeadDeadline<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let stream: Stream = if stream.as_any().is::<Timed>() {
            // A kept-alive connection coming back for its next request: arm again.
            match stream.into_any().downcast::<Timed>() {
                Ok(mut timed) => {
                    timed.rearm(Duration::from_millis(self.timeout.load(Ordering::Relaxed)));
                    timed.send_timeout = self.send_timeout();
                    timed
                }
                // Not reached: `is` said it was one.
                Err(_) => return None,
            }
        } else if stream.selected_alpn_proto() == Some(ALPN::H2) {
            // Framed otherwise: counted, never timed.
            let mut timed = Timed::new(stream, Duration::MAX, self.send_timeout());
            timed.head = Head::Done;
            // Its requests are counted one by one (in flight) as HTTP/2 streams.
            timed.enter(Phase::Idle);
            Box::new(timed)
        } else {
            let timeout = Duration::from_millis(self.timeout.load(Ordering::Relaxed));
            let mut timed = Timed::new(stream, timeout, self.send_timeout());
            timed.overdue_reply = self.overdue_reply.clone();
            // A new connection's first head is due `timeout` after the connection, as nginx's
            // client_header_timeout: a connection that never sends a byte is not kept either.
            timed.arm();
            Box::new(timed)
        };
        self.inner.process_new(stream, shutdown).await
    }

    /// Called once the listeners have closed. pingora's cleanup then drops every connection
    /// waiting for a request head, so a connection accepted just before the stop, whose request
    /// was still on its way, would be closed unanswered: the stop holds it back until those have
    /// begun their request or had their time ([`ferry_config::drain::settled`]).
    async fn cleanup(&self) {
        let stop = Instant::now();
        while !ferry_config::drain::settled(stop.elapsed(), connection_phases().fresh) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.cleanup().await;
    }
}

/// Where the stream is in the head of the request being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// No byte of the next request yet: no deadline.
    Waiting,
    /// Only empty lines so far, which a client may send before a request line and a server
    /// skips (RFC 9112 §2.2; httparse, and so pingora, skips them all): timed, not yet a head,
    /// so that blank lines can neither end one nor hold a connection untimed.
    Blank,
    /// In a head; the number of line-end bytes just seen (`\n`, then optionally `\r`).
    Reading { line_end: u8 },
    /// The head is complete: no deadline until the next request.
    Done,
}

/// A stream whose reads fail with `TimedOut` once the current request head is overdue.
pub struct Timed {
    inner: Stream,
    timeout: Duration,
    head: Head,
    deadline: Option<Pin<Box<Sleep>>>,
    phase: Phase,
    /// Bytes already read (and followed) by an app in front of pingora's, which reads them again
    /// first: see [`Timed::replay`].
    replay: bytes::Bytes,
    /// How long a write may wait for the client to take some of what was sent.
    send_timeout: Duration,
    /// The clock of a write waiting for room; kept between waits so that a large response's
    /// waits do not each allocate one.
    stall: Option<Pin<Box<Sleep>>>,
    /// Whether `stall` times the wait under way (no write made progress since it was set).
    stalled: bool,
    /// What to answer a head that began and is overdue ([`HeadDeadline::with_overdue_reply`]).
    overdue_reply: Option<OverdueReply>,
}

impl std::fmt::Debug for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timed")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .field("head", &self.head)
            .field("phase", &self.phase)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// What a connection is doing, as a graceful stop sees it: it waits for the connections reading a
/// request head (then for the request, counted apart), and for a moment for the new ones (their
/// first request is on its way), but not for those kept alive between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; no byte of its first request read yet.
    Fresh,
    /// From the first byte of a request head to its end (from there the request is counted in
    /// flight by the proxies).
    InRequest,
    /// Past its request head (counted as a request in flight meanwhile), kept alive between
    /// requests, or an HTTP/2 connection (whose streams are counted apart).
    Idle,
}

/// Client connections open now, over every wrapped app of the process.
static ACTIVE: Sharded = Sharded::new();
static FRESH: Sharded = Sharded::new();
static IN_REQUEST: Sharded = Sharded::new();

/// How many client connections are open now.
pub fn active_connections() -> usize {
    ACTIVE.get()
}

/// What the client connections open now are doing, for a graceful stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionPhases {
    /// Accepted, with no byte of their first request read yet.
    pub fresh: usize,
    /// HTTP/1 connections between a request head's first byte and its end.
    pub in_request: usize,
}

pub fn connection_phases() -> ConnectionPhases {
    ConnectionPhases {
        fresh: FRESH.get(),
        in_request: IN_REQUEST.get(),
    }
}

fn counter(phase: Phase) -> Option<&'static Sharded> {
    match phase {
        Phase::Fresh => Some(&FRESH),
        Phase::InRequest => Some(&IN_REQUEST),
        Phase::Idle => None,
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.enter(Phase::Idle);
        ACTIVE.add(-1);
    }
}

impl Timed {
    fn new(inner: Stream, timeout: Duration, send_timeout: Duration) -> Timed {
        ACTIVE.add(1);
        FRESH.add(1);
        Timed {
            inner,
            timeout,
            head: Head::Waiting,
            deadline: None,
            phase: Phase::Fresh,
            replay: bytes::Bytes::new(),
            send_timeout,
            stall: None,
            stalled: false,
            overdue_reply: None,
        }
    }

    /// Follows a write (or flush) to the client: progress stops the stall clock; a write that must
    /// wait starts it, or finds it run out (the client took nothing for the send timeout).
    #[inline]
    fn watch_send<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if !polled.is_pending() {
            self.stalled = false;
            return polled;
        }
        match self.stall_overdue(cx) {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Pending,
        }
    }

    /// A write waits: the error to fail it with once the client has taken nothing for the send
    /// timeout.
    #[cold]
    fn stall_overdue(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if !self.stalled {
            self.stalled = true;
            let due = Instant::now() + self.send_timeout;
            match &mut self.stall {
                Some(clock) => clock.as_mut().reset(due),
                None => self.stall = Some(Box::pin(tokio::time::sleep_until(due))),
            }
        }
        let due = self
            .stall
            .as_mut()
            .is_some_and(|clock| clock.as_mut().poll(cx).is_ready());
        due.then(|| {
            tracing::info!(timeout = ?self.send_timeout, "closing a connection whose client took none of its response in time");
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took none of the response in time (send timeout)",
            )
        })
    }

    /// Has the next reads return `bytes` before anything from the connection: an app that read
    /// part of a connection itself (the edge's hit fast path) hands it on with what it read. Those
    /// bytes were followed by the head clock when first read, and are not followed again.
    pub fn replay(&mut self, bytes: bytes::Bytes) {
        self.replay = bytes;
    }

    /// Moves the connection to `phase`, keeping the process's counts. The new phase is counted
    /// before the old one is released, so that a stop never sees the connection in neither.
    fn enter(&mut self, phase: Phase) {
        if self.phase == phase {
            return;
        }
        if let Some(count) = counter(phase) {
            count.add(1);
        }
        if let Some(count) = counter(self.phase) {
            count.add(-1);
        }
        self.phase = phase;
    }

    /// The socket of a plain TCP connection, for a send that bypasses the stream
    /// ([`crate::zero_copy`]); `None` for TLS and anything else that is not a bare socket.
    pub(crate) fn plain_socket(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.inner
            .as_any()
            .downcast_ref::<pingora::protocols::l4::stream::Stream>()
            .map(AsRawFd::as_raw_fd)
            // pingora's virtual sockets have none.
            .filter(|fd| *fd >= 0)
    }

    /// The connection comes back from a request, kept alive for the next one.
    fn rearm(&mut self, timeout: Duration) {
        self.enter(Phase::Idle);
        if self.timeout == Duration::MAX {
            // An HTTP/2 connection: never timed.
            return;
        }
        self.timeout = timeout;
        self.head = Head::Waiting;
        self.deadline = None;
    }

    /// The request before is answered and `buffered` (already read, after its head) begins the
    /// next: an app that reads the connection itself and answers several requests from one read
    /// (pipelined) tells the stream where each head ends, so that the next one is timed from its
    /// first byte as if it had been read now.
    pub fn next_head(&mut self, buffered: &[u8]) {
        if self.timeout == Duration::MAX {
            return;
        }
        self.enter(Phase::Idle);
        self.head = Head::Waiting;
        self.deadline = None;
        self.scan(buffered);
    }

    /// The request is over, its body read to the end: the next bytes begin the next head (those
    /// still to be replayed first). The app that reads the connection says so, as only it knows
    /// where a request's body ends; until then nothing read is taken for a head, so that a body
    /// still arriving after an early answer is never timed as one.
    pub fn request_done(&mut self) {
        let rest = self.replay.clone();
        self.next_head(&rest);
    }

    /// Starts the clock on the head: it is due `timeout` from now.
    fn arm(&mut self) {
        self.start_clock();
        self.head = Head::Blank;
    }

    fn start_clock(&mut self) {
        self.deadline = Some(Box::pin(tokio::time::sleep_until(
            Instant::now() + self.timeout,
        )));
    }

    /// Follows the bytes of a head: the clock starts with its first byte and stops at the empty
    /// line. A head that arrives whole in one read (nearly all of them) never needs the clock.
    fn scan(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.enter(Phase::InRequest);
        }
        let mut at = 0;
        while let Some(&b) = bytes.get(at) {
            at += 1;
            self.head = match (self.head, b) {
                (Head::Done, _) => return,
                // Within a line: straight to its end.
                (Head::Reading { line_end: 0 }, _) if b != b'\n' => {
                    match memchr::memchr(b'\n', &bytes[at..]) {
                        Some(lf) => at += lf,
                        None => at = bytes.len(),
                    }
                    Head::Reading { line_end: 0 }
                }
                (Head::Waiting | Head::Blank, b'\r' | b'\n') => Head::Blank,
                (Head::Waiting | Head::Blank, _) => Head::Reading { line_end: 0 },
                // `\n\n` or `\n\r\n`: the empty line that ends the head. The request is
                // counted in flight from here (ferry_config::drain::Guard).
                (Head::Reading { line_end: 1 | 2 }, b'\n') => {
                    self.deadline = None;
                    self.enter(Phase::Idle);
                    Head::Done
                }
                (Head::Reading { line_end: 1 }, b'\r') => Head::Reading { line_end: 2 },
                (Head::Reading { .. }, b'\n') => Head::Reading { line_end: 1 },
                (Head::Reading { .. }, _) => Head::Reading { line_end: 0 },
            };
        }
        if matches!(self.head, Head::Reading { .. } | Head::Blank) && self.deadline.is_none() {
            self.start_clock();
        }
    }
}

impl Timed {
    /// Writes the overdue reply when a head began (best effort: the connection closes next, and
    /// a client that does not take ~300 bytes gets nothing).
    #[cold]
    fn answer_overdue(&mut self, cx: &mut Context<'_>) {
        let Some(reply) = &self.overdue_reply else {
            return;
        };
        if !matches!(self.head, Head::Reading { .. }) {
            return;
        }
        let bytes = reply();
        let mut inner = Pin::new(&mut self.inner);
        if let Poll::Ready(Ok(n)) = inner.as_mut().poll_write(cx, &bytes) {
            if n == bytes.len() {
                let _ = inner.poll_flush(cx);
            }
        }
    }
}

fn overdue() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the request head was not complete in time (client header timeout)",
    )
}

impl AsyncRead for Timed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.head != Head::Done {
                    this.scan(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let due = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if due {
                    tracing::info!("closing a connection whose request head is overdue");
                    this.answer_overdue(cx);
                    Poll::Ready(Err(overdue()))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl AsyncWrite for Timed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch_send(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch_send(cx, flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch_send(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Timed {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for Timed {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Timed {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Timed {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Timed {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Timed {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for Timed {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(bytes: &[u8]) -> Head {
        scanned(bytes).head
    }

    fn scanned(bytes: &[u8]) -> Timed {
        let (client, _server) = tokio::io::duplex(64);
        let mut t = Timed::new(
            Box::new(client),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        t.scan(bytes);
        t
    }

    #[tokio::test]
    async fn the_clock_runs_only_while_a_head_is_incomplete() {
        let cases: &[(&[u8], bool)] = &[
            (b"", false),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n",
                false,
            ),
            (b"G", true),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", true),
            (b"\r\n\r\n", true),
        ];
        for (bytes, clock) in cases {
            assert_eq!(
                scanned(bytes).deadline.is_some(),
                *clock,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // The rest of a head that began in an earlier read keeps the clock that started then.
        let mut t = scanned(b"GET / HT");
        let started = t.deadline.as_ref().map(|d| d.deadline());
        t.scan(b"TP/1.1\r\n");
        assert_eq!(t.deadline.as_ref().map(|d| d.deadline()), started);
        t.scan(b"\r\n");
        assert!(t.deadline.is_none());
        assert_eq!(t.head, Head::Done);
    }

    #[tokio::test]
    async fn a_connection_is_in_a_request_from_its_first_byte_to_the_end_of_its_head() {
        let (client, _server) = tokio::io::duplex(64);
        let mut t = Timed::new(
            Box::new(client),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        assert_eq!(t.phase, Phase::Fresh);
        t.arm();
        t.scan(b"");
        assert_eq!(t.phase, Phase::Fresh, "no byte yet");
        t.scan(b"GET / HTTP/1.1\r\n");
        assert_eq!(t.phase, Phase::InRequest);
        t.scan(b"\r\n");
        assert_eq!(
            t.phase,
            Phase::Idle,
            "the head is read: the request is counted in flight from here"
        );
        t.rearm(Duration::from_secs(1));
        assert_eq!(t.phase, Phase::Idle, "kept alive between requests");
        t.scan(b"G");
        assert_eq!(t.phase, Phase::InRequest, "the next request");
    }

    /// A body still arriving after an early answer (an upload its upstream refused at once) is
    /// not a head, however long it takes; the next head is timed once the app says the request
    /// is over.
    #[tokio::test]
    async fn only_the_end_of_a_request_makes_what_follows_a_head() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(256);
        let mut t = Timed::new(
            Box::new(client),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        t.arm();
        let mut buf = [0u8; 64];
        server
            .write_all(b"POST / HTTP/1.1\r\nContent-Length: 99\r\n\r\n")
            .await
            .expect("write");
        let n = t.read(&mut buf).await.expect("read");
        assert!(n > 0);
        assert_eq!(t.head, Head::Done);
        t.write_all(b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
            .await
            .expect("answer");
        server.write_all(b"body bytes").await.expect("write");
        let n = t.read(&mut buf).await.expect("read");
        assert_eq!(n, 10);
        assert_eq!(t.head, Head::Done, "the body is not a head");
        assert!(t.deadline.is_none(), "nor timed");
        t.request_done();
        assert_eq!(t.phase, Phase::Idle);
        server.write_all(b"GET /next").await.expect("write");
        let n = t.read(&mut buf).await.expect("read");
        assert_eq!(n, 9);
        assert_eq!(
            t.head,
            Head::Reading { line_end: 0 },
            "the next head is being read"
        );
        assert!(t.deadline.is_some(), "and timed");
        assert_eq!(t.phase, Phase::InRequest);
    }

    #[tokio::test]
    async fn a_head_already_read_behind_an_answered_one_is_followed() {
        let (client, _server) = tokio::io::duplex(64);
        let mut t = Timed::new(
            Box::new(client),
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        t.arm();
        // One read holds a whole head and the start of the next: the scan stops at the first.
        t.scan(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(t.head, Head::Done);
        t.next_head(b"GET /b HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(t.head, Head::Reading { line_end: 1 });
        assert!(t.deadline.is_some(), "the partial head is timed");
        assert_eq!(t.phase, Phase::InRequest);
        t.next_head(b"");
        assert_eq!(t.head, Head::Waiting);
        assert!(t.deadline.is_none(), "nothing of a next request: not timed");
        assert_eq!(t.phase, Phase::Idle);
    }

    #[tokio::test]
    async fn the_empty_line_ends_the_head() {
        let cases: &[(&[u8], Head)] = &[
            (b"", Head::Waiting),
            (b"G", Head::Reading { line_end: 0 }),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n",
                Head::Reading { line_end: 1 },
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r",
                Head::Reading { line_end: 2 },
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Head::Done),
            (b"GET / HTTP/1.1\nHost: a\n\n", Head::Done),
            (
                b"GET / HTTP/1.1\r\nX: \r\r\n",
                Head::Reading { line_end: 1 },
            ),
            // Empty lines before a request line are skipped, not the end of a head.
            (b"\r\n\r\n", Head::Blank),
            (b"\n\n\n", Head::Blank),
            (b"\r\n\r\nGET / HTTP/1.1\r\n", Head::Reading { line_end: 1 }),
            (b"\r\nGET / HTTP/1.1\r\n\r\n", Head::Done),
        ];
        for (bytes, want) in cases {
            assert_eq!(states(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    /// A client that takes nothing fails the write after the send timeout; one that takes a
    /// little at a time, each time sooner than the timeout, is never cut, however long the
    /// whole response takes.
    #[tokio::test]
    async fn a_send_fails_only_when_the_client_takes_nothing_for_the_send_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let timeout = Duration::from_millis(300);
        let (client, _never_reads) = tokio::io::duplex(64);
        let mut t = Timed::new(Box::new(client), Duration::from_secs(1), timeout);
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(5), t.write_all(&[b'x'; 1000]))
            .await
            .expect("the write was never cut")
            .expect_err("a write nobody reads succeeded");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() >= timeout,
            "cut after {:?}",
            started.elapsed()
        );

        let (client, mut slow) = tokio::io::duplex(64);
        let mut t = Timed::new(Box::new(client), Duration::from_secs(1), timeout);
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 64];
            while got < 1000 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                match slow.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            got
        });
        let started = std::time::Instant::now();
        t.write_all(&[b'y'; 1000])
            .await
            .expect("a slow reader is cut");
        t.flush().await.expect("flush");
        assert!(
            started.elapsed() > timeout,
            "the whole send took {:?}",
            started.elapsed()
        );
        assert_eq!(reader.await.expect("reader"), 1000);
    }
}
