"""Helpers the provision tests run against the moto server with boto3.

usage: moto.py ENDPOINT network                 -> prints "VPC SUBNET_A SUBNET_B"
       moto.py ENDPOINT bystanders VPC SA SB    -> creates untagged resources, prints their ids
       moto.py ENDPOINT exists KIND NAME_OR_ID  -> prints "yes" or "no"
       moto.py ENDPOINT subnet VPC CIDR AZ     -> prints the new subnet's id
       moto.py ENDPOINT import-cert NAME...    -> imports a self-signed certificate for NAMEs, prints its ARN
       moto.py ENDPOINT request-cert NAME      -> requests one (pending validation), prints its ARN
       moto.py ENDPOINT tg NAME VPC            -> creates an untagged target group, prints its ARN
       moto.py ENDPOINT delete-tg NAME         -> deletes it
       moto.py ENDPOINT tg-health NAME         -> prints the group's "ProtocolVersion Matcher HealthCheckPath"
       moto.py ENDPOINT lb-dns NAME            -> prints the load balancer's DNS name
       moto.py ENDPOINT origin-domains         -> prints every distribution origin's domain
       moto.py ENDPOINT count-owned STACK       -> prints how many ELBv2 resources carry ferry:stack=STACK
       moto.py ENDPOINT half-replace STACK NAME PORT LB PORT
                                                -> what a replacement of the group NAME to PORT leaves
                                                   when it fails half-way: NAME-r created beside it,
                                                   the listener LB:PORT's default forward moved to it
       moto.py ENDPOINT target-zones NAME      -> prints the group's targets as ID=ZONE, sorted (the zone
                                                   DescribeTargetHealth answers, "-" for none)
       moto.py ENDPOINT add-auth LB PORT PRIORITY  -> puts an authenticate-oidc action before the
                                                   actions of that rule (as the console would)
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
elif command == "subnet":
    vpc, cidr, az = args
    print(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"])
elif command == "import-cert":
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, args[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in args]), critical=False)
            .sign(key, hashes.SHA256()))
    acm = boto3.client("acm", **kw)
    print(acm.import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))["CertificateArn"])
elif command == "request-cert":
    (name,) = args
    print(boto3.client("acm", **kw).request_certificate(DomainName=name)["CertificateArn"])
elif command == "tg":
    name, vpc = args
    print(elb.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=vpc,
                                  TargetType="instance")["TargetGroups"][0]["TargetGroupArn"])
elif command == "tg-health":
    (name,) = args
    tg = elb.describe_target_groups(Names=[name])["TargetGroups"][0]
    print(tg.get("ProtocolVersion"), tg.get("Matcher"), tg.get("HealthCheckPath"))
elif command == "delete-tg":
    (name,) = args
    arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    elb.delete_target_group(TargetGroupArn=arn)
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
elif command == "half-replace":
    stack, name, port, lb, listener_port = args
    old = elb.describe_target_groups(Names=[name])["TargetGroups"][0]
    new = elb.create_target_group(
        Name=name + "-r", Protocol=old["Protocol"], Port=int(port), VpcId=old["VpcId"],
        TargetType=old["TargetType"],
        Tags=[{"Key": "ferry:stack", "Value": stack}, {"Key": "ferry:name", "Value": name}],
    )["TargetGroups"][0]["TargetGroupArn"]
    lb_arn = elb.describe_load_balancers(Names=[lb])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = next(l for l in elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
                    if l["Port"] == int(listener_port))
    elb.modify_listener(ListenerArn=listener["ListenerArn"],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": new}])
elif command == "target-zones":
    (name,) = args
    arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    health = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    print(" ".join(sorted(f'{d["Target"]["Id"]}={d["Target"].get("AvailabilityZone", "-")}' for d in health)))
elif command == "add-auth":
    lb, listener_port, priority = args
    lb_arn = elb.describe_load_balancers(Names=[lb])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = next(l for l in elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
                    if l["Port"] == int(listener_port))
    rule = next(r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
                if r["Priority"] == priority)
    auth = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
        "Issuer": "https://idp.example.test", "AuthorizationEndpoint": "https://idp.example.test/auth",
        "TokenEndpoint": "https://idp.example.test/token", "UserInfoEndpoint": "https://idp.example.test/user",
        "ClientId": "ferry", "ClientSecret": "secret"}}
    rest = [dict(a, Order=i + 2) for i, a in enumerate(rule["Actions"])]
    elb.modify_rule(RuleArn=rule["RuleArn"], Actions=[auth] + rest)
    print(" ".join(a["Type"] for a in elb.describe_rules(RuleArns=[rule["RuleArn"]])["Rules"][0]["Actions"]))
else:
    raise SystemExit("unknown command " + command)
