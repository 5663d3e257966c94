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


STANDARDS: Mapping[str, str] = {
    "security_hub": "AWS Foundational Security Best Practices",
    "cis": "CIS AWS Foundations Benchmark",
    "aws_config": "AWS Config Managed Rules",
    "prowler": "Prowler",
}
"""Framework key -> the standard's name in exported findings (ASFF requirements, OCSF)."""


def compliance_controls(mappings: Mapping[str, str]) -> dict[str, list[str]]:
    """A finding's `mappings` as {standard: [control ids]}.

    CIS values name their benchmark versions (`v1.4 5.2; v3.0 5.2, 5.3`): each version becomes its
    own standard (`CIS AWS Foundations Benchmark v3.0: [5.2, 5.3]`). Unknown mapping keys are kept
    under their own name.
    """
    controls: dict[str, list[str]] = {}
    for key, value in mappings.items():
        standard = STANDARDS.get(key, key)
        for part in str(value or "").split(";"):
            part = part.strip()
            if not part:
                continue
            version, _, rest = part.partition(" ")
            if key == "cis" and version.startswith("v") and rest.strip():
                name, ids = f"{standard} {version}", rest
            else:
                name, ids = standard, part
            controls.setdefault(name, []).extend(i.strip() for i in ids.split(",") if i.strip())
    return controls


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
