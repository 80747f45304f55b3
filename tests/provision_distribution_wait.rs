//! `ferry destroy` on a stack with an enabled distribution, which moto cannot show (it deploys
//! every change at once): CloudFront deletes only a disabled distribution whose last change is
//! deployed, so ferry reads the config, disables it with If-Match, polls GetDistribution until
//! `Deployed`, then deletes it with the ETag of that last read. The tests run the real `ferry`
//! against a loopback server that gives CloudFront's recorded answers (the XML of the 2020-05-31
//! API), keeps the distribution's state between calls (ETag, Enabled, Status; a wrong If-Match is
//! refused as CloudFront refuses it) and records every request ferry sends.

mod common;

use common::recorded::*;
use common::*;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STACK: &str = "rec";
/// The distribution's id in the topology (its `ferry:id` tag).
const SITE: &str = "site";
/// Its id, ARN and domain in AWS.
const ID: &str = "EDFDVBD6EXAMPLE";
const ARN: &str = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE";
const DOMAIN: &str = "d111111abcdef8.cloudfront.net";
/// GetDistribution and DeleteDistribution.
const DISTRIBUTION_PATH: &str = "/2020-05-31/distribution/EDFDVBD6EXAMPLE";
/// GetDistributionConfig and UpdateDistribution.
const CONFIG_PATH: &str = "/2020-05-31/distribution/EDFDVBD6EXAMPLE/config";
/// How often ferry polls GetDistribution here (`FERRY_PROVISION_POLL_MS`).
const POLL_MS: &str = "20";
/// How long a `ferry destroy` may run before it is killed (the default deadline is 45 minutes).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(20);

const ORIGINS: &str = "<Origins><Quantity>1</Quantity><Items><Origin><Id>web</Id>\
    <DomainName>www.example.com</DomainName><OriginPath></OriginPath>\
    <CustomHeaders><Quantity>0</Quantity></CustomHeaders>\
    <CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort>\
    <OriginProtocolPolicy>https-only</OriginProtocolPolicy>\
    <OriginSslProtocols><Quantity>1</Quantity><Items><SslProtocol>TLSv1.2</SslProtocol></Items></OriginSslProtocols>\
    <OriginReadTimeout>30</OriginReadTimeout><OriginKeepaliveTimeout>5</OriginKeepaliveTimeout></CustomOriginConfig>\
    <ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout></Origin></Items></Origins>";

/// With the managed policy Managed-CachingOptimized.
const DEFAULT_CACHE_BEHAVIOR: &str = "<DefaultCacheBehavior><TargetOriginId>web</TargetOriginId>\
    <ViewerProtocolPolicy>redirect-to-https</ViewerProtocolPolicy>\
    <AllowedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items>\
    <CachedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items></CachedMethods></AllowedMethods>\
    <Compress>true</Compress><CachePolicyId>658327ea-f89d-4fab-a63d-7e88639e58f6</CachePolicyId></DefaultCacheBehavior>";

const VIEWER_CERTIFICATE: &str =
    "<ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate>\
    <MinimumProtocolVersion>TLSv1</MinimumProtocolVersion></ViewerCertificate>";

const RESTRICTIONS: &str = "<Restrictions><GeoRestriction><RestrictionType>none</RestrictionType>\
    <Quantity>0</Quantity></GeoRestriction></Restrictions>";

/// What the recorded CloudFront knows of the distribution.
#[derive(Debug)]
struct Cloud {
    /// The current ETag: E1, E2 once ferry's update is taken, E3 once that update is deployed.
    etag: &'static str,
    enabled: bool,
    /// `Deployed` or `InProgress`.
    status: &'static str,
    /// How many more GetDistribution answers say `InProgress` before the change is deployed.
    in_progress_polls: usize,
    deleted: bool,
}

/// The inside of a DistributionConfig. `Logging` has an `Enabled` of its own, as in CloudFront's
/// answers, so a body is checked for the distribution's `Enabled` (a child of the root) only.
fn distribution_config(enabled: bool) -> String {
    format!(
        "<CallerReference>ferry-rec-site-1</CallerReference><Aliases><Quantity>0</Quantity></Aliases>\
         <DefaultRootObject></DefaultRootObject>{ORIGINS}{DEFAULT_CACHE_BEHAVIOR}\
         <CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>\
         <CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses><Comment></Comment>\
         <Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket></Bucket><Prefix></Prefix></Logging>\
         <PriceClass>PriceClass_All</PriceClass><Enabled>{enabled}</Enabled>{VIEWER_CERTIFICATE}{RESTRICTIONS}\
         <WebACLId></WebACLId><HttpVersion>http2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>"
    )
}

/// A `Distribution` document (GetDistribution, UpdateDistribution).
fn distribution(cloud: &Cloud) -> String {
    let status = cloud.status;
    let config = distribution_config(cloud.enabled);
    format!(
        "<Distribution xmlns=\"{NS}\"><Id>{ID}</Id><ARN>{ARN}</ARN><Status>{status}</Status>\
         <LastModifiedTime>2026-01-02T00:00:00Z</LastModifiedTime>\
         <InProgressInvalidationBatches>0</InProgressInvalidationBatches><DomainName>{DOMAIN}</DomainName>\
         <DistributionConfig>{config}</DistributionConfig></Distribution>"
    )
}

/// ListDistributions: the one distribution while it exists.
fn distribution_list(cloud: &Cloud) -> String {
    if cloud.deleted {
        return format!(
            "<DistributionList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems>\
             <IsTruncated>false</IsTruncated><Quantity>0</Quantity></DistributionList>"
        );
    }
    let (etag, status, enabled) = (cloud.etag, cloud.status, cloud.enabled);
    format!(
        "<DistributionList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems>\
         <IsTruncated>false</IsTruncated><Quantity>1</Quantity><Items><DistributionSummary>\
         <Id>{ID}</Id><ARN>{ARN}</ARN><ETag>{etag}</ETag><Status>{status}</Status>\
         <LastModifiedTime>2026-01-01T00:00:00Z</LastModifiedTime><DomainName>{DOMAIN}</DomainName>\
         <Aliases><Quantity>0</Quantity></Aliases>{ORIGINS}{DEFAULT_CACHE_BEHAVIOR}\
         <CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>\
         <CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses><Comment></Comment>\
         <PriceClass>PriceClass_All</PriceClass><Enabled>{enabled}</Enabled>{VIEWER_CERTIFICATE}{RESTRICTIONS}\
         <WebACLId></WebACLId><HttpVersion>HTTP2</HttpVersion><IsIPV6Enabled>true</IsIPV6Enabled>\
         <Staging>false</Staging></DistributionSummary></Items></DistributionList>"
    )
}

/// The recorded answer to one request, given (and changing) the distribution's state.
fn answer(req: &Request, cloud: &mut Cloud) -> Response {
    let body = req.body_text();
    match (req.method.as_str(), req.path()) {
        ("POST", "/") => elb_answer(req, &body),
        // No custom policies.
        ("GET", "/2020-05-31/cache-policy") => empty_policy_list("CachePolicyList"),
        ("GET", "/2020-05-31/origin-request-policy") => empty_policy_list("OriginRequestPolicyList"),
        ("GET", "/2020-05-31/response-headers-policy") => {
            empty_policy_list("ResponseHeadersPolicyList")
        }
        ("GET", "/2020-05-31/distribution") => xml_response(200, distribution_list(cloud)),
        // ListTagsForResource?Resource=<the distribution's ARN>
        ("GET", "/2020-05-31/tagging") if req.query().is_some_and(|q| q.contains(ID)) => {
            xml_response(
                200,
                format!(
                    "<Tags xmlns=\"{NS}\"><Items><Tag><Key>ferry:stack</Key><Value>{STACK}</Value></Tag>\
                     <Tag><Key>ferry:id</Key><Value>{SITE}</Value></Tag></Items></Tags>"
                ),
            )
        }
        (_, path) if cloud.deleted && path.starts_with(DISTRIBUTION_PATH) => cloudfront_error(
            404,
            "NoSuchDistribution",
            "The specified distribution does not exist.",
        ),
        ("GET", CONFIG_PATH) => xml_response(
            200,
            format!(
                "<DistributionConfig xmlns=\"{NS}\">{}</DistributionConfig>",
                distribution_config(cloud.enabled)
            ),
        )
        .with_header("ETag", cloud.etag),
        ("PUT", CONFIG_PATH) => {
            if let Some(refused) = if_match_refused(req, cloud.etag) {
                return refused;
            }
            let Some(enabled) = child_text(&body, "Enabled").and_then(|v| v.parse::<bool>().ok())
            else {
                return cloudfront_error(
                    400,
                    "MalformedInput",
                    "The DistributionConfig has no Enabled.",
                );
            };
            cloud.enabled = enabled;
            cloud.etag = "E2";
            cloud.status = "InProgress";
            xml_response(200, distribution(cloud)).with_header("ETag", cloud.etag)
        }
        ("GET", DISTRIBUTION_PATH) => {
            if cloud.status == "InProgress" {
                if cloud.in_progress_polls > 0 {
                    cloud.in_progress_polls -= 1;
                } else {
                    cloud.status = "Deployed";
                    cloud.etag = "E3";
                }
            }
            xml_response(200, distribution(cloud)).with_header("ETag", cloud.etag)
        }
        ("DELETE", DISTRIBUTION_PATH) => {
            if let Some(refused) = if_match_refused(req, cloud.etag) {
                return refused;
            }
            if cloud.enabled || cloud.status != "Deployed" {
                return cloudfront_error(
                    409,
                    "DistributionNotDisabled",
                    "The distribution you are trying to delete has not been disabled.",
                );
            }
            cloud.deleted = true;
            Response::new(204).with_header("x-amz-request-id", "rec")
        }
        _ => unrecorded(req),
    }
}

/// The recorded CloudFront on a loopback port, with the enabled, deployed distribution at ETag
/// E1; once disabled, it answers `InProgress` to `in_progress_polls` GetDistribution calls before
/// `Deployed`.
fn recorded_cloudfront(in_progress_polls: usize) -> (Origin, Arc<Mutex<Cloud>>) {
    let state = Arc::new(Mutex::new(Cloud {
        etag: "E1",
        enabled: true,
        status: "Deployed",
        in_progress_polls,
        deleted: false,
    }));
    let shared = state.clone();
    let origin = Origin::start_with("cloudfront", move |req| {
        let mut cloud = shared.lock().expect("recorded CloudFront state");
        answer(req, &mut cloud)
    });
    (origin, state)
}

/// `ferry destroy FILE --auto-approve` against the recorded CloudFront, with a short poll and a
/// deadline of `wait_ms` for the disabled distribution to deploy; its output and how long it took.
fn destroy(cloudfront: &Origin, wait_ms: &str) -> (Output, Duration) {
    let dir = TempDir::new("provision-distribution-wait");
    let file = dir.write(
        "t.toml",
        format!("stack = \"{STACK}\"\n\n[aws]\nregion = \"us-east-1\"\n"),
    );
    let file = file.to_str().expect("a UTF-8 temporary path");
    let endpoint = format!("http://{}", cloudfront.address());
    let mut cmd = ferry_command(&["destroy", file, "--auto-approve"]);
    cmd.args(["--endpoint-url", endpoint.as_str()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env("FERRY_PROVISION_POLL_MS", POLL_MS)
        .env("FERRY_PROVISION_WAIT_MS", wait_ms);
    let started = Instant::now();
    let output = run_with_timeout(&mut cmd, DESTROY_TIMEOUT).unwrap_or_else(|e| panic!("{e}"));
    (output, started.elapsed())
}

/// The calls on the distribution itself that ferry made, in order: (operation, If-Match).
fn distribution_calls(cloudfront: &Origin) -> Vec<(String, Option<String>)> {
    cloudfront
        .requests()
        .iter()
        .filter(|r| r.path().starts_with(DISTRIBUTION_PATH))
        .map(|r| {
            let operation = match (r.method.as_str(), r.path() == CONFIG_PATH) {
                ("GET", true) => "GetDistributionConfig".to_string(),
                ("PUT", true) => "UpdateDistribution".to_string(),
                ("GET", false) => "GetDistribution".to_string(),
                ("DELETE", false) => "DeleteDistribution".to_string(),
                (method, _) => format!("{method} {}", r.target),
            };
            (operation, r.header("if-match").map(str::to_string))
        })
        .collect()
}

fn calls(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(operation, if_match)| (operation.to_string(), if_match.map(str::to_string)))
        .collect()
}

/// The body of ferry's UpdateDistribution.
fn update_body(cloudfront: &Origin) -> String {
    cloudfront
        .requests()
        .iter()
        .find(|r| r.method == "PUT" && r.path() == CONFIG_PATH)
        .map(Request::body_text)
        .unwrap_or_else(|| panic!("no UpdateDistribution among {:?}", cloudfront.requests()))
}

#[test]
fn destroy_disables_waits_for_deployed_and_deletes_with_the_latest_etag() {
    let (cloudfront, state) = recorded_cloudfront(2);
    let (out, _) = destroy(&cloudfront, "10000");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    assert_eq!(
        distribution_calls(&cloudfront),
        calls(&[
            // The plan's read of the stack.
            ("GetDistributionConfig", None),
            // The delete's own read: ETag E1, Enabled true.
            ("GetDistributionConfig", None),
            ("UpdateDistribution", Some("E1")),
            ("GetDistribution", None),
            ("GetDistribution", None),
            // Deployed, ETag E3.
            ("GetDistribution", None),
            ("DeleteDistribution", Some("E3")),
        ]),
        "disable with the ETag read, poll until Deployed, delete with the ETag of the last poll\n{stderr}"
    );

    // The distribution's own <Enabled>false</Enabled> (Logging has an Enabled of its own).
    let body = update_body(&cloudfront);
    assert_eq!(
        child_text(&body, "Enabled").as_deref(),
        Some("false"),
        "UpdateDistribution disables the distribution: {body}"
    );
    assert_eq!(
        child_text(&body, "CallerReference").as_deref(),
        Some("ferry-rec-site-1"),
        "the rest of the config goes back as it was read: {body}"
    );
    assert!(
        body.contains("<TargetOriginId>web</TargetOriginId>")
            && body.contains("<DomainName>www.example.com</DomainName>"),
        "the rest of the config goes back as it was read: {body}"
    );

    assert!(stdout.contains("- delete distribution site"), "{stdout}");
    assert!(stdout.contains(", 1 to delete."), "{stdout}");
    assert!(
        stderr.contains("delete distribution site: done"),
        "the delete is reported done: {stderr}"
    );
    assert!(
        stderr.contains("Destroy complete: 1 step(s) done."),
        "{stderr}"
    );
    let cloud = state.lock().expect("recorded CloudFront state");
    assert!(cloud.deleted, "the distribution is gone: {cloud:?}");
}

#[test]
fn destroy_stops_with_a_clear_message_when_the_distribution_never_deploys() {
    let (cloudfront, state) = recorded_cloudfront(usize::MAX);
    let wait = Duration::from_millis(300);
    let (out, took) = destroy(&cloudfront, &wait.as_millis().to_string());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");

    for part in [
        format!("distribution {SITE} ({ID}) is disabled but still InProgress"),
        "run destroy again".to_string(),
        "Destroy stopped at: delete distribution site".to_string(),
    ] {
        assert!(stderr.contains(part.as_str()), "{part:?} in {stderr}");
    }

    let seen = distribution_calls(&cloudfront);
    assert!(
        cloudfront.requests().iter().all(|r| r.method != "DELETE"),
        "no DeleteDistribution while the distribution is InProgress: {seen:?}"
    );
    assert_eq!(
        seen.iter()
            .find(|(operation, _)| operation == "UpdateDistribution"),
        Some(&("UpdateDistribution".to_string(), Some("E1".to_string()))),
        "the distribution is disabled first: {seen:?}"
    );
    let polls = seen
        .iter()
        .filter(|(operation, _)| operation == "GetDistribution")
        .count();
    assert!(
        polls >= 2,
        "ferry polls until its deadline ({polls} GetDistribution): {seen:?}"
    );
    assert!(
        took >= wait,
        "ferry gave up after {took:?}, before its deadline of {wait:?}: {stderr}"
    );
    let body = update_body(&cloudfront);
    assert_eq!(
        child_text(&body, "Enabled").as_deref(),
        Some("false"),
        "UpdateDistribution disables the distribution: {body}"
    );
    let cloud = state.lock().expect("recorded CloudFront state");
    assert!(
        !cloud.deleted && !cloud.enabled && cloud.status == "InProgress",
        "the distribution is left disabled and deploying: {cloud:?}"
    );
}
