"""`ec2c scan`: run the compliance scanner from a workstation or CI.

Without `--demo` it uses the caller's AWS credentials exactly as the SDK finds them (`AWS_PROFILE`,
`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, SSO, instance roles ...): the command only
builds a default `boto3` session and never overrides the SDK's own resolution. With `--demo` it
scans an embedded moto fleet (see `orchestrator.scan.demo`), isolated from the caller's settings.

Exit codes: 0 the scan completed (even with findings, unless `--fail-on` trips), 1 the scan could
not run or every region failed or `--fail-on` found something, 2 bad input.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from urllib.parse import urlparse
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import boto3
import typer
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

from . import render as scan_render
from ..console import err, print_data
from ..errors import BadInput, OperationFailed
from ..yamlfiles import parse_yaml, read_text


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"
    asff = "asff"
    ocsf = "ocsf"


FILE_SUFFIXES = {
    OutputFormat.json: "json",
    OutputFormat.csv: "csv",
    OutputFormat.html: "html",
    OutputFormat.asff: "asff.json",
    OutputFormat.ocsf: "ocsf.json",
}
"""The file name ending each format gets in an --output folder."""


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    informational = "informational"


_REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


# --------------------------------------------------------------------------------------------
# Input parsing
# --------------------------------------------------------------------------------------------

def parse_regions(values: Sequence[str] | None) -> list[str]:
    """`--regions a,b --regions c` -> [a, b, c], de-duplicated, order kept; `--regions ""` is bad input."""
    regions: list[str] = []
    for value in values or ():
        for part in value.split(","):
            region = part.strip().lower()
            if region and region not in regions:
                regions.append(region)
    if values and not regions:
        raise BadInput(f"--regions: expected region names such as eu-west-1, got {','.join(values)!r}")
    return regions


def known_regions() -> set[str]:
    """Every EC2 region botocore knows about, across all partitions.

    Read from botocore's bundled endpoint data, not from a session, so it works offline and does
    not depend on (or trip over) the caller's profile.
    """
    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    names: set[str] = set()
    for partition in resolver.get_available_partitions():
        names.update(resolver.get_available_endpoints("ec2", partition))
    return names


def validate_regions(regions: Sequence[str], known: set[str], origin: str = "--regions") -> None:
    """Unknown regions are bad input; `origin` says where they came from (a flag, a variable)."""
    unknown = [r for r in regions if r not in known or not _REGION_SHAPE.match(r)]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise BadInput(f"{origin}: unknown region {', '.join(hints)}")


def check_aws_environment(environ: Mapping[str, str]) -> None:
    """The SDK variables the scan depends on, checked before anything runs (botocore would fail
    late, or silently ignore them)."""
    endpoint = environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadInput(f"AWS_ENDPOINT_URL={endpoint!r}: expected a URL such as https://ec2.example.com or "
                           "http://127.0.0.1:5000")
    attempts = environ.get("AWS_MAX_ATTEMPTS")
    if attempts is not None and not (attempts.strip().isdigit() and int(attempts) >= 1):
        raise BadInput(f"AWS_MAX_ATTEMPTS={attempts!r}: expected a whole number of at least 1")


def region_origin(session: boto3.session.Session) -> str:
    """Where the SDK's region came from, for an error that says what to fix."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(variable):
            return f"{variable}={os.environ[variable]}"
    return f"the region of profile {session.profile_name!r}"


def read_policy_file(path: Path) -> tuple[Mapping[str, Any] | None, str]:
    """Read a policy from YAML or JSON: a bare policy document or an environment file with a
    top-level `policy:` key. Returns (document, source label for error messages)."""
    source = str(path)
    text = read_text(path, "--policy")
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            raise BadInput(f"{source}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    else:
        document = parse_yaml(text, source)

    if document is None:
        return None, source
    if not isinstance(document, Mapping):
        raise BadInput(
            f"{source}: policy: expected a mapping (a policy document or a file with a top-level "
            f"`policy:` key), got {type(document).__name__}"
        )
    if "policy" in document:
        inner = document["policy"]
        if inner is not None and not isinstance(inner, Mapping):
            raise BadInput(f"{source}: policy: expected a mapping, got {type(inner).__name__}")
        return _with_defaults(path, inner), source
    return document, source


def _with_defaults(path: Path, policy: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """An environment file inherits the `policy:` of the defaults.yaml next to it (key by key,
    as `ec2c up` merges it), so a scan applies the same policy as the deployed analyzer."""
    defaults_path = path.parent / "defaults.yaml"
    if path.name == "defaults.yaml" or not defaults_path.is_file():
        return policy
    from ..deploy.environments import deep_merge

    defaults, _ = read_policy_file(defaults_path)
    if not defaults:
        return policy
    return deep_merge(defaults, policy or {})


def load_policy_document(document: Mapping[str, Any] | None, source: str) -> Any:
    from compliance_scanner.policy import PolicyError, load_policy

    try:
        return load_policy(document, source=source)
    except PolicyError as exc:
        raise BadInput(str(exc)) from None


# --------------------------------------------------------------------------------------------
# AWS session and the up-front credentials check
# --------------------------------------------------------------------------------------------

def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_aws_error(exc: BaseException) -> str:
    """A one-line, secret-free explanation of why AWS could not be reached."""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: configure a profile (`aws configure` / `aws sso login`, "
            "then AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; "
            "or try `ec2c scan --demo`"
        )
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {_one_line(str(exc))}"
    if isinstance(exc, ProfileNotFound):
        return f"{_one_line(str(exc))}: check AWS_PROFILE and ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "no AWS region configured: pass --regions or set AWS_REGION (or a region in your profile)"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {_one_line(str(exc))} (check the network, AWS_ENDPOINT_URL, proxy settings)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = _one_line(error.get("Message", "")) or str(code)
        op = getattr(exc, "operation_name", "") or "request"
        return f"AWS rejected the credentials ({op}: {code}): {message}"
    return f"AWS SDK error: {_one_line(str(exc))}"


def make_session() -> boto3.session.Session:
    """The caller's default session; the SDK resolves profile, region and endpoint from the env.

    AWS_REGION (what the other AWS SDKs and the docs use) wins over AWS_DEFAULT_REGION, which is
    the only one botocore itself reads.
    """
    try:
        session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
        session.region_name  # reads the profile's config: an unknown profile fails here  # noqa: B018
    except (ProfileNotFound, BotoCoreError) as exc:
        raise OperationFailed(describe_aws_error(exc)) from None
    return session


def caller_account(session: boto3.session.Session, region: str) -> str | None:
    """STS GetCallerIdentity: proves the credentials work before scanning anything."""
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise OperationFailed(describe_aws_error(exc)) from None
    return identity.get("Account")


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str, int], None] | None]:
    """A spinner fed by the scanner's `on_progress(stage, count)`; nothing when not a terminal."""
    if not enabled:
        yield None
        return
    seen: dict[str, int] = {}
    with err.status("Scanning ...", spinner="dots") as status:

        def on_progress(stage: str, count: int) -> None:
            seen[stage] = count
            total = sum(seen.values())
            status.update(f"Scanning {stage}: {count} instances ({total} so far)")

        yield on_progress


# --------------------------------------------------------------------------------------------
# The scan itself and the report
# --------------------------------------------------------------------------------------------

def rule_severities(scan_policy: Any) -> dict[str, str]:
    """rule id -> effective severity (the policy may override a rule's default)."""
    rules = getattr(scan_policy, "rules", None) or {}
    return {rule_id: config.severity for rule_id, config in rules.items()}


def failed_regions(report: Mapping[str, Any]) -> list[str]:
    """Regions where the instance inventory itself could not be listed."""
    failed = []
    for error in report.get("errors") or []:
        operation = str(error.get("operation") or "")
        region = error.get("region")
        listing = operation.split(":")[-1] in ("", "DescribeInstances")
        if region and listing and region not in failed:
            failed.append(region)
    return failed


def gate_failures(report: Mapping[str, Any], threshold: str) -> list[Mapping[str, Any]]:
    """Unsuppressed FAIL findings at or above `threshold`."""
    limit = scan_render.severity_rank(threshold)
    from compliance_scanner.report import failures

    return [
        f for f in failures(report)
        if str(f.get("status", "FAIL")).upper() == "FAIL"
        and not f.get("suppressed")
        and scan_render.severity_rank(f.get("severity")) <= limit
    ]


def _compact(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str) + "\n"


def format_report(report: Mapping[str, Any], fmt: OutputFormat, hub_region: str | None = None) -> str:
    """The report in `fmt`. JSON is compact: indentation sends json through its pure-Python
    encoder, which took longer than the scan itself on 2,000 instances (`jq .` indents when a
    person reads it). ASFF names the Security Hub region its findings belong to: `hub_region`,
    else the first region scanned."""
    if fmt is OutputFormat.csv:
        from compliance_scanner.report import to_csv

        return to_csv(report)
    if fmt is OutputFormat.html:
        from .html_report import to_html

        return to_html(report)
    if fmt is OutputFormat.asff:
        from compliance_scanner.asff import to_asff

        if not report.get("account_id"):
            raise OperationFailed("--format asff: the report has no account id (Security Hub findings need one)")
        return _compact(to_asff(report, hub_region or (report.get("regions") or ["us-east-1"])[0]))
    if fmt is OutputFormat.ocsf:
        from .ocsf import to_ocsf

        return _compact(to_ocsf(report))
    return _compact(report)


def _file_format(path: Path, fmt: OutputFormat) -> OutputFormat:
    """With `--format table --output FILE` the file gets JSON, or CSV / HTML by its suffix."""
    if fmt is not OutputFormat.table:
        return fmt
    suffix = path.suffix.lower()
    return {".csv": OutputFormat.csv, ".html": OutputFormat.html, ".htm": OutputFormat.html}.get(
        suffix, OutputFormat.json
    )


def write_output(path: Path, text: str) -> None:
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OperationFailed(f"{path}: cannot write the report: {exc.strerror or exc}") from None


def resolve_output(raw: str, fmt: OutputFormat) -> Path:
    """Check `--output` before scanning: a folder (trailing slash) gets a report file named after
    the format; the folder must exist or be creatable, the file writable."""
    path = Path(raw)
    if path.is_dir() and not raw.endswith(("/", os.sep)):
        raise BadInput(f"{raw}: --output: is a directory, expected a file path (end it with / to write "
                       "a report file into it)")
    if raw.endswith(("/", os.sep)):
        name = "ec2-compliance-report." + FILE_SUFFIXES.get(fmt, "json")
        path = path / name
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise BadInput(f"{raw}: --output: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{raw}: --output: {existing} is not writable")
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise BadInput(f"{raw}: --output: {path} is not a writable file")
    return path


def scan(
    demo: bool = typer.Option(
        False, "--demo", help="Scan an embedded demo fleet (moto): no AWS account or network needed."
    ),
    regions: Optional[list[str]] = typer.Option(
        None, "--regions", "-r", metavar="REGION[,REGION]",
        help="Regions to scan, comma-separated or repeated. Default: the SDK's configured region "
        "(with --demo: the demo regions).",
    ),
    policy: Optional[Path] = typer.Option(
        None, "--policy", "-p", metavar="FILE",
        help="Rule policy (YAML or JSON): a policy document or an environment file with a `policy:` key.",
    ),
    output_format: OutputFormat = typer.Option(
        OutputFormat.table, "--format", "-f", case_sensitive=False,
        help="table: human view on the terminal; json / csv / html / asff (Security Hub) / ocsf (Detection "
        "Finding events): the report on stdout (or in --output).",
    ),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="Write the report to FILE (in --format; with --format table: JSON, or CSV / HTML if FILE ends in "
        ".csv / .html). A folder (trailing slash) gets ec2-compliance-report.<format>.",
    ),
    fail_on: Optional[Severity] = typer.Option(
        None, "--fail-on", case_sensitive=False, metavar="SEVERITY",
        help="Exit 1 if an unsuppressed finding at or above SEVERITY exists (CI gate): "
        "critical, high, medium, low or informational.",
    ),
    allow_partial: bool = typer.Option(
        False, "--allow-partial",
        help="With --fail-on: do not fail because some regions could not be scanned completely.",
    ),
    security_hub: bool = typer.Option(
        False, "--security-hub",
        help="Import the findings into Security Hub (BatchImportFindings, the account's default product in the "
        "SDK's region) and archive the ones this scan shows fixed (never where a region or a read failed).",
    ),
    region_workers: int = typer.Option(
        4, "--region-workers", min=1, max=32,
        help="Regions scanned at once (lower it if the account's API rate limits are tight).",
    ),
    limit: int = typer.Option(
        scan_render.DEFAULT_LIMIT, "--limit", min=0,
        help="Rows of the findings table (0: all). The JSON/CSV report always has every finding.",
    ),
) -> None:
    """Scan EC2 instances against the compliance policy and report the findings."""
    region_list = parse_regions(regions)
    output_path = resolve_output(output, output_format) if output is not None else None
    if not demo:
        check_aws_environment(os.environ)
    if region_list:
        validate_regions(region_list, known_regions())

    if demo:
        from . import demo as demo_module

        region_list = region_list or list(demo_module.DEMO_REGIONS)

    if policy is not None:
        document, source = read_policy_file(policy)
    elif demo:
        from . import demo as demo_module

        document, source = demo_module.demo_policy(), "demo policy"
    else:
        document, source = None, "default policy"
    scan_policy = load_policy_document(document, source)

    with _session_for(demo, region_list) as (session, region_list, account_id, fleet_note):
        if fleet_note:
            err.print(fleet_note, style="dim")
        report = _run_scan(session, region_list, scan_policy, account_id, region_workers)
        hub_region = session.region_name or region_list[0]
        imported = _security_hub(session, report, hub_region, demo) if security_hub else None

    emit(report, output_format, output_path, limit, rule_severities(scan_policy), hub_region)
    _warn_expired(report)
    if imported is not None:
        err.print(imported.summary(), markup=False, highlight=False)
        if not imported.ok:
            raise OperationFailed(f"--security-hub: not every finding was imported into {hub_region}; see above")

    failed = failed_regions(report)
    if region_list and failed and set(region_list) <= set(failed):
        codes = {}
        for error in report.get("errors") or []:
            codes.setdefault(error.get("region"), error.get("code") or "error")
        detail = ", ".join(f"{region}: {codes.get(region)}" for region in failed)
        raise OperationFailed(f"every region failed to scan ({detail}); see the report's errors")

    if fail_on is not None:
        hits = gate_failures(report, fail_on.value)
        if hits:
            raise OperationFailed(
                f"--fail-on {fail_on.value}: {len(hits)} unsuppressed finding{'s' if len(hits) != 1 else ''} "
                f"at {fail_on.value} severity or above"
            )
        incomplete = report.get("incomplete_regions") or []
        if report.get("partial") and not allow_partial:
            where = f"regions not fully scanned: {', '.join(incomplete)}" if incomplete else report.get("partial_reason")
            raise OperationFailed(
                f"--fail-on {fail_on.value}: the report is partial ({where}); a region that was not read "
                "cannot pass the gate (see the errors; --allow-partial accepts it)"
            )


def _warn_expired(report: Mapping[str, Any]) -> None:
    """Expired suppressions stop matching: say so, or findings come back without warning."""
    for item in report.get("expired_suppressions") or []:
        tag = item.get("tag") or {}
        selector = f"{tag.get('key')}~{tag.get('regex')}" if "regex" in tag else f"{tag.get('key')}={tag.get('value')}"
        target = f"instance {item['instance_id']}" if item.get("instance_id") else f"tag {selector}"
        err.print(
            f"warning: suppression of {item.get('rule')} for {target} expired on {item.get('expires')} "
            f"({item.get('reason')}); its findings count again",
            markup=False, highlight=False,
        )


@contextlib.contextmanager
def _session_for(demo: bool, regions: list[str]) -> Iterator[tuple[Any, list[str], str | None, str | None]]:
    if demo:
        from . import demo as demo_module

        seeding = err.status("Seeding the demo fleet into moto ...") if err.is_terminal else contextlib.nullcontext()
        with contextlib.ExitStack() as stack:
            with seeding:
                session, fleet = stack.enter_context(demo_module.demo_session(regions))
            counts = ", ".join(f"{r} {n}" for r, n in fleet.counts_per_region.items())
            note = f"Demo: a moto fleet of {len(fleet.instances)} instances ({counts}); no AWS account is used."
            yield session, regions, demo_module.DEMO_ACCOUNT_ID, note
        return

    session = make_session()
    if not regions:
        if not session.region_name:
            raise OperationFailed(describe_aws_error(NoRegionError()))
        regions = [session.region_name]
        validate_regions(regions, known_regions(), origin=region_origin(session))
    account_id = caller_account(session, regions[0])
    yield session, regions, account_id, None


def _run_scan(
    session: Any, regions: list[str], scan_policy: Any, account_id: str | None, region_workers: int
) -> dict[str, Any]:
    from compliance_scanner.scanner import scan as run_scan

    with progress_reporter(err.is_terminal) as on_progress:
        try:
            return run_scan(session, regions, scan_policy, account_id=account_id, on_progress=on_progress,
                            region_workers=region_workers)
        except (BotoCoreError, ClientError) as exc:
            raise OperationFailed(f"scan failed: {describe_aws_error(exc)}") from None


def _security_hub(session: Any, report: Mapping[str, Any], hub_region: str, demo: bool) -> Any:
    from .hub import import_report

    if demo:  # the demo's moto account starts without a hub, as a new AWS account does
        session.client("securityhub", region_name=hub_region).enable_security_hub()
    return import_report(session, report, hub_region)


def emit(
    report: Mapping[str, Any],
    fmt: OutputFormat,
    output: Path | None,
    limit: int,
    severities: Mapping[str, str],
    hub_region: str | None = None,
) -> None:
    """Show the report first, then write the file: a write that fails still leaves the table."""
    if fmt is OutputFormat.table:
        scan_render.render_report(err, report, severities=severities, limit=limit)
    elif output is None:
        print_data(format_report(report, fmt, hub_region))
        scan_render.render_summary_line(err, report)
    else:
        scan_render.render_summary_line(err, report)
    if output is not None:
        write_output(output, format_report(report, _file_format(output, fmt), hub_region))
        err.print(f"Report written to {output} ({_file_format(output, fmt).value})", style="dim", markup=False)
