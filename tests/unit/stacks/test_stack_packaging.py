"""The Lambda archive: what goes in, that it is reproducible, and that the shipped files run.

The last test builds the zip from the same member list the stack ships, unpacks it and runs
`index.handler` in a fresh interpreter that can only see the unpacked files (plus boto3/moto),
against a moto account: if a module is missing from the archive, this is where it shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pulumi
import pytest

from ec2c.scanner import contract
from ec2c.stacks import ComplianceAnalyzerArgs, lambda_env, packaging

REPO = Path(__file__).resolve().parents[3]
SOURCE_ROOT = REPO / "lambda_src"


def _make_tree(root: Path, files: list[str]) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
    return root


def test_members_are_the_handler_and_the_package_only(tmp_path: Path) -> None:
    root = _make_tree(
        tmp_path,
        [
            "index.py",
            "compliance_scanner/__init__.py",
            "compliance_scanner/rules/__init__.py",
            "compliance_scanner/rules/ebs.py",
            "compliance_scanner/data/defaults.json",
            "compliance_scanner/__pycache__/rules.cpython-311.pyc",
            "compliance_scanner/stale.pyc",
            "compliance_scanner/tests/test_rules.py",
            "compliance_scanner/test_helpers.py",
            "compliance_scanner/conftest.py",
            "compliance_scanner/.DS_Store",
            "other_package/__init__.py",
            "README.md",
        ],
    )
    members = packaging.archive_members(root / "compliance_scanner", root / "index.py")
    assert list(members) == [
        "ec2c/scanner/__init__.py",
        "ec2c/scanner/data/defaults.json",
        "ec2c/scanner/rules/__init__.py",
        "ec2c/scanner/rules/ebs.py",
        "index.py",
    ]
    assert members["ec2c/scanner/rules/ebs.py"] == root / "compliance_scanner/rules/ebs.py"


@pytest.mark.parametrize("missing", ["index.py", "compliance_scanner/__init__.py"])
def test_incomplete_sources_fail_naming_what_is_missing(tmp_path: Path, missing: str) -> None:
    files = {"index.py", "compliance_scanner/__init__.py"} - {missing}
    root = _make_tree(tmp_path, sorted(files))
    with pytest.raises(FileNotFoundError, match=r"expected .*index.py and .*compliance_scanner/__init__.py"):
        packaging.archive_members(root / "compliance_scanner", root / "index.py")


def test_default_sources_are_the_importable_scanner_and_the_shipped_handler() -> None:
    members = packaging.archive_members()
    assert members == packaging.archive_members(SOURCE_ROOT / "compliance_scanner", packaging.HANDLER_SOURCE)
    assert {"index.py", "ec2c/scanner/__init__.py", "ec2c/scanner/contract.py"} <= set(members)
    assert members["index.py"] == REPO / "stacks" / "lambda_root" / "index.py"
    for name, path in members.items():
        assert name == "index.py" or name.startswith("ec2c/scanner/")
        assert "__pycache__" not in name and not name.endswith(".pyc")
        assert name == "index.py" or path == SOURCE_ROOT / "compliance_scanner" / name.removeprefix("ec2c/scanner/")
    shipped_sources = {
        "ec2c/scanner/" + p.relative_to(SOURCE_ROOT / "compliance_scanner").as_posix()
        for p in (SOURCE_ROOT / "compliance_scanner").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert shipped_sources <= set(members)


def test_archive_maps_each_member_to_its_file() -> None:
    members = packaging.archive_members()
    archive = packaging.build_archive(members)
    assert isinstance(archive, pulumi.AssetArchive)
    assert sorted(archive.assets) == sorted(members)
    for name, asset in archive.assets.items():
        assert isinstance(asset, pulumi.FileAsset)
        assert asset.path == str(members[name])


def test_zip_is_reproducible_and_holds_exactly_the_members(tmp_path: Path) -> None:
    members = packaging.archive_members()
    first = packaging.write_zip(members, tmp_path / "a.zip")
    second = packaging.write_zip(dict(reversed(list(members.items()))), tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == sorted(members)
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert archive.read(info) == members[info.filename].read_bytes()


HANDLER_RUN = textwrap.dedent(
    """
    import json, os, sys

    # Only the unpacked archive may provide the scanner: drop the editable install's finder,
    # which would otherwise quietly serve modules missing from the zip out of the source tree.
    # `ec2c` is a namespace package, so its portions come from sys.path too: drop the editable
    # install's path hook entry as well.
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path = [p for p in sys.path if "__editable__" not in p]
    archive_dir = sys.argv[1]
    sys.path.insert(0, archive_dir)

    import boto3
    from moto import mock_aws

    env = json.loads(os.environ["SHIPPED_ENV"])
    with mock_aws():
        region = os.environ["AWS_DEFAULT_REGION"]
        s3 = boto3.client("s3", region_name=region)
        location = {"LocationConstraint": region}
        s3.create_bucket(Bucket=env["bucket"], CreateBucketConfiguration=location)
        topic_arn = boto3.client("sns", region_name=region).create_topic(Name="alerts")["TopicArn"]
        assert topic_arn == env["topic_arn"], topic_arn
        ec2 = boto3.client("ec2", region_name=region)
        image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        os.environ.update(env["variables"])

        import index

        result = index.handler({"source": "aws.events"}, None)
        def stored(key):
            return json.loads(s3.get_object(Bucket=env["bucket"], Key=key)["Body"].read())

        report, latest = stored(result["report_key"]), stored("reports/latest.json")

    loaded = {
        name: module.__file__ or list(module.__path__)
        for name, module in sys.modules.items()
        if name == "index" or name.split(".")[0] == "ec2c"
    }
    outcome = {"result": result, "report": report, "latest": latest, "loaded": loaded}
    print(json.dumps(outcome, default=str))
    """
)


def test_shipped_archive_runs_the_handler_against_moto(tmp_path: Path) -> None:
    # moto does not implement ssm:DescribeInstanceInformation nor three account settings reads,
    # so those rules are switched off, which also proves the policy really travels through the
    # environment variable.
    unemulated = ("ssm_managed", "imds_defaults_v2", "snapshot_block_public_access", "image_block_public_access")
    args = ComplianceAnalyzerArgs(
        environment="pkg",
        regions=["eu-west-1"],
        policy={"rules": {rule: {"enabled": False} for rule in unemulated}},
    )
    archive_dir = tmp_path / "archive"
    with zipfile.ZipFile(packaging.write_zip(packaging.archive_members(), tmp_path / "lambda.zip")) as archive:
        archive.extractall(archive_dir)
    bucket = "compliance-reports-pkg-abc1234"
    topic_arn = "arn:aws:sns:eu-west-1:123456789012:alerts"
    variables = lambda_env.scanner_environment(
        bucket_name=bucket,
        topic_arn=topic_arn,
        metric_namespace=args.metric_namespace,
        policy_json=args.policy_json,
        regions=args.regions,
    )
    # The caller's document as given, not the expanded policy: the shipped scanner fills in the
    # defaults itself (the other rules still run below).
    assert json.loads(variables[contract.ENV_POLICY]) == {"rules": {rule: {"enabled": False} for rule in unemulated}}
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(archive_dir),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "SHIPPED_ENV": json.dumps({"bucket": bucket, "topic_arn": topic_arn, "variables": variables}),
    }
    completed = subprocess.run(
        [sys.executable, "-c", HANDLER_RUN, str(archive_dir)],
        cwd=tmp_path,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(outcome["loaded"]["ec2c"]) == {str(archive_dir / "ec2c")}
    for name, module_file in outcome["loaded"].items():
        assert name == "ec2c" or module_file.startswith(str(archive_dir)), module_file
    result = outcome["result"]
    assert result["status"] == "ok", outcome["report"]["errors"]
    assert result["errors"] == 0, outcome["report"]["errors"]
    assert result["report_key"].startswith("reports/") and result["report_key"].endswith(f"{result['run_id']}.json")
    assert result["summary"]["total_instances"] == 1
    assert outcome["report"]["run_id"] == outcome["latest"]["run_id"] == result["run_id"]
    assert outcome["report"]["summary"] == result["summary"]
    assert "ssm_managed" not in result["summary"]["by_rule"]
    assert "imdsv2_required" in result["summary"]["by_rule"]


def test_a_scanner_that_cannot_be_found_is_named(monkeypatch) -> None:
    monkeypatch.setattr(packaging, "PACKAGE", "no_such_scanner_package")
    with pytest.raises(FileNotFoundError, match="no_such_scanner_package package cannot be found"):
        packaging.scanner_package_dir()
