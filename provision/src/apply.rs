//! Carries out a plan, step by step in its order, reporting each one; stops at the first hard
//! failure and says what was done and what was not. Names that did not exist when the plan was
//! made (new target groups, a new load balancer's DNS name) are resolved as they are created.

use crate::aws::{aws_error, Clients};
use crate::error::{ProvisionError, Result};
use crate::live::{LiveState, ID_TAG, NAME_TAG, STACK_TAG};
use crate::map::{attributes, distribution, elbv2, keys, policies};
use crate::plan::{Action, Plan, Step};
use crate::refs::{RefKind, Refs};
use crate::resource::{Body, Kind, LiveId, LiveResource};
use aws_sdk_cloudfront::types as cf;
use aws_sdk_elasticloadbalancingv2::types as elb;
use ferry_config::spec::{ListenerProtocol, Spec};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What happened to each step.
#[derive(Debug)]
pub enum Event<'a> {
    Started(&'a Step),
    Done(&'a Step, Duration),
    Failed(&'a Step, &'a ProvisionError),
}

#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    pub failed: Option<(String, ProvisionError)>,
    pub not_done: Vec<String>,
}

/// How long to wait for CloudFront to deploy a disabled distribution before deleting it.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub distribution_deployed: Duration,
    pub poll: Duration,
}

impl Default for Waits {
    fn default() -> Waits {
        Waits {
            distribution_deployed: Duration::from_secs(45 * 60),
            poll: Duration::from_secs(15),
        }
    }
}

struct Ctx<'a> {
    clients: &'a Clients,
    stack: &'a str,
    refs: Refs,
    listener_arns: HashMap<String, String>,
    load_balancer_arns: HashMap<String, String>,
    /// Load balancer name → its local dns_name in the topology.
    local_dns: HashMap<String, String>,
    waits: Waits,
    /// The live state the plan was made from (listeners and rules to re-point on a replacement).
    live: &'a [LiveResource],
}

pub async fn apply(
    clients: &Clients,
    plan: &Plan,
    live: &LiveState,
    spec: Option<&Spec>,
    waits: Waits,
    progress: &mut dyn FnMut(Event),
) -> Report {
    let mut refs = live.refs.clone();
    refs.strict = true;
    let mut ctx = Ctx {
        clients,
        stack: &plan.stack,
        refs,
        listener_arns: live.listener_arns.clone(),
        load_balancer_arns: live.load_balancer_arns.clone(),
        local_dns: spec
            .map(|s| {
                s.load_balancers
                    .iter()
                    .map(|l| (l.name.clone(), l.dns_name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        waits,
        live: &live.resources,
    };
    let mut report = Report::default();
    for (i, step) in plan.steps.iter().enumerate() {
        progress(Event::Started(step));
        let started = Instant::now();
        match run_step(&mut ctx, step).await {
            Ok(()) => {
                progress(Event::Done(step, started.elapsed()));
                report.done.push(step_line(step));
            }
            Err(e) => {
                progress(Event::Failed(step, &e));
                report.failed = Some((step_line(step), e));
                report.not_done = plan.steps[i + 1..].iter().map(step_line).collect();
                break;
            }
        }
    }
    report
}

pub fn step_line(step: &Step) -> String {
    let verb = match step.action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    };
    format!("{verb} {}", step.title())
}

fn stack_tag_elb(stack: &str) -> elb::Tag {
    elb::Tag::builder().key(STACK_TAG).value(stack).build()
}

/// A caller reference's unique part: CloudFront refuses one it has seen with another config.
fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default()
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The current ETag of a CloudFront policy, public key or key group (update and delete need it in
/// If-Match). The kinds have the same call shape but no common trait.
macro_rules! policy_etag {
    ($get:expr, $id:expr, $operation:literal, $name:expr) => {
        $get.id($id)
            .send()
            .await
            .map_err(|e| aws_error($operation, $name, e))?
            .e_tag
            .unwrap_or_default()
    };
}

/// Updates a CloudFront policy or key group by id to `$config` (given to the `$set` setter), with
/// the ETag its config call gives in If-Match.
macro_rules! update_with_etag {
    ($get:expr, $update:expr, $id:expr, $get_operation:literal, $operation:literal, $name:expr, $set:ident($config:expr)) => {{
        let etag = policy_etag!($get, $id, $get_operation, $name);
        $update
            .id($id)
            .if_match(etag)
            .$set($config)
            .send()
            .await
            .map_err(|e| aws_error($operation, $name, e))?;
        Ok(())
    }};
}

/// Deletes a CloudFront policy, public key or key group by id, with the ETag its config call
/// gives in If-Match.
macro_rules! delete_with_etag {
    ($get:expr, $delete:expr, $id:expr, $get_operation:literal, $operation:literal, $name:expr) => {{
        let etag = policy_etag!($get, $id, $get_operation, $name);
        $delete
            .id($id)
            .if_match(etag)
            .send()
            .await
            .map_err(|e| aws_error($operation, $name, e))?;
        Ok(())
    }};
}

async fn run_step(ctx: &mut Ctx<'_>, step: &Step) -> Result<()> {
    let live_arn = step.live.as_ref().map(|l| l.id.arn().to_string());
    match step.action {
        Action::Delete => delete(ctx, step).await,
        Action::Replace if step.kind == Kind::TargetGroup => replace_target_group(ctx, step).await,
        Action::Replace => {
            delete(ctx, step).await?;
            create(ctx, step).await
        }
        Action::Create => create(ctx, step).await,
        Action::Update => match (&step.desired, &step.live, live_arn) {
            (Some(desired), Some(live), Some(arn)) => {
                update(ctx, desired, &live.body, &live.id, &arn).await
            }
            _ => Err(ProvisionError::Invalid(format!(
                "{}: nothing to update",
                step.title()
            ))),
        },
    }
}

// ------------------------------------------------------------------ create

async fn create(ctx: &mut Ctx<'_>, step: &Step) -> Result<()> {
    let Some(body) = &step.desired else {
        return Err(ProvisionError::Invalid(format!(
            "{}: nothing to create",
            step.title()
        )));
    };
    let elb_client = &ctx.clients.elb;
    let cf_client = &ctx.clients.cloudfront;
    match body {
        Body::CachePolicy(p) => {
            let out = cf_client
                .create_cache_policy()
                .cache_policy_config(policies::cache_policy_to_api(p, ctx.stack)?)
                .send()
                .await
                .map_err(|e| aws_error("CreateCachePolicy", &p.name, e))?;
            let id = out.cache_policy.map(|c| c.id).ok_or_else(|| {
                ProvisionError::shape(&p.name, "CreateCachePolicy returned no id")
            })?;
            ctx.refs.insert(RefKind::CachePolicy, &p.name, &id);
            Ok(())
        }
        Body::OriginRequestPolicy(p) => {
            let out = cf_client
                .create_origin_request_policy()
                .origin_request_policy_config(policies::origin_request_policy_to_api(p, ctx.stack)?)
                .send()
                .await
                .map_err(|e| aws_error("CreateOriginRequestPolicy", &p.name, e))?;
            let id = out.origin_request_policy.map(|c| c.id).ok_or_else(|| {
                ProvisionError::shape(&p.name, "CreateOriginRequestPolicy returned no id")
            })?;
            ctx.refs.insert(RefKind::OriginRequestPolicy, &p.name, &id);
            Ok(())
        }
        Body::ResponseHeadersPolicy(p) => {
            let out = cf_client
                .create_response_headers_policy()
                .response_headers_policy_config(policies::response_headers_policy_to_api(
                    p, ctx.stack,
                )?)
                .send()
                .await
                .map_err(|e| aws_error("CreateResponseHeadersPolicy", &p.name, e))?;
            let id = out.response_headers_policy.map(|c| c.id).ok_or_else(|| {
                ProvisionError::shape(&p.name, "CreateResponseHeadersPolicy returned no id")
            })?;
            ctx.refs
                .insert(RefKind::ResponseHeadersPolicy, &p.name, &id);
            Ok(())
        }
        Body::PublicKey(k) => {
            let caller_reference = format!("ferry-{}-{}-{}", ctx.stack, k.name, nanos());
            let out = cf_client
                .create_public_key()
                .public_key_config(keys::public_key_to_api(k, &caller_reference, ctx.stack)?)
                .send()
                .await
                .map_err(|e| aws_error("CreatePublicKey", &k.name, e))?;
            let id = out
                .public_key
                .map(|p| p.id)
                .ok_or_else(|| ProvisionError::shape(&k.name, "CreatePublicKey returned no id"))?;
            ctx.refs.insert(RefKind::PublicKey, &k.name, &id);
            Ok(())
        }
        Body::KeyGroup(g) => {
            let out = cf_client
                .create_key_group()
                .key_group_config(keys::key_group_to_api(g, ctx.stack, &ctx.refs)?)
                .send()
                .await
                .map_err(|e| aws_error("CreateKeyGroup", &g.name, e))?;
            let id = out
                .key_group
                .map(|k| k.id)
                .ok_or_else(|| ProvisionError::shape(&g.name, "CreateKeyGroup returned no id"))?;
            ctx.refs.insert(RefKind::KeyGroup, &g.name, &id);
            Ok(())
        }
        Body::TargetGroup(tg) => create_target_group(ctx, tg, &tg.name).await.map(|_| ()),
        Body::Targets(t) => {
            let arn = ctx.refs.id(RefKind::TargetGroup, &t.target_group)?;
            register(ctx, &t.target_group, &arn, &t.targets, &[]).await
        }
        Body::LoadBalancer(lb) => {
            let out = elb_client
                .create_load_balancer()
                .name(&lb.name)
                .set_subnets(Some(lb.subnets.clone()))
                .set_security_groups(
                    (!lb.security_groups.is_empty()).then(|| lb.security_groups.clone()),
                )
                .scheme(elb::LoadBalancerSchemeEnum::from(
                    crate::names::api_name(
                        &lb.scheme
                            .unwrap_or(ferry_config::spec::Scheme::InternetFacing),
                    )
                    .as_str(),
                ))
                .r#type(elb::LoadBalancerTypeEnum::Application)
                .ip_address_type(elb::IpAddressType::from(
                    lb.ip_address_type.as_deref().unwrap_or("ipv4"),
                ))
                .tags(stack_tag_elb(ctx.stack))
                .send()
                .await
                .map_err(|e| aws_error("CreateLoadBalancer", &lb.name, e))?;
            let created = out
                .load_balancers
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ProvisionError::shape(&lb.name, "CreateLoadBalancer returned nothing")
                })?;
            let arn = created.load_balancer_arn.clone().unwrap_or_default();
            if let (Some(local), Some(dns)) = (ctx.local_dns.get(&lb.name), &created.dns_name) {
                ctx.refs.insert(RefKind::LoadBalancerDns, local, dns);
            }
            ctx.load_balancer_arns.insert(lb.name.clone(), arn.clone());
            let writes = attributes::changes(
                attributes::LOAD_BALANCER,
                &Default::default(),
                &lb.attributes,
            );
            lb_attributes(ctx, &lb.name, &arn, writes).await
        }
        Body::Listener(l) => {
            let lb_arn = ctx
                .load_balancer_arns
                .get(&l.load_balancer)
                .cloned()
                .ok_or_else(|| {
                    ProvisionError::Invalid(format!(
                        "load balancer {} does not exist",
                        l.load_balancer
                    ))
                })?;
            let (ssl_policy, certificates, alpn) = listener_tls(l);
            let actions = actions(&l.default_actions, &ctx.refs)?;
            let out = elb_client
                .create_listener()
                .load_balancer_arn(lb_arn)
                .port(i32::from(l.port))
                .protocol(elb::ProtocolEnum::from(
                    crate::names::api_name(&l.protocol).as_str(),
                ))
                .set_ssl_policy(ssl_policy)
                .set_certificates(certificates)
                .set_alpn_policy(alpn)
                .set_default_actions(Some(actions))
                .tags(stack_tag_elb(ctx.stack))
                .send()
                .await
                .map_err(|e| aws_error("CreateListener", body.key(), e))?;
            let arn = out
                .listeners
                .unwrap_or_default()
                .into_iter()
                .find_map(|l| l.listener_arn)
                .ok_or_else(|| {
                    ProvisionError::shape(body.key(), "CreateListener returned no ARN")
                })?;
            ctx.listener_arns.insert(body.key(), arn.clone());
            let writes =
                attributes::changes(attributes::LISTENER, &Default::default(), &l.attributes);
            listener_attributes(ctx, &body.key(), &arn, writes).await
        }
        Body::Rule(r) => {
            let listener = format!("{}:{}", r.load_balancer, r.port);
            let listener_arn = ctx.listener_arns.get(&listener).cloned().ok_or_else(|| {
                ProvisionError::Invalid(format!("listener {listener} does not exist"))
            })?;
            let actions = actions(&r.actions, &ctx.refs)?;
            elb_client
                .create_rule()
                .listener_arn(listener_arn)
                .priority(i32_of(r.priority))
                .set_conditions(Some(
                    r.conditions.iter().map(elbv2::condition_to_api).collect(),
                ))
                .set_actions(Some(actions))
                .tags(stack_tag_elb(ctx.stack))
                .send()
                .await
                .map_err(|e| aws_error("CreateRule", body.key(), e))?;
            Ok(())
        }
        Body::Distribution(d) => {
            let caller_reference = format!("ferry-{}-{}-{}", ctx.stack, d.distribution.id, nanos());
            let config = distribution::to_api(d, &caller_reference, &ctx.refs)?;
            let tags = cf::Tags::builder()
                .items(cf::Tag::builder().key(STACK_TAG).value(ctx.stack).build()?)
                .items(
                    cf::Tag::builder()
                        .key(ID_TAG)
                        .value(&d.distribution.id)
                        .build()?,
                )
                .build();
            ctx.clients
                .cloudfront
                .create_distribution_with_tags()
                .distribution_config_with_tags(
                    cf::DistributionConfigWithTags::builder()
                        .distribution_config(config)
                        .tags(tags)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("CreateDistributionWithTags", &d.distribution.id, e))?;
            Ok(())
        }
    }
}

/// Creates a target group under `aws_name` (its topology name, or a replacement's other name),
/// sets its attributes, and returns its ARN.
async fn create_target_group(
    ctx: &mut Ctx<'_>,
    tg: &elbv2::TargetGroupState,
    aws_name: &str,
) -> Result<String> {
    let api = elbv2::target_group_to_api(tg);
    let out = ctx
        .clients
        .elb
        .create_target_group()
        .name(aws_name)
        .set_protocol(api.protocol)
        .set_protocol_version(api.protocol_version)
        .set_port(api.port)
        .set_vpc_id(api.vpc_id)
        .set_target_type(api.target_type)
        .set_ip_address_type(api.ip_address_type)
        .set_health_check_enabled(api.health_check_enabled)
        .set_health_check_protocol(api.health_check_protocol)
        .set_health_check_port(api.health_check_port)
        .set_health_check_path(api.health_check_path)
        .set_health_check_interval_seconds(api.health_check_interval_seconds)
        .set_health_check_timeout_seconds(api.health_check_timeout_seconds)
        .set_healthy_threshold_count(api.healthy_threshold_count)
        .set_unhealthy_threshold_count(api.unhealthy_threshold_count)
        .set_matcher(api.matcher)
        .tags(stack_tag_elb(ctx.stack))
        .tags(elb::Tag::builder().key(NAME_TAG).value(&tg.name).build())
        .send()
        .await
        .map_err(|e| aws_error("CreateTargetGroup", &tg.name, e))?;
    let arn = out
        .target_groups
        .unwrap_or_default()
        .into_iter()
        .find_map(|g| g.target_group_arn)
        .ok_or_else(|| ProvisionError::shape(&tg.name, "CreateTargetGroup returned no ARN"))?;
    ctx.refs.insert(RefKind::TargetGroup, &tg.name, &arn);
    let writes = attributes::changes(
        attributes::TARGET_GROUP,
        &Default::default(),
        &tg.attributes,
    );
    tg_attributes(ctx, &tg.name, &arn, writes).await?;
    Ok(arn)
}

/// The AWS name for a replacement of the group `name` whose live group is called `live_name`:
/// the other of `name` and `name-r` (at most 32 characters, as ELBv2 allows).
pub fn replacement_name(name: &str, live_name: &str) -> String {
    if live_name != name {
        return name.to_string();
    }
    let stem: String = name.chars().take(30).collect();
    format!("{}-r", stem.trim_end_matches('-'))
}

/// The group name in a target group ARN (`...:targetgroup/NAME/ID`).
fn target_group_aws_name(arn: &str) -> &str {
    arn.split('/').nth(1).unwrap_or_default()
}

fn forwards_to(actions: &[ferry_config::spec::Action], group: &str) -> bool {
    actions.iter().any(|a| {
        a.target_group.as_deref() == Some(group)
            || a.forward_config
                .as_ref()
                .is_some_and(|f| f.target_groups.iter().any(|t| t.target_group == group))
    })
}

/// A target group AWS cannot change in place (protocol, port, VPC, target type): the new group is
/// created beside the old one, gets its targets, takes over every listener's and rule's forward,
/// and then the old one is deleted, so that traffic always has a group to go to.
async fn replace_target_group(ctx: &mut Ctx<'_>, step: &Step) -> Result<()> {
    let (Some(Body::TargetGroup(tg)), Some(old)) = (&step.desired, &step.live) else {
        return Err(ProvisionError::Invalid(format!(
            "{}: nothing to replace",
            step.title()
        )));
    };
    let old_arn = old.id.arn().to_string();
    let new_name = replacement_name(&tg.name, target_group_aws_name(&old_arn));
    let new_arn = create_target_group(ctx, tg, &new_name).await?;
    register(ctx, &tg.name, &new_arn, &step.targets, &[]).await?;
    for live in ctx.live {
        match &live.body {
            Body::Listener(l) if forwards_to(&l.default_actions, &tg.name) => {
                let actions = actions(&l.default_actions, &ctx.refs)?;
                ctx.clients
                    .elb
                    .modify_listener()
                    .listener_arn(live.id.arn())
                    .set_default_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifyListener", live.body.key(), e))?;
            }
            Body::Rule(r) if forwards_to(&r.actions, &tg.name) => {
                let actions = actions(&r.actions, &ctx.refs)?;
                ctx.clients
                    .elb
                    .modify_rule()
                    .rule_arn(live.id.arn())
                    .set_actions(Some(actions))
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifyRule", live.body.key(), e))?;
            }
            _ => {}
        }
    }
    delete_target_group(ctx, &tg.name, &old_arn).await
}

fn listener_tls(
    l: &elbv2::ListenerState,
) -> (
    Option<String>,
    Option<Vec<elb::Certificate>>,
    Option<Vec<String>>,
) {
    if l.protocol != ListenerProtocol::HTTPS {
        return (None, None, None);
    }
    (
        Some(
            l.ssl_policy
                .clone()
                .unwrap_or_else(|| elbv2::DEFAULT_SSL_POLICY.to_string()),
        ),
        l.certificate_arn
            .as_ref()
            .map(|arn| vec![elb::Certificate::builder().certificate_arn(arn).build()]),
        l.alpn_policy.as_ref().map(|a| vec![a.clone()]),
    )
}

fn actions(actions: &[ferry_config::spec::Action], refs: &Refs) -> Result<Vec<elb::Action>> {
    actions
        .iter()
        .enumerate()
        .map(|(i, a)| elbv2::action_to_api(a, i, refs))
        .collect()
}

/// Writes attribute changes with one Modify*Attributes call (the three ELBv2 kinds have the same
/// call shape but no common trait).
macro_rules! modify_attributes {
    ($fn:ident, $attr:ty, $call:ident, $arn_setter:ident, $operation:literal) => {
        async fn $fn(
            ctx: &Ctx<'_>,
            name: &str,
            arn: &str,
            writes: Vec<(String, String)>,
        ) -> Result<()> {
            if writes.is_empty() {
                return Ok(());
            }
            let attrs = writes
                .into_iter()
                .map(|(k, v)| <$attr>::builder().key(k).value(v).build())
                .collect();
            ctx.clients
                .elb
                .$call()
                .$arn_setter(arn)
                .set_attributes(Some(attrs))
                .send()
                .await
                .map_err(|e| aws_error($operation, name, e))?;
            Ok(())
        }
    };
}

modify_attributes!(
    tg_attributes,
    elb::TargetGroupAttribute,
    modify_target_group_attributes,
    target_group_arn,
    "ModifyTargetGroupAttributes"
);
modify_attributes!(
    lb_attributes,
    elb::LoadBalancerAttribute,
    modify_load_balancer_attributes,
    load_balancer_arn,
    "ModifyLoadBalancerAttributes"
);
modify_attributes!(
    listener_attributes,
    elb::ListenerAttribute,
    modify_listener_attributes,
    listener_arn,
    "ModifyListenerAttributes"
);

async fn register(
    ctx: &Ctx<'_>,
    name: &str,
    arn: &str,
    desired: &[elbv2::TargetRef],
    live: &[elbv2::TargetRef],
) -> Result<()> {
    let describe = |t: &elbv2::TargetRef| {
        elb::TargetDescription::builder()
            .id(&t.id)
            .port(i32::from(t.port))
            .set_availability_zone(t.availability_zone.clone())
            .build()
    };
    let add: Vec<_> = desired
        .iter()
        .filter(|t| !live.contains(t))
        .map(describe)
        .collect();
    // A target whose zone changes (its address left or joined the VPC's subnets) is registered
    // again: out first, or the later deregistration would remove it.
    let (rezoned, gone): (Vec<_>, Vec<_>) = live
        .iter()
        .filter(|t| !desired.contains(t))
        .partition(|t| desired.iter().any(|d| d.key() == t.key()));
    deregister(ctx, name, arn, rezoned.into_iter().map(describe).collect()).await?;
    if !add.is_empty() {
        ctx.clients
            .elb
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(add))
            .send()
            .await
            .map_err(|e| aws_error("RegisterTargets", name, e))?;
    }
    deregister(ctx, name, arn, gone.into_iter().map(describe).collect()).await
}

async fn deregister(
    ctx: &Ctx<'_>,
    name: &str,
    arn: &str,
    targets: Vec<elb::TargetDescription>,
) -> Result<()> {
    if !targets.is_empty() {
        ctx.clients
            .elb
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(targets))
            .send()
            .await
            .map_err(|e| aws_error("DeregisterTargets", name, e))?;
    }
    Ok(())
}

// ------------------------------------------------------------------ update

async fn update(
    ctx: &mut Ctx<'_>,
    desired: &Body,
    live: &Body,
    id: &LiveId,
    arn: &str,
) -> Result<()> {
    let elb_client = &ctx.clients.elb;
    let cf_client = &ctx.clients.cloudfront;
    match (desired, live) {
        (Body::CachePolicy(p), Body::CachePolicy(_)) => {
            update_with_etag!(
                cf_client.get_cache_policy_config(),
                cf_client.update_cache_policy(),
                arn,
                "GetCachePolicyConfig",
                "UpdateCachePolicy",
                &p.name,
                cache_policy_config(policies::cache_policy_to_api(p, ctx.stack)?)
            )
        }
        (Body::OriginRequestPolicy(p), Body::OriginRequestPolicy(_)) => {
            update_with_etag!(
                cf_client.get_origin_request_policy_config(),
                cf_client.update_origin_request_policy(),
                arn,
                "GetOriginRequestPolicyConfig",
                "UpdateOriginRequestPolicy",
                &p.name,
                origin_request_policy_config(policies::origin_request_policy_to_api(p, ctx.stack)?)
            )
        }
        (Body::ResponseHeadersPolicy(p), Body::ResponseHeadersPolicy(_)) => {
            update_with_etag!(
                cf_client.get_response_headers_policy_config(),
                cf_client.update_response_headers_policy(),
                arn,
                "GetResponseHeadersPolicyConfig",
                "UpdateResponseHeadersPolicy",
                &p.name,
                response_headers_policy_config(policies::response_headers_policy_to_api(
                    p, ctx.stack,
                )?)
            )
        }
        (Body::PublicKey(k), Body::PublicKey(_)) => {
            // Only the comment changes in place (a new key replaces the key).
            let got = cf_client
                .get_public_key_config()
                .id(arn)
                .send()
                .await
                .map_err(|e| aws_error("GetPublicKeyConfig", &k.name, e))?;
            let caller_reference = got
                .public_key_config
                .map(|c| c.caller_reference)
                .unwrap_or_default();
            cf_client
                .update_public_key()
                .id(arn)
                .if_match(got.e_tag.unwrap_or_default())
                .public_key_config(keys::public_key_to_api(k, &caller_reference, ctx.stack)?)
                .send()
                .await
                .map_err(|e| aws_error("UpdatePublicKey", &k.name, e))?;
            Ok(())
        }
        (Body::KeyGroup(g), Body::KeyGroup(_)) => {
            update_with_etag!(
                cf_client.get_key_group_config(),
                cf_client.update_key_group(),
                arn,
                "GetKeyGroupConfig",
                "UpdateKeyGroup",
                &g.name,
                key_group_config(keys::key_group_to_api(g, ctx.stack, &ctx.refs)?)
            )
        }
        (Body::TargetGroup(d), Body::TargetGroup(l)) => {
            if d.health_check != l.health_check {
                let api = elbv2::target_group_to_api(d);
                elb_client
                    .modify_target_group()
                    .target_group_arn(arn)
                    .set_health_check_enabled(api.health_check_enabled)
                    .set_health_check_protocol(api.health_check_protocol)
                    .set_health_check_port(api.health_check_port)
                    .set_health_check_path(api.health_check_path)
                    .set_health_check_interval_seconds(api.health_check_interval_seconds)
                    .set_health_check_timeout_seconds(api.health_check_timeout_seconds)
                    .set_healthy_threshold_count(api.healthy_threshold_count)
                    .set_unhealthy_threshold_count(api.unhealthy_threshold_count)
                    .set_matcher(api.matcher)
                    .send()
                    .await
                    .map_err(|e| aws_error("ModifyTargetGroup", &d.name, e))?;
            }
            let writes =
                attributes::changes(attributes::TARGET_GROUP, &l.attributes, &d.attributes);
            tg_attributes(ctx, &d.name, arn, writes).await
        }
        (Body::Targets(d), Body::Targets(l)) => {
            register(ctx, &d.target_group, arn, &d.targets, &l.targets).await
        }
        (Body::LoadBalancer(d), Body::LoadBalancer(l)) => {
            if d.subnets != l.subnets {
                elb_client
                    .set_subnets()
                    .load_balancer_arn(arn)
                    .set_subnets(Some(d.subnets.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("SetSubnets", &d.name, e))?;
            }
            if d.security_groups != l.security_groups {
                elb_client
                    .set_security_groups()
                    .load_balancer_arn(arn)
                    .set_security_groups(Some(d.security_groups.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("SetSecurityGroups", &d.name, e))?;
            }
            if d.ip_address_type != l.ip_address_type {
                elb_client
                    .set_ip_address_type()
                    .load_balancer_arn(arn)
                    .ip_address_type(elb::IpAddressType::from(
                        d.ip_address_type.as_deref().unwrap_or("ipv4"),
                    ))
                    .send()
                    .await
                    .map_err(|e| aws_error("SetIpAddressType", &d.name, e))?;
            }
            let writes =
                attributes::changes(attributes::LOAD_BALANCER, &l.attributes, &d.attributes);
            lb_attributes(ctx, &d.name, arn, writes).await
        }
        (Body::Listener(d), Body::Listener(l)) => {
            let writes = attributes::changes(attributes::LISTENER, &l.attributes, &d.attributes);
            let unchanged = elbv2::ListenerState {
                attributes: d.attributes.clone(),
                ..l.clone()
            };
            if serde_json::to_value(&unchanged).ok() == serde_json::to_value(d).ok() {
                return listener_attributes(ctx, &desired.key(), arn, writes).await;
            }
            let (ssl_policy, certificates, alpn) = listener_tls(d);
            let actions = actions(&d.default_actions, &ctx.refs)?;
            elb_client
                .modify_listener()
                .listener_arn(arn)
                .protocol(elb::ProtocolEnum::from(
                    crate::names::api_name(&d.protocol).as_str(),
                ))
                .set_ssl_policy(ssl_policy)
                .set_certificates(certificates)
                .set_alpn_policy(alpn)
                .set_default_actions(Some(actions))
                .send()
                .await
                .map_err(|e| aws_error("ModifyListener", desired.key(), e))?;
            listener_attributes(ctx, &desired.key(), arn, writes).await
        }
        (Body::Rule(d), Body::Rule(_)) => {
            let actions = actions(&d.actions, &ctx.refs)?;
            elb_client
                .modify_rule()
                .rule_arn(arn)
                .set_conditions(Some(
                    d.conditions.iter().map(elbv2::condition_to_api).collect(),
                ))
                .set_actions(Some(actions))
                .send()
                .await
                .map_err(|e| aws_error("ModifyRule", desired.key(), e))?;
            Ok(())
        }
        (Body::Distribution(d), Body::Distribution(_)) => {
            let LiveId::Distribution {
                id,
                caller_reference,
                ..
            } = id
            else {
                return Err(ProvisionError::Invalid(format!(
                    "distribution {}: no id",
                    d.distribution.id
                )));
            };
            let config = distribution::to_api(d, caller_reference, &ctx.refs)?;
            // The ETag read at plan time may be stale; If-Match needs the current one.
            let etag = current_etag(ctx, id).await?;
            ctx.clients
                .cloudfront
                .update_distribution()
                .id(id)
                .if_match(etag)
                .distribution_config(config)
                .send()
                .await
                .map_err(|e| aws_error("UpdateDistribution", &d.distribution.id, e))?;
            Ok(())
        }
        _ => Err(ProvisionError::Invalid(format!(
            "{}: kinds differ",
            desired.key()
        ))),
    }
}

async fn current_etag(ctx: &Ctx<'_>, id: &str) -> Result<String> {
    let got = ctx
        .clients
        .cloudfront
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .map_err(|e| aws_error("GetDistributionConfig", id, e))?;
    Ok(got.e_tag.unwrap_or_default())
}

// ------------------------------------------------------------------ delete

async fn delete(ctx: &mut Ctx<'_>, step: &Step) -> Result<()> {
    let Some(live) = &step.live else {
        return Err(ProvisionError::Invalid(format!(
            "{}: nothing to delete",
            step.title()
        )));
    };
    let arn = live.id.arn().to_string();
    let elb_client = &ctx.clients.elb;
    let cf_client = &ctx.clients.cloudfront;
    match &live.body {
        Body::CachePolicy(p) => {
            delete_with_etag!(
                cf_client.get_cache_policy_config(),
                cf_client.delete_cache_policy(),
                &arn,
                "GetCachePolicyConfig",
                "DeleteCachePolicy",
                &p.name
            )
        }
        Body::OriginRequestPolicy(p) => {
            delete_with_etag!(
                cf_client.get_origin_request_policy_config(),
                cf_client.delete_origin_request_policy(),
                &arn,
                "GetOriginRequestPolicyConfig",
                "DeleteOriginRequestPolicy",
                &p.name
            )
        }
        Body::ResponseHeadersPolicy(p) => {
            delete_with_etag!(
                cf_client.get_response_headers_policy_config(),
                cf_client.delete_response_headers_policy(),
                &arn,
                "GetResponseHeadersPolicyConfig",
                "DeleteResponseHeadersPolicy",
                &p.name
            )
        }
        Body::PublicKey(k) => {
            delete_with_etag!(
                cf_client.get_public_key_config(),
                cf_client.delete_public_key(),
                &arn,
                "GetPublicKeyConfig",
                "DeletePublicKey",
                &k.name
            )
        }
        Body::KeyGroup(g) => {
            delete_with_etag!(
                cf_client.get_key_group_config(),
                cf_client.delete_key_group(),
                &arn,
                "GetKeyGroupConfig",
                "DeleteKeyGroup",
                &g.name
            )
        }
        Body::TargetGroup(tg) => delete_target_group(ctx, &tg.name, &arn).await,
        Body::Targets(t) => register(ctx, &t.target_group, &arn, &[], &t.targets).await,
        Body::LoadBalancer(lb) => {
            elb_client
                .delete_load_balancer()
                .load_balancer_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_error("DeleteLoadBalancer", &lb.name, e))?;
            Ok(())
        }
        Body::Listener(_) => {
            elb_client
                .delete_listener()
                .listener_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_error("DeleteListener", live.body.key(), e))?;
            Ok(())
        }
        Body::Rule(_) => {
            elb_client
                .delete_rule()
                .rule_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_error("DeleteRule", live.body.key(), e))?;
            Ok(())
        }
        Body::Distribution(d) => {
            let LiveId::Distribution { id, .. } = &live.id else {
                return Err(ProvisionError::Invalid(format!(
                    "distribution {}: no id",
                    d.distribution.id
                )));
            };
            delete_distribution(ctx, &d.distribution.id, id).await
        }
    }
}

async fn delete_target_group(ctx: &Ctx<'_>, name: &str, arn: &str) -> Result<()> {
    // A load balancer deleted just before may still hold the group for a moment.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match ctx
            .clients
            .elb
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if Instant::now() < deadline
                    && e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(aws_error("DeleteTargetGroup", name, e)),
        }
    }
}

/// CloudFront deletes only a disabled, deployed distribution: disable it, wait, delete.
async fn delete_distribution(ctx: &Ctx<'_>, name: &str, id: &str) -> Result<()> {
    let cf_client = &ctx.clients.cloudfront;
    let got = cf_client
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .map_err(|e| aws_error("GetDistributionConfig", name, e))?;
    let mut etag = got.e_tag.unwrap_or_default();
    let config = got
        .distribution_config
        .ok_or_else(|| ProvisionError::shape(name, "no DistributionConfig"))?;
    if config.enabled {
        let mut disabled = config;
        disabled.enabled = false;
        let out = cf_client
            .update_distribution()
            .id(id)
            .if_match(&etag)
            .distribution_config(disabled)
            .send()
            .await
            .map_err(|e| aws_error("UpdateDistribution (disable)", name, e))?;
        etag = out.e_tag.unwrap_or(etag);
    }
    let deadline = Instant::now() + ctx.waits.distribution_deployed;
    loop {
        let got = cf_client
            .get_distribution()
            .id(id)
            .send()
            .await
            .map_err(|e| aws_error("GetDistribution", name, e))?;
        let status = got.distribution.map(|d| d.status).unwrap_or_default();
        if let Some(e) = got.e_tag {
            etag = e;
        }
        if status == "Deployed" {
            break;
        }
        if Instant::now() >= deadline {
            return Err(ProvisionError::Invalid(format!(
                "distribution {name} ({id}) is disabled but still {status}: run destroy again once it is Deployed"
            )));
        }
        tokio::time::sleep(ctx.waits.poll).await;
    }
    cf_client
        .delete_distribution()
        .id(id)
        .if_match(etag)
        .send()
        .await
        .map_err(|e| aws_error("DeleteDistribution", name, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_alternate_between_two_names_within_32_characters() {
        let cases = [
            ("web", "web", "web-r"),
            ("web", "web-r", "web"),
            (
                "a-thirty-two-character-name-xyz1",
                "a-thirty-two-character-name-xyz1",
                "a-thirty-two-character-name-xy-r",
            ),
            (
                "thirty-character-name-ending-",
                "thirty-character-name-ending-",
                "thirty-character-name-ending-r",
            ),
        ];
        for (name, live, expected) in cases {
            let got = replacement_name(name, live);
            assert_eq!(got, expected, "{name} (live {live})");
            assert!(got.len() <= 32);
        }
        assert_eq!(
            target_group_aws_name("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-r/abc"),
            "web-r"
        );
    }
}
