"""Instance metadata service (IMDS) hardening rules."""

from __future__ import annotations

from ..model import InstanceRecord, RuleResult, failed, passed, skipped
from ..registry import Severity
from .base import INTEGER, Param, Params, Rule


def _imds_disabled(instance: InstanceRecord) -> bool:
    options = instance.metadata_options
    return options is not None and options.http_endpoint == "disabled"


def _imdsv2(instance: InstanceRecord, params: Params) -> RuleResult:
    if _imds_disabled(instance):
        return passed("the metadata service is disabled")
    tokens = instance.metadata_options.http_tokens if instance.metadata_options else None
    if tokens == "required":
        return passed("IMDSv2 session tokens are required")
    return failed(f"IMDSv1 is allowed (HttpTokens={tokens or 'not reported'})")


def _hop_limit(instance: InstanceRecord, params: Params) -> RuleResult:
    if _imds_disabled(instance):
        return passed("the metadata service is disabled")
    limit = instance.metadata_options.hop_limit if instance.metadata_options else None
    if limit is None:
        return skipped("the metadata hop limit is not reported")
    if limit > params["max_hop_limit"]:
        return failed(f"metadata hop limit {limit} exceeds {params['max_hop_limit']}")
    return passed(f"metadata hop limit is {limit}")


RULES: tuple[Rule, ...] = (
    Rule(
        id="imdsv2_required",
        title="Instance requires IMDSv2",
        severity=Severity.HIGH,
        rationale="IMDSv1 answers unauthenticated GETs, so an SSRF bug leaks role credentials.",
        remediation="Set HttpTokens=required with ModifyInstanceMetadataOptions.",
        remediation_cli="aws ec2 modify-instance-metadata-options --region {region} --instance-id {resource_id} --http-tokens required --http-endpoint enabled",
        remediation_pulumi='aws.ec2.Instance("app", ..., metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required"))',
        check=_imdsv2,
        mapping={
            "aws_config": "ec2-imdsv2-check",
            "security_hub": "EC2.8",
            "cis": "v3.0 5.6; v4.0.1 5.7",
            "prowler": "ec2_instance_imdsv2_enabled",
        },
    ),
    Rule(
        id="imds_hop_limit",
        title="Metadata response hop limit is low",
        severity=Severity.MEDIUM,
        rationale="A hop limit above 1 lets containers and forwarded traffic reach the metadata "
        "service and the instance role.",
        remediation="Set HttpPutResponseHopLimit to 1 (2 only for containers that need it).",
        remediation_cli="aws ec2 modify-instance-metadata-options --region {region} --instance-id {resource_id} --http-put-response-hop-limit 1",
        remediation_pulumi='aws.ec2.Instance("app", ..., metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_put_response_hop_limit=1))',
        check=_hop_limit,
        mapping={
            "aws_config": "ec2-token-hop-limit-check",
        },
        parameters=(Param("max_hop_limit", INTEGER, 1, minimum=1, maximum=64),),
    ),
)
