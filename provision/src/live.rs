//! Reads what a stack has in AWS (only resources tagged `ferry:stack = <stack>`), concurrently, into
//! the same canonical resources the topology maps to.

use crate::aws::{aws_error, every_page, Clients};
use crate::error::{ProvisionError, Result};
use crate::map::elbv2::{self, TargetGroupState, TargetRef, TargetsState};
use crate::map::{distribution, keys, policies};
use crate::refs::{RefKind, Refs};
use crate::resource::{Body, Kind, LiveId, LiveResource};
use aws_sdk_elasticloadbalancingv2::types as elb;
use ferry_config::spec::Spec;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};

pub const STACK_TAG: &str = "ferry:stack";
/// A distribution's id in the topology (AWS gives it another).
pub const ID_TAG: &str = "ferry:id";
/// A target group's name in the topology: a replacement lives beside the group it replaces under
/// another AWS name (names are unique in a region) until that one is deleted.
pub const NAME_TAG: &str = "ferry:name";
/// How many AWS calls are in flight at once.
const CONCURRENCY: usize = 8;

/// A live load balancer's facts that the topology keeps apart (import needs them).
#[derive(Debug, Clone)]
pub struct LoadBalancerFacts {
    pub name: String,
    pub arn: String,
    pub dns_name: String,
    pub vpc_id: Option<String>,
    /// Availability zone → subnet.
    pub zones: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub resources: Vec<LiveResource>,
    pub refs: Refs,
    pub load_balancers: Vec<LoadBalancerFacts>,
    /// Listener key (`lb:port`) → ARN, for rules created under existing listeners.
    pub listener_arns: HashMap<String, String>,
    pub load_balancer_arns: HashMap<String, String>,
    /// Target group replacements an earlier apply left half-done.
    pub leftovers: Vec<Leftover>,
}

/// Two AWS groups that carry one topology name: a replacement stopped half-way.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// The topology's name.
    pub name: String,
    /// The AWS name of the group taken for the topology's.
    pub kept: String,
    /// The AWS name of the other one.
    pub left: String,
}

impl Leftover {
    /// What the plan does about it.
    pub fn note(&self) -> String {
        format!(
            "target group {}: a replacement stopped half-way left two AWS groups; {} is kept and {} is deleted once nothing forwards to it",
            self.name, self.kept, self.left
        )
    }
}

fn owned(tags: &[(String, String)], stack: &str) -> bool {
    tags.iter().any(|(k, v)| k == STACK_TAG && v == stack)
}

/// Reads the stack. `spec` (the topology, when there is one) maps load balancers' AWS DNS names
/// back to the topology's local `dns_name`s.
pub async fn read(clients: &Clients, stack: &str, spec: Option<&Spec>) -> Result<LiveState> {
    let (elb_part, cf_part, policy_part, key_part) = tokio::join!(
        read_elb(clients, stack, spec),
        list_distributions(clients, stack),
        read_policies(clients, stack),
        read_keys(clients, stack)
    );
    let mut state = elb_part?;
    for part in [policy_part?, key_part?] {
        let (resources, names) = part;
        for (kind, name, id) in names {
            state.refs.insert(kind, &name, &id);
        }
        state.resources.extend(resources);
    }
    if let Some(spec) = spec {
        for lb in &spec.load_balancers {
            if let Some(facts) = state.load_balancers.iter().find(|f| f.name == lb.name) {
                state
                    .refs
                    .insert(RefKind::LoadBalancerDns, &lb.dns_name, &facts.dns_name);
            }
        }
    }
    for (id, arn, etag, config) in cf_part? {
        let caller_reference = config.caller_reference.clone();
        let body = distribution::from_api(&id.0, &config, &state.refs)?;
        state.resources.push(LiveResource {
            body: Body::Distribution(Box::new(body)),
            id: LiveId::Distribution {
                id: id.1,
                arn,
                etag,
                caller_reference,
            },
        });
    }
    Ok(state)
}

type LiveDistribution = (
    (String, String),
    String,
    String,
    aws_sdk_cloudfront::types::DistributionConfig,
);

/// The stack's distributions: ((topology id, AWS id), ARN, ETag, config).
async fn list_distributions(clients: &Clients, stack: &str) -> Result<Vec<LiveDistribution>> {
    let cf = &clients.cloudfront;
    let mut summaries = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = cf
            .list_distributions()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| aws_error("ListDistributions", "", e))?;
        let list = page.distribution_list;
        let Some(list) = list else { break };
        summaries.extend(list.items.unwrap_or_default());
        match list
            .next_marker
            .filter(|m| list.is_truncated && !m.is_empty())
        {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    let tagged: Vec<Option<(String, String, String)>> = stream::iter(summaries)
        .map(|s| async move {
            let tags = cf
                .list_tags_for_resource()
                .resource(&s.arn)
                .send()
                .await
                .map_err(|e| aws_error("ListTagsForResource", &s.arn, e))?;
            let tags: Vec<(String, String)> = tags
                .tags
                .and_then(|t| t.items)
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value.unwrap_or_default()))
                .collect();
            if !owned(&tags, stack) {
                return Ok::<_, ProvisionError>(None);
            }
            let topology_id = tags
                .iter()
                .find(|(k, _)| k == ID_TAG)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| s.id.clone());
            Ok(Some((topology_id, s.id, s.arn)))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    stream::iter(tagged.into_iter().flatten())
        .map(|(topology_id, id, arn)| async move {
            let got = cf
                .get_distribution_config()
                .id(&id)
                .send()
                .await
                .map_err(|e| aws_error("GetDistributionConfig", &id, e))?;
            let config = got.distribution_config.ok_or_else(|| {
                ProvisionError::shape(format!("distribution {id}"), "no DistributionConfig")
            })?;
            Ok((
                (topology_id, id),
                arn,
                got.e_tag.unwrap_or_default(),
                config,
            ))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// Tags of ELBv2 resources, 20 ARNs per call as the API allows.
async fn elb_tags(
    clients: &Clients,
    arns: &[String],
) -> Result<HashMap<String, Vec<(String, String)>>> {
    let chunks: Vec<Vec<String>> = arns.chunks(20).map(<[String]>::to_vec).collect();
    let answers: Vec<Vec<elb::TagDescription>> = stream::iter(chunks)
        .map(|chunk| async move {
            let out = clients
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk))
                .send()
                .await
                .map_err(|e| aws_error("DescribeTags", "", e))?;
            Ok::<_, ProvisionError>(out.tag_descriptions.unwrap_or_default())
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(answers
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let tags = d
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
                .collect();
            Some((d.resource_arn?, tags))
        })
        .collect())
}

async fn all_target_groups(clients: &Clients) -> Result<Vec<elb::TargetGroup>> {
    every_page(|marker| async move {
        let page = clients
            .elb
            .describe_target_groups()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTargetGroups", "", e))?;
        Ok((page.target_groups.unwrap_or_default(), page.next_marker))
    })
    .await
}

async fn all_load_balancers(clients: &Clients) -> Result<Vec<elb::LoadBalancer>> {
    every_page(|marker| async move {
        let page = clients
            .elb
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLoadBalancers", "", e))?;
        Ok((page.load_balancers.unwrap_or_default(), page.next_marker))
    })
    .await
}

/// A load balancer's listeners, every page.
async fn all_listeners(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    lb_arn: &str,
) -> Result<Vec<elb::Listener>> {
    every_page(|marker| async move {
        let page = elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("DescribeListeners", lb_arn, e))?;
        Ok((page.listeners.unwrap_or_default(), page.next_marker))
    })
    .await
}

/// A listener's rules, every page (DescribeRules answers a page at a time: 50 on moto).
async fn all_rules(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    listener_arn: &str,
) -> Result<Vec<elb::Rule>> {
    every_page(|marker| async move {
        let page = elb
            .describe_rules()
            .listener_arn(listener_arn)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("DescribeRules", listener_arn, e))?;
        Ok((page.rules.unwrap_or_default(), page.next_marker))
    })
    .await
}

async fn read_elb(clients: &Clients, stack: &str, spec: Option<&Spec>) -> Result<LiveState> {
    let mut state = LiveState {
        refs: Refs::new(),
        ..LiveState::default()
    };
    let (groups, balancers) = tokio::join!(all_target_groups(clients), all_load_balancers(clients));
    let (groups, balancers) = (groups?, balancers?);
    let mut arns: Vec<String> = groups
        .iter()
        .filter_map(|g| g.target_group_arn.clone())
        .collect();
    arns.extend(balancers.iter().filter_map(|b| b.load_balancer_arn.clone()));
    let tags = elb_tags(clients, &arns).await?;
    let is_owned = |arn: &Option<String>| {
        arn.as_ref()
            .and_then(|a| tags.get(a))
            .is_some_and(|t| owned(t, stack))
    };
    // The stack's own groups are known by their topology names, over any other group's AWS name.
    let tagged_name = |g: &elb::TargetGroup| -> Option<String> {
        let tags = tags.get(g.target_group_arn.as_ref()?)?;
        if !owned(tags, stack) {
            return None;
        }
        tags.iter()
            .find(|(k, _)| k == NAME_TAG)
            .map(|(_, v)| v.clone())
            .or_else(|| g.target_group_name.clone())
    };
    let mut by_name: BTreeMap<String, Vec<&elb::TargetGroup>> = BTreeMap::new();
    for g in &groups {
        if let Some(name) = tagged_name(g) {
            by_name.entry(name).or_default().push(g);
        }
    }
    // ARN → topology name, a replacement's leftover under a name of its own.
    let mut names: HashMap<String, String> = HashMap::new();
    for (name, same) in &by_name {
        let wanted = spec.and_then(|s| {
            let tg = s.target_groups.iter().find(|t| &t.name == name)?;
            let vpc = s.aws.as_ref().and_then(|a| a.vpc_id.as_deref());
            Some(crate::desired::target_group(tg, vpc))
        });
        let kept = kept_group(same, wanted.as_ref());
        let aws_name = |g: &elb::TargetGroup| g.target_group_name.clone().unwrap_or_default();
        for (i, g) in same.iter().enumerate() {
            let named = if i == kept {
                name.clone()
            } else {
                state.leftovers.push(Leftover {
                    name: name.clone(),
                    kept: aws_name(same[kept]),
                    left: aws_name(g),
                });
                leftover_name(name, &aws_name(g))
            };
            names.insert(g.target_group_arn.clone().unwrap_or_default(), named);
        }
    }
    let topology_name = |g: &elb::TargetGroup| -> Option<String> {
        names.get(g.target_group_arn.as_ref()?).cloned()
    };
    for owned_pass in [false, true] {
        for g in &groups {
            let name = match (owned_pass, topology_name(g)) {
                (true, Some(name)) => name,
                (false, None) => g.target_group_name.clone().unwrap_or_default(),
                _ => continue,
            };
            if let Some(arn) = &g.target_group_arn {
                state.refs.insert(RefKind::TargetGroup, &name, arn);
            }
        }
    }
    let groups: Vec<(elb::TargetGroup, String)> = groups
        .into_iter()
        .filter_map(|g| {
            let name = topology_name(&g)?;
            Some((g, name))
        })
        .collect();
    let balancers: Vec<elb::LoadBalancer> = balancers
        .into_iter()
        .filter(|b| is_owned(&b.load_balancer_arn))
        .collect();

    // Target groups: attributes and targets.
    let elb_client = &clients.elb;
    let group_parts: Vec<(LiveResource, LiveResource)> = stream::iter(groups)
        .map(|(g, name)| async move {
            let arn = g.target_group_arn.clone().unwrap_or_default();
            let (attrs, health) = tokio::join!(
                elb_client
                    .describe_target_group_attributes()
                    .target_group_arn(&arn)
                    .send(),
                elb_client
                    .describe_target_health()
                    .target_group_arn(&arn)
                    .send(),
            );
            let attrs = attrs.map_err(|e| aws_error("DescribeTargetGroupAttributes", &arn, e))?;
            let health = health.map_err(|e| aws_error("DescribeTargetHealth", &arn, e))?;
            let mut state =
                elbv2::target_group_from_api(&g, attrs.attributes.as_deref().unwrap_or_default())?;
            state.name = name;
            let mut targets: Vec<TargetRef> = health
                .target_health_descriptions
                .unwrap_or_default()
                .into_iter()
                .filter(|d| {
                    // A draining target is on its way out: it is not part of the stack any more.
                    d.target_health.as_ref().and_then(|h| h.state.as_ref())
                        != Some(&elb::TargetHealthStateEnum::Draining)
                })
                .filter_map(|d| d.target)
                .filter_map(|t| {
                    Some(TargetRef {
                        id: t.id?,
                        port: t
                            .port
                            .and_then(|p| u16::try_from(p).ok())
                            .unwrap_or(state.port),
                        // Inside a subnet AWS answers the zone it found, which ferry never sets.
                        availability_zone: t.availability_zone.filter(|z| z == elbv2::ZONE_ALL),
                    })
                })
                .collect();
            targets.sort();
            let targets = LiveResource {
                body: Body::Targets(TargetsState {
                    target_group: state.name.clone(),
                    targets,
                }),
                id: LiveId::Arn(arn.clone()),
            };
            Ok::<_, ProvisionError>((
                LiveResource {
                    body: Body::TargetGroup(state),
                    id: LiveId::Arn(arn),
                },
                targets,
            ))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    for (g, t) in group_parts {
        state.resources.push(g);
        state.resources.push(t);
    }

    // Load balancers: attributes, listeners, rules.
    let refs = &state.refs;
    type LbParts = (LoadBalancerFacts, Vec<LiveResource>, Vec<(String, String)>);
    let lb_parts: Vec<LbParts> = stream::iter(balancers)
        .map(|b| async move {
            let arn = b.load_balancer_arn.clone().unwrap_or_default();
            let name = b.load_balancer_name.clone().unwrap_or_default();
            let (attrs, listeners) = tokio::join!(
                elb_client
                    .describe_load_balancer_attributes()
                    .load_balancer_arn(&arn)
                    .send(),
                all_listeners(elb_client, &arn),
            );
            let attrs = attrs.map_err(|e| aws_error("DescribeLoadBalancerAttributes", &arn, e))?;
            let listeners = listeners?;
            let mut resources = vec![LiveResource {
                body: Body::LoadBalancer(elbv2::load_balancer_from_api(
                    &b,
                    attrs.attributes.as_deref().unwrap_or_default(),
                )?),
                id: LiveId::Arn(arn.clone()),
            }];
            let mut listener_arns = Vec::new();
            type ListenerParts = (Vec<elb::Rule>, Vec<elb::ListenerAttribute>);
            let parts: Vec<ListenerParts> = stream::iter(listeners.iter())
                .map(|l| async move {
                    let larn = l.listener_arn.clone().unwrap_or_default();
                    let (rules, attrs) = tokio::join!(
                        all_rules(elb_client, &larn),
                        elb_client
                            .describe_listener_attributes()
                            .listener_arn(&larn)
                            .send()
                    );
                    let attrs =
                        attrs.map_err(|e| aws_error("DescribeListenerAttributes", &larn, e))?;
                    Ok::<_, ProvisionError>((rules?, attrs.attributes.unwrap_or_default()))
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            for (l, (rules, attrs)) in listeners.iter().zip(parts) {
                let ls = elbv2::listener_from_api(&name, l, &attrs, refs)?;
                let larn = l.listener_arn.clone().unwrap_or_default();
                listener_arns.push((format!("{name}:{}", ls.port), larn.clone()));
                let port = ls.port;
                resources.push(LiveResource {
                    body: Body::Listener(ls),
                    id: LiveId::Arn(larn),
                });
                for r in &rules {
                    if let Some(rs) = elbv2::rule_from_api(&name, port, r, refs)? {
                        resources.push(LiveResource {
                            body: Body::Rule(rs),
                            id: LiveId::Arn(r.rule_arn.clone().unwrap_or_default()),
                        });
                    }
                }
            }
            let facts = LoadBalancerFacts {
                name,
                arn,
                dns_name: b.dns_name.clone().unwrap_or_default(),
                vpc_id: b.vpc_id.clone(),
                zones: b
                    .availability_zones
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|z| Some((z.zone_name?, z.subnet_id?)))
                    .collect(),
            };
            Ok::<_, ProvisionError>((facts, resources, listener_arns))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    for (facts, resources, listener_arns) in lb_parts {
        state
            .load_balancer_arns
            .insert(facts.name.clone(), facts.arn.clone());
        state.listener_arns.extend(listener_arns);
        state.resources.extend(resources);
        state.load_balancers.push(facts);
    }
    Ok(state)
}

/// An answer that says the endpoint has no such API at all (a 404 without an AWS error code), as
/// some AWS stand-ins answer for CloudFront's policy APIs: then there are no policies to read.
fn not_implemented<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool
where
    E: aws_sdk_cloudfront::error::ProvideErrorMetadata,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => s.err().code().is_none() && s.raw().status().as_u16() == 404,
        _ => false,
    }
}

type PolicyNames = Vec<(RefKind, String, String)>;

/// Reads every page of one custom policy kind into `resources` (the stack's own) and `names`
/// (every custom one's name and id). The three kinds have the same shape but no common trait.
macro_rules! read_policy_kind {
    ($cf:expr, $stack:expr, $resources:expr, $names:expr,
     $list:ident, $type:expr, $list_field:ident, $policy_field:ident, $config_field:ident,
     $operation:literal, $kind:expr, $variant:ident, $from_api:path) => {{
        let mut marker: Option<String> = None;
        loop {
            let page = match $cf
                .$list()
                .r#type($type)
                .set_marker(marker.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) if not_implemented(&e) => break,
                Err(e) => return Err(aws_error($operation, "", e)),
            };
            let list = page.$list_field;
            for item in list
                .as_ref()
                .and_then(|l| l.items.clone())
                .unwrap_or_default()
            {
                let Some(policy) = item.$policy_field else {
                    continue;
                };
                let Some(config) = policy.$config_field else {
                    continue;
                };
                $names.push(($kind, config.name.clone(), policy.id.clone()));
                if policies::owner(config.comment.as_deref()).0.as_deref() == Some($stack) {
                    $resources.push(LiveResource {
                        body: Body::$variant($from_api(&config)?),
                        id: LiveId::Policy(policy.id),
                    });
                }
            }
            match list.and_then(|l| l.next_marker).filter(|m| !m.is_empty()) {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
    }};
}

/// Custom cache, origin request and response headers policies: the stack's own as resources,
/// every custom one's name and id for references.
async fn read_policies(clients: &Clients, stack: &str) -> Result<(Vec<LiveResource>, PolicyNames)> {
    use aws_sdk_cloudfront::types::{
        CachePolicyType, OriginRequestPolicyType, ResponseHeadersPolicyType,
    };
    let cf = &clients.cloudfront;
    let mut resources = Vec::new();
    let mut names = Vec::new();
    read_policy_kind!(
        cf,
        stack,
        resources,
        names,
        list_cache_policies,
        CachePolicyType::Custom,
        cache_policy_list,
        cache_policy,
        cache_policy_config,
        "ListCachePolicies",
        RefKind::CachePolicy,
        CachePolicy,
        policies::cache_policy_from_api
    );
    read_policy_kind!(
        cf,
        stack,
        resources,
        names,
        list_origin_request_policies,
        OriginRequestPolicyType::Custom,
        origin_request_policy_list,
        origin_request_policy,
        origin_request_policy_config,
        "ListOriginRequestPolicies",
        RefKind::OriginRequestPolicy,
        OriginRequestPolicy,
        policies::origin_request_policy_from_api
    );
    read_policy_kind!(
        cf,
        stack,
        resources,
        names,
        list_response_headers_policies,
        ResponseHeadersPolicyType::Custom,
        response_headers_policy_list,
        response_headers_policy,
        response_headers_policy_config,
        "ListResponseHeadersPolicies",
        RefKind::ResponseHeadersPolicy,
        ResponseHeadersPolicy,
        policies::response_headers_policy_from_api
    );
    Ok((resources, names))
}

/// Public keys and key groups: the stack's own as resources (owner in the comment), every one's
/// name and id for references. Key groups name their keys by id; read after the keys.
async fn read_keys(clients: &Clients, stack: &str) -> Result<(Vec<LiveResource>, PolicyNames)> {
    let cf = &clients.cloudfront;
    let mut resources = Vec::new();
    let mut names = Vec::new();
    let mut refs = Refs::default();
    let mut marker: Option<String> = None;
    loop {
        let page = match cf
            .list_public_keys()
            .set_marker(marker.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if not_implemented(&e) => break,
            Err(e) => return Err(aws_error("ListPublicKeys", "", e)),
        };
        let list = page.public_key_list;
        for summary in list
            .as_ref()
            .and_then(|l| l.items.clone())
            .unwrap_or_default()
        {
            names.push((RefKind::PublicKey, summary.name.clone(), summary.id.clone()));
            refs.insert(RefKind::PublicKey, &summary.name, &summary.id);
            let (owner, state) = keys::public_key_from_api(&summary);
            if owner.as_deref() == Some(stack) {
                resources.push(LiveResource {
                    body: Body::PublicKey(state),
                    id: LiveId::Policy(summary.id),
                });
            }
        }
        match list.and_then(|l| l.next_marker).filter(|m| !m.is_empty()) {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    let mut marker: Option<String> = None;
    loop {
        let page = match cf.list_key_groups().set_marker(marker.clone()).send().await {
            Ok(page) => page,
            Err(e) if not_implemented(&e) => break,
            Err(e) => return Err(aws_error("ListKeyGroups", "", e)),
        };
        let list = page.key_group_list;
        for group in list
            .as_ref()
            .and_then(|l| l.items.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.key_group)
        {
            let Some(config) = &group.key_group_config else {
                continue;
            };
            names.push((RefKind::KeyGroup, config.name.clone(), group.id.clone()));
            let (owner, state) = keys::key_group_from_api(config, &refs);
            if owner.as_deref() == Some(stack) {
                resources.push(LiveResource {
                    body: Body::KeyGroup(state),
                    id: LiveId::Policy(group.id.clone()),
                });
            }
        }
        match list.and_then(|l| l.next_marker).filter(|m| !m.is_empty()) {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    Ok((resources, names))
}

/// Which of the stack's groups that carry one topology name is that group. A replacement that
/// failed half-way leaves two (the old group and the new one beside it): the group kept is the
/// one the topology would not have to replace, else the one under the topology's own name (an
/// index into `same`, which is not empty).
pub fn kept_group(same: &[&elb::TargetGroup], wanted: Option<&TargetGroupState>) -> usize {
    let fits = |g: &elb::TargetGroup| {
        let (Some(wanted), Ok(live)) = (wanted, elbv2::target_group_from_api(g, &[])) else {
            return false;
        };
        let live = Body::TargetGroup(live).to_json();
        let wanted = Body::TargetGroup(wanted.clone()).to_json();
        !crate::diff::diff(&live, &wanted)
            .iter()
            .any(|c| crate::plan::forces_replacement(Kind::TargetGroup, &c.path))
    };
    let own_name = |g: &elb::TargetGroup| {
        wanted.is_some_and(|w| g.target_group_name.as_deref() == Some(w.name.as_str()))
    };
    same.iter()
        .position(|g| fits(g))
        .or_else(|| same.iter().position(|g| own_name(g)))
        .unwrap_or(0)
}

/// The name a replacement's leftover group goes by: not the topology's, so that the plan deletes
/// it once the listeners and rules that still forward to it forward to the group kept.
pub fn leftover_name(name: &str, aws_name: &str) -> String {
    format!("{name} (left over as {aws_name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(aws_name: &str, port: i32) -> elb::TargetGroup {
        elb::TargetGroup::builder()
            .target_group_name(aws_name)
            .protocol(elb::ProtocolEnum::Http)
            .port(port)
            .build()
    }

    fn wanted(port: u16) -> TargetGroupState {
        let toml = format!("name = \"web\"\nport = {port}\n");
        let tg: ferry_config::spec::TargetGroup =
            toml::from_str(&toml).unwrap_or_else(|e| panic!("{e}"));
        elbv2::target_group_state(&tg, None)
    }

    #[test]
    fn the_group_kept_is_the_one_the_topology_fits_then_the_one_under_its_name() {
        let (old, new) = (group("web", 80), group("web-r", 8080));
        let cases: [(&[&elb::TargetGroup], Option<TargetGroupState>, usize, &str); 5] = [
            (&[&old, &new], Some(wanted(8080)), 1, "the replacement fits"),
            (&[&new, &old], Some(wanted(80)), 1, "the old group fits"),
            (
                &[&new, &old],
                Some(wanted(9000)),
                1,
                "neither fits: the topology's name",
            ),
            (&[&new, &old], None, 0, "not in the topology (destroy)"),
            (&[&new], Some(wanted(9000)), 0, "only one"),
        ];
        for (same, wanted, kept, why) in cases {
            assert_eq!(kept_group(same, wanted.as_ref()), kept, "{why}");
        }
        assert_eq!(leftover_name("web", "web-r"), "web (left over as web-r)");
    }
}
