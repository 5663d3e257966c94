"""Answers for the reads moto does not implement, so every rule has results in the demo.

They go through botocore's before-call hook (the mechanism botocore's own Stubber uses),
registered on the demo's session only: clients made from it get the answers, every other call
still goes to moto, and nothing outside the demo session is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from .specs import LOST_AGENT_DAYS, SsmAgent

Hook = Callable[..., Any]

_UNEMULATED_EC2: Mapping[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # operation: (answer of a new account, answer of a hardened one)
    "GetInstanceMetadataDefaults": ({"AccountLevel": {}}, {"AccountLevel": {"HttpTokens": "required"}}),
    "GetSnapshotBlockPublicAccessState": ({"State": "unblocked"}, {"State": "block-all-sharing"}),
    "GetImageBlockPublicAccessState": (
        {"ImageBlockPublicAccessState": "unblocked"},
        {"ImageBlockPublicAccessState": "block-new-sharing"},
    ),
    "GetSerialConsoleAccessStatus": ({"SerialConsoleAccessEnabled": True}, {"SerialConsoleAccessEnabled": False}),
}
"""Four account reads, answered the way a new account (with the serial console switched on) or a
hardened one would answer them."""

EMULATED_BY_DEMO: Mapping[str, str] = {
    "ssm_managed": "ssm:DescribeInstanceInformation",
    "imds_defaults_v2": "ec2:GetInstanceMetadataDefaults",
    "snapshot_block_public_access": "ec2:GetSnapshotBlockPublicAccessState",
    "image_block_public_access": "ec2:GetImageBlockPublicAccessState",
    "serial_console_access_disabled": "ec2:GetSerialConsoleAccessStatus",
}
"""Rule id -> the read the demo answers for it (moto alone cannot serve these rules)."""

SSM_MAX_RESULTS = 50
"""DescribeInstanceInformation's largest (and default) page."""

_SSM_FILTER_KEYS = ("InstanceIds", "PingStatus")
_PARAMS = "ec2c_demo_params"
"""Where the request's parameters are kept in botocore's per-call context, from the
parameter-build event to the before-call one (which only sees the serialized request)."""


def answer_unemulated_reads(
    session: boto3.session.Session,
    *,
    hardened_region: str | None,
    ssm_agents: Mapping[str, Mapping[str, SsmAgent]],
) -> None:
    """Answer the reads moto lacks for clients made from `session`: the account settings reads
    (hardened in `hardened_region`), and Systems Manager's inventory of `ssm_agents`
    (region -> instance id -> agent; an instance not in it is not registered)."""
    for operation in _UNEMULATED_EC2:
        session.events.register(f"before-call.ec2.{operation}", _account_answer(operation, hardened_region))
    session.events.register("before-parameter-build.ssm.DescribeInstanceInformation", _remember_params)
    session.events.register("before-call.ssm.DescribeInstanceInformation", _ssm_inventory(ssm_agents))


def _account_answer(operation: str, hardened_region: str | None) -> Hook:
    def hook(context: dict[str, Any] | None = None, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        fresh, hardened = _UNEMULATED_EC2[operation]
        region = (context or {}).get("client_region")
        return _ok(), dict(hardened if region == hardened_region else fresh)

    return hook


def _remember_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = dict(params)


def _ssm_inventory(ssm_agents: Mapping[str, Mapping[str, SsmAgent]]) -> Hook:
    """DescribeInstanceInformation over the region's registered agents, as SSM answers it: the
    InstanceIds and PingStatus filters, MaxResults pages in instance id order, NextToken."""

    def hook(context: dict[str, Any] | None = None, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        context = context or {}
        agents = ssm_agents.get(context.get("client_region") or "", {})
        params = context.get(_PARAMS, {})
        filters = [(f["Key"], f["Values"]) for f in params.get("Filters", [])]
        filters += [(f["key"], f["valueSet"]) for f in params.get("InstanceInformationFilterList", [])]
        ids = sorted(agents)
        for key, values in filters:
            if key not in _SSM_FILTER_KEYS:
                return _error("InvalidFilterKey", f"the demo answers the filters {', '.join(_SSM_FILTER_KEYS)} only")
            wanted = set(values)
            ids = [i for i in ids if (i if key == "InstanceIds" else agents[i].value) in wanted]
        size = params.get("MaxResults", SSM_MAX_RESULTS)
        token = params.get("NextToken") or "0"
        if not token.isdigit():
            return _error("InvalidNextToken", "The specified token is not valid.")
        start = int(token)
        now = datetime.now(UTC)
        page = ids[start : start + size]
        answer: dict[str, Any] = {"InstanceInformationList": [_node(i, agents[i], now) for i in page]}
        if start + size < len(ids):
            answer["NextToken"] = str(start + size)
        return _ok(), answer

    return hook


def _node(instance_id: str, agent: SsmAgent, now: datetime) -> dict[str, Any]:
    """One managed node as SSM lists an Amazon Linux instance whose agent is `agent`."""
    online = agent is SsmAgent.ONLINE
    return {
        "InstanceId": instance_id,
        "PingStatus": agent.value,
        "LastPingDateTime": now - (timedelta(minutes=2) if online else timedelta(days=LOST_AGENT_DAYS)),
        "AgentVersion": "3.3.1142.0" if online else "3.1.1188.0",
        "IsLatestVersion": online,
        "PlatformType": "Linux",
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
    }


def _ok() -> AWSResponse:
    return AWSResponse("", 200, HTTPHeaders(), None)


def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    """A client error, raised by botocore as the service's own would be."""
    return AWSResponse("", 400, HTTPHeaders(), None), {"Error": {"Code": code, "Message": message}}
