//! Which requests a target group's protocol version takes, as ALB tells them apart: ALB answers
//! 464 to "an HTTP/1.1 request while the target group protocol version is gRPC or HTTP/2" and to
//! "a gRPC request while the target group protocol version is HTTP/1.1".

use crate::spec::ProtocolVersion;

/// The health check path of a gRPC target group unless it gives one (ALB's default).
pub const HEALTH_PATH: &str = "/AWS.ALB/healthcheck";
/// The gRPC status codes a gRPC target group's check accepts unless it says (ALB's default:
/// UNIMPLEMENTED, what a server answers for the default path).
pub const DEFAULT_MATCHER: &str = "12";

/// What of a request decides whether its target group's protocol version takes it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    /// Whether it came over HTTP/2.
    pub http2: bool,
    pub content_type: Option<&'r [u8]>,
}

/// Whether a request is gRPC: HTTP/2 (gRPC has no other transport) with a `Content-Type` of
/// `application/grpc`, alone or with a `+format` or parameters (the gRPC over HTTP/2 spec).
pub fn is_grpc(request: Request<'_>) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    let Some(value) = request.content_type else {
        return false;
    };
    let value = value.trim_ascii();
    request.http2
        && value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';' | b' '))
}

/// Why a target group of `version` does not take `request` (ALB's 464), or `None` when it does.
pub fn mismatch(request: Request<'_>, version: ProtocolVersion) -> Option<&'static str> {
    match version {
        ProtocolVersion::HTTP1 if is_grpc(request) => {
            Some("a gRPC request, and the target group's protocol version is HTTP/1.1")
        }
        ProtocolVersion::HTTP2 | ProtocolVersion::GRPC if !request.http2 => {
            Some("an HTTP/1.1 request, and the target group's protocol version is HTTP/2 or gRPC")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(http2: bool, content_type: Option<&'static str>) -> Request<'static> {
        Request {
            http2,
            content_type: content_type.map(str::as_bytes),
        }
    }

    #[test]
    fn grpc_is_http2_with_a_grpc_content_type() {
        let rows: [(bool, Option<&str>, bool); 9] = [
            (true, Some("application/grpc"), true),
            (true, Some("application/grpc+proto"), true),
            (true, Some("Application/GRPC; charset=utf-8"), true),
            (true, Some("application/grpc-web"), false),
            (true, Some("application/grpcx"), false),
            (true, Some("application/json"), false),
            (true, None, false),
            (false, Some("application/grpc"), false),
            (true, Some(" application/grpc "), true),
        ];
        for (http2, content_type, expected) in rows {
            assert_eq!(
                is_grpc(request(http2, content_type)),
                expected,
                "{http2} {content_type:?}"
            );
        }
    }

    #[test]
    fn each_protocol_version_takes_its_requests() {
        use ProtocolVersion::{GRPC, HTTP1, HTTP2};
        let grpc = request(true, Some("application/grpc"));
        let h2 = request(true, Some("application/json"));
        let h1 = request(false, Some("application/grpc"));
        let rows = [
            (grpc, HTTP1, false),
            (grpc, HTTP2, true),
            (grpc, GRPC, true),
            (h2, HTTP1, true),
            (h2, HTTP2, true),
            // ALB names no 464 for a plain HTTP/2 request to a gRPC group: it is forwarded.
            (h2, GRPC, true),
            (h1, HTTP1, true),
            (h1, HTTP2, false),
            (h1, GRPC, false),
        ];
        for (r, version, taken) in rows {
            assert_eq!(
                mismatch(r, version).is_none(),
                taken,
                "{r:?} to {version:?}"
            );
        }
    }
}
