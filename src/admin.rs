//! The admin listener of one ferry process: the edge's and the balancer's parts of the admin API
//! behind one socket, with the admin token when one is configured.
//!
//! With a token, a request is let in when it carries `Authorization: Bearer <token>` (ferry's CLI,
//! curl) or an AWS Signature Version 4 `Authorization` header whose access key id is the token
//! (the AWS CLI and SDKs, with `AWS_ACCESS_KEY_ID=<token>` and any secret key). The signature
//! itself is not checked: the token is the credential, as a bearer token is.

use crate::reload::{ReloadError, Reloader};
use async_trait::async_trait;
use ferry_config::admin::{Handler, Reply, Request};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;

/// Admin requests are small; anything larger is refused.
const MAX_BODY: usize = 1 << 20;

/// The CloudFront API's path prefix: its errors are answered in CloudFront's XML shape.
const CLOUDFRONT: &str = "/2020-05-31/";
const CLOUDFRONT_XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
const ELBV2_XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

pub struct Admin {
    pub handlers: Vec<Box<dyn Handler>>,
    pub token: Option<String>,
    pub reloader: Option<Arc<Reloader>>,
}

fn plain(status: u16, text: &str) -> Reply {
    Reply::new(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

/// An error in the XML shape of the AWS API the request was for.
fn aws_error(path: &str, status: u16, code: &str, message: &str) -> Reply {
    let xmlns = if path.starts_with(CLOUDFRONT) {
        CLOUDFRONT_XMLNS
    } else {
        ELBV2_XMLNS
    };
    let message = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Reply::new(
        status,
        "text/xml",
        format!("<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>ferry</RequestId></ErrorResponse>\n"),
    )
}

/// The process's own gauges: client connections open and requests in flight, both tiers.
fn process_gauges() {
    static GAUGES: std::sync::LazyLock<Option<(prometheus::IntGauge, prometheus::IntGauge)>> =
        std::sync::LazyLock::new(|| {
            let make = |name: &str, help: &str| {
                let gauge = prometheus::IntGauge::new(name, help).ok()?;
                prometheus::default_registry()
                    .register(Box::new(gauge.clone()))
                    .ok()?;
                Some(gauge)
            };
            Some((
                make(
                    "ferry_active_connections",
                    "Client connections open to the edge and the balancer.",
                )?,
                make(
                    "ferry_requests_in_flight",
                    "Requests being served by the edge and the balancer.",
                )?,
            ))
        });
    if let Some((connections, requests)) = GAUGES.as_ref() {
        let value = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        connections.set(value(ferry_guard::active_connections()));
        requests.set(value(ferry_config::drain::in_flight()));
    }
}

/// How a request presents itself.
#[derive(Debug, PartialEq, Eq)]
enum Credential<'a> {
    None,
    Bearer(&'a str),
    /// The access key id of a SigV4 `Authorization` header.
    SigV4(&'a str),
    Other,
}

fn credential(authorization: Option<&str>) -> Credential<'_> {
    let Some(value) = authorization.map(str::trim) else {
        return Credential::None;
    };
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    if let Some(token) = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| value.get(7..))
    {
        return Credential::Bearer(token.trim());
    }
    if let Some(fields) = value.strip_prefix("AWS4-HMAC-SHA256 ") {
        // Credential=<access key id>/<date>/<region>/<service>/aws4_request, SignedHeaders=...
        let key = fields
            .split(',')
            .filter_map(|f| f.trim().strip_prefix("Credential="))
            .next()
            .and_then(|scope| scope.rsplitn(5, '/').nth(4));
        return match key {
            Some(key) => Credential::SigV4(key),
            None => Credential::Other,
        };
    }
    Credential::Other
}

/// Compares without stopping at the first difference, so timing does not tell how much of a
/// guessed token was right.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// GetDistribution's and GetDistributionConfig's `ETag`: a digest of the `<DistributionConfig>`
/// of the answer, in the shape of CloudFront's (`E` and 13 upper-case letters and digits), so it
/// changes exactly when the configuration does. (Handlers' replies carry no headers of their own.)
fn distribution_etag(method: &str, path: &str, reply: &Reply) -> Option<String> {
    let rest = path.strip_prefix("/2020-05-31/distribution/")?;
    let is_get = match rest.split_once('/') {
        None => !rest.is_empty(),
        Some((_, "config")) => true,
        _ => false,
    };
    if method != "GET" || !is_get || reply.status != 200 {
        return None;
    }
    let open = reply.body.find("<DistributionConfig")?;
    let start = open + reply.body[open..].find('>')? + 1;
    let end = reply.body.rfind("</DistributionConfig>")?;
    let config = reply.body.get(start..end)?;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = fnv(config);
    let mut etag = String::from("E");
    for _ in 0..13 {
        etag.push(char::from(ALPHABET[(x % 36) as usize]));
        x /= 36;
    }
    Some(etag)
}

impl Admin {
    /// `None` when the request may go on; otherwise the refusal.
    fn refusal(&self, authorization: Option<&str>, path: &str, aws_shaped: bool) -> Option<Reply> {
        let token = self.token.as_deref().filter(|t| !t.is_empty())?;
        match credential(authorization) {
            Credential::Bearer(given) if same(given, token) => None,
            Credential::SigV4(key) if same(key, token) => None,
            Credential::SigV4(_) => Some(aws_error(
                path,
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid: use the admin token as the access key id",
            )),
            _ if aws_shaped => Some(aws_error(
                path,
                401,
                "MissingAuthenticationToken",
                "this admin listener needs the admin token: the AWS CLI and SDKs give it as the access key id (AWS_ACCESS_KEY_ID), other clients as `Authorization: Bearer <token>`",
            )),
            _ => Some(plain(
                401,
                "this admin listener needs `Authorization: Bearer <admin_token>` (AWS clients: the token as the access key id)",
            )),
        }
    }

    /// `GET /metrics`: the process's one Prometheus registry (pingora's and ferry's metrics), in
    /// the text format 0.0.4, after every handler has brought its gauges up to date.
    fn metrics(&self) -> Reply {
        for handler in &self.handlers {
            handler.refresh();
        }
        process_gauges();
        let families = prometheus::default_registry().gather();
        let mut text = String::new();
        match prometheus::TextEncoder::new().encode_utf8(&families, &mut text) {
            Ok(()) => Reply::new(200, "text/plain; version=0.0.4; charset=utf-8", text),
            Err(e) => plain(500, &format!("cannot encode the metrics: {e}")),
        }
    }

    /// `POST /ferry/reload`: the topology file read again and swapped in, or refused with the
    /// reasons (400: the file is invalid, `ferry validate`'s lines; 409: it needs a restart).
    async fn reload(&self) -> Reply {
        let Some(reloader) = self.reloader.clone() else {
            return plain(404, "this process has no topology to reload");
        };
        let outcome = tokio::task::spawn_blocking(move || reloader.reload()).await;
        let json = |status: u16, value: serde_json::Value| {
            Reply::new(status, "application/json", format!("{value}\n"))
        };
        match outcome {
            Ok(Ok(t)) => {
                tracing::warn!(stack = %t.spec.stack, "topology reloaded through the admin API");
                json(
                    200,
                    serde_json::json!({
                        "reloaded": true,
                        "stack": t.spec.stack,
                        "distributions": t.distributions.len(),
                        "load_balancers": t.load_balancers.len(),
                        "target_groups": t.target_groups.len(),
                    }),
                )
            }
            Ok(Err(e)) => {
                tracing::error!("topology reload refused; the old topology keeps serving: {e}");
                let (status, reason) = match e {
                    ReloadError::Invalid(_) => (400, "invalid"),
                    ReloadError::NeedsRestart(_) => (409, "needs_restart"),
                };
                json(
                    status,
                    serde_json::json!({"reloaded": false, "reason": reason, "errors": e.lines()}),
                )
            }
            Err(e) => plain(500, &format!("the reload did not finish: {e}")),
        }
    }

    /// `GET /ferry/topology`: the topology being served, as JSON in the file's own field names (the
    /// admin token left out).
    fn topology(&self) -> Reply {
        let Some(reloader) = &self.reloader else {
            return plain(404, "this process has no topology");
        };
        match serde_json::to_value(&reloader.current().spec) {
            Ok(mut value) => {
                if let Some(token) = value.pointer_mut("/edge/admin_token") {
                    if !token.is_null() {
                        *token = serde_json::Value::String("(redacted)".into());
                    }
                }
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                Reply::new(200, "application/json", format!("{text}\n"))
            }
            Err(e) => plain(500, &format!("cannot render the topology: {e}")),
        }
    }

    /// `GET /ferry/status`: every handler's part, merged into one JSON object.
    fn status(&self, request: &Request<'_>) -> Reply {
        let mut members = vec![format!("\"version\":\"{}\"", env!("CARGO_PKG_VERSION"))];
        for reply in self.handlers.iter().filter_map(|h| h.handle(request)) {
            let body = reply.body.trim();
            if reply.status != 200 {
                continue;
            }
            if let Some(inner) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
                if !inner.trim().is_empty() {
                    members.push(inner.to_string());
                }
            }
        }
        Reply::new(
            200,
            "application/json",
            format!("{{{}}}\n", members.join(",")),
        )
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let mut body = Vec::new();
        let mut too_large = false;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            if body.len() + chunk.len() > MAX_BODY {
                too_large = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let header = session.req_header();
        let method = header.method.as_str().to_string();
        let path = header.uri.path().to_string();
        let query = header.uri.query().map(str::to_string);
        let authorization = header
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let aws_shaped = path.starts_with(CLOUDFRONT)
            || authorization.is_some_and(|a| a.starts_with("AWS4-"))
            || (path == "/" && method == "POST");
        let reply = if let Some(refusal) = self.refusal(authorization, &path, aws_shaped) {
            refusal
        } else if too_large && path.starts_with(CLOUDFRONT) {
            aws_error(
                &path,
                413,
                "BatchTooLarge",
                "Invalidation batch specified is too large: admin requests are at most 1 MiB",
            )
        } else if too_large {
            plain(413, "admin requests are at most 1 MiB")
        } else {
            let body = String::from_utf8_lossy(&body);
            let request = Request {
                method: &method,
                path: &path,
                query: query.as_deref(),
                body: &body,
            };
            if path == "/ferry/status" && method == "GET" {
                self.status(&request)
            } else if path == "/ferry/reload" && method == "POST" {
                self.reload().await
            } else if path == "/ferry/topology" && method == "GET" {
                self.topology()
            } else if path == "/metrics" && method == "GET" {
                self.metrics()
            } else {
                self.handlers
                    .iter()
                    .find_map(|h| h.handle(&request))
                    .unwrap_or_else(|| plain(404, &format!("no admin resource at {method} {path}")))
            }
        };
        let mut response = http::Response::builder()
            .status(reply.status)
            .header("Content-Type", reply.content_type)
            .header("Content-Length", reply.body.len());
        if let Some(location) = &reply.location {
            response = response.header("Location", location.as_str());
        }
        if let Some(etag) = distribution_etag(&method, &path, &reply) {
            response = response.header("ETag", etag);
        }
        if reply.status == 401 {
            response = response.header("WWW-Authenticate", "Bearer realm=\"ferry admin\"");
        }
        response
            .body(reply.body.clone().into_bytes())
            .unwrap_or_else(|_| http::Response::new(reply.body.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        assert_eq!(credential(None), Credential::None);
        assert_eq!(
            credential(Some("Bearer s3cret")),
            Credential::Bearer("s3cret")
        );
        assert_eq!(
            credential(Some("AWS4-HMAC-SHA256 Credential=s3cret/20250101/us-east-1/cloudfront/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")),
            Credential::SigV4("s3cret")
        );
        // A token with slashes is still the whole access key id.
        assert_eq!(
            credential(Some("AWS4-HMAC-SHA256 Credential=a/b/20250101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=abc")),
            Credential::SigV4("a/b")
        );
        assert_eq!(
            credential(Some("AWS4-HMAC-SHA256 SignedHeaders=host")),
            Credential::Other
        );
        assert_eq!(credential(Some("Basic eA==")), Credential::Other);
        assert_eq!(
            credential(Some("bearer s3cret")),
            Credential::Bearer("s3cret")
        );
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }

    #[test]
    fn refusals() {
        let admin = Admin {
            handlers: Vec::new(),
            token: Some("s3cret".into()),
            reloader: None,
        };
        let sig = |key: &str| {
            format!("AWS4-HMAC-SHA256 Credential={key}/20250101/us-east-1/cloudfront/aws4_request, SignedHeaders=host, Signature=0")
        };
        assert!(admin.refusal(Some("Bearer s3cret"), "/", false).is_none());
        assert!(admin.refusal(Some(&sig("s3cret")), "/", true).is_none());
        let r = admin.refusal(Some(&sig("test")), "/2020-05-31/distribution", true);
        assert_eq!(r.map(|r| r.status), Some(403));
        let r = admin.refusal(None, "/cache/stats", false);
        assert_eq!(r.map(|r| r.status), Some(401));
        let r = admin.refusal(Some("Bearer nope"), "/2020-05-31/distribution", true);
        assert!(r.is_some_and(|r| r.status == 401 && r.body.contains("<Code>")));
        let open = Admin {
            handlers: Vec::new(),
            token: None,
            reloader: None,
        };
        assert!(open.refusal(Some(&sig("test")), "/", true).is_none());
    }

    #[test]
    fn etags() {
        let reply = Reply::new(
            200,
            "text/xml",
            "<Distribution><Id>a</Id><DistributionConfig><Comment>x</Comment></DistributionConfig></Distribution>".into(),
        );
        let config = Reply::new(
            200,
            "text/xml",
            "<DistributionConfig xmlns=\"x\"><Comment>x</Comment></DistributionConfig>".into(),
        );
        let etag = distribution_etag("GET", "/2020-05-31/distribution/a", &reply);
        assert!(etag
            .as_deref()
            .is_some_and(|e| e.len() == 14 && e.starts_with('E')));
        assert_eq!(
            distribution_etag("GET", "/2020-05-31/distribution/a/config", &config),
            etag
        );
        assert_eq!(
            distribution_etag("GET", "/2020-05-31/distribution/a/invalidation", &reply),
            None
        );
    }
}
