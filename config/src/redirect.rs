//! ALB redirect actions: expanding `#{protocol}`, `#{host}`, `#{port}`, `#{path}` and `#{query}` into
//! the Location a client is sent to.

use crate::model::Redirect;

/// The parts of the original request that placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct Original<'a> {
    /// `HTTP` or `HTTPS`.
    pub protocol: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// With its leading `/`.
    pub path: &'a str,
    /// Without `?`; empty when there is none.
    pub query: &'a str,
}

fn expand(template: &str, original: &Original<'_>) -> String {
    let port = original.port.to_string();
    template
        .replace("#{protocol}", original.protocol)
        .replace("#{host}", original.host)
        .replace("#{port}", &port)
        // `#{path}` is the path without its leading slash: the default path is `/#{path}`.
        .replace(
            "#{path}",
            original.path.strip_prefix('/').unwrap_or(original.path),
        )
        .replace("#{query}", original.query)
}

/// The absolute URL to redirect to, its port always written (ALB keeps `:443` in the usual
/// redirect to HTTPS: "is there a way to stop :443 from being prepended", users ask); an empty
/// query is left out.
pub fn location(redirect: &Redirect, original: &Original<'_>) -> String {
    let protocol = expand(&redirect.protocol, original).to_ascii_lowercase();
    let host = expand(&redirect.host, original);
    let port = expand(&redirect.port, original);
    let mut path = expand(&redirect.path, original);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let query = expand(&redirect.query, original);
    let mut url = format!("{protocol}://{host}:{port}");
    url.push_str(&path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(protocol: &str, port: &str, host: &str, path: &str, query: &str) -> Redirect {
        Redirect {
            protocol: protocol.into(),
            port: port.into(),
            host: host.into(),
            path: path.into(),
            query: query.into(),
            status: 301,
        }
    }

    #[test]
    fn placeholders() {
        let original = Original {
            protocol: "HTTP",
            host: "a.test",
            port: 8081,
            path: "/x/y",
            query: "k=v",
        };
        let plain = Original {
            port: 80,
            query: "",
            ..original
        };
        for (r, o, expected) in [
            (
                redirect("HTTPS", "443", "#{host}", "/#{path}", "#{query}"),
                original,
                "https://a.test:443/x/y?k=v",
            ),
            (
                redirect(
                    "#{protocol}",
                    "#{port}",
                    "#{host}",
                    "/v1/#{path}",
                    "#{query}",
                ),
                original,
                "http://a.test:8081/v1/x/y?k=v",
            ),
            (
                redirect("#{protocol}", "#{port}", "b.test", "/#{path}", "#{query}"),
                plain,
                "http://b.test:80/x/y",
            ),
            (
                redirect("HTTPS", "8443", "#{host}", "/new", "from=#{path}&#{query}"),
                original,
                "https://a.test:8443/new?from=x/y&k=v",
            ),
            (
                redirect("#{protocol}", "#{port}", "#{host}", "/#{host}/#{port}", ""),
                original,
                "http://a.test:8081/a.test/8081",
            ),
        ] {
            assert_eq!(location(&r, &o), expected);
        }
    }
}
