"""ELBv2 through boto3 against a running ferry: target groups, target health, registration and
the read-only view of load balancers, listeners and rules. Each subcommand prints lines that
tests/aws_api.rs checks."""

from common import client, error_line, run

elb = client("elbv2")


def group_arn(name):
    groups = elb.describe_target_groups(Names=[name])["TargetGroups"]
    assert len(groups) == 1 and groups[0]["TargetGroupName"] == name, groups
    return groups[0]["TargetGroupArn"]


def target_groups():
    for g in elb.describe_target_groups()["TargetGroups"]:
        assert g["TargetGroupArn"] == group_arn(g["TargetGroupName"])
        lbs = ",".join(g.get("LoadBalancerArns", []))
        print(
            f"group {g['TargetGroupName']} {g['TargetGroupArn']} {g['Protocol']} {g['Port']} "
            f"checks={g['HealthCheckEnabled']} lbs={lbs}"
        )


def health(name):
    for t in elb.describe_target_health(TargetGroupArn=group_arn(name))["TargetHealthDescriptions"]:
        target, th = t["Target"], t["TargetHealth"]
        print(f"target {target['Id']}:{target['Port']} {th['State']} {th.get('Reason', '-')}")


def deregister(name, *ports):
    targets = [{"Id": "127.0.0.1", "Port": int(p)} for p in ports]
    r = elb.deregister_targets(TargetGroupArn=group_arn(name), Targets=targets)
    print(f"deregistered {r['ResponseMetadata']['HTTPStatusCode']}")


def register(name, *targets):
    parsed = []
    for t in targets:
        port, zone = t.split("@")
        parsed.append({"Id": "127.0.0.1", "Port": int(port), "AvailabilityZone": zone})
    r = elb.register_targets(TargetGroupArn=group_arn(name), Targets=parsed)
    print(f"registered {r['ResponseMetadata']['HTTPStatusCode']}")


def describe_action(a):
    if a["Type"] == "forward":
        groups = a["ForwardConfig"]["TargetGroups"]
        return "forward " + ",".join(g["TargetGroupArn"].split("/")[1] for g in groups)
    if a["Type"] == "redirect":
        c = a["RedirectConfig"]
        return f"redirect {c['StatusCode']} {c['Host']}"
    c = a["FixedResponseConfig"]
    return f"fixed-response {c['StatusCode']} {c.get('MessageBody', '')}"


def describe_condition(c):
    field = c["Field"]
    config = {
        "host-header": "HostHeaderConfig",
        "path-pattern": "PathPatternConfig",
        "http-header": "HttpHeaderConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "source-ip": "SourceIpConfig",
        "query-string": "QueryStringConfig",
    }[field]
    values = c[config]["Values"]
    if field == "query-string":
        values = [f"{v.get('Key', '')}={v['Value']}" for v in values]
    if field == "http-header":
        field = f"http-header:{c[config]['HttpHeaderName']}"
    return f"{field}={','.join(values)}"


def rules(lb_name, port):
    lbs = elb.describe_load_balancers(Names=[lb_name])["LoadBalancers"]
    assert len(lbs) == 1 and lbs[0]["State"]["Code"] == "active", lbs
    print(f"load-balancer {lbs[0]['LoadBalancerName']} {lbs[0]['DNSName']} {lbs[0]['Type']}")
    listeners = elb.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"]
    listener = next(l for l in listeners if l["Port"] == int(port))
    print(f"listener {listener['Port']} {listener['Protocol']} default={describe_action(listener['DefaultActions'][0])}")
    found = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    for r in found:
        conditions = " ".join(describe_condition(c) for c in r["Conditions"])
        print(f"rule {r['Priority']} default={r['IsDefault']} [{conditions}] -> {describe_action(r['Actions'][0])}")
    # The same rules again, by their ARNs.
    again = elb.describe_rules(RuleArns=[r["RuleArn"] for r in found])["Rules"]
    assert [r["RuleArn"] for r in again] == [r["RuleArn"] for r in found], (again, found)


def bad_input(name):
    arn = group_arn(name)
    error_line("health-unknown-group", elb.describe_target_health, TargetGroupArn=arn.replace(f"/{name}/", "/nope/"))
    error_line("describe-unknown-group", elb.describe_target_groups, Names=["nope"])
    error_line(
        "register-unknown-group",
        elb.register_targets,
        TargetGroupArn=arn + "0",
        Targets=[{"Id": "127.0.0.1", "Port": 1}],
    )
    # One bad target refuses the whole call: the good one is not registered either.
    error_line(
        "register-bad-target",
        elb.register_targets,
        TargetGroupArn=arn,
        Targets=[{"Id": "127.0.0.1", "Port": 9}, {"Id": "not-an-ip", "Port": 10}],
    )
    error_line(
        "deregister-unregistered",
        elb.deregister_targets,
        TargetGroupArn=arn,
        Targets=[{"Id": "127.0.0.1", "Port": 9}],
    )
    error_line("rules-unknown-listener", elb.describe_rules, ListenerArn=arn.replace(":targetgroup/", ":listener/app/"))
    error_line("rules-unknown-rule", elb.describe_rules, RuleArns=[arn.replace(":targetgroup/", ":listener-rule/app/")])
    error_line("unknown-load-balancer", elb.describe_load_balancers, Names=["nope"])


def token_check():
    try:
        n = len(elb.describe_target_groups()["TargetGroups"])
        print(f"ok {n}")
    except Exception:  # noqa: BLE001 - the error line is what the test checks
        error_line("describe-target-groups", elb.describe_target_groups)


run(
    {
        "target-groups": target_groups,
        "health": health,
        "deregister": deregister,
        "register": register,
        "rules": rules,
        "bad-input": bad_input,
        "token-check": token_check,
    }
)
