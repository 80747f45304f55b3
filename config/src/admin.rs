//! What the admin listener's handlers answer: the edge and the balancer each handle their part of
//! the admin API, and the process serving it ties them together.

/// One admin answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body,
            location: None,
        }
    }
}

/// One admin request, already read whole.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a str,
}

/// A part of the admin API: `None` when the request is not for it.
pub trait Handler: Send + Sync {
    fn handle(&self, request: &Request<'_>) -> Option<Reply>;

    /// Brings the handler's gauges up to date, just before `/metrics` is gathered.
    fn refresh(&self) {}
}
