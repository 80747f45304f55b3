//! Custom error responses (`custom_error_responses`): CloudFront fetches the `response_page_path`
//! through the cache behavior that matches it, and answers with it and `response_code`. ferry makes
//! that fetch as an internal request to its own listener (the HTTP one, else the HTTPS one over
//! TLS), so the page is cached like any object.

use bytes::Bytes;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The header that marks an internal request and names its distribution.
pub const INTERNAL_HEADER: &str = "x-ferry-internal";
/// Pages are small; a larger one is not used.
const MAX_PAGE: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Page {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// The edge's own listener the pages are fetched from.
#[derive(Clone, Copy)]
pub enum Listener {
    Http(SocketAddr),
    Https(SocketAddr),
}

#[derive(Clone)]
pub struct ErrorPages {
    listener: Option<Listener>,
    /// Per-process secret: a viewer cannot forge an internal request.
    secret: String,
}

impl ErrorPages {
    pub fn new(listener: Option<Listener>) -> ErrorPages {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let secret = format!(
            "{:x}{:x}",
            nanos,
            u128::from(std::process::id()) << 64 ^ nanos.rotate_left(64)
        );
        ErrorPages { listener, secret }
    }

    /// The distribution an internal request is for, when the header carries this process's secret.
    pub fn internal_distribution<'v>(&self, value: &'v str) -> Option<&'v str> {
        let (secret, distribution) = value.split_once(' ')?;
        (secret == self.secret).then_some(distribution)
    }

    /// Fetches `path` of `distribution` through this edge, for a viewer of `host` (an alias of the
    /// distribution, checked by the proxy: what an origin request policy that forwards Host then
    /// forwards, as CloudFront's own fetch of the page does). `None` when it cannot be had: the
    /// viewer then gets the original error, as from CloudFront.
    pub async fn fetch(&self, distribution: &str, path: &str, host: &str) -> Option<Page> {
        let listener = self.listener?;
        let fetch = async {
            let address = match listener {
                Listener::Http(a) | Listener::Https(a) => a,
            };
            let stream = tokio::net::TcpStream::connect(address).await.ok()?;
            let host = if host.is_empty() {
                address.to_string()
            } else {
                host.to_string()
            };
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\n{INTERNAL_HEADER}: {} {distribution}\r\nConnection: close\r\n\r\n",
                self.secret
            );
            let raw = match listener {
                Listener::Http(_) => exchange(stream, &request).await?,
                Listener::Https(_) => {
                    // The viewer's name, for the certificate and TLS policy it would get.
                    let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
                    let name = ServerName::try_from(name.to_string())
                        .unwrap_or(ServerName::IpAddress(address.ip().into()));
                    let tls = ferry_guard::unverified_tls::connect(stream, name)
                        .await
                        .ok()?;
                    exchange(tls, &request).await?
                }
            };
            parse(&raw)
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .ok()
            .flatten()
    }
}

/// Sends `request` and reads the answer to its end (the request asks to close).
async fn exchange<S>(mut stream: S, request: &str) -> Option<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    match stream
        .take(MAX_PAGE as u64 + 16 * 1024)
        .read_to_end(&mut raw)
        .await
    {
        Ok(_) => Some(raw),
        // A TLS peer that closes without close_notify: what came is checked by its framing.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Some(raw),
        Err(_) => None,
    }
}

fn parse(raw: &[u8]) -> Option<Page> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_string()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    (body.len() <= MAX_PAGE).then(|| Page {
        status,
        content_type,
        body: Bytes::from(body),
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_framings() {
        let page =
            parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello")
                .expect("page");
        assert_eq!(
            (page.status, page.content_type.as_deref(), &page.body[..]),
            (200, Some("text/html"), &b"hello"[..])
        );
        let page = parse(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").expect("page");
        assert_eq!((page.status, &page.body[..]), (404, &b"abcde"[..]));
        assert!(parse(b"garbage").is_none());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_none());
    }

    #[test]
    fn only_this_process_can_make_internal_requests() {
        let pages = ErrorPages::new(None);
        let header = format!("{} site", pages.secret);
        assert_eq!(pages.internal_distribution(&header), Some("site"));
        assert_eq!(pages.internal_distribution("guess site"), None);
        assert_eq!(pages.internal_distribution(""), None);
    }
}
