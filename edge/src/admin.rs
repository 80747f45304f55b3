//! The edge's admin listener: CloudFront's invalidation REST API (so the AWS CLI and SDKs work
//! against it with `--endpoint-url`) and cache statistics.

use crate::cache::invalidations::{CreateError, Invalidation};
use crate::cache::EdgeCache;
use ferry_config::admin::{Handler, Reply, Request};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const API: &str = "/2020-05-31/distribution/";
const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

pub struct Admin {
    pub cache: Arc<EdgeCache>,
    pub distributions: Vec<String>,
}

type Answer = (u16, &'static str, String);

fn xml_error(status: u16, code: &str, message: &str) -> Answer {
    (
        status,
        "text/xml",
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error></ErrorResponse>\n",
            escape(message)
        ),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of every `<tag>...</tag>` element, in order.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}

/// RFC 3339 UTC with milliseconds, as CloudFront writes CreateTime.
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn invalidation_xml(i: &Invalidation) -> String {
    let paths: String = i
        .paths
        .iter()
        .map(|p| format!("<Path>{}</Path>", escape(p)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invalidation xmlns=\"{XMLNS}\"><Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{paths}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>\n",
        i.id,
        i.status,
        iso8601(i.create_time),
        i.paths.len(),
        escape(&i.caller_reference)
    )
}

impl Admin {
    fn route(&self, method: &str, path: &str, body: &str) -> (Answer, Option<String>) {
        if path == "/cache/stats" && method == "GET" {
            let stats = format!(
                "{{\"objects\":{},\"bytes\":{},\"invalidations\":{}}}\n",
                self.cache.store.entry_count(),
                self.cache.store.weighted_size(),
                self.distributions
                    .iter()
                    .map(|d| self.cache.invalidations.list(d).len())
                    .sum::<usize>()
            );
            return ((200, "application/json", stats), None);
        }
        let Some(rest) = path.strip_prefix(API) else {
            return (
                xml_error(404, "NotFound", &format!("no admin resource at {path}")),
                None,
            );
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let distribution = parts.first().copied().unwrap_or("");
        if !self.distributions.iter().any(|d| d == distribution) {
            return (
                xml_error(
                    404,
                    "NoSuchDistribution",
                    &format!("The specified distribution does not exist: {distribution}"),
                ),
                None,
            );
        }
        match (method, parts.as_slice()) {
            ("POST", [_, "invalidation"]) => self.create(distribution, body),
            ("GET", [_, "invalidation", id]) => {
                match self.cache.invalidations.get(distribution, id) {
                    Some(i) => ((200, "text/xml", invalidation_xml(&i)), None),
                    None => (
                        xml_error(
                            404,
                            "NoSuchInvalidation",
                            &format!("The specified invalidation does not exist: {id}"),
                        ),
                        None,
                    ),
                }
            }
            ("GET", [_, "invalidation"]) => {
                let list = self.cache.invalidations.list(distribution);
                let items: String = list
                    .iter()
                    .map(|i| format!("<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>", i.id, iso8601(i.create_time), i.status))
                    .collect();
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationList xmlns=\"{XMLNS}\"><Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items></InvalidationList>\n",
                    list.len()
                );
                ((200, "text/xml", xml), None)
            }
            _ => (
                xml_error(
                    405,
                    "MethodNotAllowed",
                    &format!("{method} {path} is not supported"),
                ),
                None,
            ),
        }
    }

    fn create(&self, distribution: &str, body: &str) -> (Answer, Option<String>) {
        let paths: Vec<String> = elements(body, "Path").into_iter().map(unescape).collect();
        let caller_reference = elements(body, "CallerReference")
            .first()
            .map(|s| unescape(s))
            .unwrap_or_default();
        if let Some(q) = elements(body, "Quantity").first() {
            if q.trim().parse::<usize>().ok() != Some(paths.len()) {
                return (
                    xml_error(
                        400,
                        "InconsistentQuantities",
                        "Quantity does not match the number of paths",
                    ),
                    None,
                );
            }
        }
        if caller_reference.is_empty() {
            return (
                xml_error(400, "MissingBody", "CallerReference is required"),
                None,
            );
        }
        match self.cache.invalidations.create(
            self.cache.store,
            distribution,
            paths,
            caller_reference,
        ) {
            Ok((i, created)) => {
                tracing::info!(distribution, id = %i.id, removed = i.objects_removed, "invalidation");
                let mut shown = i.clone();
                if created {
                    // The batch is carried out before this answer; CloudFront's first answer says
                    // InProgress, and GetInvalidation then says Completed.
                    shown.status = "InProgress";
                }
                let location = format!(
                    "https://cloudfront.amazonaws.com{API}{distribution}/invalidation/{}",
                    i.id
                );
                (
                    (
                        if created { 201 } else { 200 },
                        "text/xml",
                        invalidation_xml(&shown),
                    ),
                    Some(location),
                )
            }
            Err(CreateError::NoPaths) => (
                xml_error(400, "InvalidArgument", "give at least one path"),
                None,
            ),
            Err(CreateError::BadPath(why)) => (xml_error(400, "InvalidArgument", &why), None),
            Err(CreateError::BatchAlreadyExists(id)) => (
                xml_error(
                    409,
                    "InvalidationBatchAlreadyExists",
                    &format!(
                        "CallerReference was already used for invalidation {id} with other paths"
                    ),
                ),
                None,
            ),
        }
    }
}

impl Handler for Admin {
    fn handle(&self, request: &Request<'_>) -> Option<Reply> {
        let is_ours = request.path == "/cache/stats" || request.path.starts_with(API);
        if !is_ours {
            return None;
        }
        let ((status, content_type, body), location) =
            self.route(request.method, request.path, request.body);
        Some(Reply {
            status,
            content_type,
            body,
            location,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_xml() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + std::time::Duration::from_millis(1_764_028_800_123)),
            "2025-11-25T00:00:00.123Z"
        );
        assert_eq!(
            elements("<a><Path>/x</Path><Path>/y&amp;z</Path></a>", "Path"),
            ["/x", "/y&amp;z"]
        );
        assert_eq!(unescape("/y&amp;z"), "/y&z");
    }
}
