//! The built-in demo targets of `[[demo_targets]]`: tiny HTTP servers that say who they are and echo
//! what they received, so that `ferry up` shows the whole path with nothing else installed.

use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

pub struct DemoTarget {
    name: String,
}

#[async_trait]
impl ServeHttp for DemoTarget {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        // Drain the body so the connection can be reused.
        let mut received = 0usize;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            received += chunk.len();
        }
        let request = session.req_header();
        let mut body = format!(
            "demo target {}: {} {}\n",
            self.name,
            request.method,
            request
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        for (name, value) in request.headers.iter() {
            body.push_str(&format!(
                "{}: {}\n",
                name,
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        if received > 0 {
            body.push_str(&format!("({received} body bytes)\n"));
        }
        let response = http::Response::builder()
            .status(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Content-Length", body.len())
            .header("X-Demo-Target", self.name.as_str())
            .body(body.clone().into_bytes());
        response.unwrap_or_else(|_| http::Response::new(body.into_bytes()))
    }
}

pub fn service(name: &str, listen: std::net::SocketAddr) -> Service<DemoTarget> {
    let mut service = Service::new(
        format!("demo target {name}"),
        DemoTarget {
            name: name.to_string(),
        },
    );
    service.add_tcp(&listen.to_string());
    service.threads = Some(1);
    service
}
