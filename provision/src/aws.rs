//! The AWS clients: the standard credential chain, `--profile`, `--region`, `--endpoint-url`, one
//! rustls (on ring) HTTP client, and retries with backoff on throttling.

use crate::error::ProvisionError;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Where and as whom to talk to AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

#[derive(Clone)]
pub struct Clients {
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// Lookups: subnets' zones and VPCs.
    pub ec2: aws_sdk_ec2::Client,
    /// Lookups: the listeners' certificates, in the stack's region.
    pub acm: aws_sdk_acm::Client,
    /// Lookups: CloudFront's certificates, which live in us-east-1.
    pub acm_us_east_1: aws_sdk_acm::Client,
    pub region: String,
}

/// Clients for `region` (the topology's `[aws] region` unless `--region` overrides it).
/// CloudFront is global: its API lives in us-east-1 whatever the stack's region.
pub async fn connect(options: &AwsOptions, topology_region: Option<&str>) -> Clients {
    let region = options
        .region
        .clone()
        .or_else(|| topology_region.map(str::to_string))
        .unwrap_or_else(|| "us-east-1".to_string());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(6)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let global = Region::new(if options.endpoint_url.is_some() {
        region.clone()
    } else {
        "us-east-1".to_string()
    });
    let cf_config = aws_sdk_cloudfront::config::Builder::from(&config)
        .region(global)
        .build();
    let acm_global = aws_sdk_acm::config::Builder::from(&config)
        .region(Region::new("us-east-1"))
        .build();
    Clients {
        cloudfront: aws_sdk_cloudfront::Client::from_conf(cf_config),
        elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        acm: aws_sdk_acm::Client::new(&config),
        acm_us_east_1: aws_sdk_acm::Client::from_conf(acm_global),
        region,
    }
}

/// An SDK error with everything it says (service code, message, request id).
pub fn aws_error(
    operation: &'static str,
    resource: impl Into<String>,
    error: impl std::error::Error + ProvideErrorMetadata,
) -> ProvisionError {
    // AWS's refusal as AWS words it; the whole chain (with the raw response) only when AWS did
    // not answer with one (a timeout, a connection refused, a reply that does not parse).
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(&error).to_string(),
    };
    ProvisionError::Aws {
        operation,
        resource: resource.into(),
        message,
    }
}

/// Every item of a paged listing: `page(token)` fetches one page, its items and the token of the
/// next (ELBv2's `NextMarker`, EC2's `NextToken`), and pages follow until the token runs out.
pub(crate) async fn every_page<T, F, Fut>(mut page: F) -> crate::error::Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<(Vec<T>, Option<String>)>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token).await?;
        out.extend(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}
