"""`read_stack_state` against the real engine: what it reads from the backend's files is what the
engine itself answers (`stack history`, `stack output`, `stack tag ls` through the Automation
API), on a file:// backend and on an s3:// backend served by moto, with and without
`PULUMI_DIY_BACKEND_GZIP`."""

from __future__ import annotations

from datetime import UTC

import pytest

from ec2c.orchestrator.deploy.inputs.environments import ConfigDir
from ec2c.orchestrator.deploy.stack.backend_state import HistoryEntry, read_stack_state
from ec2c.orchestrator.deploy.stack.lifecycle import SECRET_MASK, no_program, plain_outputs
from ec2c.orchestrator.deploy.stack.workspace import StackTarget, open_stack
from ec2c.orchestrator.engine.pulumi_cli import require_engine
from ec2c.orchestrator.errors import OperationFailed

from .conftest import MOTO_CREDENTIALS, PASSPHRASE
from .programs import SECRET_VALUE

pytestmark = pytest.mark.engine
PROJECT = "ec2-compliance"


@pytest.fixture(params=["file", "file+gzip", "s3", "s3+gzip"])
def backend(request, project, monkeypatch):
    """The environment to deploy (its backend per the parameter) and the extra variables of its runs."""
    extra = {"PULUMI_DIY_BACKEND_GZIP": "true"} if request.param.endswith("gzip") else {}
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    if not request.param.startswith("s3"):
        return "eng", extra, None
    endpoint, s3 = request.getfixturevalue("moto_s3")
    s3.create_bucket(Bucket="team-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    url = f"s3://team-state/estate?endpoint={endpoint}&region=eu-west-1&use_path_style=true"
    project.write_env("team", {"backend": url, "aws": {"region": "eu-central-1"}})
    for name, value in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return "team", {**extra, **MOTO_CREDENTIALS}, s3


def _state_files(project, s3, stack: str) -> set[str]:
    """The names of the stack's files beside its checkpoint, in whichever store holds them."""
    if s3 is None:
        folder = project.state / "stacks" / PROJECT
        return {p.name for p in folder.iterdir() if p.name.startswith(f"{stack}.") and not p.name.endswith(".attrs")}
    listed = s3.list_objects_v2(Bucket="team-state", Prefix=f"estate/.pulumi/stacks/{PROJECT}/{stack}.")
    return {item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", [])}


def test_the_backend_read_directly_agrees_with_the_engine(project, backend) -> None:
    env_name, extra, s3 = backend
    up = project.ec2c("up", "--env", env_name, **extra)
    assert up.returncode == 0, up.stderr
    config = ConfigDir(project.config)
    target = StackTarget(env=config.load(env_name), stack_name=env_name, root=config.root)
    stack = open_stack(target, require_engine(), no_program, create=False)
    stack.workspace.set_tag(env_name, "team:owner", "platform team")
    stack.refresh()

    state = read_stack_state(target.backend_url, PROJECT, env_name)

    history = stack.history(show_secrets=False)
    engine_entries = [HistoryEntry(h.kind, h.result, h.end_time.replace(tzinfo=UTC)) for h in history]
    assert [entry.kind for entry in engine_entries] == ["refresh", "update"]
    assert (state.last, state.last_up) == (engine_entries[0], engine_entries[1])
    assert state.exists and state.tags == stack.workspace.list_tags(env_name)
    assert state.tags["team:owner"] == "platform team" and state.tags["ec2c:inputs-sha256"]
    assert state.outputs == plain_outputs(stack.outputs())
    assert state.outputs["api_token"] == SECRET_MASK and SECRET_VALUE not in str(state)
    assert state.outputs["region"] == target.env.aws.region

    gz = "PULUMI_DIY_BACKEND_GZIP" in extra
    checkpoint = f"{env_name}.json.gz" if gz else f"{env_name}.json"
    assert {checkpoint, f"{env_name}.pulumi-tags"} <= _state_files(project, s3, env_name)
    assert (f"{env_name}.json" in _state_files(project, s3, env_name)) is not gz

    assert not read_stack_state(target.backend_url, PROJECT, "nowhere").exists
    with pytest.raises(OperationFailed, match="does not exist"):
        open_stack(
            StackTarget(env=target.env, stack_name="nowhere", root=config.root),
            require_engine(),
            no_program,
            create=False,
        )
