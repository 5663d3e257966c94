"""`ec2c status --plan P` and `ec2c drift --plan P`: every target of a rollout plan at once.

Exit 0 when every target could be read and its last update succeeded (status), or none drifted
(drift); else 1.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..console import err, print_json
from ..engine.supervisor import supervised
from ..errors import OperationFailed
from ..reporting.estate_output import cell, minutes, print_problems, rate
from .guard import guard
from .options import DEFAULT_WORKERS, ConfigDirOpt, JsonOpt, PlanOpt, WorkersOpt

STATUS_COLUMNS = (
    "target",
    "account",
    "region",
    "stack",
    "updated (UTC)",
    "code",
    "inputs",
    "last scan",
    "rate",
    "errors",
)


@guard
def status(
    plan: PlanOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False, workers: WorkersOpt = DEFAULT_WORKERS
) -> None:
    """Show every target of a plan: stack, last update, scanner code, last scan."""
    from ..fleet.plan import read_plan

    rows = read_plan(plan, config_dir, workers)
    if as_json:
        print_json([row.to_dict() for row in rows])
    else:
        table = Table(title=f"{len(rows)} targets", title_justify="left")
        for column in STATUS_COLUMNS:
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(
                Text(f"{row.env}/{row.stack}"),
                cell(row.account_id),
                Text(row.region),
                Text(row.last_result or "exists", style="red" if row.last_result == "failed" else "")
                if row.exists
                else Text("missing", style="red"),
                Text(minutes(row.last_update) or "-"),
                Text(row.code, style="yellow" if row.code != "current" else ""),
                Text(row.inputs, style="yellow" if row.inputs != "current" else ""),
                Text(minutes(row.last_scan) or "-"),
                rate(row.compliance_rate),
                cell(row.scan_errors),
            )
        err.print(table)
        print_problems({f"{row.env}/{row.stack}": row.problem for row in rows})
    bad = [f"{row.env}/{row.stack}" for row in rows if not row.healthy]
    if bad:
        raise OperationFailed(f"{len(bad)} of {len(rows)} targets unreadable or failed: {', '.join(bad)}")


@guard
@supervised
def drift(
    plan: PlanOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False, workers: WorkersOpt = DEFAULT_WORKERS
) -> None:
    """Show which resources of each target differ from its state (a refresh preview: writes nothing)."""
    from ..fleet.plan import read_drift

    rows = read_drift(plan, config_dir, workers)
    if as_json:
        print_json([row.to_dict() for row in rows])
    else:
        table = Table(title=f"drift of {len(rows)} targets", title_justify="left")
        for column in ("target", "region", "drifted resources", "changed", "problem"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                Text(f"{row.env}/{row.stack}"),
                Text(row.region),
                Text("\n".join(f"{r.op} {r.urn.split('::')[-1]} ({r.type})" for r in row.resources) or "none"),
                Text("\n".join(", ".join(r.changed) or "-" for r in row.resources)),
                Text(row.problem or "", style="red"),
            )
        err.print(table)
    drifted = [f"{row.env}/{row.stack}" for row in rows if row.drifted]
    failed = [f"{row.env}/{row.stack}" for row in rows if row.problem]
    if drifted or failed:
        parts = ([f"drift in {', '.join(drifted)}"] if drifted else []) + (
            [f"not read: {', '.join(failed)}"] if failed else []
        )
        raise OperationFailed("; ".join(parts))
