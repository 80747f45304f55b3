"""CloudFront through boto3 against a running ferry: invalidations and the read-only view of the
distributions. Each subcommand prints lines that tests/aws_api.rs checks."""

import time
import uuid

from common import client, error_line, run

cf = client("cloudfront")


def create_invalidation(distribution, *paths):
    r = cf.create_invalidation(
        DistributionId=distribution,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": f"aws-api-{uuid.uuid4()}",
        },
    )
    inv = r["Invalidation"]
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201, r
    assert r["Location"].endswith(f"/distribution/{distribution}/invalidation/{inv['Id']}"), r
    assert inv["InvalidationBatch"]["Paths"]["Items"] == list(paths), inv
    print(f"id {inv['Id']}")
    print(f"status {inv['Status']}")


def wait_completed(distribution, invalidation):
    cf.get_waiter("invalidation_completed").wait(
        DistributionId=distribution, Id=invalidation, WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    inv = cf.get_invalidation(DistributionId=distribution, Id=invalidation)["Invalidation"]
    assert inv["Id"] == invalidation, inv
    print(f"status {inv['Status']}")
    print(f"paths {','.join(inv['InvalidationBatch']['Paths']['Items'])}")


def list_invalidations(distribution):
    # One per page, so that the paginator follows NextMarker.
    pages = cf.get_paginator("list_invalidations").paginate(
        DistributionId=distribution, PaginationConfig={"PageSize": 1}
    )
    for page in pages:
        for summary in page["InvalidationList"].get("Items", []):
            assert isinstance(summary["CreateTime"].year, int), summary
            print(f"id {summary['Id']} {summary['Status']}")


def get_distribution(distribution):
    r = cf.get_distribution(Id=distribution)
    d = r["Distribution"]
    config = d["DistributionConfig"]
    assert r["ETag"].startswith("E"), r
    assert cf.get_distribution_config(Id=distribution)["ETag"] == r["ETag"]
    assert d["LastModifiedTime"].year >= 2020, d
    print(f"etag {r['ETag']}")
    print(f"id {d['Id']}")
    print(f"arn {d['ARN']}")
    print(f"status {d['Status']}")
    print(f"domain {d['DomainName']}")
    print(f"enabled {config['Enabled']}")
    print(f"comment {config['Comment']}")
    print(f"http_version {config['HttpVersion']}")
    for alias in config["Aliases"].get("Items", []):
        print(f"alias {alias}")
    for o in config["Origins"]["Items"]:
        custom = o["CustomOriginConfig"]
        headers = ",".join(
            f"{h['HeaderName']}={h['HeaderValue']}" for h in o["CustomHeaders"].get("Items", [])
        )
        print(
            f"origin {o['Id']} {o['DomainName']} {custom['HTTPPort']} {custom['OriginProtocolPolicy']} headers={headers}"
        )
    default = config["DefaultCacheBehavior"]
    print(
        f"default {default['TargetOriginId']} {default['ViewerProtocolPolicy']} {default['CachePolicyId']} "
        f"{','.join(default['AllowedMethods']['Items'])}"
    )
    for b in config["CacheBehaviors"].get("Items", []):
        print(
            f"behavior {b['PathPattern']} {b['TargetOriginId']} {b['ViewerProtocolPolicy']} {b['CachePolicyId']} "
            f"{','.join(b['AllowedMethods']['Items'])}"
        )


def list_distributions():
    pages = cf.get_paginator("list_distributions").paginate(PaginationConfig={"PageSize": 1})
    for page in pages:
        for d in page["DistributionList"].get("Items", []):
            aliases = ",".join(d["Aliases"].get("Items", []))
            print(f"distribution {d['Id']} {d['DomainName']} {aliases}")


def bad_input(distribution):
    def batch(paths, reference=None):
        return {
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": reference or f"aws-api-{uuid.uuid4()}",
        }

    create = cf.create_invalidation
    error_line("no-slash", create, DistributionId=distribution, InvalidationBatch=batch(["/bad/a", "bad/b"]))
    error_line("star-inside", create, DistributionId=distribution, InvalidationBatch=batch(["/bad/a", "/b*d"]))
    many = ["/bad/a"] + [f"/bad/p{i}" for i in range(3000)]
    error_line("3001-paths", create, DistributionId=distribution, InvalidationBatch=batch(many))
    wild = ["/bad/*"] + [f"/bad/w{i}/*" for i in range(15)]
    error_line("16-wildcards", create, DistributionId=distribution, InvalidationBatch=batch(wild))
    error_line("unknown-distribution", create, DistributionId="ENOSUCHDIST", InvalidationBatch=batch(["/bad/a"]))
    error_line("get-unknown-distribution", cf.get_distribution, Id="ENOSUCHDIST")
    error_line("get-unknown-invalidation", cf.get_invalidation, DistributionId=distribution, Id="INOSUCHINVALID")
    reference = f"aws-api-{uuid.uuid4()}"
    create(DistributionId=distribution, InvalidationBatch=batch(["/bad/other"], reference))
    error_line(
        "reused-reference", create, DistributionId=distribution, InvalidationBatch=batch(["/bad/a"], reference)
    )


def token_check():
    try:
        n = cf.list_distributions()["DistributionList"]["Quantity"]
        print(f"ok {n}")
    except Exception:  # noqa: BLE001 - the error line is what the test checks
        error_line("list-distributions", cf.list_distributions)


run(
    {
        "create-invalidation": create_invalidation,
        "wait-completed": wait_completed,
        "list-invalidations": list_invalidations,
        "get-distribution": get_distribution,
        "list-distributions": list_distributions,
        "bad-input": bad_input,
        "token-check": token_check,
    }
)
