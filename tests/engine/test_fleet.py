"""`ec2c status --plan` and `ec2c report --plan` on the real engine: component-only stacks export
the analyzer's outputs, their buckets live on a moto server seeded with per-target reports (a
schema 2 document for one target, a schema 3 index and its shards for another).

Status and report read the stacks from the backend's files: an engine spy (`EC2C_PULUMI` pointed
at a script that logs its arguments, then runs the real CLI) shows that the only engine process
they start is the one `pulumi version` that finds the engine, whatever the number of targets."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from ec2c.scanner.contract import LATEST_REPORT_KEY
from ec2c.scanner.storage import S3Store, ShardWriter, put_json

from .conftest import MOTO_CREDENTIALS as CREDENTIALS

pytestmark = pytest.mark.engine
SHARD = "reports/2026/11/26/run-1-9/eu-west-1/findings.jsonl.gz"


def latest(account: str, compliant: int, failing: int) -> dict:
    """A schema 2 report: one document, its findings inline."""
    return {
        "schema_version": 2,
        "run_id": f"run-{compliant}-{failing}",
        "generated_at": "2026-11-26T06:00:00Z",
        "account_id": account,
        "regions": ["eu-west-1"],
        "partial": False,
        "errors": [],
        "summary": {
            "total_instances": compliant + failing,
            "compliant_instances": compliant,
            "non_compliant_instances": failing,
            "unevaluated_instances": 0,
            "compliance_rate": round(100 * compliant / (compliant + failing), 2),
            "by_rule": {},
            "by_severity": {"high": failing},
        },
        "findings": [
            {
                "rule_id": "imdsv2_required",
                "status": "FAIL",
                "region": "eu-west-1",
                "severity": "high",
                "instance_id": f"i-{n}",
                "resource_id": f"i-{n}",
                "suppressed": False,
                "message": "IMDSv1",
            }
            for n in range(failing)
        ],
        "account_findings": [],
    }


def store_sharded(s3, bucket: str, account: str, compliant: int, failing: int) -> None:
    """The same report as a scan stores it in schema 3: its findings in a region shard, then the
    index naming it."""
    document = latest(account, compliant, failing)
    findings = document.pop("findings")
    store = S3Store(s3, bucket)
    writer = ShardWriter(store, SHARD)
    for finding in findings:
        writer.write(finding)
    writer.finish()
    keys = {"findings": SHARD, "csv": SHARD, "new": SHARD, "resolved": SHARD, "unevaluated": SHARD}
    put_json(
        store,
        LATEST_REPORT_KEY,
        {
            **document,
            "schema_version": 3,
            "region_shards": [
                {
                    "region": "eu-west-1",
                    "complete": True,
                    "instances": compliant + failing,
                    "findings": failing,
                    "new": 0,
                    "resolved": 0,
                    "unevaluated": 0,
                    "bytes": 0,
                    "shards": keys,
                }
            ],
        },
    )


@pytest.fixture
def engine_spy(tmp_path, engine):
    """`EC2C_PULUMI` for a run whose engine processes are logged, one line of arguments each."""
    log = tmp_path / "engine-calls.log"
    spy = tmp_path / "spy" / "bin" / "pulumi"
    spy.parent.mkdir(parents=True)
    spy.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(str(engine.binary))} "$@"\n')
    spy.chmod(0o755)

    def calls() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    return {"EC2C_PULUMI": str(spy)}, calls


@pytest.fixture
def fleet(project, tmp_path, moto_s3):
    endpoint, s3 = moto_s3
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "EC2C_TEST_BUCKET": "reports-{stack}"}
    plan = tmp_path / "fleet.yaml"
    targets = [{"env": "eng"}, {"env": "eng", "stack": "eng-b"}, {"env": "eng", "stack": "eng-c"}]
    plan.write_text(yaml.safe_dump({"waves": [{"name": "all", "parallelism": 3, "targets": targets}]}))
    assert project.ec2c("up", "--env", "eng", **env).returncode == 0
    outdated = project.ec2c("up", "--env", "eng", "--stack", "eng-b", EC2C_TEST_CODE_SHA256="0" * 64, **env)
    assert outdated.returncode == 0, outdated.stderr
    for stack in ("eng", "eng-b"):
        s3.create_bucket(Bucket=f"reports-{stack}", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    body = json.dumps(latest("123456789012", 30, 0)).encode()
    s3.put_object(Bucket="reports-eng", Key=LATEST_REPORT_KEY, Body=body)
    store_sharded(s3, "reports-eng-b", "123456789012", 1, 9)
    return plan, env, s3


def test_status_reads_every_target_and_names_what_is_wrong(project, fleet, engine_spy):
    plan, env, _ = fleet
    spy, engine_calls = engine_spy
    result = project.ec2c("status", "--plan", str(plan), "--json", **spy, **env)
    assert result.returncode == 1  # eng-c was never deployed
    assert engine_calls() == ["version"]  # no engine process per target
    rows = {row["stack"]: row for row in json.loads(result.stdout)}
    assert rows["eng"]["exists"] and rows["eng"]["code"] == "current" and rows["eng"]["last_result"] == "succeeded"
    assert rows["eng"]["inputs"] == "current" and len(rows["eng"]["inputs_sha256"]) == 64
    assert rows["eng"]["last_update"].endswith("Z")
    assert rows["eng"]["compliance_rate"] == 100.0 and rows["eng"]["scan_errors"] == 0
    assert rows["eng-b"]["code"] == "outdated" and rows["eng-b"]["compliance_rate"] == 10.0
    assert rows["eng-c"]["exists"] is False and "does not exist" in rows["eng-c"]["problem"]
    assert (rows["eng-c"]["inputs"], rows["eng-c"]["inputs_sha256"]) == ("unknown", None)
    assert "1 of 3 targets unreadable or failed: eng/eng-c" in " ".join(result.stderr.split())
    table = project.ec2c("status", "--plan", str(plan), **env)
    assert "outdated" in table.stderr and "missing" in table.stderr and "inputs" in table.stderr


def test_status_tells_changed_inputs_from_the_recorded_fingerprint(project, fleet, engine_spy):
    plan, env, _ = fleet
    spy, engine_calls = engine_spy
    project.write_env("eng", {**yaml.safe_load((project.config / "eng.yaml").read_text()), "schedule": "rate(2 hours)"})
    rows = {
        row["stack"]: row
        for row in json.loads(project.ec2c("status", "--plan", str(plan), "--json", **spy, **env).stdout)
    }
    assert rows["eng"]["inputs"] == "changed" and rows["eng"]["code"] == "current"
    assert engine_calls() == ["version"]


def test_estate_report_merges_counts_and_says_what_it_could_not_read(project, fleet, engine_spy):
    plan, env, s3 = fleet
    spy, engine_calls = engine_spy
    result = project.ec2c("report", "--plan", str(plan), "--format", "json", **spy, **env)
    assert result.returncode == 1  # partial: eng-c could not be read
    assert engine_calls() == ["version"]
    estate = json.loads(result.stdout)
    summary = estate["summary"]
    assert (summary["compliant_instances"], summary["non_compliant_instances"]) == (31, 9)
    assert summary["compliance_rate"] == 77.5  # from counts; the average of 100% and 10% would be 55
    assert summary["by_account"]["123456789012"]["total_instances"] == 40
    assert estate["partial"] is True and [u["target"] for u in estate["unread_targets"]] == ["eng/eng-c"]
    assert {f["target"] for f in estate["findings"]} == {"eng/eng-b"} and len(estate["findings"]) == 9
    assert summary["findings_total"] == 9  # streamed from eng-b's shard
    csv_out = project.ec2c("report", "--plan", str(plan), "--format", "csv", **env)
    assert csv_out.stdout.splitlines()[0].startswith("target,instance_id,region,rule_id")
    assert len(csv_out.stdout.splitlines()) == 10
    table = project.ec2c("report", "--plan", str(plan), **env)
    assert "estate: 40 instances" in " ".join(table.stderr.split()) and "PARTIAL" in table.stderr
    page = project.root / "estate.html"
    html = project.ec2c("report", "--plan", str(plan), "--format", "html", "--output", str(page), **env)
    assert html.returncode == 1  # still partial
    assert 'data-hook="heatmap"' in page.read_text() and "eng/eng-c" in page.read_text()
    refused = project.ec2c("report", "--plan", str(plan), "--format", "asff", **env)
    assert refused.returncode == 2 and "not available for an estate report" in refused.stderr

    s3.delete_object(Bucket="reports-eng-b", Key=SHARD)
    lost = json.loads(project.ec2c("report", "--plan", str(plan), "--format", "json", **env).stdout)
    reasons = {u["target"]: u["reason"] for u in lost["unread_targets"]}
    assert reasons["eng/eng-b"] == f"s3://reports-eng-b/{SHARD}: no such object"
    assert lost["summary"]["total_instances"] == 30 and lost["findings"] == []  # never counted compliant


def _edit_recorded_region(project, monkeypatch, stack_name: str, region: str) -> None:
    """Change what the state records for the stack reference, through the engine's export/import."""
    from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
    from ec2c.orchestrator.deploy.stack.lifecycle import no_program
    from ec2c.orchestrator.deploy.stack.workspace import StackTarget, open_stack
    from ec2c.orchestrator.engine.pulumi_cli import require_engine

    from .conftest import PASSPHRASE

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    config = ConfigDir(project.config)
    stack = open_stack(
        StackTarget(env=config.load("eng"), stack_name=stack_name, root=config.root),
        require_engine(),
        no_program,
        create=False,
    )
    state = stack.export_stack()
    [reference] = [r for r in state.deployment["resources"] if r["type"] == "pulumi:pulumi:StackReference"]
    reference["outputs"]["outputs"]["region"] = region
    stack.import_stack(state)


def _recorded_region(project) -> str:
    state = json.loads((project.state / "stacks" / "ec2-compliance" / "eng.json").read_text())
    resources = state["checkpoint"]["latest"]["resources"]
    return next(r for r in resources if r["type"] == "pulumi:pulumi:StackReference")["outputs"]["outputs"]["region"]


def test_drift_names_what_changed_and_never_writes_state(project, tmp_path, monkeypatch):
    assert project.ec2c("up", "--env", "eng", "--stack", "src").returncode == 0
    reference = {"EC2C_TEST_STACK_REFERENCE": "organization/ec2-compliance/src"}
    assert project.ec2c("up", "--env", "eng", **reference).returncode == 0
    plan = tmp_path / "drift.yaml"
    plan.write_text(yaml.safe_dump({"waves": [{"name": "all", "targets": [{"env": "eng"}]}]}))

    clean = project.ec2c("drift", "--plan", str(plan), "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)[0]["resources"] == []

    _edit_recorded_region(project, monkeypatch, "eng", "mars-1")
    drifted = project.ec2c("drift", "--plan", str(plan), "--json")
    assert drifted.returncode == 1
    [row] = json.loads(drifted.stdout)
    assert row["resources"] == [
        {
            "urn": "urn:pulumi:eng::ec2-compliance::pulumi:pulumi:StackReference::organization/ec2-compliance/src",
            "type": "pulumi:pulumi:StackReference",
            "op": "update",
            "changed": ["outputs.region"],
        }
    ]
    assert "drift in eng/eng" in drifted.stderr
    assert _recorded_region(project) == "mars-1"  # a preview: the state is untouched

    table = project.ec2c("drift", "--plan", str(plan))
    assert "update organization/ec2-compliance/src" in " ".join(table.stderr.split())


def test_drift_of_a_missing_stack_is_an_error_not_a_pass(project, tmp_path):
    plan = tmp_path / "drift.yaml"
    plan.write_text(yaml.safe_dump({"waves": [{"name": "all", "targets": [{"env": "eng", "stack": "nowhere"}]}]}))
    result = project.ec2c("drift", "--plan", str(plan), "--json")
    assert result.returncode == 1
    assert "does not exist" in json.loads(result.stdout)[0]["problem"]
    assert "not read: eng/nowhere" in result.stderr
