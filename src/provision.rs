//! `ferry plan`, `apply`, `destroy` and `import`: the topology on real CloudFront and ALB.

use anyhow::{anyhow, Context, Result};
use ferry_provision::apply::{self, Event, Report, Waits};
use ferry_provision::aws::{self, AwsOptions};
use ferry_provision::plan::Plan;
use ferry_provision::{import, render};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of `plan` when there are changes (as `terraform plan -detailed-exitcode`).
const CHANGES: u8 = 2;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The topology, with public keys given as files read into their PEM (what CloudFront takes).
fn load(file: &Path) -> Result<ferry_config::Topology> {
    let mut topology = ferry_config::load(file).map_err(|e| anyhow!("{e}"))?;
    for key in &mut topology.spec.public_keys {
        if !key.encoded_key.trim_start().starts_with("-----BEGIN") {
            let path = topology.base_dir.join(&key.encoded_key);
            key.encoded_key = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "{}: public key {}: reading encoded_key {}",
                    file.display(),
                    key.name,
                    path.display()
                )
            })?;
        }
    }
    Ok(topology)
}

fn region_of(topology: &ferry_config::Topology) -> Option<String> {
    topology.spec.aws.as_ref().map(|a| a.region.clone())
}

fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", render::json(plan));
    } else {
        print!("{}", render::text(plan, std::io::stdout().is_terminal()));
    }
}

pub fn plan(file: &Path, options: &AwsOptions, json: bool) -> Result<ExitCode> {
    let topology = load(file)?;
    let rt = runtime()?;
    let plan = rt.block_on(async {
        let clients = aws::connect(options, region_of(&topology).as_deref()).await;
        ferry_provision::plan_topology(&clients, &topology.spec).await
    })?;
    print_plan(&plan.0, json);
    Ok(if plan.0.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CHANGES)
    })
}

/// Asks on the terminal; anything but `yes` is no.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "{question}: stdin is not a terminal; pass --auto-approve to go ahead without asking"
        ));
    }
    eprint!("{question} Only 'yes' will be accepted: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

fn progress(event: Event) {
    match event {
        Event::Started(step) => {
            eprintln!("{}...", apply::step_line(step));
        }
        Event::Done(step, took) => {
            eprintln!(
                "{}: done ({:.1} s)",
                apply::step_line(step),
                took.as_secs_f64()
            );
        }
        Event::Failed(step, e) => {
            eprintln!("{}: failed: {e}", apply::step_line(step));
        }
    }
}

fn finish(report: Report, what: &str) -> Result<ExitCode> {
    match report.failed {
        None => {
            eprintln!("{what} complete: {} step(s) done.", report.done.len());
            Ok(ExitCode::SUCCESS)
        }
        Some((step, e)) => {
            eprintln!("\n{what} stopped at: {step}\n  {e}");
            eprintln!("Done ({}):", report.done.len());
            for s in &report.done {
                eprintln!("  {s}");
            }
            eprintln!("Not done ({}):", report.not_done.len() + 1);
            eprintln!("  {step}");
            for s in &report.not_done {
                eprintln!("  {s}");
            }
            eprintln!("Run `ferry plan` to see what remains.");
            Ok(ExitCode::from(1))
        }
    }
}

fn waits() -> Waits {
    // Tests against a local endpoint set a short poll (FERRY_PROVISION_POLL_MS) and a short
    // deadline for a disabled distribution to deploy (FERRY_PROVISION_WAIT_MS); CloudFront itself
    // takes minutes. A value that is not a number of milliseconds leaves the default.
    let millis = |name: &str| -> Option<Duration> {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    let default = Waits::default();
    Waits {
        poll: millis("FERRY_PROVISION_POLL_MS").unwrap_or(default.poll),
        distribution_deployed: millis("FERRY_PROVISION_WAIT_MS")
            .unwrap_or(default.distribution_deployed),
    }
}

pub fn apply(file: &Path, options: &AwsOptions, auto_approve: bool) -> Result<ExitCode> {
    let topology = load(file)?;
    let rt = runtime()?;
    rt.block_on(async {
        let clients = aws::connect(options, region_of(&topology).as_deref()).await;
        let (plan, live) = ferry_provision::plan_topology(&clients, &topology.spec).await?;
        print_plan(&plan, false);
        if plan.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if !auto_approve && !confirm("Apply this plan?")? {
            eprintln!("Apply cancelled.");
            return Ok(ExitCode::from(1));
        }
        let report = apply::apply(
            &clients,
            &plan,
            &live,
            Some(&topology.spec),
            waits(),
            &mut progress,
        )
        .await;
        finish(report, "Apply")
    })
}

pub fn destroy(file: &Path, options: &AwsOptions, auto_approve: bool) -> Result<ExitCode> {
    let topology = load(file)?;
    let rt = runtime()?;
    rt.block_on(async {
        let clients = aws::connect(options, region_of(&topology).as_deref()).await;
        let (plan, live) = ferry_provision::plan_destroy(&clients, &topology.spec.stack).await?;
        print_plan(&plan, false);
        if plan.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        if !auto_approve && !confirm("Destroy everything in this stack?")? {
            eprintln!("Destroy cancelled.");
            return Ok(ExitCode::from(1));
        }
        let report = apply::apply(&clients, &plan, &live, None, waits(), &mut progress).await;
        finish(report, "Destroy")
    })
}

pub fn import(stack: &str, options: &AwsOptions) -> Result<ExitCode> {
    let rt = runtime()?;
    let text = rt.block_on(async {
        let clients = aws::connect(options, None).await;
        let live = ferry_provision::live::read(&clients, stack, None).await?;
        let refused = import::unimportable(&live);
        if !refused.is_empty() {
            return Err(anyhow!(
                "stack {stack:?} has what no topology describes:\n  {}",
                refused.join("\n  ")
            ));
        }
        let spec = import::to_spec(stack, &clients.region, &live);
        import::to_toml(&spec).map_err(|e| anyhow!("writing the topology: {e}"))
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
