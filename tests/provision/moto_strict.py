"""moto's server with refusals of AWS's that moto lacks and that ferry's apply must meet:
- CloudFront's CNAMEAlreadyExists, for an alias that another distribution holds (enabled or not),
  which apply must order its steps around;
- RegisterTargets of an `ip` target group: an address in none of the VPC's subnets needs the
  Availability Zone "all", and one inside a subnet must not have it. The zone is kept and answered
  by DescribeTargetHealth, as AWS does ("all", or the zone it found).
Run as moto_server is: moto_strict.py -H HOST -p PORT."""

import os
import sys

# This directory's moto.py (the tests' helpers) is not the moto package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from ipaddress import ip_address, ip_network

from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend
from moto.elbv2.exceptions import ValidationError
from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup
from moto.server import main


class CNAMEAlreadyExists(CloudFrontException):
    def __init__(self, alias):
        super().__init__(
            "CNAMEAlreadyExists",
            f"One or more of the CNAMEs you provided are already associated with a different resource: {alias}",
        )


def aliases(config):
    """The aliases of a distribution config, as moto's parser left them (a list, or a dict of CNAME)."""
    if not isinstance(config, dict):
        config = getattr(config, "__dict__", {})
    items = (config.get("Aliases") or {}).get("Items") or []
    if isinstance(items, dict):
        items = items.get("CNAME") or []
    if isinstance(items, str):
        items = [items]
    return {a.lower() for a in items}


def refuse_held(backend, config, own_id):
    wanted = aliases(config)
    for dist_id, dist in backend.distributions.items():
        if dist_id != own_id:
            held = wanted & aliases(dist.distribution_config)
            if held:
                raise CNAMEAlreadyExists(", ".join(sorted(held)))


create = CloudFrontBackend.create_distribution_with_tags
update = CloudFrontBackend.update_distribution


def create_distribution_with_tags(self, distribution_config, tags):
    refuse_held(self, distribution_config, None)
    return create(self, distribution_config, tags)


def update_distribution(self, dist_config, _id, if_match):
    refuse_held(self, dist_config, _id)
    return update(self, dist_config, _id, if_match)


CloudFrontBackend.create_distribution_with_tags = create_distribution_with_tags
CloudFrontBackend.update_distribution = update_distribution

def subnet_zone(target_group, address):
    """The zone of the VPC's subnet that holds `address`, or None."""
    try:
        ip = ip_address(address)
    except ValueError:
        return None
    for subnet in target_group.ec2_backend.describe_subnets(filters={"vpc-id": [target_group.vpc_id]}):
        if ip in ip_network(subnet.cidr_block):
            return subnet.availability_zone
    return None


register_targets = FakeTargetGroup.register
health_for = FakeTargetGroup.health_for


def register(self, targets):
    zones = {}
    if self.target_type == "ip":
        for target in targets:
            address, given = target["Id"], target.get("AvailabilityZone")
            found = subnet_zone(self, address)
            if found is None and given != "all":
                raise ValidationError(
                    f"The Availability Zone is required for IP address '{address}' because it is not in the VPC"
                )
            if found is not None and given == "all":
                raise ValidationError(
                    f"The IP address '{address}' is within the VPC, and cannot have its Availability Zone overridden to 'all' from '{found}'"
                )
            zones[address] = given or found
    register_targets(self, targets)
    for address, zone in zones.items():
        self.targets[address]["AvailabilityZone"] = zone


def target_health_for(self, target, ec2_backend):
    status = health_for(self, target, ec2_backend)
    status.availability_zone = (self.targets.get(target["Id"]) or {}).get("AvailabilityZone")
    return status


def health_target(self):
    described = {"Id": self.instance_id, "Port": self.port}
    if getattr(self, "availability_zone", None):
        described["AvailabilityZone"] = self.availability_zone
    return described


FakeTargetGroup.register = register
FakeTargetGroup.health_for = target_health_for
FakeHealthStatus.target = property(health_target)

if __name__ == "__main__":
    sys.exit(main())
