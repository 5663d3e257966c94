"""`ec2c doctor --env E`: can the environment's change-event path see API calls? (the service:
`scan.trail`).

It reads, never writes: the trails each scan region has, whether they log, and whether their
selectors record management write events. Exit codes: 0 every region is OK, 1 a region is not
OK or cannot tell (a CloudTrail call failed; its error code is shown), 2 bad input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from ..console import err, print_json
from ..errors import OperationFailed
from .guard import guard
from .options import ConfigDirOpt, EnvOpt, JsonOpt

if TYPE_CHECKING:
    from ..scan.trail import Diagnosis, RegionCheck

_VERDICTS = {"ok": ("OK", "green"), "not_ok": ("not OK", "red"), "cannot_tell": ("cannot tell", "yellow")}


@guard
def doctor(env: EnvOpt, config_dir: ConfigDirOpt = None, as_json: JsonOpt = False) -> None:
    """Check that CloudTrail gives the change-event path the API calls of every scan region
    (reads only: creates and changes nothing)."""
    from ..deploy.inputs.environments import locate_config_dir
    from ..scan import trail
    from ..scan.aws import checked_session

    environment = locate_config_dir(config_dir).load(env)
    diagnosis = trail.diagnose(environment, checked_session())
    if as_json:
        print_json(diagnosis.to_dict())
    else:
        _show(diagnosis)
    if not diagnosis.ok:
        bad = [check.region for check in diagnosis.regions if check.verdict.value != "ok"]
        raise OperationFailed(
            f"{len(bad)} of {len(diagnosis.regions)} regions not OK or cannot tell: {', '.join(bad)} (see above)"
        )


def _flag(value: bool | None) -> Text:
    return Text("-" if value is None else ("yes" if value else "no"), style="" if value is not False else "red")


def _show(diagnosis: Diagnosis) -> None:
    """The table, then each region's problem and fix (too long for a cell); AWS's and the
    config's text as it is (Text, never markup)."""
    table = Table(title=f"CloudTrail for the change-event path of {diagnosis.env}", title_justify="left")
    for column in ("region", "trail", "logging", "management events", "verdict"):
        table.add_column(column, overflow="fold")
    for check in diagnosis.regions:
        label, style = _VERDICTS[check.verdict.value]
        table.add_row(
            Text(check.region),
            Text(check.trail or "-"),
            _flag(check.logging),
            _flag(check.management_events),
            Text(label, style=style),
        )
    err.print(table)
    for check in diagnosis.regions:
        _explain(check)
    state = "on" if diagnosis.events_enabled else "off"
    matters = (
        "the change-event path depends on this check"
        if diagnosis.events_enabled
        else "this check matters only once it is on (events: {enabled: true})"
    )
    err.print(Text(f"events.enabled is {state} in {diagnosis.env}: {matters}", style="dim"), soft_wrap=True)


def _explain(check: RegionCheck) -> None:
    if check.problem:
        err.print(Text(f"{check.region}: {check.problem}", style="red"), soft_wrap=True)
    if check.fix:
        err.print(Text(f"  fix: {check.fix}"), soft_wrap=True)
