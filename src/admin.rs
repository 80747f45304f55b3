//! The admin listener of one ferry process: the edge's and the balancer's parts of the admin API
//! behind one socket, with the bearer token when one is configured.

use async_trait::async_trait;
use ferry_config::admin::{Handler, Reply, Request};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

/// Admin requests are small; anything larger is refused.
const MAX_BODY: usize = 1 << 20;

pub struct Admin {
    pub handlers: Vec<Box<dyn Handler>>,
    pub token: Option<String>,
}

fn plain(status: u16, text: &str) -> Reply {
    Reply::new(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

impl Admin {
    fn authorized(&self, session: &ServerSession) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let expected = format!("Bearer {token}");
        session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected)
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
        let reply = if !self.authorized(session) {
            plain(
                401,
                "this admin listener needs `Authorization: Bearer <admin_token>`",
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
            self.handlers
                .iter()
                .find_map(|h| h.handle(&request))
                .unwrap_or_else(|| plain(404, &format!("no admin resource at {method} {path}")))
        };
        let mut response = http::Response::builder()
            .status(reply.status)
            .header("Content-Type", reply.content_type)
            .header("Content-Length", reply.body.len());
        if let Some(location) = &reply.location {
            response = response.header("Location", location.as_str());
        }
        response
            .body(reply.body.clone().into_bytes())
            .unwrap_or_else(|_| http::Response::new(reply.body.into_bytes()))
    }
}
