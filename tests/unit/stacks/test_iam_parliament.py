"""Every IAM document the stack builds, linted by parliament, as the engine would receive it.

The documents are collected from a mocked deployment (not from the `iam` functions directly), so
a document added to the stack is linted without being listed here, and the values it is built
from are the ones the component feeds in. The deployment turns every optional statement on.

Identity policies run parliament's community auditors too (privilege escalation, credentials
exposure, sensitive access); resource and trust policies only its core checks, the community
auditors being written for identity policies. A trust policy has no `Resource` element (its
resource is the role it is attached to), which parliament's grammar requires: it is linted with
the role's ARN as that resource.

A finding either fails the test or is accepted in `ACCEPTED`, by document and issue code, with
the reason; an accepted finding that no longer occurs fails too, so the list stays exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import parliament
import pytest
import stack_harness
from pulumi.runtime import mocks as pulumi_mocks
from stack_harness import ACCOUNT, REGION, Deployment, Registration, deploy

from ec2c.stacks import ComplianceAnalyzerArgs
from ec2c.stacks.args import EventsArgs

IDENTITY, RESOURCE, TRUST = "identity", "resource", "trust"

KINDS = {
    ("aws:iam/rolePolicy:RolePolicy", "policy"): IDENTITY,
    ("aws:iam/role:Role", "assumeRolePolicy"): TRUST,
    ("aws:kms/key:Key", "policy"): RESOURCE,
    ("aws:s3/bucketPolicy:BucketPolicy", "policy"): RESOURCE,
    ("aws:sns/topicPolicy:TopicPolicy", "policy"): RESOURCE,
    ("aws:sqs/queuePolicy:QueuePolicy", "policy"): RESOURCE,
}
"""Where the stack puts IAM documents (resource type, input), and which kind each one is."""

DOCUMENTS = {
    "compliance-scanner-policy-dev": IDENTITY,
    "compliance-scan-policy-dev": IDENTITY,
    "compliance-schedule-policy-dev": IDENTITY,
    "compliance-scanner-role-dev": TRUST,
    "compliance-scan-role-dev": TRUST,
    "compliance-schedule-role-dev": TRUST,
    "compliance-alerts-key-dev": RESOURCE,
    "compliance-reports-tls-only-dev": RESOURCE,
    "compliance-alerts-policy-dev": RESOURCE,
    "compliance-scanner-dlq-policy-dev": RESOURCE,
    "compliance-events-consume-policy-dev": IDENTITY,
    "compliance-events-forward-policy-dev": IDENTITY,
    "compliance-events-forward-role-dev": TRUST,
    "compliance-events-policy-dev": RESOURCE,
    "compliance-events-dlq-policy-dev": RESOURCE,
}
"""Every document of the deployment below, by the name of the resource holding it: the scanner's,
the state machine's and the schedule's inline policies and trust policies, the alert key's policy,
the bucket's, the topic's and the dead-letter queue's; with the change-event path, the scanner's
policy for the events queue, the forwarders' role and policy, and the two events queues'."""

ACCEPTED = {
    # A key policy is attached to one key, and its `Resource` must be "*", which there means
    # that key and nothing else (KMS rejects any other value): the three statements are scoped.
    ("compliance-alerts-key-dev", "RESOURCE_STAR"),
}


class AwsShapedArns(stack_harness.FakeAws):
    """The harness's provider, with the ARN shapes AWS gives roles, topics and rules.

    The harness's generic `arn:aws:<service>:<region>:<account>:<type>:<name>` is not the shape
    of those three, and parliament matches a document's resources and principals against AWS's
    formats: a role named as a principal, a topic as a resource and a rule in a condition must
    look like the real ones for the lint to be about the documents, not the mocks.
    """

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        physical_id, state = super().new_resource(args)
        name = state["name"]
        arn = {
            "aws:iam/role:Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "aws:sns/topic:Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
            "aws:cloudwatch/eventRule:EventRule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
        }.get(args.typ)
        if arn:
            state["arn"] = arn
        return physical_id, state


def _is_iam_document(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        document = json.loads(value)
    except ValueError:
        return False
    return isinstance(document, dict) and "Statement" in document


def _documents(deployment: Deployment) -> dict[str, tuple[Registration, str, str]]:
    """Every input of the deployment holding an IAM document: (registration, kind, JSON) by name."""
    found: dict[str, tuple[Registration, str, str]] = {}
    for registration in deployment.resources:
        for key, value in registration.inputs.items():
            if _is_iam_document(value):
                kind = KINDS.get((registration.type, key))
                assert kind, f"unclassified IAM document: {registration.type} {registration.name}.{key}"
                assert registration.name not in found, f"two documents on {registration.name}"
                found[registration.name] = (registration, kind, value)
    return found


def _as_resource_policy(trust_policy: str, role_arn: str) -> str:
    """The trust policy with its implicit resource, the role, made explicit."""
    document = json.loads(trust_policy)
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        assert "Resource" not in statement and "NotResource" not in statement
        statement["Resource"] = role_arn
    return json.dumps(document)


def _issues(registration: Registration, kind: str, document: str) -> set[str]:
    if kind == TRUST:
        document = _as_resource_policy(document, registration.state["arn"])
    policy = parliament.analyze_policy_string(
        document,
        ignore_private_auditors=True,
        include_community_auditors=kind == IDENTITY,
    )
    return {finding.issue for finding in policy.findings}


@pytest.fixture(scope="module")
def documents() -> Iterator[dict[str, tuple[Registration, str, str]]]:
    args = ComplianceAnalyzerArgs(
        environment="dev",
        alert_emails=("sec@example.com",),
        regions=("eu-west-1", "us-east-1"),
        tracing=True,
        security_hub=True,
        events=EventsArgs(),
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stack_harness, "FakeAws", AwsShapedArns)
        patch.setenv("PULUMI_CONFIG_AWS_REGION", REGION)
        yield _documents(deploy(args))


def test_every_iam_document_of_the_stack_is_linted(
    documents: dict[str, tuple[Registration, str, str]],
) -> None:
    assert {name: kind for name, (_, kind, _) in documents.items()} == DOCUMENTS
    scanner = json.loads(documents["compliance-scanner-policy-dev"][2])
    sids = {statement["Sid"] for statement in scanner["Statement"]}
    assert {"ReadPrefixLists", "WriteTraces", "ImportFindings"} <= sids


def test_the_mocked_arns_have_aws_shapes(documents: dict[str, tuple[Registration, str, str]]) -> None:
    role, _, _ = documents["compliance-scanner-role-dev"]
    assert role.state["arn"] == f"arn:aws:iam::{ACCOUNT}:role/{role.state['name']}"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_parliament_finds_nothing_but_the_accepted(
    documents: dict[str, tuple[Registration, str, str]], name: str
) -> None:
    registration, kind, document = documents[name]
    accepted = {issue for document_name, issue in ACCEPTED if document_name == name}
    assert _issues(registration, kind, document) == accepted, document


def test_a_trust_policy_is_linted_with_the_role_as_its_resource() -> None:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Principal": {"AWS": "not-an-arn"}, "Action": "sts:AssumeRole"},
        }
    )
    role = Registration(urn="", type="aws:iam/role:Role", name="r", custom=True, parent="", dependencies=[])
    role.state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/r"
    assert json.loads(_as_resource_policy(trust, role.state["arn"]))["Statement"]["Resource"] == role.state["arn"]
    assert _issues(role, TRUST, trust) == {"UNKNOWN_PRINCIPAL"}
