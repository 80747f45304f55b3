//! CloudFront's compression, on the way into the cache: the origin response is compressed as it
//! arrives (pingora's `upstream_response_filter` / `upstream_response_body_filter`, which run
//! before the response is stored), so the cache holds the compressed object and every hit serves
//! its bytes: an object is compressed once per cache key, never on each hit.
//!
//! The decision is [`ferry_config::compression::decide`]; the encoders are flate2 (gzip) and
//! brotli, the crates pingora-core builds. pingora's own `ResponseCompressionCtx` is not used: it
//! decides from the request's `Accept-Encoding` with its own content-type rules, before
//! `upstream_response_filter`, so it cannot apply CloudFront's conditions on the response (status,
//! size, TTL); and its Brotli encoder only flushes at the end, leaving the stream without its final
//! block (strict decoders refuse it), which would then be cached.

use bytes::Bytes;
use ferry_config::cache_key;
use ferry_config::compression::{self, Coding, OriginResponse, Viewer};
use ferry_config::model::{Behavior, Distribution};
use ferry_config::ttl::CacheDecision;
use flate2::write::GzEncoder;
use pingora::cache::HttpCache;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType, Result};
use std::io::Write;
use std::time::SystemTime;

/// zlib's default level: the usual trade of ratio for speed for on-the-fly gzip.
const GZIP_LEVEL: u32 = 6;
/// Brotli quality: a better ratio than gzip -6 at a comparable speed (quality 10–11 is many times
/// slower, and a miss waits for it).
const BROTLI_QUALITY: u32 = 5;
/// Brotli window, log2 bytes: 512 KiB (nginx's `brotli_window` default), to bound the memory of
/// each concurrent compression.
const BROTLI_WINDOW: u32 = 19;
/// Brotli's internal buffer, bytes.
const BROTLI_BUFFER: usize = 4096;

/// "Request uses HTTP 1.0": CloudFront removes `Accept-Encoding` from HTTP/1.0 requests (and
/// serves them uncompressed). Done before the cache key is computed, as CloudFront does.
pub fn viewer_request(request: &mut RequestHeader) {
    if request.version < http::Version::HTTP_11 {
        request.remove_header(&http::header::ACCEPT_ENCODING);
    }
}

enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    fn new(coding: Coding) -> Encoder {
        match coding {
            Coding::Gzip => Encoder::Gzip(GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                BROTLI_QUALITY,
                BROTLI_WINDOW,
            ))),
        }
    }

    /// Compresses `input`; returns what the encoder has emitted so far.
    fn write(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(input)?;
                Ok(std::mem::take(e.get_mut()))
            }
            Encoder::Brotli(e) => {
                e.write_all(input)?;
                Ok(std::mem::take(e.get_mut()))
            }
        }
    }

    /// Ends the stream (gzip trailer, Brotli last meta-block); returns the rest of the output.
    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Brotli(e) => Ok(e.into_inner()),
        }
    }
}

/// The compression of one origin response body.
pub struct Compressor {
    coding: Coding,
    /// `None` once the stream is finished.
    encoder: Option<Encoder>,
    /// Origin body bytes still to come (from `Content-Length`): the stream is finished when they
    /// have all arrived, whether or not the last piece is flagged as the end of the stream.
    remaining: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl Compressor {
    fn new(coding: Coding, length: u64) -> Compressor {
        Compressor {
            coding,
            encoder: Some(Encoder::new(coding)),
            remaining: length,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Replaces a piece of the origin body with its compressed bytes (`None` when the encoder has
    /// nothing to emit yet).
    pub fn body(&mut self, body: &mut Option<Bytes>, end_of_stream: bool) -> Result<()> {
        let input = body.take().unwrap_or_default();
        let Some(encoder) = self.encoder.as_mut() else {
            // Past the announced length: nothing more belongs to the object.
            return Ok(());
        };
        let length = u64::try_from(input.len()).unwrap_or(u64::MAX);
        self.remaining = self.remaining.saturating_sub(length);
        self.bytes_in = self.bytes_in.saturating_add(length);
        let mut output = encoder.write(&input).map_err(compression_error)?;
        if end_of_stream || self.remaining == 0 {
            if let Some(encoder) = self.encoder.take() {
                output.extend(encoder.finish().map_err(compression_error)?);
            }
        }
        self.bytes_out = self
            .bytes_out
            .saturating_add(u64::try_from(output.len()).unwrap_or(u64::MAX));
        if self.encoder.is_none() {
            tracing::debug!(
                coding = self.coding.as_str(),
                bytes_in = self.bytes_in,
                bytes_out = self.bytes_out,
                "compressed"
            );
        }
        *body = (!output.is_empty()).then(|| Bytes::from(output));
        Ok(())
    }
}

fn compression_error(e: std::io::Error) -> Box<Error> {
    Error::because(ErrorType::InternalError, "compressing the origin body", e)
}

/// Decides whether CloudFront compresses this origin response for this request and, when it does,
/// rewrites the header as the compressed object's (no `Content-Length`, `Content-Encoding`, the
/// weakened `ETag`, `Vary: Accept-Encoding`) and returns the compressor for its body.
///
/// `cache`: whether the edge stores this response (a response that is not stored has no TTL), and
/// the object being revalidated, if any.
pub fn origin_response(
    distribution: &Distribution,
    behavior: &Behavior,
    request: &RequestHeader,
    cache: &HttpCache,
    response: &mut ResponseHeader,
) -> Option<Compressor> {
    if !behavior.compress || !cache.enabled() || response.status.is_informational() {
        return None;
    }
    if response.status == http::StatusCode::NOT_MODIFIED {
        let stored = cache.maybe_cache_meta().map(|m| m.response_header());
        revalidated(stored, response);
        return None;
    }
    let accept_encoding = accept_encoding(request);
    let normalized =
        cache_key::normalized_accept_encoding(&behavior.cache_policy, accept_encoding.as_deref())?;
    let headers = &response.headers;
    let text = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let content_length = single_content_length(response);
    let origin = OriginResponse {
        status: response.status.as_u16(),
        content_type: text(http::header::CONTENT_TYPE),
        content_length,
        content_encoding: headers.contains_key(http::header::CONTENT_ENCODING),
        ttl: ttl(distribution, behavior, response),
    };
    let viewer = Viewer {
        compress: behavior.compress,
        accept_encoding: Some(normalized),
    };
    let coding = compression::decide(&viewer, &origin)?;
    // `decide` compresses only with a valid Content-Length.
    let length = content_length.and_then(|v| v.trim().parse::<u64>().ok())?;
    compressed_header(response, coding).ok()?;
    Some(Compressor::new(coding, length))
}

/// A `304` revalidating an object the edge compressed: the origin's `ETag` is the strong one the
/// edge weakened when it compressed the object. pingora merges the 304's `ETag` into the stored
/// header, so it is weakened here first: the object stays compressed, and so must its validator.
fn revalidated(stored: Option<&ResponseHeader>, response: &mut ResponseHeader) {
    let Some(stored) = stored else { return };
    if !stored.headers.contains_key(http::header::CONTENT_ENCODING) {
        return;
    }
    let etag = |r: &ResponseHeader| {
        r.headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(stored_etag), Some(new_etag)) = (etag(stored), etag(response)) else {
        return;
    };
    if new_etag.starts_with('"') && compression::weak_etag(&new_etag) == Some(stored_etag.clone()) {
        let _ = response.insert_header(http::header::ETAG, stored_etag);
    }
}

/// Every `Accept-Encoding` field line of the request, joined as one list (the cache key reads them
/// all together too).
fn accept_encoding(request: &RequestHeader) -> Option<String> {
    let values: Vec<&str> = request
        .headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The `Content-Length` value, when the response has exactly one length (repeated equal values
/// count as one).
fn single_content_length(response: &ResponseHeader) -> Option<&str> {
    let mut values = response
        .headers
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .map(|v| v.to_str().ok().map(str::trim));
    let first = values.next()??;
    values.all(|v| v == Some(first)).then_some(first)
}

/// The TTL the edge gives this response (0: not stored).
fn ttl(distribution: &Distribution, behavior: &Behavior, response: &ResponseHeader) -> u64 {
    match crate::caching::decision(distribution, behavior, response, SystemTime::now()).0 {
        CacheDecision::DoNotCache => 0,
        CacheDecision::Store { ttl, .. } => ttl,
    }
}

/// The header of the compressed object.
fn compressed_header(response: &mut ResponseHeader, coding: Coding) -> Result<()> {
    response.remove_header(&http::header::CONTENT_LENGTH);
    response.insert_header(http::header::CONTENT_ENCODING, coding.as_str())?;
    let etag = response
        .headers
        .get(http::header::ETAG)
        .map(|v| v.to_str().ok().and_then(compression::weak_etag));
    match etag {
        Some(Some(weak)) => {
            response.insert_header(http::header::ETAG, weak)?;
        }
        Some(None) => {
            response.remove_header(&http::header::ETAG);
        }
        None => {}
    }
    let varies = response
        .headers
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|name| name == "*" || name.eq_ignore_ascii_case("accept-encoding"));
    if !varies {
        response.append_header(http::header::VARY, "Accept-Encoding")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pairs: &[(&str, &str)]) -> ResponseHeader {
        let mut r = ResponseHeader::build(200, None).unwrap();
        for (k, v) in pairs {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn values(r: &ResponseHeader, name: &str) -> Vec<String> {
        r.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn compressed_header_rewrites_length_encoding_etag_and_vary() {
        let mut r = header(&[
            ("Content-Length", "5000"),
            ("ETag", "\"v1\""),
            ("Vary", "Origin"),
        ]);
        compressed_header(&mut r, Coding::Brotli).unwrap();
        assert!(values(&r, "content-length").is_empty());
        assert_eq!(values(&r, "content-encoding"), ["br"]);
        assert_eq!(values(&r, "etag"), ["W/\"v1\""]);
        assert_eq!(values(&r, "vary"), ["Origin", "Accept-Encoding"]);

        let mut r = header(&[("ETag", "W/\"v1\""), ("Vary", "accept-encoding")]);
        compressed_header(&mut r, Coding::Gzip).unwrap();
        assert_eq!(values(&r, "content-encoding"), ["gzip"]);
        assert_eq!(values(&r, "etag"), ["W/\"v1\""]);
        assert_eq!(values(&r, "vary"), ["accept-encoding"]);

        let mut r = header(&[("ETag", "v1")]);
        compressed_header(&mut r, Coding::Gzip).unwrap();
        assert!(values(&r, "etag").is_empty());
        assert_eq!(values(&r, "vary"), ["Accept-Encoding"]);
    }

    #[test]
    fn a_304_keeps_the_weakened_etag_of_a_compressed_object() {
        let compressed = header(&[("Content-Encoding", "br"), ("ETag", "W/\"v1\"")]);
        let mut r = header(&[("ETag", "\"v1\"")]);
        revalidated(Some(&compressed), &mut r);
        assert_eq!(values(&r, "etag"), ["W/\"v1\""]);

        // Another tag, an object the origin compressed, or nothing stored: left alone.
        let mut r = header(&[("ETag", "\"v2\"")]);
        revalidated(Some(&compressed), &mut r);
        assert_eq!(values(&r, "etag"), ["\"v2\""]);
        let origin_encoded = header(&[("Content-Encoding", "gzip"), ("ETag", "\"v1\"")]);
        let mut r = header(&[("ETag", "\"v1\"")]);
        revalidated(Some(&origin_encoded), &mut r);
        assert_eq!(values(&r, "etag"), ["\"v1\""]);
        let plain = header(&[("ETag", "\"v1\"")]);
        let mut r = header(&[("ETag", "\"v1\"")]);
        revalidated(Some(&plain), &mut r);
        assert_eq!(values(&r, "etag"), ["\"v1\""]);
        let mut r = header(&[("ETag", "\"v1\"")]);
        revalidated(None, &mut r);
        assert_eq!(values(&r, "etag"), ["\"v1\""]);
    }

    #[test]
    fn content_length_must_be_single() {
        let r = header(&[("Content-Length", "5000")]);
        assert_eq!(single_content_length(&r), Some("5000"));
        let r = header(&[("Content-Length", "5000"), ("Content-Length", "5000")]);
        assert_eq!(single_content_length(&r), Some("5000"));
        let r = header(&[("Content-Length", "5000"), ("Content-Length", "6000")]);
        assert_eq!(single_content_length(&r), None);
        let r = header(&[]);
        assert_eq!(single_content_length(&r), None);
    }

    #[test]
    fn http10_requests_lose_accept_encoding() {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.insert_header("Accept-Encoding", "gzip").unwrap();
        r.set_version(http::Version::HTTP_10);
        viewer_request(&mut r);
        assert!(r.headers.get("accept-encoding").is_none());

        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        r.insert_header("Accept-Encoding", "gzip").unwrap();
        viewer_request(&mut r);
        assert!(r.headers.get("accept-encoding").is_some());
    }

    fn decode(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap(),
            Coding::Brotli => brotli::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap(),
        };
        out
    }

    #[test]
    fn compressor_finishes_at_the_announced_length() {
        let original: Vec<u8> = b"hello compression ".repeat(100);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let mut c = Compressor::new(coding, original.len() as u64);
            let mut out = Vec::new();
            for (i, piece) in original.chunks(700).enumerate() {
                let mut body = Some(Bytes::copy_from_slice(piece));
                // Never flagged as the end: the length says when it is.
                c.body(&mut body, false).unwrap();
                if let Some(b) = body {
                    out.extend_from_slice(&b);
                }
                assert_eq!(c.encoder.is_none(), (i + 1) * 700 >= original.len());
            }
            let mut body = Some(Bytes::from_static(b"trailing"));
            c.body(&mut body, true).unwrap();
            assert!(body.is_none(), "nothing after the end");
            assert!(out.len() < original.len() / 4, "{coding:?}: {}", out.len());
            assert_eq!(decode(coding, &out), original, "{coding:?}");
        }
    }

    #[test]
    fn compressor_finishes_at_the_end_of_stream() {
        let original: Vec<u8> = b"0123456789abcdef".repeat(300);
        for coding in [Coding::Gzip, Coding::Brotli] {
            let mut c = Compressor::new(coding, u64::MAX);
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = original.chunks(1000).collect();
            for (i, piece) in pieces.iter().enumerate() {
                let mut body = Some(Bytes::copy_from_slice(piece));
                c.body(&mut body, i + 1 == pieces.len()).unwrap();
                if let Some(b) = body {
                    out.extend_from_slice(&b);
                }
            }
            assert!(c.encoder.is_none());
            assert_eq!(decode(coding, &out), original, "{coding:?}");
        }
    }
}
