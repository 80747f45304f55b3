//! CloudFront public keys and key groups through their whole life with `ferry plan`, `apply`,
//! `import` and `destroy`, against a recorded CloudFront: moto drops the comment of public keys and
//! key groups (where ferry writes the owning stack, `[ferry:stack=NAME]`) and has no UpdateKeyGroup
//! or DeleteKeyGroup. The real `ferry` talks to a loopback server that gives the 2020-05-31 API's
//! XML answers, keeps the state of public keys, key groups and distributions between calls (ids it
//! hands out, ETags, a wrong If-Match refused, what is in use refused a delete, as CloudFront does)
//! and records every request ferry sends. A public key and a key group owned by another stack are
//! there from the start: ferry never plans them and never sends a request about them.

mod common;

use common::recorded::*;
use common::*;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const STACK: &str = "rec";
/// The distribution's id in the topology (its `ferry:id` tag).
const SITE: &str = "site";
const KEY_NAME: &str = "signer";
const GROUP_NAME: &str = "signers";
/// The public key's file, beside the topology.
const KEY_FILE: &str = "signer.pem";
/// The id the topology gives the key: local only, CloudFront gives its own.
const LOCAL_KEY_ID: &str = "KLOCALSIGNER01";
/// The ids the recorded CloudFront gives the first public key, key group and distribution made.
const KEY_ID: &str = "K2JCJMDEHXQW5F";
const GROUP_ID: &str = "5b7f1e0a-2c4d-4e6f-8a9b-0c1d2e3f4a5b";
const DIST_ID: &str = "EDFDVBD6EXAMPLE";
const DOMAIN: &str = "d111111abcdef8.cloudfront.net";
/// Another stack's public key and key group.
const OTHER_KEY_ID: &str = "K3OTHERSTACK01";
const OTHER_KEY_NAME: &str = "other-signer";
const OTHER_GROUP_ID: &str = "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f";
const OTHER_GROUP_NAME: &str = "other-signers";
const OTHER_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAotherstack\n-----END PUBLIC KEY-----\n";
const CREATED: &str = "2026-01-01T00:00:00Z";
const MODIFIED: &str = "2026-01-02T00:00:00Z";
/// How often ferry polls GetDistribution here (`FERRY_PROVISION_POLL_MS`).
const POLL_MS: &str = "20";
/// How long the whole life cycle (every ferry run in it) may take.
const LIFE_TIMEOUT: Duration = Duration::from_secs(15);

/// An RSA public key (2048 bits, made with `openssl genrsa` and `openssl rsa -pubout`), in the
/// canonical form ferry sends: trimmed lines, `\n` line ends, one final newline.
const PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3D4EhT6E3XG1chghgMit
aAFm70JNm1pRoujGrk2U+rQb6GurPDjmaYLR5LLc93N045W6v6jlTWkBjGTlVQgk
5soYQOMqFdyuNdqEpxVGVavbxlnM3MMhqfAw0k8LIfZydXqeIQ5KnAnHm89YRqjd
bGFsAvGlVT2GKR5UO787ux0t/YQ9LQFbakvNRPwkFR5GlmrAftCemzJvoiiYjTLs
tRT6hoTQAfj6ctpgGB1ejd6eQjsjtpJl0tYSKvs3jr9ZTPp7kBP2RZ/kcFhlHRAc
qvy67aGBoHSd9ohfHBzSBtI9j+sWhTbkTwDLKmAEoqKfEhrTiAd3oI0/glrzRmm/
/QIDAQAB
-----END PUBLIC KEY-----
";

/// Another RSA public key, made as `PEM` was: the key file rewritten with it.
const ROTATED_PEM: &str = "\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbG08XwglYUR6UVuTtWl
W53KH22oUJl3O/CDx1KMylg4JlGkKAYp8fu3DdLWmJ/w+F0ngFuNoznqcyGxVZJz
l1rQURW/o4drxYWrKjSgJvyR5Ig85+GXprxSmSRt2dhLtT5gaHmsbpq5ihFdw1I+
7uG+h9ekVYawkQe5exi/nMiuH3RO9nrdTyH81OSMzrV9e3u0Y+37oHz+wphN+aiy
6Gy4KgPq/MiQAfc8AeecsN+dqv2xjDCy95RgMWU5nOI1GsmcMb89L6DLD7J6KdsO
7DFlAXJBw05vnNmd1coDnm2BTHUGyIV+rCbt7JWjy/yrWTtm9UnCHwZ8kRDYHwZZ
3QIDAQAB
-----END PUBLIC KEY-----
";

/// The stack: the key (from its file), a group holding it, and a distribution whose default
/// behavior trusts the group.
fn topology(group_comment: &str) -> String {
    format!(
        r#"stack = "{STACK}"

[[public_keys]]
name = "{KEY_NAME}"
id = "{LOCAL_KEY_ID}"
encoded_key = "{KEY_FILE}"
comment = "signs /private"

[[key_groups]]
name = "{GROUP_NAME}"
items = ["{KEY_NAME}"]
comment = "{group_comment}"

[[distributions]]
id = "{SITE}"

  [[distributions.origins]]
  id = "web"
  domain_name = "www.example.com"
  custom_origin_config = {{ origin_protocol_policy = "https-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "web"
  viewer_protocol_policy = "redirect-to-https"
  cache_policy = "Managed-CachingOptimized"
  compress = true
  trusted_key_groups = ["{GROUP_NAME}"]

[aws]
region = "us-east-1"
"#
    )
}

// ---------------------------------------------------------------- the recorded CloudFront

#[derive(Debug, Clone, PartialEq)]
struct Key {
    id: String,
    caller_reference: String,
    name: String,
    encoded_key: String,
    comment: Option<String>,
    etag: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Group {
    id: String,
    name: String,
    /// Public key ids.
    items: Vec<String>,
    comment: Option<String>,
    etag: String,
}

#[derive(Debug, Clone)]
struct Dist {
    id: String,
    /// The inside of its DistributionConfig, as ferry last sent it.
    config: String,
    tags: Vec<(String, String)>,
    etag: String,
    /// `Deployed` or `InProgress`.
    status: &'static str,
}

/// What the recorded CloudFront knows.
#[derive(Debug)]
struct Cloud {
    keys: Vec<Key>,
    groups: Vec<Group>,
    distributions: Vec<Dist>,
    /// ETags handed out so far.
    versions: u32,
    keys_made: u32,
    groups_made: u32,
    distributions_made: u32,
    /// What was deleted, in order: (id, its ETag then).
    deleted: Vec<(String, String)>,
}

impl Cloud {
    /// Another stack's public key and key group, and nothing else.
    fn with_bystanders() -> Cloud {
        Cloud {
            keys: vec![Key {
                id: OTHER_KEY_ID.to_string(),
                caller_reference: "other-stack-key".to_string(),
                name: OTHER_KEY_NAME.to_string(),
                encoded_key: OTHER_PEM.to_string(),
                comment: Some("[ferry:stack=other]".to_string()),
                etag: "E0OTHERKEY".to_string(),
            }],
            groups: vec![Group {
                id: OTHER_GROUP_ID.to_string(),
                name: OTHER_GROUP_NAME.to_string(),
                items: vec![OTHER_KEY_ID.to_string()],
                comment: Some("[ferry:stack=other]".to_string()),
                etag: "E0OTHERGROUP".to_string(),
            }],
            distributions: Vec::new(),
            versions: 0,
            keys_made: 0,
            groups_made: 0,
            distributions_made: 0,
            deleted: Vec::new(),
        }
    }

    fn next_etag(&mut self) -> String {
        self.versions += 1;
        format!("E{:02}QWRUHAPOMQZL", self.versions)
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// XML character data as text: the five named entities and numeric ones (the SDK writes a
/// newline as `&#xA;`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let ch = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(|dec| dec.parse::<u32>()))
                .and_then(|n| n.ok())
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The inside of each element `name` in `xml`, in order (`<name>`, `<name attr...>` or `<name/>`;
/// elements of one name do not nest in these documents).
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        if !matches!(after.chars().next(), Some('>' | ' ' | '/')) {
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else { break };
        if after[..end].ends_with('/') {
            out.push("");
            rest = &after[end + 1..];
            continue;
        }
        let inside = &after[end + 1..];
        let Some(stop) = inside.find(&close) else {
            break;
        };
        out.push(&inside[..stop]);
        rest = &inside[stop + close.len()..];
    }
    out
}

/// The inside of the first element `name` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    elements(xml, name).into_iter().next()
}

/// The element `name` at the top level of the inside of a document (a DistributionConfig's own
/// `Enabled`, not its Logging's).
fn top_level(inner: &str, name: &str) -> Option<String> {
    child_text(&format!("<root>{inner}</root>"), name)
}

/// The key groups a distribution config trusts, over all of its behaviors.
fn trusted_key_groups(config: &str) -> Vec<String> {
    elements(config, "TrustedKeyGroups")
        .into_iter()
        .flat_map(|t| {
            element(t, "Items")
                .map(|i| elements(i, "KeyGroup"))
                .unwrap_or_default()
        })
        .map(unescape)
        .collect()
}

fn tags_of(xml: &str) -> Vec<(String, String)> {
    elements(xml, "Tag")
        .into_iter()
        .map(|t| {
            (
                element(t, "Key").map(unescape).unwrap_or_default(),
                element(t, "Value").map(unescape).unwrap_or_default(),
            )
        })
        .collect()
}

fn arn(id: &str) -> String {
    format!("arn:aws:cloudfront::123456789012:distribution/{id}")
}

fn comment_xml(comment: &Option<String>) -> String {
    comment
        .as_deref()
        .map(|c| format!("<Comment>{}</Comment>", escape(c)))
        .unwrap_or_default()
}

/// `<Items>...</Items>` with `n` members, left out when there are none.
fn items_xml(n: usize, inner: String) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("<Items>{inner}</Items>")
    }
}

fn public_key_config(k: &Key) -> String {
    format!(
        "<CallerReference>{}</CallerReference><Name>{}</Name><EncodedKey>{}</EncodedKey>{}",
        escape(&k.caller_reference),
        escape(&k.name),
        escape(&k.encoded_key),
        comment_xml(&k.comment)
    )
}

/// A `PublicKey` document (CreatePublicKey, GetPublicKey, UpdatePublicKey).
fn public_key(k: &Key) -> String {
    format!(
        "<PublicKey xmlns=\"{NS}\"><Id>{}</Id><CreatedTime>{CREATED}</CreatedTime>\
         <PublicKeyConfig>{}</PublicKeyConfig></PublicKey>",
        k.id,
        public_key_config(k)
    )
}

fn public_key_list(cloud: &Cloud) -> String {
    let summaries: String = cloud
        .keys
        .iter()
        .map(|k| {
            format!(
                "<PublicKeySummary><Id>{}</Id><Name>{}</Name><CreatedTime>{CREATED}</CreatedTime>\
                 <EncodedKey>{}</EncodedKey>{}</PublicKeySummary>",
                k.id,
                escape(&k.name),
                escape(&k.encoded_key),
                comment_xml(&k.comment)
            )
        })
        .collect();
    format!(
        "<PublicKeyList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>{}</Quantity>{}</PublicKeyList>",
        cloud.keys.len(),
        items_xml(cloud.keys.len(), summaries)
    )
}

fn key_group_config(g: &Group) -> String {
    let keys: String = g
        .items
        .iter()
        .map(|id| format!("<PublicKey>{id}</PublicKey>"))
        .collect();
    format!(
        "<Name>{}</Name><Items>{keys}</Items>{}",
        escape(&g.name),
        comment_xml(&g.comment)
    )
}

/// The inside of a `KeyGroup`.
fn key_group_fields(g: &Group) -> String {
    format!(
        "<Id>{}</Id><LastModifiedTime>{MODIFIED}</LastModifiedTime><KeyGroupConfig>{}</KeyGroupConfig>",
        g.id,
        key_group_config(g)
    )
}

/// A `KeyGroup` document (CreateKeyGroup, GetKeyGroup, UpdateKeyGroup).
fn key_group(g: &Group) -> String {
    format!(
        "<KeyGroup xmlns=\"{NS}\">{}</KeyGroup>",
        key_group_fields(g)
    )
}

fn key_group_list(cloud: &Cloud) -> String {
    let summaries: String = cloud
        .groups
        .iter()
        .map(|g| {
            format!(
                "<KeyGroupSummary><KeyGroup>{}</KeyGroup></KeyGroupSummary>",
                key_group_fields(g)
            )
        })
        .collect();
    format!(
        "<KeyGroupList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>{}</Quantity>{}</KeyGroupList>",
        cloud.groups.len(),
        items_xml(cloud.groups.len(), summaries)
    )
}

/// A `Distribution` document (CreateDistributionWithTags, GetDistribution, UpdateDistribution).
fn distribution(d: &Dist) -> String {
    format!(
        "<Distribution xmlns=\"{NS}\"><Id>{}</Id><ARN>{}</ARN><Status>{}</Status>\
         <LastModifiedTime>{MODIFIED}</LastModifiedTime>\
         <InProgressInvalidationBatches>0</InProgressInvalidationBatches><DomainName>{DOMAIN}</DomainName>\
         <DistributionConfig>{}</DistributionConfig></Distribution>",
        d.id,
        arn(&d.id),
        d.status,
        d.config
    )
}

/// The parts of a distribution's config that its summary repeats.
const SUMMARY_FIELDS: [&str; 14] = [
    "Aliases",
    "Origins",
    "OriginGroups",
    "DefaultCacheBehavior",
    "CacheBehaviors",
    "CustomErrorResponses",
    "Comment",
    "PriceClass",
    "Enabled",
    "ViewerCertificate",
    "Restrictions",
    "WebACLId",
    "HttpVersion",
    "IsIPV6Enabled",
];

fn distribution_list(cloud: &Cloud) -> String {
    let summaries: String = cloud
        .distributions
        .iter()
        .map(|d| {
            let fields: String = SUMMARY_FIELDS
                .iter()
                .filter_map(|name| {
                    top_level(&d.config, name).map(|v| format!("<{name}>{v}</{name}>"))
                })
                .collect();
            format!(
                "<DistributionSummary><Id>{}</Id><ARN>{}</ARN><ETag>{}</ETag><Status>{}</Status>\
                 <LastModifiedTime>{MODIFIED}</LastModifiedTime><DomainName>{DOMAIN}</DomainName>\
                 {fields}<Staging>false</Staging></DistributionSummary>",
                d.id,
                arn(&d.id),
                d.etag,
                d.status
            )
        })
        .collect();
    format!(
        "<DistributionList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems>\
         <IsTruncated>false</IsTruncated><Quantity>{}</Quantity>{}</DistributionList>",
        cloud.distributions.len(),
        items_xml(cloud.distributions.len(), summaries)
    )
}

fn malformed(message: &str) -> Response {
    cloudfront_error(400, "MalformedInput", message)
}

fn no_such_public_key() -> Response {
    cloudfront_error(
        404,
        "NoSuchPublicKey",
        "The specified public key does not exist.",
    )
}

fn no_such_key_group() -> Response {
    cloudfront_error(
        404,
        "NoSuchResource",
        "The specified key group does not exist.",
    )
}

fn no_such_distribution() -> Response {
    cloudfront_error(
        404,
        "NoSuchDistribution",
        "The specified distribution does not exist.",
    )
}

/// The recorded answer to one request, given (and changing) CloudFront's state.
fn answer(req: &Request, cloud: &mut Cloud) -> Response {
    let body = req.body_text();
    if req.method == "POST" && req.path() == "/" {
        return elb_answer(req, &body);
    }
    let Some(rest) = req.path().strip_prefix("/2020-05-31/") else {
        return unrecorded(req);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        // No custom policies.
        ("GET", ["cache-policy"]) => empty_policy_list("CachePolicyList"),
        ("GET", ["origin-request-policy"]) => empty_policy_list("OriginRequestPolicyList"),
        ("GET", ["response-headers-policy"]) => empty_policy_list("ResponseHeadersPolicyList"),

        ("GET", ["public-key"]) => xml_response(200, public_key_list(cloud)),
        ("POST", ["public-key"]) => create_public_key(cloud, &body),
        ("GET", ["public-key", id]) => match cloud.keys.iter().find(|k| k.id == *id) {
            Some(k) => xml_response(200, public_key(k)).with_header("ETag", &k.etag),
            None => no_such_public_key(),
        },
        ("GET", ["public-key", id, "config"]) => match cloud.keys.iter().find(|k| k.id == *id) {
            Some(k) => xml_response(
                200,
                format!(
                    "<PublicKeyConfig xmlns=\"{NS}\">{}</PublicKeyConfig>",
                    public_key_config(k)
                ),
            )
            .with_header("ETag", &k.etag),
            None => no_such_public_key(),
        },
        ("PUT", ["public-key", id, "config"]) => update_public_key(req, cloud, id, &body),
        ("DELETE", ["public-key", id]) => delete_public_key(req, cloud, id),

        ("GET", ["key-group"]) => xml_response(200, key_group_list(cloud)),
        ("POST", ["key-group"]) => create_key_group(cloud, &body),
        ("GET", ["key-group", id]) => match cloud.groups.iter().find(|g| g.id == *id) {
            Some(g) => xml_response(200, key_group(g)).with_header("ETag", &g.etag),
            None => no_such_key_group(),
        },
        ("GET", ["key-group", id, "config"]) => match cloud.groups.iter().find(|g| g.id == *id) {
            Some(g) => xml_response(
                200,
                format!(
                    "<KeyGroupConfig xmlns=\"{NS}\">{}</KeyGroupConfig>",
                    key_group_config(g)
                ),
            )
            .with_header("ETag", &g.etag),
            None => no_such_key_group(),
        },
        ("PUT", ["key-group", id]) => update_key_group(req, cloud, id, &body),
        ("DELETE", ["key-group", id]) => delete_key_group(req, cloud, id),

        ("GET", ["distribution"]) => xml_response(200, distribution_list(cloud)),
        ("POST", ["distribution"]) if req.query() == Some("WithTags") => {
            create_distribution(cloud, &body)
        }
        // ListTagsForResource?Resource=<a distribution's ARN>
        ("GET", ["tagging"]) => {
            let query = req.query().unwrap_or_default();
            match cloud.distributions.iter().find(|d| query.contains(&d.id)) {
                Some(d) => {
                    let tags: String = d
                        .tags
                        .iter()
                        .map(|(k, v)| {
                            format!(
                                "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                                escape(k),
                                escape(v)
                            )
                        })
                        .collect();
                    xml_response(
                        200,
                        format!("<Tags xmlns=\"{NS}\"><Items>{tags}</Items></Tags>"),
                    )
                }
                None => cloudfront_error(404, "NoSuchResource", "The resource does not exist."),
            }
        }
        ("GET", ["distribution", id]) => {
            match cloud.distributions.iter_mut().find(|d| d.id == *id) {
                Some(d) => {
                    // A change is deployed by the first look at it.
                    d.status = "Deployed";
                    xml_response(200, distribution(d)).with_header("ETag", &d.etag)
                }
                None => no_such_distribution(),
            }
        }
        ("GET", ["distribution", id, "config"]) => {
            match cloud.distributions.iter().find(|d| d.id == *id) {
                Some(d) => xml_response(
                    200,
                    format!(
                        "<DistributionConfig xmlns=\"{NS}\">{}</DistributionConfig>",
                        d.config
                    ),
                )
                .with_header("ETag", &d.etag),
                None => no_such_distribution(),
            }
        }
        ("PUT", ["distribution", id, "config"]) => update_distribution(req, cloud, id, &body),
        ("DELETE", ["distribution", id]) => delete_distribution(req, cloud, id),
        _ => unrecorded(req),
    }
}

fn create_public_key(cloud: &mut Cloud, body: &str) -> Response {
    let Some(config) = element(body, "PublicKeyConfig") else {
        return malformed("no PublicKeyConfig");
    };
    let field = |name: &str| element(config, name).map(unescape);
    let (Some(caller_reference), Some(name), Some(encoded_key)) =
        (field("CallerReference"), field("Name"), field("EncodedKey"))
    else {
        return malformed("a PublicKeyConfig needs CallerReference, Name and EncodedKey");
    };
    if cloud.keys.iter().any(|k| k.name == name) {
        return cloudfront_error(
            409,
            "PublicKeyAlreadyExists",
            "The specified public key already exists.",
        );
    }
    let id = match cloud.keys_made {
        0 => KEY_ID.to_string(),
        n => format!("K2JCJMDEHXQ{n:03}"),
    };
    cloud.keys_made += 1;
    let etag = cloud.next_etag();
    let key = Key {
        id,
        caller_reference,
        name,
        encoded_key,
        comment: field("Comment"),
        etag,
    };
    let response = xml_response(201, public_key(&key))
        .with_header("ETag", &key.etag)
        .with_header(
            "Location",
            format!(
                "https://cloudfront.amazonaws.com/2020-05-31/public-key/{}",
                key.id
            ),
        );
    cloud.keys.push(key);
    response
}

/// CloudFront changes only a public key's comment.
fn update_public_key(req: &Request, cloud: &mut Cloud, id: &str, body: &str) -> Response {
    let Some(i) = cloud.keys.iter().position(|k| k.id == id) else {
        return no_such_public_key();
    };
    if let Some(refused) = if_match_refused(req, &cloud.keys[i].etag) {
        return refused;
    }
    let Some(config) = element(body, "PublicKeyConfig") else {
        return malformed("no PublicKeyConfig");
    };
    let field = |name: &str| element(config, name).map(unescape);
    let key = &cloud.keys[i];
    if field("Name").as_ref() != Some(&key.name)
        || field("EncodedKey").as_ref() != Some(&key.encoded_key)
        || field("CallerReference").as_ref() != Some(&key.caller_reference)
    {
        return cloudfront_error(
            400,
            "CannotChangeImmutablePublicKeyFields",
            "You can't change the value of a public key.",
        );
    }
    let etag = cloud.next_etag();
    let key = &mut cloud.keys[i];
    key.comment = field("Comment");
    key.etag = etag;
    xml_response(200, public_key(key)).with_header("ETag", &key.etag)
}

fn delete_public_key(req: &Request, cloud: &mut Cloud, id: &str) -> Response {
    let Some(i) = cloud.keys.iter().position(|k| k.id == id) else {
        return no_such_public_key();
    };
    if let Some(refused) = if_match_refused(req, &cloud.keys[i].etag) {
        return refused;
    }
    if cloud.groups.iter().any(|g| g.items.iter().any(|k| k == id)) {
        return cloudfront_error(409, "PublicKeyInUse", "The specified public key is in use.");
    }
    let key = cloud.keys.remove(i);
    cloud.deleted.push((key.id, key.etag));
    Response::new(204).with_header("x-amz-request-id", "rec")
}

/// CloudFront's refusal: status, code, message.
type Refusal = (u16, &'static str, &'static str);

/// A KeyGroupConfig's name, key ids and comment, if every key exists.
fn key_group_fields_of(
    cloud: &Cloud,
    body: &str,
) -> Result<(String, Vec<String>, Option<String>), Refusal> {
    let Some(config) = element(body, "KeyGroupConfig") else {
        return Err((400, "MalformedInput", "no KeyGroupConfig"));
    };
    let Some(name) = element(config, "Name").map(unescape) else {
        return Err((400, "MalformedInput", "a KeyGroupConfig needs a Name"));
    };
    let items: Vec<String> = element(config, "Items")
        .map(|i| elements(i, "PublicKey"))
        .unwrap_or_default()
        .into_iter()
        .map(unescape)
        .collect();
    if items.is_empty()
        || items
            .iter()
            .any(|id| cloud.keys.iter().all(|k| k.id != *id))
    {
        return Err((
            400,
            "InvalidArgument",
            "A key group holds 1 to 5 existing public keys.",
        ));
    }
    Ok((name, items, element(config, "Comment").map(unescape)))
}

fn create_key_group(cloud: &mut Cloud, body: &str) -> Response {
    let (name, items, comment) = match key_group_fields_of(cloud, body) {
        Ok(fields) => fields,
        Err((status, code, message)) => return cloudfront_error(status, code, message),
    };
    if cloud.groups.iter().any(|g| g.name == name) {
        return cloudfront_error(
            409,
            "KeyGroupAlreadyExists",
            "A key group with this name already exists.",
        );
    }
    let id = match cloud.groups_made {
        0 => GROUP_ID.to_string(),
        n => format!("5b7f1e0a-2c4d-4e6f-8a9b-0c1d2e3f4{n:03}"),
    };
    cloud.groups_made += 1;
    let etag = cloud.next_etag();
    let group = Group {
        id,
        name,
        items,
        comment,
        etag,
    };
    let response = xml_response(201, key_group(&group))
        .with_header("ETag", &group.etag)
        .with_header(
            "Location",
            format!(
                "https://cloudfront.amazonaws.com/2020-05-31/key-group/{}",
                group.id
            ),
        );
    cloud.groups.push(group);
    response
}

fn update_key_group(req: &Request, cloud: &mut Cloud, id: &str, body: &str) -> Response {
    let Some(i) = cloud.groups.iter().position(|g| g.id == id) else {
        return no_such_key_group();
    };
    if let Some(refused) = if_match_refused(req, &cloud.groups[i].etag) {
        return refused;
    }
    let (name, items, comment) = match key_group_fields_of(cloud, body) {
        Ok(fields) => fields,
        Err((status, code, message)) => return cloudfront_error(status, code, message),
    };
    let etag = cloud.next_etag();
    let group = &mut cloud.groups[i];
    group.name = name;
    group.items = items;
    group.comment = comment;
    group.etag = etag;
    xml_response(200, key_group(group)).with_header("ETag", &group.etag)
}

fn delete_key_group(req: &Request, cloud: &mut Cloud, id: &str) -> Response {
    let Some(i) = cloud.groups.iter().position(|g| g.id == id) else {
        return no_such_key_group();
    };
    if let Some(refused) = if_match_refused(req, &cloud.groups[i].etag) {
        return refused;
    }
    if cloud
        .distributions
        .iter()
        .any(|d| trusted_key_groups(&d.config).iter().any(|g| g == id))
    {
        return cloudfront_error(
            409,
            "ResourceInUse",
            "Cannot delete this resource because it is in use.",
        );
    }
    let group = cloud.groups.remove(i);
    cloud.deleted.push((group.id, group.etag));
    Response::new(204).with_header("x-amz-request-id", "rec")
}

/// A distribution config's trusted key groups must exist.
fn unknown_key_group(cloud: &Cloud, config: &str) -> Option<Response> {
    trusted_key_groups(config)
        .iter()
        .any(|id| cloud.groups.iter().all(|g| g.id != *id))
        .then(|| {
            cloudfront_error(
                400,
                "TrustedKeyGroupDoesNotExist",
                "One or more of your trusted key groups do not exist.",
            )
        })
}

fn create_distribution(cloud: &mut Cloud, body: &str) -> Response {
    let Some(config) = element(body, "DistributionConfig") else {
        return malformed("no DistributionConfig");
    };
    if let Some(refused) = unknown_key_group(cloud, config) {
        return refused;
    }
    let id = match cloud.distributions_made {
        0 => DIST_ID.to_string(),
        n => format!("EDFDVBD6EXAMP{n:02}"),
    };
    cloud.distributions_made += 1;
    let etag = cloud.next_etag();
    let dist = Dist {
        id,
        config: config.to_string(),
        tags: element(body, "Tags").map(tags_of).unwrap_or_default(),
        etag,
        status: "InProgress",
    };
    let response = xml_response(201, distribution(&dist))
        .with_header("ETag", &dist.etag)
        .with_header(
            "Location",
            format!(
                "https://cloudfront.amazonaws.com/2020-05-31/distribution/{}",
                dist.id
            ),
        );
    cloud.distributions.push(dist);
    response
}

fn update_distribution(req: &Request, cloud: &mut Cloud, id: &str, body: &str) -> Response {
    let Some(i) = cloud.distributions.iter().position(|d| d.id == id) else {
        return no_such_distribution();
    };
    if let Some(refused) = if_match_refused(req, &cloud.distributions[i].etag) {
        return refused;
    }
    let Some(config) = element(body, "DistributionConfig") else {
        return malformed("no DistributionConfig");
    };
    if top_level(config, "CallerReference")
        != top_level(&cloud.distributions[i].config, "CallerReference")
    {
        return cloudfront_error(
            400,
            "IllegalUpdate",
            "The CallerReference of a distribution cannot change.",
        );
    }
    if let Some(refused) = unknown_key_group(cloud, config) {
        return refused;
    }
    let etag = cloud.next_etag();
    let dist = &mut cloud.distributions[i];
    dist.config = config.to_string();
    dist.etag = etag;
    dist.status = "InProgress";
    xml_response(200, distribution(dist)).with_header("ETag", &dist.etag)
}

fn delete_distribution(req: &Request, cloud: &mut Cloud, id: &str) -> Response {
    let Some(i) = cloud.distributions.iter().position(|d| d.id == id) else {
        return no_such_distribution();
    };
    let dist = &cloud.distributions[i];
    if let Some(refused) = if_match_refused(req, &dist.etag) {
        return refused;
    }
    if top_level(&dist.config, "Enabled").as_deref() != Some("false") || dist.status != "Deployed" {
        return cloudfront_error(
            409,
            "DistributionNotDisabled",
            "The distribution you are trying to delete has not been disabled.",
        );
    }
    let dist = cloud.distributions.remove(i);
    cloud.deleted.push((dist.id, dist.etag));
    Response::new(204).with_header("x-amz-request-id", "rec")
}

// ---------------------------------------------------------------- running ferry against it

/// The recorded CloudFront, a directory for the topology files, and the deadline of the life
/// cycle.
struct Life {
    cloudfront: Origin,
    state: Arc<Mutex<Cloud>>,
    dir: TempDir,
    deadline: Instant,
}

impl Life {
    fn start() -> Life {
        let state = Arc::new(Mutex::new(Cloud::with_bystanders()));
        let shared = state.clone();
        let cloudfront = Origin::start_with("cloudfront", move |req| {
            let mut cloud = shared.lock().expect("recorded CloudFront state");
            answer(req, &mut cloud)
        });
        Life {
            cloudfront,
            state,
            dir: TempDir::new("provision-keys"),
            deadline: Instant::now() + LIFE_TIMEOUT,
        }
    }

    /// Runs `cmd`, killed if the life cycle's deadline passes first.
    fn run(&self, cmd: &mut Command) -> Output {
        let left = self.deadline.saturating_duration_since(Instant::now());
        run_with_timeout(cmd, left)
            .unwrap_or_else(|e| panic!("{e}\n(the whole life cycle gets {LIFE_TIMEOUT:?})"))
    }

    /// `ferry ARGS --endpoint-url <the recorded CloudFront>`.
    fn ferry(&self, args: &[&str]) -> Output {
        let endpoint = format!("http://{}", self.cloudfront.address());
        let mut cmd = ferry_command(args);
        cmd.args(["--endpoint-url", endpoint.as_str()])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env("FERRY_PROVISION_POLL_MS", POLL_MS)
            .env("FERRY_PROVISION_WAIT_MS", "5000");
        self.run(&mut cmd)
    }

    /// How many requests CloudFront has had so far.
    fn mark(&self) -> usize {
        self.cloudfront.count()
    }

    /// The requests since `mark`, in order.
    fn since(&self, mark: usize) -> Vec<Request> {
        let mut all = self.cloudfront.requests();
        let len = all.len();
        all.split_off(mark.min(len))
    }

    fn cloud(&self) -> MutexGuard<'_, Cloud> {
        self.state.lock().expect("recorded CloudFront state")
    }
}

fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

/// The lines of a plan that name steps (`+ create ...`, `~ update ...`, `- delete ...`).
fn steps(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|l| l.starts_with(['+', '~', '-']) && !l.starts_with("  "))
        .map(str::to_string)
        .collect()
}

/// The requests that change something in CloudFront: `METHOD path`.
fn writes(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method != "GET" && r.path() != "/")
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect()
}

/// A call on one resource by its id: (`Operation id`, If-Match).
fn resource_call(r: &Request) -> Option<(String, Option<String>)> {
    let rest = r.path().strip_prefix("/2020-05-31/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let (operation, id) = match (r.method.as_str(), segments.as_slice()) {
        ("GET", ["distribution", id, "config"]) => ("GetDistributionConfig", id),
        ("PUT", ["distribution", id, "config"]) => ("UpdateDistribution", id),
        ("GET", ["distribution", id]) => ("GetDistribution", id),
        ("DELETE", ["distribution", id]) => ("DeleteDistribution", id),
        ("GET", ["key-group", id, "config"]) => ("GetKeyGroupConfig", id),
        ("GET", ["key-group", id]) => ("GetKeyGroup", id),
        ("PUT", ["key-group", id]) => ("UpdateKeyGroup", id),
        ("DELETE", ["key-group", id]) => ("DeleteKeyGroup", id),
        ("GET", ["public-key", id, "config"]) => ("GetPublicKeyConfig", id),
        ("GET", ["public-key", id]) => ("GetPublicKey", id),
        ("PUT", ["public-key", id, "config"]) => ("UpdatePublicKey", id),
        ("DELETE", ["public-key", id]) => ("DeletePublicKey", id),
        _ => return None,
    };
    Some((
        format!("{operation} {id}"),
        r.header("if-match").map(str::to_string),
    ))
}

fn resource_calls(requests: &[Request]) -> Vec<(String, Option<String>)> {
    requests.iter().filter_map(resource_call).collect()
}

/// The body of the one request `METHOD path` among `requests`.
fn body_of(requests: &[Request], method: &str, path: &str) -> String {
    requests
        .iter()
        .find(|r| r.method == method && r.path() == path)
        .map(Request::body_text)
        .unwrap_or_else(|| panic!("no {method} {path} among {requests:?}"))
}

/// What ferry shows never mentions the other stack's key or group.
fn assert_no_bystander(what: &str, output: &str) {
    for name in [
        OTHER_KEY_NAME,
        OTHER_KEY_ID,
        OTHER_GROUP_NAME,
        OTHER_GROUP_ID,
    ] {
        assert!(
            !output.contains(name),
            "{what} mentions the other stack's {name}:\n{output}"
        );
    }
}

#[test]
fn public_keys_and_key_groups_from_plan_to_destroy() {
    let life = Life::start();
    let (other_key, other_group) = {
        let cloud = life.cloud();
        (cloud.keys[0].clone(), cloud.groups[0].clone())
    };
    life.dir.write(KEY_FILE, PEM);
    let file = life.dir.write("t.toml", topology("signers of /private"));
    let file = file.to_str().unwrap();

    // 1. The plan on empty state: the key, then the group that holds it, then the distribution
    // that trusts the group; nothing changes.
    let mark = life.mark();
    let plan = life.ferry(&["plan", file]);
    let out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{out}\n{}", stderr(&plan));
    assert_eq!(
        steps(&out),
        vec![
            format!("+ create public key {KEY_NAME}"),
            format!("+ create key group {GROUP_NAME}"),
            format!("+ create distribution {SITE}"),
        ],
        "{out}"
    );
    assert!(
        out.contains("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."),
        "{out}"
    );
    let note = format!("public key {KEY_NAME}: id \"{LOCAL_KEY_ID}\" is local");
    assert!(out.contains(&note), "the plan notes {note:?}:\n{out}");
    assert_no_bystander("the first plan", &out);
    assert_eq!(
        writes(&life.since(mark)),
        Vec::<String>::new(),
        "a plan only reads"
    );

    // 2. Apply: CloudFront's ids flow from the key to the group to the distribution.
    let mark = life.mark();
    let apply = life.ferry(&["apply", file, "--auto-approve"]);
    let (out, err) = (stdout(&apply), stderr(&apply));
    assert_eq!(apply.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("Apply complete: 3 step(s) done."), "{err}");
    let sent = life.since(mark);
    assert_eq!(
        writes(&sent),
        vec![
            "POST /2020-05-31/public-key",
            "POST /2020-05-31/key-group",
            "POST /2020-05-31/distribution",
        ],
        "created in dependency order"
    );

    let key_body = body_of(&sent, "POST", "/2020-05-31/public-key");
    let key_config = element(&key_body, "PublicKeyConfig").unwrap_or_default();
    assert_eq!(
        element(key_config, "EncodedKey").map(unescape).as_deref(),
        Some(PEM),
        "CreatePublicKey carries the PEM of the key file: {key_body}"
    );
    assert_eq!(element(key_config, "Name"), Some(KEY_NAME), "{key_body}");
    let comment = element(key_config, "Comment")
        .map(unescape)
        .unwrap_or_default();
    assert!(
        comment.ends_with(&format!("[ferry:stack={STACK}]")),
        "the owner is at the end of the comment: {comment:?}"
    );
    assert_eq!(comment, format!("signs /private [ferry:stack={STACK}]"));
    assert!(
        element(key_config, "CallerReference")
            .is_some_and(|r| r.starts_with(&format!("ferry-{STACK}-{KEY_NAME}-"))),
        "{key_body}"
    );

    let group_body = body_of(&sent, "POST", "/2020-05-31/key-group");
    let group_config = element(&group_body, "KeyGroupConfig").unwrap_or_default();
    assert_eq!(
        element(group_config, "Items").map(|i| elements(i, "PublicKey")),
        Some(vec![KEY_ID]),
        "the group holds the key by the id CloudFront gave it: {group_body}"
    );
    assert_eq!(element(group_config, "Name"), Some(GROUP_NAME));
    assert_eq!(
        element(group_config, "Comment").map(unescape).as_deref(),
        Some(format!("signers of /private [ferry:stack={STACK}]").as_str()),
        "{group_body}"
    );

    let dist_body = body_of(&sent, "POST", "/2020-05-31/distribution");
    let dist_config = element(&dist_body, "DistributionConfig").unwrap_or_default();
    let behavior = top_level(dist_config, "DefaultCacheBehavior").unwrap_or_default();
    let trusted = element(&behavior, "TrustedKeyGroups").unwrap_or_default();
    assert_eq!(element(trusted, "Enabled"), Some("true"), "{dist_body}");
    assert_eq!(element(trusted, "Quantity"), Some("1"), "{dist_body}");
    assert_eq!(
        element(trusted, "Items").map(|i| elements(i, "KeyGroup")),
        Some(vec![GROUP_ID]),
        "the behavior trusts the group by the id CloudFront gave it: {dist_body}"
    );
    let tags = element(&dist_body, "Tags").map(tags_of).unwrap_or_default();
    for tag in [("ferry:stack", STACK), ("ferry:id", SITE)] {
        assert!(
            tags.iter().any(|(k, v)| k == tag.0 && v == tag.1),
            "the distribution is tagged {tag:?}: {tags:?}"
        );
    }
    assert_no_bystander("apply", &format!("{out}\n{err}"));

    // 3. Nothing more to do: CloudFront's answers read back as the topology.
    let mark = life.mark();
    let again = life.ferry(&["plan", file]);
    let out = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{out}\n{}", stderr(&again));
    assert!(steps(&out).is_empty(), "{out}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(writes(&life.since(mark)), Vec::<String>::new());

    // 4. A new comment on the key group is an update of that group alone, with the ETag that
    // GetKeyGroupConfig gives.
    let changed = life.dir.write("t2.toml", topology("rotated 2026"));
    let changed = changed.to_str().unwrap();
    let plan = life.ferry(&["plan", changed]);
    let out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{out}\n{}", stderr(&plan));
    assert_eq!(
        steps(&out),
        vec![format!("~ update key group {GROUP_NAME}")],
        "{out}"
    );
    assert!(
        out.contains("comment: \"signers of /private\" → \"rotated 2026\""),
        "{out}"
    );
    assert!(
        out.contains("Plan: 0 to create, 1 to update, 0 to replace, 0 to delete."),
        "{out}"
    );
    assert_no_bystander("the update's plan", &out);

    let group_etag = life.cloud().groups[1].etag.clone();
    let mark = life.mark();
    let apply = life.ferry(&["apply", changed, "--auto-approve"]);
    let (out, err) = (stdout(&apply), stderr(&apply));
    assert_eq!(apply.status.code(), Some(0), "{out}\n{err}");
    assert!(err.contains("Apply complete: 1 step(s) done."), "{err}");
    let sent = life.since(mark);
    let group_path = format!("/2020-05-31/key-group/{GROUP_ID}");
    assert_eq!(writes(&sent), vec![format!("PUT {group_path}")]);
    assert_eq!(
        resource_calls(&sent)
            .into_iter()
            .filter(|(call, _)| call.ends_with(GROUP_ID))
            .collect::<Vec<_>>(),
        vec![
            (format!("GetKeyGroupConfig {GROUP_ID}"), None),
            (
                format!("UpdateKeyGroup {GROUP_ID}"),
                Some(group_etag.clone())
            ),
        ],
        "UpdateKeyGroup's If-Match is the ETag GetKeyGroupConfig gave"
    );
    let update = body_of(&sent, "PUT", &group_path);
    let update_config = element(&update, "KeyGroupConfig").unwrap_or_default();
    assert_eq!(
        element(update_config, "Comment").map(unescape).as_deref(),
        Some(format!("rotated 2026 [ferry:stack={STACK}]").as_str()),
        "{update}"
    );
    assert_eq!(
        element(update_config, "Items").map(|i| elements(i, "PublicKey")),
        Some(vec![KEY_ID]),
        "{update}"
    );
    assert_ne!(life.cloud().groups[1].etag, group_etag, "the group changed");
    let after = life.ferry(&["plan", changed]);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));

    // 4b. Another PEM in the key's file: a replacement, which CloudFront would refuse half-way (the
    // group holds the key). Refused before anything changes, with the rotation to do instead.
    life.dir.write(KEY_FILE, ROTATED_PEM);
    let mark = life.mark();
    for command in ["plan", "apply"] {
        let out = life
            .ferry(&[command, changed, "--auto-approve"][..if command == "plan" { 2 } else { 3 }]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{command}: {}\n{err}",
            stdout(&out)
        );
        assert!(
            err.contains(&format!(
                "public key {KEY_NAME}: its encoded_key cannot change while key group {GROUP_NAME} holds it"
            )) && err.contains("rotate it instead"),
            "{command}: {err}"
        );
    }
    assert_eq!(
        writes(&life.since(mark)),
        Vec::<String>::new(),
        "nothing changed"
    );
    life.dir.write(KEY_FILE, PEM);

    // 5. Import writes the key with CloudFront's id (the Key-Pair-Id to sign with) and its PEM,
    // and the group; that topology is valid and plans no changes.
    let import = life.ferry(&["import", "--stack", STACK]);
    let imported = stdout(&import);
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    for part in [
        format!("name = \"{KEY_NAME}\""),
        format!("id = \"{KEY_ID}\""),
        "-----BEGIN PUBLIC KEY-----".to_string(),
        "comment = \"signs /private\"".to_string(),
        format!("name = \"{GROUP_NAME}\""),
        format!("items = [\"{KEY_NAME}\"]"),
        "comment = \"rotated 2026\"".to_string(),
        format!("trusted_key_groups = [\"{GROUP_NAME}\"]"),
    ] {
        assert!(imported.contains(&part), "import has {part:?}:\n{imported}");
    }
    assert!(
        !imported.contains(LOCAL_KEY_ID) && !imported.contains("[ferry:stack="),
        "neither the local id nor the owner marker is imported:\n{imported}"
    );
    assert_no_bystander("import", &imported);
    let imported_file = life.dir.write("imported.toml", &imported);
    let imported_file = imported_file.to_str().unwrap();
    let validate = life.run(&mut ferry_command(&["validate", imported_file]));
    assert!(
        validate.status.success(),
        "the imported topology is valid: {}\n{imported}",
        stderr(&validate)
    );
    let plan = life.ferry(&["plan", imported_file]);
    let out = stdout(&plan);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "import → plan shows no changes:\n{out}\n{}",
        stderr(&plan)
    );
    assert!(
        !out.contains("is local"),
        "CloudFront's own id is not local:\n{out}"
    );

    // 6. Destroy: the distribution (disabled, deployed, deleted), then the group, then the key,
    // each delete with the ETag of its last read.
    let (key_etag, group_etag, dist_etag) = {
        let cloud = life.cloud();
        (
            cloud.keys[1].etag.clone(),
            cloud.groups[1].etag.clone(),
            cloud.distributions[0].etag.clone(),
        )
    };
    let mark = life.mark();
    let destroy = life.ferry(&["destroy", changed, "--auto-approve"]);
    let (out, err) = (stdout(&destroy), stderr(&destroy));
    assert_eq!(destroy.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(
        steps(&out),
        vec![
            format!("- delete distribution {SITE}"),
            format!("- delete key group {GROUP_NAME}"),
            format!("- delete public key {KEY_NAME}"),
        ],
        "reverse dependency order: {out}"
    );
    assert!(err.contains("Destroy complete: 3 step(s) done."), "{err}");
    assert_no_bystander("destroy", &format!("{out}\n{err}"));
    let disabled_etag = life
        .cloud()
        .deleted
        .iter()
        .find(|(id, _)| id == DIST_ID)
        .map(|(_, etag)| etag.clone())
        .unwrap_or_else(|| panic!("the distribution is not deleted:\n{err}"));
    assert_ne!(
        disabled_etag, dist_etag,
        "disabling changed the distribution"
    );
    let sent = life.since(mark);
    assert_eq!(
        resource_calls(&sent),
        vec![
            // The plan's read of the stack.
            (format!("GetDistributionConfig {DIST_ID}"), None),
            // The delete's own read, then disable, wait for Deployed, delete.
            (format!("GetDistributionConfig {DIST_ID}"), None),
            (format!("UpdateDistribution {DIST_ID}"), Some(dist_etag)),
            (format!("GetDistribution {DIST_ID}"), None),
            (format!("DeleteDistribution {DIST_ID}"), Some(disabled_etag)),
            (format!("GetKeyGroupConfig {GROUP_ID}"), None),
            (format!("DeleteKeyGroup {GROUP_ID}"), Some(group_etag)),
            (format!("GetPublicKeyConfig {KEY_ID}"), None),
            (format!("DeletePublicKey {KEY_ID}"), Some(key_etag)),
        ],
        "{err}"
    );
    let disable = body_of(
        &sent,
        "PUT",
        &format!("/2020-05-31/distribution/{DIST_ID}/config"),
    );
    assert_eq!(
        top_level(
            element(&disable, "DistributionConfig").unwrap_or_default(),
            "Enabled"
        )
        .as_deref(),
        Some("false"),
        "the distribution is disabled before it is deleted: {disable}"
    );
    {
        let cloud = life.cloud();
        let deleted: Vec<&str> = cloud.deleted.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(deleted, vec![DIST_ID, GROUP_ID, KEY_ID]);
        assert!(cloud.distributions.is_empty(), "{cloud:?}");
        // The other stack's key and group are as they were.
        assert_eq!(cloud.keys, vec![other_key], "{cloud:?}");
        assert_eq!(cloud.groups, vec![other_group], "{cloud:?}");
    }

    // Nothing of the stack is left: the plan creates it all again.
    let plan = life.ferry(&["plan", changed]);
    let out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{out}\n{}", stderr(&plan));
    assert!(
        out.contains("Plan: 3 to create, 0 to update, 0 to replace, 0 to delete."),
        "{out}"
    );

    // No request ever named the other stack's key or group.
    let touching: Vec<Request> = life
        .cloudfront
        .requests()
        .into_iter()
        .filter(|r| {
            [OTHER_KEY_ID, OTHER_GROUP_ID]
                .iter()
                .any(|id| r.target.contains(id) || r.body_text().contains(id))
        })
        .collect();
    assert!(
        touching.is_empty(),
        "requests about the other stack's key or group: {touching:?}"
    );
}
