//! A recorded CloudFront for the provision tests that moto cannot serve: CloudFront's XML answers
//! (the 2020-05-31 API), its errors and If-Match rule, and empty ELBv2 answers on the same
//! endpoint, for a test's own [`Origin`](super::Origin) handler to build on.

use super::{Request, Response};

pub const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
pub const ELB_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

pub fn xml_response(status: u16, body: String) -> Response {
    Response::new(status)
        .with_header("Content-Type", "text/xml")
        .with_header("x-amz-request-id", "rec")
        .with_body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
        ))
}

pub fn cloudfront_error(status: u16, code: &str, message: &str) -> Response {
    xml_response(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>rec</RequestId></ErrorResponse>"
        ),
    )
}

/// CloudFront's refusal of a request whose If-Match is not the current ETag, if it is not.
pub fn if_match_refused(req: &Request, etag: &str) -> Option<Response> {
    match req.header("if-match") {
        Some(given) if given == etag => None,
        Some(_) => Some(cloudfront_error(
            412,
            "PreconditionFailed",
            "The precondition given in one or more of the request-header fields evaluated to false.",
        )),
        None => Some(cloudfront_error(
            400,
            "InvalidIfMatchVersion",
            "The If-Match version is missing or not valid for the resource.",
        )),
    }
}

/// The text of the element `name` among the children of the document's root element (not of an
/// element nested deeper), if there is one.
pub fn child_text(xml: &str, name: &str) -> Option<String> {
    let mut depth = 0usize;
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let close = rest.find('>')?;
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
            continue;
        }
        depth += 1;
        if depth == 2 && tag.split_whitespace().next() == Some(name) {
            let end = rest.find(&format!("</{name}>"))?;
            return Some(rest[..end].to_string());
        }
    }
    None
}

/// The ELBv2 calls (query protocol, same endpoint): the stack has no load balancers.
pub fn elb_answer(req: &Request, body: &str) -> Response {
    if body.contains("Action=DescribeTargetGroups") {
        xml_response(
            200,
            format!(
                "<DescribeTargetGroupsResponse xmlns=\"{ELB_NS}\"><DescribeTargetGroupsResult><TargetGroups/>\
                 </DescribeTargetGroupsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata>\
                 </DescribeTargetGroupsResponse>"
            ),
        )
    } else if body.contains("Action=DescribeLoadBalancers") {
        xml_response(
            200,
            format!(
                "<DescribeLoadBalancersResponse xmlns=\"{ELB_NS}\"><DescribeLoadBalancersResult><LoadBalancers/>\
                 </DescribeLoadBalancersResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>\
                 </DescribeLoadBalancersResponse>"
            ),
        )
    } else {
        unrecorded(req)
    }
}

pub fn unrecorded(req: &Request) -> Response {
    Response::text(
        404,
        format!("no recorded answer for {} {}", req.method, req.target),
    )
}

pub fn empty_policy_list(root: &str) -> Response {
    xml_response(
        200,
        format!("<{root} xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>0</Quantity></{root}>"),
    )
}
