"""The team backend: state in S3 (moto's server on 127.0.0.1 standing in for the bucket)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from tests.engine.programs import SECRET_VALUE

SUITES = Path(__file__).resolve().parent / "suites"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@pytest.fixture
def s3_backend(project, monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="team-state")
    url = f"s3://team-state?endpoint={endpoint}&region=us-east-1&use_path_style=true"
    project.write_env("team", {"backend": url, "aws": {"region": "eu-central-1"}})
    yield s3
    server.stop()


def _state_keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket="team-state").get("Contents", [])]


def test_stack_state_lives_in_the_bucket(project, s3_backend):
    up = project.ec2c("up", "--env", "team", "--json")
    assert up.returncode == 0, up.stderr
    assert ".pulumi/stacks/ec2-compliance/team.json" in _state_keys(s3_backend)
    assert not (project.root / ".pulumi-state").exists()
    state = s3_backend.get_object(Bucket="team-state", Key=".pulumi/stacks/ec2-compliance/team.json")["Body"].read()
    assert SECRET_VALUE.encode() not in state

    outputs = project.ec2c("outputs", "--env", "team", "--json")
    assert json.loads(outputs.stdout)["region"] == "eu-central-1"

    assert project.ec2c("destroy", "--env", "team").returncode == 0


def test_ephemeral_run_on_s3_leaves_no_stack(project, s3_backend):
    result = project.ec2c(
        "test", "--env", "team", "--tests", str(SUITES / "passing"), "--", "-o", "python_files=check_*.py"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [k for k in _state_keys(s3_backend) if k.startswith(".pulumi/stacks/") and k.endswith(".json")]


def test_s3_backend_requires_a_passphrase(project, s3_backend):
    result = project.ec2c("up", "--env", "team", PULUMI_CONFIG_PASSPHRASE="")
    assert result.returncode == 2
    assert "needs PULUMI_CONFIG_PASSPHRASE" in result.stderr
    assert _state_keys(s3_backend) == []
