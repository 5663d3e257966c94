"""`ec2c doctor --env E` on moto's CloudTrail: the trails each scan region has, whether they log,
and whether their selectors record management write events; through typer's CliRunner for the
table, `--json` and the exit codes.

moto answers every CloudTrail call; a denied call is botocore's Stubber answering that one
operation (`get_trail_status` or `describe_trails`) with AccessDeniedException, while the
client's other calls still reach moto (`denied`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from typer.testing import CliRunner

from ec2c.orchestrator.cli import app
from ec2c.orchestrator.scan import trail
from ec2c.orchestrator.scan.trail import RegionListing, TrailFacts, Verdict, check_region, records_management_writes

HOME = "us-east-1"
OTHER = "eu-west-1"
BUCKET = "cloudtrail-logs"
ACCOUNT = "123456789012"
"""moto's default account."""
MANAGEMENT = [{"ReadWriteType": "All", "IncludeManagementEvents": True}]


class Account:
    """A moto account's CloudTrail, with the bucket every trail needs."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(region_name=HOME)
        self.session.client("s3").create_bucket(Bucket=BUCKET)

    def client(self, region: str = HOME) -> Any:
        return self.session.client("cloudtrail", region_name=region)

    def trail(
        self,
        name: str,
        *,
        region: str = HOME,
        multi_region: bool = True,
        logging: bool = True,
        selectors: list[dict[str, Any]] | None = None,
        advanced: list[dict[str, Any]] | None = None,
    ) -> str:
        """A trail, logging or not, with basic selectors (default: all management events) or advanced ones."""
        client = self.client(region)
        arn = client.create_trail(Name=name, S3BucketName=BUCKET, IsMultiRegionTrail=multi_region)["TrailARN"]
        if advanced is not None:
            client.put_event_selectors(TrailName=name, AdvancedEventSelectors=advanced)
        else:
            client.put_event_selectors(TrailName=name, EventSelectors=MANAGEMENT if selectors is None else selectors)
        if logging:
            client.start_logging(Name=name)
        return arn


@pytest.fixture
def account(dummy_creds) -> Iterator[Account]:
    with mock_aws():
        yield Account()


def config(tmp_path: Path, *, events: bool = True, account_id: str | None = ACCOUNT) -> Path:
    """A config folder whose `dev` scans HOME and OTHER."""
    folder = tmp_path / "envs"  # tmp_path/config is the AWS config file (clean_env)
    folder.mkdir(exist_ok=True)
    aws: dict[str, Any] = {"region": HOME, "scan_regions": [HOME, OTHER]}
    if account_id:
        aws["account_id"] = account_id
    (folder / "dev.yaml").write_text(yaml.safe_dump({"aws": aws, "events": {"enabled": events}}))
    return folder


def doctor(folder: Path, *args: str):
    result = CliRunner().invoke(app, ["doctor", "--env", "dev", "--config-dir", str(folder), *args], terminal_width=400)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def by_region(result) -> dict[str, dict[str, Any]]:
    return {check["region"]: check for check in json.loads(result.stdout)["regions"]}


def flat(text: str) -> str:
    return " ".join(text.split())


def denied(client: Any, operation: str, message: str = "not authorized") -> Any:
    """`client`, except that `operation` answers AccessDeniedException (botocore's Stubber)."""
    stubbed = boto3.client("cloudtrail", region_name=client.meta.region_name)
    stubber = Stubber(stubbed)
    stubber.add_client_error(operation, "AccessDeniedException", message)
    stubber.activate()

    class OneCallDenied:
        def __getattr__(self, name: str) -> Any:
            return getattr(stubbed if name == operation else client, name)

    return OneCallDenied()


def diagnose(account: Account, tmp_path: Path) -> dict[str, Any]:
    from ec2c.orchestrator.deploy.inputs.environments import ConfigDir

    environment = ConfigDir(config(tmp_path)).load("dev")
    return {check.region: check for check in trail.diagnose(environment, account.session).regions}


# ------------------------------------------------------------------------------------------------
# Each way a region can be covered or not
# ------------------------------------------------------------------------------------------------


def test_a_logging_multi_region_trail_with_management_events_makes_every_region_ok(account, tmp_path) -> None:
    arn = account.trail("org-trail")

    result = doctor(config(tmp_path), "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["events_enabled"] is True and document["account"] == ACCOUNT
    for region in (HOME, OTHER):
        check = by_region(result)[region]
        assert check["verdict"] == "ok"
        assert (check["trail"], check["trail_arn"]) == ("org-trail", arn)
        assert check["logging"] is True and check["management_events"] is True
        assert check["problem"] is None and check["fix"] is None


def test_no_trail_is_not_ok_with_the_commands_that_make_one(account, tmp_path) -> None:
    result = doctor(config(tmp_path), "--json")

    assert result.exit_code == 1
    for region in (HOME, OTHER):
        check = by_region(result)[region]
        assert check["verdict"] == "not_ok" and check["trail"] is None
        assert check["problem"] == f"no trail covers {region}"
        assert "aws cloudtrail create-trail --name management-events" in check["fix"]
        assert f"--is-multi-region-trail --region {region} && aws cloudtrail start-logging" in check["fix"]
    assert "error: 2 of 2 regions not OK or cannot tell: us-east-1, eu-west-1" in flat(result.stderr)


def test_a_trail_that_is_not_logging_is_not_ok_and_the_fix_starts_it(account, tmp_path) -> None:
    arn = account.trail("stopped", logging=False)

    check = by_region(doctor(config(tmp_path), "--json"))[OTHER]

    assert check["verdict"] == "not_ok"
    assert (check["logging"], check["management_events"]) == (False, True)
    assert check["problem"] == "trail stopped is not logging"
    assert check["fix"] == f"start it: aws cloudtrail start-logging --name {arn} --region {HOME}"


@pytest.mark.parametrize(
    "selectors",
    [
        [{"ReadWriteType": "All", "IncludeManagementEvents": False, "DataResources": []}],
        [{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
    ],
    ids=["data-events-only", "read-only-management-events"],
)
def test_a_trail_without_management_write_events_is_not_ok(account, tmp_path, selectors) -> None:
    account.trail("reads", selectors=selectors)

    result = doctor(config(tmp_path), "--json")

    assert result.exit_code == 1
    check = by_region(result)[HOME]
    assert check["verdict"] == "not_ok"
    assert (check["logging"], check["management_events"]) == (True, False)
    assert check["problem"] == "trail reads records no management write events"
    assert check["fix"].startswith("add a selector with management events (ReadWriteType All or WriteOnly) to reads;")
    assert "start its logging" not in check["fix"]


def test_write_only_management_events_are_enough(account, tmp_path) -> None:
    account.trail("writes", selectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}])

    assert doctor(config(tmp_path), "--json").exit_code == 0


def management(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "Name": "management",
            "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}, *extra],
        }
    ]


@pytest.mark.parametrize(
    ("advanced", "verdict"),
    [
        (management(), "ok"),
        (management({"Field": "readOnly", "Equals": ["false"]}), "ok"),
        (management({"Field": "readOnly", "Equals": ["true"]}), "not_ok"),
        (
            [
                {
                    "Name": "s3 objects",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                    ],
                }
            ],
            "not_ok",
        ),
    ],
    ids=["management", "management-writes", "management-reads", "data-only"],
)
def test_advanced_selectors_count_when_they_keep_management_writes(account, tmp_path, advanced, verdict) -> None:
    account.trail("advanced", advanced=advanced)

    result = doctor(config(tmp_path), "--json")

    assert {check["verdict"] for check in by_region(result).values()} == {verdict}
    assert result.exit_code == (0 if verdict == "ok" else 1)


def test_a_single_region_trail_covers_its_home_region_only(account, tmp_path) -> None:
    account.trail("home-only", multi_region=False)

    result = doctor(config(tmp_path), "--json")

    assert result.exit_code == 1
    checks = by_region(result)
    assert checks[HOME]["verdict"] == "ok" and checks[HOME]["trail"] == "home-only"
    assert checks[OTHER]["verdict"] == "not_ok"
    assert checks[OTHER]["problem"] == f"no trail covers {OTHER} (single-region trail elsewhere: home-only in {HOME})"
    assert f"--region {OTHER}" in checks[OTHER]["fix"]


def test_one_good_trail_is_enough_beside_a_bad_one(account, tmp_path) -> None:
    account.trail("stopped", logging=False)
    account.trail("good", region=OTHER)

    checks = by_region(doctor(config(tmp_path), "--json"))

    assert {region: (check["verdict"], check["trail"]) for region, check in checks.items()} == {
        HOME: ("ok", "good"),
        OTHER: ("ok", "good"),
    }


# ------------------------------------------------------------------------------------------------
# Calls that fail: cannot tell, never a crash
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "operation"), [("get_trail_status", "GetTrailStatus"), ("get_event_selectors", "GetEventSelectors")]
)
def test_a_denied_trail_read_is_cannot_tell_in_every_region_it_covers(
    account, tmp_path, monkeypatch, method, operation
) -> None:
    account.trail("org-trail")
    real = trail.cloudtrail_client
    monkeypatch.setattr(trail, "cloudtrail_client", lambda session, region: denied(real(session, region), method))

    checks = diagnose(account, tmp_path)

    for region in (HOME, OTHER):
        assert checks[region].verdict is Verdict.cannot_tell
        assert checks[region].error_code == "AccessDeniedException"
        assert checks[region].trail == "org-trail"
        assert checks[region].problem == (
            f"cannot tell: reading trail org-trail failed ({operation}: AccessDeniedException: not authorized)"
        )
        assert f"cloudtrail:{operation}" in (checks[region].fix or "")


def test_a_denied_listing_is_cannot_tell_for_that_region_only(account, tmp_path, monkeypatch) -> None:
    """The error's text (brackets and all) is printed as AWS wrote it, never read as markup."""
    account.trail("org-trail")
    real = trail.cloudtrail_client

    def client(session: Any, region: str) -> Any:
        made = real(session, region)
        return denied(made, "describe_trails", "[bold]denied[/bold] by an SCP") if region == OTHER else made

    monkeypatch.setattr(trail, "cloudtrail_client", client)
    folder = config(tmp_path)

    result = doctor(folder)
    checks = by_region(doctor(folder, "--json"))

    assert result.exit_code == 1
    assert checks[HOME]["verdict"] == "ok"
    assert checks[OTHER]["verdict"] == "cannot_tell" and checks[OTHER]["error_code"] == "AccessDeniedException"
    assert (
        "cannot tell: listing the trails failed (DescribeTrails: AccessDeniedException: [bold]denied[/bold] by an SCP)"
        in (flat(result.stderr))
    )
    assert "error: 1 of 2 regions not OK or cannot tell: eu-west-1" in flat(result.stderr)


def test_credentials_of_another_account_are_refused(account, tmp_path) -> None:
    account.trail("org-trail")

    result = doctor(config(tmp_path, account_id="210987654321"))

    assert result.exit_code == 1
    assert f"the credentials are of account {ACCOUNT}, environment dev is in account 210987654321" in flat(
        result.stderr
    )
    assert result.stdout == ""


def test_no_credentials_is_one_line_not_a_traceback(dummy_creds, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    result = doctor(config(tmp_path))

    assert result.exit_code == 1
    assert "error: no AWS credentials found" in flat(result.stderr)


# ------------------------------------------------------------------------------------------------
# The command: table, events.enabled, bad input
# ------------------------------------------------------------------------------------------------


def test_the_table_shows_each_region_then_the_problems_and_fixes(account, tmp_path) -> None:
    account.trail("home-only", multi_region=False)

    result = doctor(config(tmp_path, events=False))

    assert result.exit_code == 1
    assert result.stdout == ""
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in result.stderr.splitlines()
        if line.startswith("│")
    }
    assert rows == {HOME: ["home-only", "yes", "yes", "OK"], OTHER: ["-", "-", "-", "not OK"]}
    text = flat(result.stderr)
    assert f"{OTHER}: no trail covers {OTHER} (single-region trail elsewhere: home-only in {HOME})" in text
    assert "fix: create a multi-region trail logging management events: aws cloudtrail create-trail" in text
    assert "events.enabled is off in dev: this check matters only once it is on" in text


def test_events_enabled_says_the_path_depends_on_it(account, tmp_path) -> None:
    account.trail("org-trail")

    result = doctor(config(tmp_path))

    assert result.exit_code == 0
    assert "events.enabled is on in dev: the change-event path depends on this check" in flat(result.stderr)
    assert "error:" not in result.stderr


def test_an_unknown_environment_is_bad_input(account, tmp_path) -> None:
    result = CliRunner().invoke(app, ["doctor", "--env", "qa", "--config-dir", str(config(tmp_path))])

    assert result.exit_code == 2
    assert "unknown environment 'qa'" in flat(result.stderr)


# ------------------------------------------------------------------------------------------------
# The check alone
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        ({"EventSelectors": [{"IncludeManagementEvents": True}]}, True),
        ({"EventSelectors": [{"ReadWriteType": "ReadOnly"}, {"ReadWriteType": "WriteOnly"}]}, True),
        ({"EventSelectors": [], "AdvancedEventSelectors": []}, False),
        ({"AdvancedEventSelectors": management({"Field": "readOnly", "NotEquals": ["false"]})}, False),
        ({"AdvancedEventSelectors": management({"Field": "readOnly", "NotEquals": ["true"]})}, True),
    ],
)
def test_management_writes_from_the_selectors(selectors, expected) -> None:
    assert records_management_writes(selectors) is expected


def test_a_trail_listed_for_another_region_does_not_cover_this_one() -> None:
    """DescribeTrails lists only the trails that apply; a stray one is still not counted."""
    stray = TrailFacts("stray", "arn:aws:cloudtrail:us-west-2:1:trail/stray", "us-west-2", False, True, True)

    check = check_region(RegionListing(HOME, (stray,)))

    assert check.verdict is Verdict.not_ok and check.problem == f"no trail covers {HOME}"


def test_an_sdk_failure_is_named_by_its_class() -> None:
    from botocore.exceptions import EndpointConnectionError

    error = trail.call_error("GetTrailStatus", EndpointConnectionError(endpoint_url="https://cloudtrail.example"))

    assert (error.operation, error.code) == ("GetTrailStatus", "EndpointConnectionError")
    assert "https://cloudtrail.example" in error.message


def test_a_trail_neither_logging_nor_recording_management_writes_needs_both_fixes() -> None:
    idle = TrailFacts("idle", f"arn:aws:cloudtrail:{HOME}:1:trail/idle", HOME, True, False, False)

    check = check_region(RegionListing(HOME, (idle,)))

    assert check.verdict is Verdict.not_ok
    assert check.problem == "trail idle records no management write events and is not logging"
    assert "and start its logging" in (check.fix or "")
