"""moto's server with a refusal of AWS's that moto lacks and that ferry's apply must order its
steps around: CloudFront's CNAMEAlreadyExists, for an alias that another distribution holds
(enabled or not). Run as moto_server is: moto_strict.py -H HOST -p PORT."""

import os
import sys

# This directory's moto.py (the tests' helpers) is not the moto package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend
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

if __name__ == "__main__":
    sys.exit(main())
