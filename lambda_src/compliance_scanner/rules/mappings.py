"""The compliance frameworks a rule can map to, and where each mapping can be checked.

Mappings name controls that exist in the published catalogues; a rule without a matching control
simply has no entry for that framework (a near miss would send a triager to the wrong control).
They were checked against Prowler's compliance files (`prowler/compliance/aws/*.json`) and check
sources, the AWS Config managed rule list, and the Security Hub control reference.
"""

from __future__ import annotations

from collections.abc import Mapping

FRAMEWORKS: Mapping[str, str] = {
    "security_hub": "AWS Foundational Security Best Practices (Security Hub control)",
    "cis": "CIS AWS Foundations Benchmark (version and recommendation)",
    "aws_config": "AWS Config managed rule",
    "prowler": "Prowler check",
}
"""Framework key -> what the id names, in the order reports list them."""


def reference_url(framework: str, control: str) -> str:
    """Where a mapping's control is published."""
    if framework == "security_hub":
        service, _, number = control.partition(".")
        return (
            f"https://docs.aws.amazon.com/securityhub/latest/userguide/{service.lower()}-controls.html"
            f"#{service.lower()}-{number}"
        )
    if framework == "aws_config":
        return f"https://docs.aws.amazon.com/config/latest/developerguide/{control}.html"
    if framework == "prowler":
        return f"https://hub.prowler.com/check/{control}"
    return "https://www.cisecurity.org/benchmark/amazon_web_services"
