"""An embedded demo: a realistic, mixed EC2 fleet seeded into moto, so `ec2c scan --demo` runs the
analyzer's main job on any machine with no AWS account and no network.

`demo_session()` starts `moto.mock_aws`, isolates the process from the caller's AWS settings for
its duration (dummy keys, no profile, no custom endpoint; everything restored on exit), seeds the
fleet and yields the session and a `DemoFleet` describing what was seeded. `seed_demo_fleet()`
can also be called on its own inside an active `mock_aws()` (the tests do).

Every rule of the scanner has at least one resource that breaks it, most instances breaking only
one rule on top of an otherwise compliant baseline, so a scan's findings can be checked instance
by instance against `DemoFleet.instances[*].expected`.

- `specs`: the fleet as data (typed instance specs per region);
- `seeding`: what turns the specs into moto state, and the moto-internal tweaks it needs;
- `hooks`: the answers to the reads moto does not implement (Systems Manager's inventory and
  four account settings reads);
- `session`: the moto session with the caller's environment isolated; `policy`: the demo policy.
"""

from .hooks import EMULATED_BY_DEMO
from .policy import demo_policy
from .seeding import (
    ACCOUNT_RULES,
    TEMPLATE_RULES,
    DemoFleet,
    SeededInstance,
    SeededResource,
    seed_demo_fleet,
)
from .session import demo_session, isolated_aws_env
from .specs import (
    BASTION_TAG,
    DEMO_ACCOUNT_ID,
    DEMO_REGIONS,
    DEPRECATED_DAYS_AGO,
    FLEET,
    LEGACY_TAG,
    LOST_AGENT_DAYS,
    OLD_LAUNCH_DAYS,
    STOPPED_DAYS,
    Deviation,
    InstanceSpec,
    SsmAgent,
    instance_specs,
)

__all__ = [
    "ACCOUNT_RULES",
    "BASTION_TAG",
    "DEMO_ACCOUNT_ID",
    "DEMO_REGIONS",
    "DEPRECATED_DAYS_AGO",
    "EMULATED_BY_DEMO",
    "FLEET",
    "LEGACY_TAG",
    "LOST_AGENT_DAYS",
    "OLD_LAUNCH_DAYS",
    "STOPPED_DAYS",
    "TEMPLATE_RULES",
    "DemoFleet",
    "Deviation",
    "InstanceSpec",
    "SeededInstance",
    "SeededResource",
    "SsmAgent",
    "demo_policy",
    "demo_session",
    "instance_specs",
    "isolated_aws_env",
    "seed_demo_fleet",
]
