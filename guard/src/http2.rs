//! HTTP/2 client connections behind [`crate::front::Front`]: pingora's accept loop, with the
//! connection's lifetime ferry's to bound. A connection with no stream in flight for the idle
//! timeout is closed (pingora's own loop reads that timeout once, from options fixed when the
//! app is built, and a reload changes it); a connection open for its maximum age gets a GOAWAY
//! after its next request (ALB's client keepalive: HTTP/1 gets `Connection: close` instead).

use pingora::apps::HttpServerApp;
use pingora::protocols::http::v2::server::{handshake, H2Accept, HttpSession};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Digest, Stream};
use pingora::server::ShutdownWatch;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Streams a connection may have refused (malformed) before it is closed: pingora's own loop
/// allows 32, a budget its public accept call does not keep across calls.
const MAX_REFUSED_STREAMS: usize = 32;

/// How long one connection may live and idle.
pub(crate) struct Lifetime {
    /// No stream in flight for this long closes the connection.
    pub idle: Duration,
    /// Past this instant, the next request is the connection's last (`None`: no limit).
    pub until: Option<Instant>,
}

/// Serves an HTTP/2 connection's streams with `app`, each in a task of its own, until the client
/// closes it, it idles out, or it has gone away (after a stop or at its maximum age) and its
/// streams are done.
pub(crate) async fn serve<A: HttpServerApp + Send + Sync + 'static>(
    app: &Arc<A>,
    stream: Stream,
    shutdown: &ShutdownWatch,
    lifetime: Lifetime,
) {
    let digest = Arc::new(Digest {
        ssl_digest: stream.get_ssl_digest(),
        timing_digest: stream.get_timing_digest(),
        proxy_digest: stream.get_proxy_digest(),
        socket_digest: stream.get_socket_digest(),
    });
    let mut conn = match handshake(stream, app.h2_options()).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!("HTTP/2 handshake failed: {e}");
            return;
        }
    };
    let active = Arc::new(Active::default());
    let mut watch = shutdown.clone();
    let mut going_away = false;
    let mut refused = 0usize;
    loop {
        let accepted = if going_away {
            // GOAWAY sent: the connection ends once its streams are done.
            HttpSession::from_h2_conn(&mut conn, digest.clone()).await
        } else {
            tokio::select! {
                biased;
                _ = watch.changed() => {
                    conn.graceful_shutdown();
                    going_away = true;
                    continue;
                }
                accepted = HttpSession::from_h2_conn(&mut conn, digest.clone()) => accepted,
                // Dropping the connection closes it at once: a GOAWAY's wait could hang on a
                // client that is gone.
                _ = active.idle_for(lifetime.idle) => return,
            }
        };
        match accepted {
            Ok(Some(H2Accept::Session(session))) => {
                let guard = active.start();
                let app = app.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let _guard = guard;
                    app.process_new_http(ServerSession::new_http2(session), &shutdown)
                        .await;
                });
                if !going_away && lifetime.until.is_some_and(|until| Instant::now() >= until) {
                    // This request is served; the client opens a new connection for the next.
                    conn.graceful_shutdown();
                    going_away = true;
                }
            }
            Ok(Some(H2Accept::Rejected)) => {
                refused += 1;
                if refused >= MAX_REFUSED_STREAMS {
                    return;
                }
            }
            // Closed by the client, or done after a GOAWAY.
            Ok(None) => return,
            Err(e) => {
                // Clients often close TCP without closing HTTP/2 first.
                tracing::debug!("HTTP/2 connection ended: {e}");
                return;
            }
        }
    }
}

/// The streams in flight on one connection.
#[derive(Default)]
struct Active {
    count: AtomicUsize,
    none: Notify,
}

impl Active {
    fn start(self: &Arc<Self>) -> StreamGuard {
        self.count.fetch_add(1, Ordering::Relaxed);
        StreamGuard(self.clone())
    }

    /// Resolves once no stream has been in flight for `idle`; a stream that starts meanwhile
    /// cancels it (the accept loop's `select!` drops it and starts over).
    async fn idle_for(&self, idle: Duration) {
        while self.count.load(Ordering::Relaxed) != 0 {
            self.none.notified().await;
        }
        tokio::time::sleep(idle).await;
    }
}

/// Held by a stream's task for as long as it runs.
struct StreamGuard(Arc<Active>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.none.notify_one();
        }
    }
}
