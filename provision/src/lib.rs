//! ferry-provision: the topology on real CloudFront and ALB. `plan` reads the live state of a
//! stack (what carries its `ferry:stack` tag) and diffs it against the topology; `apply` carries
//! the plan out in dependency order; `destroy` removes the stack; `import` writes a topology from
//! live resources. The mapping between the topology and the APIs is pure (`map`), as are the
//! diff and the plan; only `aws`, `live`, `apply` and `destroy` talk to AWS.

pub mod checks;
pub mod desired;
pub mod diff;
pub mod error;
pub mod map;
pub mod names;
pub mod plan;
pub mod refs;
pub mod resource;

pub use error::{ProvisionError, Result};

pub mod apply;
pub mod aws;
pub mod import;
pub mod live;
pub mod render;

use ferry_config::spec::Spec;

/// The plan that takes the stack in AWS to the topology, and the live state it was made from.
pub async fn plan_topology(
    clients: &aws::Clients,
    spec: &Spec,
) -> Result<(plan::Plan, live::LiveState)> {
    let (live, findings) = tokio::join!(
        live::read(clients, &spec.stack, Some(spec)),
        checks::check(clients, spec)
    );
    let (live, findings) = (live?, findings?);
    // Every problem at once: the topology's own and what the account lacks.
    let desired = match (
        desired::desired(spec, &live.refs),
        findings.problems.is_empty(),
    ) {
        (Ok(desired), true) => desired,
        (Ok(_), false) => return Err(ProvisionError::Invalid(findings.problems.join("\n"))),
        (Err(ProvisionError::Invalid(mine)), _) => {
            let mut all = vec![mine];
            all.extend(findings.problems);
            return Err(ProvisionError::Invalid(all.join("\n")));
        }
        (Err(e), _) => return Err(e),
    };
    let mut resources = desired.resources;
    for body in &mut resources {
        if let resource::Body::Targets(targets) = body {
            map::elbv2::zone_all_outside_subnets(targets, &findings.outside_subnets);
        }
    }
    let mut notes = desired.notes;
    notes.extend(live.leftovers.iter().map(live::Leftover::note));
    let plan = plan::plan(
        &desired.stack,
        &resources,
        &live.resources,
        notes,
        &spec
            .load_balancers
            .iter()
            .map(|l| (l.name.clone(), l.dns_name.clone()))
            .collect(),
    );
    let refused = plan::refused(&plan, &live.resources);
    if !refused.is_empty() {
        return Err(ProvisionError::Invalid(refused.join("\n")));
    }
    Ok((plan, live))
}

/// The plan that deletes everything the stack owns.
pub async fn plan_destroy(
    clients: &aws::Clients,
    stack: &str,
) -> Result<(plan::Plan, live::LiveState)> {
    let live = live::read(clients, stack, None).await?;
    let plan = plan::plan(stack, &[], &live.resources, Vec::new(), &Default::default());
    let refused = plan::refused(&plan, &live.resources);
    if !refused.is_empty() {
        return Err(ProvisionError::Invalid(refused.join("\n")));
    }
    Ok((plan, live))
}
