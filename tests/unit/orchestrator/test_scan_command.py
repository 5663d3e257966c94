"""`ec2c scan` end to end through typer's CliRunner, against moto (in-process and as a server)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from moto.server import ThreadedMotoServer
from rich.console import Console
from typer.testing import CliRunner

from ec2c.orchestrator import console as console_module
from ec2c.orchestrator import demo
from ec2c.orchestrator.cli import app
from ec2c.orchestrator.reporting import render as scan_render
from ec2c.scanner.contract import LATEST_REPORT_KEY, SCHEMA_VERSION
from ec2c.scanner.reports.reader import load_report, read_report
from ec2c.scanner.reports.report import CSV_COLUMNS
from ec2c.scanner.rules import CATALOGUE
from ec2c.scanner.storage import DirStore

ACCOUNT = "123456789012"
REPORT_KEYS = {
    "schema_version",
    "run_id",
    "generated_at",
    "account_id",
    "regions",
    "partial",
    "summary",
    "findings",
    "errors",
    "new_findings",
    "resolved_findings",
}
FINDING_KEYS = {
    "instance_id",
    "region",
    "rule_id",
    "title",
    "severity",
    "status",
    "suppressed",
    "suppression_reason",
    "message",
    "tags",
}


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No AWS settings at all: no keys, no profile, empty config files, no IMDS probing."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    credentials.write_text("")
    config.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


@pytest.fixture
def dummy_creds(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return clean_env


@pytest.fixture
def mocked(dummy_creds):
    with mock_aws():
        yield dummy_creds


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setattr(console_module.err, "_width", 160)


def flat(text: str) -> str:
    """Text with the terminal's line wrapping undone."""
    return " ".join(text.split())


def run(*args: str):
    result = CliRunner().invoke(app, ["scan", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def expected_by_name() -> dict[str, set[str]]:
    return {spec.name: set(spec.expect) for spec in demo.instance_specs()}


def findings_by_name(report: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report["findings"]:
        if finding["resource_type"] == "instance":
            found.setdefault(finding["tags"]["Name"], set()).add(finding["rule_id"])
    return found


def seed_instance(region: str = "us-east-1", *, imdsv1: bool = True, name: str = "custom-app") -> str:
    ec2 = boto3.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        MetadataOptions={"HttpTokens": "optional" if imdsv1 else "required"},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": name},
                    {"Key": "Owner", "Value": "me"},
                    {"Key": "Environment", "Value": "dev"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# --demo
# ------------------------------------------------------------------------------------------------


def test_demo_table_shows_every_seeded_problem(clean_env):
    result = run("--demo", "--limit", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the human view goes to stderr only
    err = flat(result.stderr)
    assert "Traceback" not in err
    for name, rules in expected_by_name().items():
        if rules:
            assert name in err
    for rule_id in CATALOGUE:
        assert rule_id in err
    assert "suppressed: Bastion host" in err
    assert "30 instances · 8 compliant · 22 non-compliant · compliance 26.7%" in err
    assert "0 errors" in err
    # The caller's (empty) env is left as it was.
    assert "AWS_ACCESS_KEY_ID" not in os.environ


def test_demo_table_is_capped_and_says_how_to_see_the_rest(clean_env):
    result = run("--demo", "--limit", "5")
    assert result.exit_code == 0
    assert "... 51 more findings" in flat(result.stderr)
    assert "--format json" in flat(result.stderr)
    # Most severe unsuppressed first, every resource type together: the critical user-data
    # findings (an instance's, then the legacy launch template's) are shown; all_ports_open is
    # graded medium (that instance has no public address), and the critical SSH finding on the
    # routed, public bastion is suppressed, so it is among the rest.
    shown = result.stderr.split("... 51 more")[0]
    assert "user_data_secrets" in shown and "Launch templates (1 of 4)" in shown
    assert "launch template legacy-web" in shown and "CRITICAL  launch_template_user_data" in shown
    assert "all_ports_open" not in shown
    assert "(1 critical, 8 high, 28 medium, 14 low; 4 suppressed)" in flat(result.stderr)
    assert "termination_protection" not in shown


def test_demo_json_has_the_schema_and_finds_every_kind(clean_env):
    result = run("--demo", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= REPORT_KEYS
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["account_id"] == demo.DEMO_ACCOUNT_ID
    assert report["regions"] == list(demo.DEMO_REGIONS)
    assert report["partial"] is False and report["errors"] == []
    assert report["summary"]["total_instances"] == 30
    assert all(set(f) >= FINDING_KEYS and f["status"] == "FAIL" for f in report["findings"])
    found = findings_by_name(report)
    for name, rules in expected_by_name().items():
        assert found.get(name, set()) == rules, name
    assert {f["rule_id"] for f in report["findings"] if f["suppressed"]} == {
        "ssh_open_to_internet",
        "no_public_ip",
        "public_ip_with_instance_profile",
        "authorized_ports_only",
    }
    assert {f["resource_type"] for f in report["findings"]} == {"instance", "launch_template", "security_group"}
    assert {f["status"] for f in report["account_findings"]} == {"PASS", "FAIL"}
    # Only the one-line summary on stderr: no table to get in the way of a pipe.
    assert "instances" in flat(result.stderr) and "Findings" not in flat(result.stderr)


def test_demo_csv(clean_env):
    result = run("--demo", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 56  # 40 instance, 4 launch template, 2 default security group, 10 account guardrail failures
    assert {row["resource_type"] for row in rows} == {"instance", "launch_template", "security_group", "account"}
    assert {row["rule_id"] for row in rows} == set(CATALOGUE)


def test_demo_regions_subset(clean_env):
    result = run("--demo", "--regions", "eu-west-1", "--format", "json")
    report = json.loads(result.stdout)
    assert report["regions"] == ["eu-west-1"]
    assert {f["region"] for f in report["findings"]} == {"eu-west-1"}
    assert report["summary"]["total_instances"] == len(demo.instance_specs("eu-west-1"))


def test_output_file_json_and_table_on_terminal(clean_env):
    target = clean_env / "reports" / "scan.json"
    result = run("--demo", "--output", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "Findings" in flat(result.stderr) and f"Report written to {target} (json)" in flat(result.stderr)
    report = json.loads(target.read_text())
    assert report["schema_version"] == SCHEMA_VERSION and len(report["findings"]) == 46


def test_output_file_csv(clean_env):
    target = clean_env / "scan.csv"
    result = run("--demo", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 56
    # --format table with a .csv file name writes CSV too.
    other = clean_env / "table.csv"
    assert run("--demo", "-o", str(other)).exit_code == 0
    assert other.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)


def test_output_to_an_existing_folder_is_a_report_store(clean_env):
    """No trailing slash needed for a folder that exists; with --format table it gets the store only."""
    folder = clean_env / "store"
    folder.mkdir()
    result = run("--demo", "--regions", "eu-west-1", "--output", str(folder))
    assert result.exit_code == 0, result.stderr
    assert "Findings" in flat(result.stderr)
    assert f"Report stored in {folder / LATEST_REPORT_KEY}" in flat(result.stderr)
    assert read_report(DirStore(folder), LATEST_REPORT_KEY).index["regions"] == ["eu-west-1"]
    assert not list(folder.glob("ec2-compliance-report.*"))


def _layout(folder: Path, index: dict) -> Path:
    """The run's folder in the bucket's layout: reports/<yyyy>/<mm>/<dd>/<run_id>."""
    return folder / "reports" / index["generated_at"][:10].replace("-", "/") / index["run_id"]


def test_output_folder_keeps_the_buckets_layout_and_the_next_scan_diffs_against_it(mocked):
    fixed, kept = seed_instance(name="fixed-later"), seed_instance(name="still-open")
    folder = mocked / "reports-here"
    policy = str(only_rules(mocked / "p.json", "imdsv2_required"))
    first = run("--regions", "us-east-1", "--policy", policy, "--output", f"{folder}/", "--format", "csv")
    assert first.exit_code == 0, first.stderr
    index = json.loads((folder / LATEST_REPORT_KEY).read_text())
    run_folder = _layout(folder, index)
    assert json.loads(run_folder.with_suffix(".json").read_text()) == index  # the dated copy
    assert {p.name for p in (run_folder / "us-east-1").iterdir()} == {
        "findings.jsonl.gz",
        "findings.csv.gz",
        "new.jsonl.gz",
    }
    assert index["previous_run_id"] is None and index["new_findings"] == 2 and index["resolved_findings"] == 0
    # The file of the format goes beside the store, as it did before.
    rows = list(csv.DictReader((folder / "ec2-compliance-report.csv").open()))
    assert {row["instance_id"] for row in rows} == {fixed, kept}

    boto3.client("ec2", region_name="us-east-1").modify_instance_metadata_options(
        InstanceId=fixed, HttpTokens="required", HttpEndpoint="enabled"
    )
    added = seed_instance(name="new-one")
    second = run("--regions", "us-east-1", "--policy", policy, "--output", str(folder), "--format", "json")
    assert second.exit_code == 0, second.stderr
    latest = read_report(DirStore(folder), LATEST_REPORT_KEY)
    assert latest.index["previous_run_id"] == index["run_id"]
    assert (latest.index["new_findings"], latest.index["resolved_findings"]) == (1, 1)
    assert [f["instance_id"] for f in latest.new_findings()] == [added]
    assert [f["instance_id"] for f in latest.resolved_findings()] == [fixed]
    first_seen = {f["instance_id"]: f["first_seen"] for f in latest.findings()}
    assert first_seen[kept] == index["generated_at"] and first_seen[added] == latest.index["generated_at"]
    # Both runs stay, each under its own date and id; the export beside them holds the diff's lists.
    assert _layout(folder, index).with_suffix(".json").is_file()
    assert _layout(folder, latest.index).with_suffix(".json").is_file()
    assert second.stdout == ""
    exported = json.loads((folder / "ec2-compliance-report.json").read_text())
    assert [f["instance_id"] for f in exported["resolved_findings"]] == [fixed]
    assert [f["instance_id"] for f in exported["new_findings"]] == [added]


def test_an_unreadable_previous_report_in_the_folder_stops_before_scanning(clean_env):
    folder = clean_env / "broken"
    latest = folder / LATEST_REPORT_KEY
    latest.parent.mkdir(parents=True)
    latest.write_text("<html>not a report</html>")
    result = run("--demo", "--output", f"{folder}/")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {latest}: not JSON")
    assert latest.read_text() == "<html>not a report</html>"  # never overwritten
    assert [p.name for p in (folder / "reports").iterdir()] == ["latest.json"]  # nothing was scanned


def test_a_folder_of_another_account_is_bad_input(mocked):
    folder = mocked / "other"
    assert run("--demo", "--regions", "eu-west-1", "--output", f"{folder}/").exit_code == 0  # the demo's account
    latest = json.loads((folder / LATEST_REPORT_KEY).read_text())
    (folder / LATEST_REPORT_KEY).write_text(json.dumps({**latest, "account_id": "999999999999"}))
    result = run("--regions", "us-east-1", "--output", f"{folder}/")
    assert result.exit_code == 2
    assert f"{folder}: --output: holds the reports of account 999999999999, this scan is of account {ACCOUNT}" in (
        flat(result.stderr)
    )


def test_output_file_json_round_trips_through_the_reader(mocked):
    seed_instance()
    target = mocked / "export.json"
    result = run("--regions", "us-east-1", "--format", "json", "--output", str(target))
    assert result.exit_code == 0, result.stderr
    text = target.read_text()
    assert text.count("\n") == 1 and ": " not in text[:200]  # one compact line
    document = json.loads(text)
    assert document["schema_version"] == SCHEMA_VERSION
    assert {"findings", "new_findings", "resolved_findings", "unevaluated_resources"} <= set(document)
    assert all(entry["shards"] is None for entry in document["region_shards"])  # no store travels with it
    report = load_report(document, None, str(target))
    assert not report.sharded
    assert list(report.findings()) == document["findings"]
    assert report.index["new_findings"] == len(document["new_findings"]) > 0  # a first run: every failure new
    for key in ("run_id", "generated_at", "account_id", "regions", "summary", "account_findings", "errors"):
        assert report.index[key] == document[key], key


def test_fail_on_gates_on_unsuppressed_findings(clean_env):
    high = run("--demo", "--format", "json", "--fail-on", "high")
    assert high.exit_code == 1
    findings = json.loads(high.stdout)["findings"]  # the report is still written
    everything = findings + [f for f in json.loads(high.stdout)["account_findings"] if f["status"] == "FAIL"]
    at_least_high = [f for f in everything if f["severity"] in ("critical", "high") and not f["suppressed"]]
    # instances: 1 critical + 5 high (the bastion's suppressed findings don't count, and the
    # exposure findings on instances without a public address are graded medium); the legacy
    # launch template: 1 critical + 2 high; the open default security groups: 2 high
    assert len(at_least_high) == 11
    graded = [f for f in findings if f["severity_reason"] and not f["suppressed"]]
    assert {f["severity"] for f in graded} == {"medium"} and len(graded) == 7
    assert "--fail-on high: 11 unsuppressed findings at high severity or above" in flat(high.stderr)
    critical = run("--demo", "--format", "json", "--fail-on", "CRITICAL")
    assert critical.exit_code == 1
    assert "2 unsuppressed findings at critical" in flat(critical.stderr)
    assert run("--demo", "--regions", "eu-west-1", "--fail-on", "critical").exit_code == 0


def only_rules(path: Path, *rule_ids: str, suppressions: list | None = None) -> Path:
    """A policy file enabling just `rule_ids`."""
    rules = {rule: {"enabled": rule in rule_ids} for rule in CATALOGUE}
    path.write_text(json.dumps({"rules": rules, "suppressions": suppressions or []}))
    return path


def test_fail_on_thresholds(mocked):
    seed_instance()  # IMDSv1 (high) and no key pair... nothing critical
    policy = str(only_rules(mocked / "p.json", "imdsv2_required", "imds_hop_limit", "all_ports_open"))
    assert run("--regions", "us-east-1", "--policy", policy, "--fail-on", "critical").exit_code == 0
    failed = run("--regions", "us-east-1", "--policy", policy, "--fail-on", "medium")
    assert failed.exit_code == 1 and "1 unsuppressed finding at medium" in flat(failed.stderr)
    # Without --fail-on, findings alone never fail the command.
    assert run("--regions", "us-east-1", "--policy", policy).exit_code == 0


def test_suppressed_findings_do_not_trip_the_gate(mocked):
    instance = seed_instance()
    policy = only_rules(
        mocked / "policy.json",
        "imdsv2_required",
        suppressions=[
            {"rule": "imdsv2_required", "instance_id": instance, "reason": "vendor agent needs IMDSv1"},
        ],
    )
    result = run("--regions", "us-east-1", "--policy", str(policy), "--fail-on", "high", "--format", "json")
    assert result.exit_code == 0, result.stderr
    finding = next(f for f in json.loads(result.stdout)["findings"] if f["rule_id"] == "imdsv2_required")
    assert finding["suppressed"] is True and finding["suppression_reason"] == "vendor agent needs IMDSv1"


# ------------------------------------------------------------------------------------------------
# Policy files and bad input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("typo.yaml", "rules:\n  imdsv3_required: {}\n", "policy.rules.imdsv3_required: unknown key"),
        (
            "env.yaml",
            "description: x\npolicy:\n  rules:\n    instance_age:\n      params:\n        max_age_days: -1\n",
            "policy.rules.instance_age.params.max_age_days",
        ),
        (
            "sup.json",
            json.dumps({"suppressions": [{"rule": "no_public_ip", "instance_id": "i-1"}]}),
            "policy.suppressions[0].reason: required",
        ),
        ("broken.yaml", "rules: [unclosed\n", "broken.yaml:2:1: invalid YAML"),
        ("broken.json", '{"rules": }', "broken.json:1:11: invalid JSON"),
        (
            "date.yaml",
            "suppressions:\n- {rule: '*', instance_id: i-1, reason: r, expires: 2024-02-30}\n",
            "policy.suppressions[0].expires: expected an ISO date (YYYY-MM-DD), got '2024-02-30'",
        ),
        ("latin1.yaml", "rules: {}\n# caf\xe9\n", "--policy: not UTF-8 text"),
        ("list.yaml", "- a\n- b\n", "policy: expected a mapping"),
    ],
)
def test_bad_policy_file_exits_2_naming_file_and_field(clean_env, name, content, expected):
    path = clean_env / name
    path.write_bytes(content.encode("latin-1"))
    result = run("--demo", "--policy", str(path))
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert str(path) in message and expected in message
    assert "Traceback" not in result.output


def test_missing_policy_file(clean_env):
    result = run("--demo", "--policy", str(clean_env / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml: --policy: file not found" in flat(result.stderr)


def test_environment_file_policy_is_used(clean_env):
    path = clean_env / "staging.yaml"
    path.write_text(
        "aws:\n  region: eu-west-1\npolicy:\n  rules:\n"
        "    instance_age:\n      enabled: false\n    stopped_too_long:\n      severity: critical\n"
    )
    result = run("--demo", "--policy", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    rules = {f["rule_id"]: f for f in report["findings"]}
    assert "instance_age" not in rules
    assert rules["stopped_too_long"]["severity"] == "critical"
    assert "instance_age" not in report["summary"]["by_rule"]


def test_environment_file_inherits_the_defaults_policy(clean_env):
    (clean_env / "defaults.yaml").write_text(
        "project: x\npolicy:\n  rules:\n    required_tags:\n      params:\n        keys: [Team]\n"
        "    instance_age:\n      enabled: false\n"
    )
    env = clean_env / "qa.yaml"
    env.write_text("policy:\n  rules:\n    instance_age:\n      enabled: true\n")
    result = run("--demo", "--regions", "eu-west-1", "--policy", str(env), "--format", "json")
    assert result.exit_code == 0, result.stderr
    rules = [f["rule_id"] for f in json.loads(result.stdout)["findings"]]
    assert rules.count("required_tags") == len(demo.instance_specs("eu-west-1"))  # nobody has a Team tag
    assert "instance_age" in json.loads(result.stdout)["summary"]["by_rule"]  # the env file wins


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "xml"], "xml"),
        (["--fail-on", "severe"], "severe"),
        (["--regions", "us-east-1,mars-north-1"], "unknown region 'mars-north-1'"),
        (["--regions", "eu-wset-1"], "did you mean eu-west-1?"),
        (["--limit", "-1"], "--limit"),
    ],
)
def test_bad_flags_exit_2(clean_env, args, expected):
    result = run("--demo", *args)
    assert result.exit_code == 2
    assert expected in flat(result.stderr)


def test_regions_repeatable_and_comma_separated(clean_env):
    result = run("--demo", "-r", "eu-west-1, ap-southeast-2", "--regions", "eu-west-1", "--format", "json")
    assert json.loads(result.stdout)["regions"] == ["eu-west-1", "ap-southeast-2"]


# ------------------------------------------------------------------------------------------------
# Credentials and the real (non-demo) path
# ------------------------------------------------------------------------------------------------


def test_missing_credentials_exit_1_with_one_clear_line(clean_env):
    result = run("--regions", "us-east-1")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in flat(result.stderr).splitlines() if line.strip()]
    assert len(" ".join(lines).split("error:")) == 2
    assert "no AWS credentials found" in flat(result.stderr)
    assert "--demo" in flat(result.stderr)


def test_unknown_profile_exit_1(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    result = run("--regions", "us-east-1")
    assert result.exit_code == 1
    assert "ghost" in flat(result.stderr) and "Traceback" not in result.output


def test_no_region_exit_1(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = run()
    assert result.exit_code == 1
    assert "no AWS region configured" in flat(result.stderr)


def test_partial_credentials_never_echo_the_key(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    result = run("--regions", "us-east-1")
    assert result.exit_code == 1
    assert "incomplete AWS credentials" in flat(result.stderr)
    assert "AKIAIOSFODNN7EXAMPLE" not in result.output


def test_rejected_credentials_exit_1_without_secrets(mocked, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "super-secret-value")

    @set_initial_no_auth_action_count(0)
    def scan_with_auth():
        return run("--regions", "us-east-1")

    result = scan_with_auth()
    assert result.exit_code == 1
    assert "AWS rejected the credentials (GetCallerIdentity: InvalidClientTokenId)" in flat(result.stderr)
    assert "super-secret-value" not in result.output


def test_every_region_failing_exits_1(mocked, monkeypatch):
    """Credentials that may call STS but not EC2: every region's inventory is denied."""
    iam = boto3.client("iam")

    @set_initial_no_auth_action_count(3)
    def scan_as_limited_user():
        iam.create_user(UserName="auditor")
        iam.put_user_policy(
            UserName="auditor",
            PolicyName="sts-only",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="auditor")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        return run("--regions", "us-east-1,eu-west-1", "--format", "json"), key["SecretAccessKey"]

    result, secret = scan_as_limited_user()
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert {e["region"] for e in report["errors"]} == {"us-east-1", "eu-west-1"}
    assert "every region failed to scan (us-east-1: AccessDenied, eu-west-1: AccessDenied)" in flat(result.stderr)
    assert secret not in result.output


def test_real_scan_uses_the_callers_session(mocked):
    instance = seed_instance()
    compliant = seed_instance(imdsv1=False, name="tidy")
    result = run("--regions", "us-east-1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["account_id"] == ACCOUNT
    assert report["regions"] == ["us-east-1"]
    assert report["summary"]["total_instances"] == 2
    rules = {f["rule_id"] for f in report["findings"] if f["instance_id"] == instance}
    assert "imdsv2_required" in rules
    assert "imdsv2_required" not in {f["rule_id"] for f in report["findings"] if f["instance_id"] == compliant}
    assert "Demo" not in flat(result.stderr)


def test_default_region_comes_from_the_sdk(mocked, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    seed_instance("eu-west-1")
    result = run("--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["regions"] == ["eu-west-1"]
    assert report["summary"]["total_instances"] == 1


def test_table_for_a_clean_fleet(mocked):
    seed_instance(imdsv1=False, name="tidy")
    policy = only_rules(mocked / "lenient.json", "imdsv2_required", "imds_hop_limit", "required_tags")
    result = run("--regions", "us-east-1", "--policy", str(policy))
    assert result.exit_code == 0, result.stderr
    assert "No findings" in flat(result.stderr)
    assert "1 instances · 1 compliant · 0 non-compliant · compliance 100.0%" in flat(result.stderr)


def test_aws_endpoint_url_is_honoured(dummy_creds, monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        instance = seed_instance()  # boto3 honours AWS_ENDPOINT_URL: this lands in the server
        # the reads moto lacks off: moto's server answers them with a 500,
        # which the scanner's adaptive retries would spend half a minute on.
        policy = only_rules(dummy_creds / "p.json", *(set(CATALOGUE) - set(demo.EMULATED_BY_DEMO)))
        result = run("--regions", "us-east-1", "--format", "json", "--policy", str(policy))
    finally:
        server.stop()
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["account_id"] == ACCOUNT
    assert report["errors"] == []
    assert "imdsv2_required" in {f["rule_id"] for f in report["findings"] if f["instance_id"] == instance}


def test_an_endpoint_lacking_operations_is_reported_not_fatal(dummy_creds, monkeypatch):
    """moto's server answers the reads it lacks with an HTML 500 (unparseable for EC2's XML
    protocol): each is named once as OperationUnavailable, its rules are skipped, the scan
    completes, with the default policy."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        seed_instance()
        result = run("--regions", "us-east-1", "--format", "json")
    finally:
        server.stop()
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert {(e["operation"], e["code"]) for e in report["errors"]} == {
        ("ssm:DescribeInstanceInformation", "OperationUnavailable"),
        ("ec2:GetInstanceMetadataDefaults", "OperationUnavailable"),
        ("ec2:GetSnapshotBlockPublicAccessState", "OperationUnavailable"),
        ("ec2:GetImageBlockPublicAccessState", "OperationUnavailable"),
    }
    statuses = {f["rule_id"]: f["status"] for f in report["account_findings"]}
    assert statuses["imds_defaults_v2"] == "SKIPPED" and statuses["ebs_default_encryption"] == "FAIL"
    assert "Traceback" not in result.output


def test_unreachable_endpoint_exit_1(dummy_creds, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = run("--regions", "us-east-1")
    assert result.exit_code == 1
    assert "cannot reach AWS" in flat(result.stderr) and "Traceback" not in result.output


# ------------------------------------------------------------------------------------------------
# The renderer on its own
# ------------------------------------------------------------------------------------------------


def _finding(instance: str, rule: str, severity: str, *, suppressed: bool = False, name: str = "app") -> dict:
    return {
        "instance_id": instance,
        "region": "us-east-1",
        "rule_id": rule,
        "title": rule,
        "severity": severity,
        "status": "FAIL",
        "suppressed": suppressed,
        "suppression_reason": "accepted" if suppressed else None,
        "message": f"{rule} failed",
        "tags": {"Name": name},
    }


def _render(report: dict, width: int, limit: int = 40) -> str:
    console = Console(record=True, width=width, force_terminal=False)
    scan_render.render_report(console, load_report(report, None, "test"), limit=limit)
    return console.export_text()


def _report(findings: list[dict], errors: list[dict] | None = None, partial: bool = False) -> dict:
    return {
        "run_id": "run-1",
        "account_id": ACCOUNT,
        "regions": ["us-east-1"],
        "generated_at": "2026-01-01T00:00:00Z",
        "partial": partial,
        "errors": errors or [],
        "findings": findings,
        "summary": {
            "total_instances": 3,
            "compliant_instances": 1,
            "non_compliant_instances": 2,
            "compliance_rate": 33.3,
            "by_rule": {},
            "by_severity": {},
        },
    }


def test_render_sorts_by_severity_and_groups_on_narrow_terminals():
    findings = [
        _finding("i-1", "no_key_pair", "low", name="alpha"),
        _finding("i-2", "all_ports_open", "critical", name="beta"),
        _finding("i-1", "imdsv2_required", "high", name="alpha"),
        _finding("i-3", "ssh_open_to_internet", "high", suppressed=True, name="bastion"),
    ]
    text = _render(_report(findings), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.index("beta") < text.index("alpha") < text.index("bastion")
    assert text.index("imdsv2_required") < text.index("no_key_pair")
    assert "suppressed: accepted" in text and "(suppr.)" in text

    flat = _render(_report(findings), 160)
    assert "Region" in flat and flat.index("all_ports_open") < flat.index("imdsv2_required")


def test_render_caps_rows_and_shows_errors_and_partial():
    findings = [_finding(f"i-{n}", "no_key_pair", "low", name=f"n{n}") for n in range(10)]
    errors = [{"region": "eu-west-1", "operation": "ec2:DescribeInstances", "code": "AuthFailure", "message": "nope"}]
    text = _render(_report(findings, errors, partial=True), 80, limit=3)
    assert "... 7 more findings (7 low)" in text
    assert "AuthFailure" in text and "eu-west-1" in text
    assert "1 error · PARTIAL" in flat(text)


def test_progress_spinner_on_a_terminal_and_silence_otherwise(monkeypatch):
    from ec2c.orchestrator.cli import progress

    screen = io.StringIO()
    monkeypatch.setattr(progress, "err", Console(file=screen, force_terminal=True, width=80))
    with progress.progress_reporter(True) as on_progress:
        on_progress("us-east-1", 1000)
        on_progress("us-east-1", 1500)
        on_progress("eu-west-1", 20)
    assert "Scanning" in screen.getvalue()
    with progress.progress_reporter(False) as on_progress:
        assert on_progress is None
