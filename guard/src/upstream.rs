//! The fast paths' connections to upstreams (the balancer's targets, the edge's origins): opened
//! within a connect timeout, and kept alive between requests, per address and thread, most
//! recently used first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per target: more are closed (the oldest first).
const MAX_IDLE: usize = 128;

/// Why a connection to a target could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut,
    NoRoute,
    Other,
}

/// Opens a connection to `target` within `timeout`.
pub async fn connect(target: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Err(_) => return Err(ConnectError::TimedOut),
        Ok(Err(e)) => {
            return Err(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ConnectError::Refused,
                std::io::ErrorKind::TimedOut => ConnectError::TimedOut,
                std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
                    ConnectError::NoRoute
                }
                _ => ConnectError::Other,
            })
        }
        Ok(Ok(stream)) => stream,
    };
    // Requests leave in one write each: nothing to gain from Nagle's delay.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Whether an idle connection is still open and has sent nothing: a target that closed it, or
/// sent bytes no request asked for (a 408 before closing, a stray response), must not have them
/// read as the answer to the next request.
fn quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Idle kept-alive connections by thread and target, oldest first: a connection is used only on
/// the thread (the runtime) that opened it, whose reactor it is registered with.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    lists: HashMap<(std::thread::ThreadId, SocketAddr), Vec<Idle>, BuildAddrHasher>,
    /// Connections kept since the last sweep of every list.
    puts: usize,
}

/// Every this many connections kept, lists of every target are swept of connections idle too
/// long (and of targets no longer used).
const SWEEP_EVERY: usize = 1024;

/// A kept connection and since when it has been idle.
type Idle = (TcpStream, Instant);

/// A hasher for upstream addresses, cheaper than the default SipHash (which guards against keys an
/// attacker picks; addresses come from the topology, registrations and name resolution).
#[derive(Default, Clone, Copy)]
pub struct BuildAddrHasher;

pub struct AddrHasher(u64);

impl std::hash::BuildHasher for BuildAddrHasher {
    type Hasher = AddrHasher;
    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    /// FNV-1a.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Pool {
    /// The most recently used idle connection to `target` of this thread, if one has been idle
    /// less than `max_idle` and is still quiet (older ones are closed).
    pub fn take(&self, target: SocketAddr, max_idle: Duration) -> Option<TcpStream> {
        let mut kept = self.idle.lock().ok()?;
        let list = kept.lists.get_mut(&(std::thread::current().id(), target))?;
        while let Some((stream, since)) = list.pop() {
            if since.elapsed() >= max_idle {
                // The rest are older still.
                list.clear();
                return None;
            }
            if quiet(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps `stream` for the next request to `target` from this thread; connections idle for
    /// `max_idle` or more are closed on the way.
    pub fn put(&self, target: SocketAddr, stream: TcpStream, max_idle: Duration) {
        let Ok(mut kept) = self.idle.lock() else {
            return;
        };
        let now = Instant::now();
        kept.puts += 1;
        if kept.puts >= SWEEP_EVERY {
            kept.puts = 0;
            kept.lists.retain(|_, list| {
                drop_stale(list, now, max_idle);
                !list.is_empty()
            });
        }
        let list = kept
            .lists
            .entry((std::thread::current().id(), target))
            .or_default();
        drop_stale(list, now, max_idle);
        if list.len() >= MAX_IDLE {
            list.remove(0);
        }
        list.push((stream, now));
    }
}

/// Closes the connections of `list` (oldest first) idle for `max_idle` or more at `now`.
fn drop_stale(list: &mut Vec<Idle>, now: Instant, max_idle: Duration) {
    let stale =
        list.partition_point(|(_, since)| now.saturating_duration_since(*since) >= max_idle);
    list.drain(..stale);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_come_back_most_recent_first_until_they_idle_too_long() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("address");
        let pool = Pool::default();
        let hour = Duration::from_secs(3600);
        assert!(pool.take(target, hour).is_none());
        let a = connect(target, hour).await.expect("connect");
        let b = connect(target, hour).await.expect("connect");
        let (a_port, b_port) = (a.local_addr().ok(), b.local_addr().ok());
        pool.put(target, a, hour);
        pool.put(target, b, hour);
        let first = pool.take(target, hour).expect("kept");
        assert_eq!(
            first.local_addr().ok(),
            b_port,
            "the last one kept comes first"
        );
        pool.put(target, first, hour);
        assert!(
            pool.take(target, Duration::ZERO).is_none(),
            "too old: closed, and the rest with it"
        );
        assert!(pool.take(target, hour).is_none());
        let _ = a_port;
        // A kept connection the target has written to (or closed) is not handed out.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let talker = other.local_addr().expect("address");
        let c = connect(talker, hour).await.expect("connect");
        let (mut served, _) = other.accept().await.expect("accept");
        pool.put(talker, c, hour);
        use tokio::io::AsyncWriteExt;
        served
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(pool.take(talker, hour).is_none(), "stray bytes: not reused");
        drop(listener);
        assert_eq!(
            connect(target, hour).await.err(),
            Some(ConnectError::Refused)
        );
    }
}
