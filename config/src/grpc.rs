//! Which requests are gRPC, as ALB tells them apart: ALB answers 464 to a gRPC request forwarded
//! to an HTTP/1 target group ("the request protocol is a gRPC, while the target group protocol
//! version is an HTTP/1.1"), and ferry's target groups are all HTTP/1.

/// Whether a request is gRPC: HTTP/2 (gRPC has no other transport) with a `Content-Type` of
/// `application/grpc`, alone or with a `+format` or parameters (the gRPC over HTTP/2 spec).
pub fn is_grpc(http2: bool, content_type: Option<&[u8]>) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    let Some(value) = content_type else {
        return false;
    };
    let value = value.trim_ascii();
    http2
        && value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';' | b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

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
                is_grpc(http2, content_type.map(str::as_bytes)),
                expected,
                "{http2} {content_type:?}"
            );
        }
    }
}
