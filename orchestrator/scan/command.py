"""`ec2c scan`: run the compliance scanner from a workstation or CI.

Without `--demo` it uses the caller's AWS credentials exactly as the SDK finds them (`AWS_PROFILE`,
`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, SSO, instance roles ...): the command only
builds a default `boto3` session and never overrides the SDK's own resolution. With `--demo` it
scans an embedded moto fleet (see `ec2c.orchestrator.scan.demo`), isolated from the caller's settings.

The scan is the Lambda's own (`ec2c.scanner.scanner.scan`), with its memory bound: each
region streams into gzip shards in a store, and every output reads them back a finding at a time.
The store is the `--output DIR/` folder, laid out as the analyzer's bucket (so the previous run
there is the history: first seen, new, resolved), or a temporary folder removed afterwards. JSON,
CSV, ASFF and OCSF are written finding by finding to stdout or the file; the table and the HTML
page keep only the most severe rows (a heap) and count the rest; the gate counts as the failures
stream past.

Exit codes: 0 the scan completed (even with findings, unless `--fail-on` trips), 1 the scan could
not run or every region failed or `--fail-on` found something, 2 bad input.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO
from urllib.parse import urlparse

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
from ec2c.scanner.contract import LATEST_REPORT_KEY, REPORT_PREFIX
from ec2c.scanner.storage import ReportReadError

from ..console import err
from ..errors import BadInput, OperationFailed
from ..yamlfiles import parse_yaml, read_text
from . import render as scan_render

if TYPE_CHECKING:  # the reader pulls in the rules and the policy: imported where a report is read
    from ec2c.scanner.reader import Report
    from ec2c.scanner.storage import Store


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
    from ec2c.scanner.policy import PolicyError, load_policy

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
# Where the report goes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanOutput:
    """What `ec2c scan --output` asked for: a folder that keeps the report with the bucket's
    layout (and the file of the format, if it is a file format), or one file."""

    folder: Path | None = None
    file: Path | None = None


def _is_folder(raw: str) -> bool:
    return raw.endswith(("/", os.sep)) or Path(raw).is_dir()


def _check_writable(raw: str, path: Path) -> None:
    """The nearest existing folder above `path` must be a writable folder, and `path`, if it
    exists, a writable file."""
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise BadInput(f"{raw}: --output: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{raw}: --output: {existing} is not writable")
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise BadInput(f"{raw}: --output: {path} is not a writable file")


def resolve_output(raw: str, fmt: OutputFormat) -> Path:
    """Check `--output` before reading anything: a folder (a trailing slash, or one that exists)
    gets a report file named after the format; the folder must exist or be creatable, the file
    writable."""
    path = Path(raw)
    if _is_folder(raw):
        path = path / ("ec2-compliance-report." + FILE_SUFFIXES.get(fmt, "json"))
    _check_writable(raw, path)
    return path


def resolve_scan_output(raw: str, fmt: OutputFormat) -> ScanOutput:
    """`ec2c scan --output`, checked before the scan: a folder (a trailing slash, or one that
    exists) is a report store, plus the formatted file when `fmt` is a file format; anything else
    is one file."""
    if not _is_folder(raw):
        return ScanOutput(file=resolve_output(raw, fmt))
    folder = Path(raw)
    _check_writable(raw, folder / LATEST_REPORT_KEY)
    return ScanOutput(folder=folder, file=resolve_output(raw, fmt) if fmt is not OutputFormat.table else None)


@contextlib.contextmanager
def open_output(path: Path) -> Iterator[TextIO]:
    """A text file written beside `path` and renamed over it once complete: a write that fails
    half-way (a full disk, a shard that cannot be read) leaves no half report, and the previous
    file as it was. Created as `open()` would (mode 0666 less the umask)."""
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OperationFailed(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OperationFailed(f"{path}: cannot write the report: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# The report in each format, streamed
# --------------------------------------------------------------------------------------------

EXPORT_LISTS: dict[str, str] = {
    "findings": "findings",
    "new_findings": "new_findings",
    "resolved_findings": "resolved_findings",
    "unevaluated_resources": "unevaluated",
}
"""The lists the single-file export (`--format json`) holds inline, and the `Report` method that
streams each from the shards; in the index `new_findings` and `resolved_findings` are the counts
of these lists."""


def _compact(document: Any) -> str:
    """Compact JSON: indentation sends json through its pure-Python encoder, which took longer
    than the scan itself on 2,000 instances (`jq .` indents when a person reads it)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)


def _write_array(out: TextIO, items: Iterable[Any]) -> None:
    out.write("[")
    for number, item in enumerate(items):
        if number:
            out.write(",")
        out.write(_compact(item))
    out.write("]")


def write_export(out: TextIO, report: Report) -> None:
    """The single-file export (`docs/report-schema.md`): the index's fields with the findings
    lists inline, keys sorted, each list written finding by finding. Its `region_shards` keep
    their counts but name no shard (`shards: null`): the export carries no store, and
    `load_report` reads it back from its inline lists."""
    fields: dict[str, Any] = {key: value for key, value in report.index.items() if key not in EXPORT_LISTS}
    fields["region_shards"] = [{**entry, "shards": None} for entry in report.index["region_shards"]]
    out.write("{")
    for number, key in enumerate(sorted([*fields, *EXPORT_LISTS])):
        if number:
            out.write(",")
        out.write(json.dumps(key) + ":")
        if key in EXPORT_LISTS:
            _write_array(out, getattr(report, EXPORT_LISTS[key])())
        else:
            out.write(_compact(fields[key]))
    out.write("}\n")


def write_report(
    out: TextIO, report: Report, fmt: OutputFormat, hub_region: str | None = None, rest_at: str | None = None
) -> None:
    """The report in `fmt`, written to `out` piece by piece (never built as one text). ASFF names
    the Security Hub region its findings belong to: `hub_region`, else the first region scanned.
    `rest_at` tells the HTML page where every finding is when it cannot embed them all."""
    if fmt is OutputFormat.csv:
        writer = csv.writer(out)
        for row in report.csv_lines():
            writer.writerow(row)
    elif fmt is OutputFormat.html:
        from .html_report import html_chunks

        for chunk in html_chunks(report, rest_at):
            out.write(chunk)
    elif fmt is OutputFormat.asff:
        from ec2c.scanner.asff import to_asff

        if not report.index["account_id"]:
            raise OperationFailed("--format asff: the report has no account id (Security Hub findings need one)")
        _write_array(out, to_asff(report, hub_region or (report.index["regions"] or ["us-east-1"])[0]))
        out.write("\n")
    elif fmt is OutputFormat.ocsf:
        from .ocsf import to_ocsf

        try:
            _write_array(out, to_ocsf(report))
        except ValueError as exc:
            raise OperationFailed(f"--format ocsf: {exc}") from None
        out.write("\n")
    else:
        write_export(out, report)


def _file_format(path: Path, fmt: OutputFormat) -> OutputFormat:
    """With `--format table --output FILE` the file gets JSON, or CSV / HTML by its suffix."""
    if fmt is not OutputFormat.table:
        return fmt
    suffix = path.suffix.lower()
    return {".csv": OutputFormat.csv, ".html": OutputFormat.html, ".htm": OutputFormat.html}.get(
        suffix, OutputFormat.json
    )


def emit(
    report: Report,
    fmt: OutputFormat,
    output: Path | None,
    limit: int,
    severities: Mapping[str, str],
    hub_region: str | None = None,
    rest_at: str | None = None,
) -> None:
    """Show the report first, then write the file: a write that fails still leaves the table."""
    if fmt is OutputFormat.table:
        scan_render.render_report(err, report, severities=severities, limit=limit)
    elif output is None:
        write_report(sys.stdout, report, fmt, hub_region, rest_at)
        sys.stdout.flush()
        scan_render.render_summary_line(err, report)
    else:
        scan_render.render_summary_line(err, report)
    if output is not None:
        kind = _file_format(output, fmt)
        with open_output(output) as out:
            write_report(out, report, kind, hub_region, rest_at)
        err.print(f"Report written to {output} ({kind.value})", style="dim", markup=False, highlight=False,
                  soft_wrap=True)


@contextlib.contextmanager
def unreadable_as_failure() -> Iterator[None]:
    """A stored object that cannot be read while the report streams (a shard gone, truncated,
    not gzip) ends the command with its one line: the object, then why."""
    try:
        yield
    except ReportReadError as exc:
        raise OperationFailed(str(exc)) from None


# --------------------------------------------------------------------------------------------
# The scan itself and the checks on its report
# --------------------------------------------------------------------------------------------

def rule_severities(scan_policy: Any) -> dict[str, str]:
    """rule id -> effective severity (the policy may override a rule's default)."""
    rules = getattr(scan_policy, "rules", None) or {}
    return {rule_id: config.severity for rule_id, config in rules.items()}


def failed_regions(report: Report) -> list[str]:
    """Regions where the instance inventory itself could not be listed."""
    failed = []
    for error in report.index["errors"]:
        operation = str(error.get("operation") or "")
        region = error.get("region")
        listing = operation.split(":")[-1] in ("", "DescribeInstances")
        if region and listing and region not in failed:
            failed.append(region)
    return failed


def gate_failures(report: Report, threshold: str) -> int:
    """How many unsuppressed FAILs are at or above `threshold` (the failures streamed, counted)."""
    limit = scan_render.severity_rank(threshold)
    return sum(
        1
        for f in report.failures()
        if str(f.get("status", "FAIL")).upper() == "FAIL"
        and not f.get("suppressed")
        and scan_render.severity_rank(f.get("severity")) <= limit
    )


@contextlib.contextmanager
def report_store(folder: Path | None) -> Iterator[tuple[Store, Report | None]]:
    """The store the scan writes into and the previous report there: `--output DIR/` keeps the
    bucket's layout in DIR, and its last run is the history (first seen, new, resolved); without
    a folder, a temporary one, removed afterwards, and no history. A previous index that cannot
    be read stops the command (one line naming it) rather than being overwritten."""
    from ec2c.scanner.reader import load_latest
    from ec2c.scanner.storage import DirStore

    if folder is None:
        with tempfile.TemporaryDirectory(prefix="ec2c-scan-") as temporary:
            yield DirStore(temporary), None
        return
    store = DirStore(folder)
    try:
        previous = load_latest(store)
    except ReportReadError as exc:
        raise OperationFailed(f"{exc} (the previous report of this folder; use another folder, or move it away)") from None
    yield store, previous


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
        None, "--output", "-o", metavar="FILE|DIR/",
        help="Write the report to FILE (in --format; with --format table: JSON, or CSV / HTML if FILE ends in "
        ".csv / .html). A folder (trailing slash, or an existing folder) keeps the report as the analyzer's bucket "
        "does (DIR/reports/latest.json, dated copies and per-region shards): the next scan into it reports what is "
        "new and resolved since; with a file format it also gets ec2-compliance-report.<format>.",
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
        help=f"Rows of the findings table (0: all, up to {scan_render.MAX_ROWS:,}; the rest are counted). "
        "The JSON/CSV report always has every finding.",
    ),
) -> None:
    """Scan EC2 instances against the compliance policy and report the findings."""
    region_list = parse_regions(regions)
    target = resolve_scan_output(output, output_format) if output is not None else ScanOutput()
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

    with unreadable_as_failure(), report_store(target.folder) as (store, previous):
        with _session_for(demo, region_list) as (session, region_list, account_id, fleet_note):
            if fleet_note:
                err.print(fleet_note, style="dim")
            _check_same_account(target.folder, previous, account_id)
            report = _run_scan(session, region_list, scan_policy, account_id, region_workers, store, previous)
            hub_region = session.region_name or region_list[0]
            imported = _security_hub(session, report, hub_region, demo) if security_hub else None

        rest_at = None if target.folder is not None else (
            "the CSV or JSON of the scan (--format csv or json; --output DIR/ also keeps the per-region CSV shards)"
        )
        emit(report, output_format, target.file, limit, rule_severities(scan_policy), hub_region, rest_at)
        if target.folder is not None:
            err.print(f"Report stored in {store.uri(LATEST_REPORT_KEY)} (with its shards)", style="dim",
                      markup=False, highlight=False, soft_wrap=True)
        _check_outcome(report, region_list, imported, hub_region, fail_on, allow_partial)


def _check_same_account(folder: Path | None, previous: Report | None, account_id: str | None) -> None:
    """A folder's history is one account's: diffing another account against it would call every
    one of its failures resolved."""
    if folder is None or previous is None or account_id is None:
        return
    before = previous.index["account_id"]
    if before is not None and before != account_id:
        raise BadInput(f"{folder}: --output: holds the reports of account {before}, this scan is of account "
                       f"{account_id}; use one folder per account")


def _check_outcome(
    report: Report,
    regions: Sequence[str],
    imported: Any,
    hub_region: str,
    fail_on: Severity | None,
    allow_partial: bool,
) -> None:
    """After the report is out: the warnings, then the exit: a failed import, every region
    failing, the gate (its hits counted over the streamed failures), a partial report under it."""
    index = report.index
    _warn_expired(report)
    if imported is not None:
        err.print(imported.summary(), markup=False, highlight=False)
        if not imported.ok:
            raise OperationFailed(f"--security-hub: not every finding was imported into {hub_region}; see above")

    failed = failed_regions(report)
    if regions and failed and set(regions) <= set(failed):
        codes: dict[str, str] = {}
        for error in index["errors"]:
            codes.setdefault(error["region"], error["code"] or "error")
        detail = ", ".join(f"{region}: {codes.get(region)}" for region in failed)
        raise OperationFailed(f"every region failed to scan ({detail}); see the report's errors")

    if fail_on is None:
        return
    hits = gate_failures(report, fail_on.value)
    if hits:
        raise OperationFailed(
            f"--fail-on {fail_on.value}: {hits} unsuppressed finding{'s' if hits != 1 else ''} "
            f"at {fail_on.value} severity or above"
        )
    if index["partial"] and not allow_partial:
        incomplete = index["incomplete_regions"]
        where = f"regions not fully scanned: {', '.join(incomplete)}" if incomplete else index["partial_reason"]
        raise OperationFailed(
            f"--fail-on {fail_on.value}: the report is partial ({where}); a region that was not read "
            "cannot pass the gate (see the errors; --allow-partial accepts it)"
        )


def _warn_expired(report: Report) -> None:
    """Expired suppressions stop matching: say so, or findings come back without warning."""
    for item in report.index["expired_suppressions"]:
        tag = item.get("tag")
        tag = tag if isinstance(tag, Mapping) else {}
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
    session: Any,
    regions: list[str],
    scan_policy: Any,
    account_id: str | None,
    region_workers: int,
    store: Store,
    previous: Report | None,
) -> Report:
    """The Lambda's own scan (`ec2c.scanner.scanner.scan`), into `store`, diffed against
    `previous`."""
    from ec2c.scanner.scanner import scan as run_scan

    with progress_reporter(err.is_terminal) as on_progress:
        try:
            return run_scan(session, regions, scan_policy, store, account_id=account_id, on_progress=on_progress,
                            previous=previous, region_workers=region_workers)
        except (BotoCoreError, ClientError) as exc:
            raise OperationFailed(f"scan failed: {describe_aws_error(exc)}") from None
        except OSError as exc:  # the folder's disk or permissions, under --output DIR/ or the temporary one
            where = exc.filename or store.uri(REPORT_PREFIX.rstrip("/"))
            raise OperationFailed(f"{where}: cannot store the report: {exc.strerror or exc}") from None


def _security_hub(session: Any, report: Report, hub_region: str, demo: bool) -> Any:
    from .hub import import_report

    if demo:  # the demo's moto account starts without a hub, as a new AWS account does
        session.client("securityhub", region_name=hub_region).enable_security_hub()
    return import_report(session, report, hub_region)
