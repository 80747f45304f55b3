//! `ferry targets`: a running balancer's target health, registration and deregistration, through
//! its admin listener's ELBv2 API (DescribeTargetHealth, RegisterTargets, DeregisterTargets).

use crate::admin_client::{call, elements};
use anyhow::{bail, Result};

/// `IP[:PORT][@ZONE]` as the CLI takes a target.
fn target_params(targets: &[String]) -> Result<String> {
    let mut params = String::new();
    for (i, spec) in targets.iter().enumerate() {
        let n = i + 1;
        let (address, zone) = spec
            .split_once('@')
            .map_or((spec.as_str(), None), |(a, z)| (a, Some(z)));
        let (ip, port) = match address.rsplit_once(':') {
            Some((ip, port)) if port.parse::<u16>().is_ok() && !ip.is_empty() => (ip, Some(port)),
            _ => (address, None),
        };
        if ip
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_err()
        {
            bail!("`{spec}` is not a target: give IP[:PORT][@ZONE], like 127.0.0.1:9003@a");
        }
        params.push_str(&format!(
            "&Targets.member.{n}.Id={}",
            ip.trim_matches(['[', ']'])
        ));
        if let Some(port) = port {
            params.push_str(&format!("&Targets.member.{n}.Port={port}"));
        }
        if let Some(zone) = zone {
            params.push_str(&format!("&Targets.member.{n}.AvailabilityZone={zone}"));
        }
    }
    Ok(params)
}

fn send(admin: &str, token: Option<&str>, form: &str) -> Result<String> {
    let (status, answer) = call(
        admin,
        "POST",
        "/",
        "application/x-www-form-urlencoded",
        form,
        token,
    )?;
    if status != 200 {
        let why = elements(&answer, "Message")
            .first()
            .copied()
            .unwrap_or(answer.as_str())
            .to_string();
        bail!("the balancer refused ({status}): {why}");
    }
    Ok(answer)
}

/// Prints one line per target: address, zone, state, reason.
pub fn health(admin: &str, token: Option<&str>, group: &str) -> Result<()> {
    let answer = send(
        admin,
        token,
        &format!("Action=DescribeTargetHealth&TargetGroupArn={group}"),
    )?;
    for member in elements(&answer, "member") {
        let field = |tag| elements(member, tag).first().copied().unwrap_or("-");
        println!(
            "{}:{}\t{}\t{}\t{}",
            field("Id"),
            field("Port"),
            field("AvailabilityZone"),
            field("State"),
            elements(member, "Description")
                .first()
                .copied()
                .unwrap_or("")
        );
    }
    Ok(())
}

pub fn register(
    admin: &str,
    token: Option<&str>,
    group: &str,
    targets: &[String],
    deregister: bool,
) -> Result<()> {
    let action = if deregister {
        "DeregisterTargets"
    } else {
        "RegisterTargets"
    };
    send(
        admin,
        token,
        &format!(
            "Action={action}&TargetGroupArn={group}{}",
            target_params(targets)?
        ),
    )?;
    println!("{action}: {} target(s) in {group}", targets.len());
    Ok(())
}
