//! CloudFront's geo restriction through a running edge: viewers are located by the edge's
//! `client_countries` table (the test connects from 127.0.0.1, "US", and 127.0.0.2, "FR"); an
//! allow list serves only its countries, a deny list all others, both answer the rest 403 with
//! CloudFront's message and `X-Cache: Error from cloudfront`, the origin never sees a refused
//! request, and a viewer of no known country is served.

mod common;

use common::*;
use std::net::IpAddr;

fn site(restriction: &str, locations: &str, origin: &Origin) -> String {
    format!(
        r#"[[distributions]]
id = "{restriction}"
aliases = ["{restriction}.test"]
restrictions = {{ geo_restriction = {{ restriction_type = "{restriction}", locations = [{locations}] }} }}
  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = "http-only" }}
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
"#,
        port = origin.port()
    )
}

#[test]
fn allow_and_deny_lists_answer_403_to_the_other_countries() {
    let origin = Origin::start("o");
    let edge = format!("127.0.0.1:{}", free_port());
    let text = format!(
        r#"stack = "geo"

[edge]
http = "{edge}"
client_countries = {{ "127.0.0.0/8" = "US", "127.0.0.2/32" = "FR", "127.0.0.3/32" = "DE" }}

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

{}{}"#,
        site("whitelist", "\"US\", \"DE\"", &origin),
        site("blacklist", "\"US\"", &origin),
    );
    let file = Topology::write("geo", &text);
    let _ferry = Ferry::up(&file, &[&edge]);

    // (distribution, client address, country, served)
    let cases = [
        ("whitelist", "127.0.0.1", "US", true),
        ("whitelist", "127.0.0.3", "DE", true),
        ("whitelist", "127.0.0.2", "FR", false),
        ("blacklist", "127.0.0.1", "US", false),
        ("blacklist", "127.0.0.2", "FR", true),
    ];
    let mut wrong = Vec::new();
    for (i, (dist, from, country, served)) in cases.iter().enumerate() {
        let path = format!("/geo/{i}");
        let host = format!("{dist}.test");
        let ip: IpAddr = from.parse().expect("ip");
        let r = Conn::open_from(&edge, ip, IO_TIMEOUT)
            .and_then(|mut c| c.request("GET", &path, &[("Host", host.as_str())], b""));
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                wrong.push(format!("{dist} from {country}: {e}"));
                continue;
            }
        };
        let reached = origin.count_path(&path) == 1;
        if *served {
            if r.status != 200 || !reached {
                wrong.push(format!(
                    "{dist} from {country}: {} (origin saw it: {reached})",
                    r.status
                ));
            }
        } else if r.status != 403
            || reached
            || r.header("X-Cache") != Some("Error from cloudfront")
            || !r
                .body_text()
                .contains("configured to block access from your country")
        {
            wrong.push(format!(
                "{dist} from {country}: {} {:?} (origin saw it: {reached})",
                r.status,
                r.body_text()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_viewer_of_no_known_country_is_served_and_bad_tables_are_located() {
    let origin = Origin::start("o");
    let edge = format!("127.0.0.1:{}", free_port());
    let text = format!(
        r#"stack = "geo-unknown"

[edge]
http = "{edge}"
client_countries = {{ "127.0.0.2/32" = "FR" }}

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

{}"#,
        site("whitelist", "\"FR\"", &origin),
    );
    let file = Topology::write("geo-unknown", &text);
    let ferry = Ferry::up(&file, &[&edge]);
    let r = Client::new().get(&edge, "/unknown", &[("Host", "whitelist.test")]);
    assert_eq!(
        r.status, 200,
        "127.0.0.1 has no country in the table: served, {r:?}"
    );
    drop(ferry);

    let bad = text.replace("\"127.0.0.2/32\" = \"FR\"", "\"127.0.0.2/33\" = \"France\"");
    let file = Topology::write("geo-bad", &bad);
    let out = ferry_cmd(&["validate", file.path_str()]);
    let err = text_of_output(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("edge.client_countries") && err.contains("33") && err.contains("France"),
        "{err}"
    );
}

fn text_of_output(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// CloudFront answers a geo-restricted viewer with the distribution's custom error response for
/// 403 when it has one; its own fetch of that page is not geo restricted (here it comes from
/// 127.0.0.1, a country the allow list refuses).
#[test]
fn a_refused_viewer_gets_the_custom_error_page_for_403() {
    let origin = Origin::start_with("o", |req| {
        if req.path() == "/errors/where.html" {
            Response::text(200, "<h1>not in your country</h1>")
                .with_header("Content-Type", "text/html; charset=utf-8")
        } else {
            default_origin_response("o", req)
        }
    });
    let edge = format!("127.0.0.1:{}", free_port());
    let distribution = site("whitelist", "\"DE\"", &origin).replace(
        "  [[distributions.origins]]",
        "  [[distributions.custom_error_responses]]\n  error_code = 403\n  response_page_path = \"/errors/where.html\"\n  response_code = 404\n  [[distributions.origins]]",
    );
    let text = format!(
        r#"stack = "geo-page"

[edge]
http = "{edge}"
client_countries = {{ "127.0.0.1/32" = "US", "127.0.0.3/32" = "DE" }}

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

{distribution}"#
    );
    let file = Topology::write("geo-page", &text);
    let _ferry = Ferry::up(&file, &[&edge]);
    let host = [("Host", "whitelist.test")];

    let r = Client::new().get(&edge, "/secret", &host);
    assert_eq!(
        (r.status, r.body_text().as_str(), r.header("Content-Type")),
        (
            404,
            "<h1>not in your country</h1>",
            Some("text/html; charset=utf-8")
        ),
        "{r:?}"
    );
    assert_eq!(r.header("X-Cache"), Some("Error from cloudfront"));
    assert_eq!(
        origin.count_path("/secret"),
        0,
        "a refused request never reaches the origin"
    );

    let ip: IpAddr = "127.0.0.3".parse().expect("ip");
    let r = Conn::open_from(&edge, ip, IO_TIMEOUT)
        .and_then(|mut c| c.request("GET", "/secret", &host, b""))
        .expect("a request from DE");
    assert_eq!((r.status, origin.count_path("/secret")), (200, 1), "{r:?}");
}
