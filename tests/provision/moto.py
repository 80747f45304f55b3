"""Helpers the provision tests run against the moto server with boto3.

usage: moto.py ENDPOINT network                 -> prints "VPC SUBNET_A SUBNET_B"
       moto.py ENDPOINT bystanders VPC SA SB    -> creates untagged resources, prints their ids
       moto.py ENDPOINT exists KIND NAME_OR_ID  -> prints "yes" or "no"
       moto.py ENDPOINT lb-dns NAME            -> prints the load balancer's DNS name
       moto.py ENDPOINT origin-domains         -> prints every distribution origin's domain
       moto.py ENDPOINT count-owned STACK       -> prints how many ELBv2 resources carry ferry:stack=STACK
"""
import sys
import boto3

endpoint, command, *args = sys.argv[1:]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
elb = boto3.client("elbv2", **kw)
cf = boto3.client("cloudfront", **kw)

if command == "network":
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    print(vpc, a, b)
elif command == "bystanders":
    vpc, sa, sb = args
    tg = elb.create_target_group(Name="bystander-tg", Protocol="HTTP", Port=80, VpcId=vpc,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    lb = elb.create_load_balancer(Name="bystander-lb", Subnets=[sa, sb], Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    # Same name as the stack's, but tagged for another stack: still not ours.
    elb.create_target_group(Name="other-stack-tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                            Tags=[{"Key": "ferry:stack", "Value": "someone-else"}])
    d = cf.create_distribution(DistributionConfig={
        "CallerReference": "bystander", "Comment": "not ferry's", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "example.com",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
    })
    print(d["Distribution"]["Id"])
elif command == "exists":
    kind, name = args
    if kind == "target-group":
        names = [t["TargetGroupName"] for t in elb.describe_target_groups()["TargetGroups"]]
    elif kind == "load-balancer":
        names = [l["LoadBalancerName"] for l in elb.describe_load_balancers()["LoadBalancers"]]
    elif kind == "distribution":
        items = cf.list_distributions()["DistributionList"].get("Items", [])
        names = [d["Id"] for d in items]
    else:
        raise SystemExit("unknown kind " + kind)
    print("yes" if name in names else "no")
elif command == "lb-dns":
    (name,) = args
    print(elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]["DNSName"])
elif command == "origin-domains":
    items = cf.list_distributions()["DistributionList"].get("Items", [])
    print(" ".join(sorted(o["DomainName"] for d in items for o in d["Origins"]["Items"])))
elif command == "count-owned":
    (stack,) = args
    arns = [t["TargetGroupArn"] for t in elb.describe_target_groups()["TargetGroups"]]
    arns += [l["LoadBalancerArn"] for l in elb.describe_load_balancers()["LoadBalancers"]]
    n = 0
    for i in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            if any(t["Key"] == "ferry:stack" and t["Value"] == stack for t in d["Tags"]):
                n += 1
    print(n)
else:
    raise SystemExit("unknown command " + command)
