"""Region names from the command line, checked against the regions botocore knows."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

from ec2c.scanner.contract import REGION_PATTERN

from ..errors import BadInput


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
    unknown = [r for r in regions if r not in known or not REGION_PATTERN.fullmatch(r)]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise BadInput(f"{origin}: unknown region {', '.join(hints)}")


def checked_regions(values: Sequence[str] | None) -> list[str]:
    """`--regions` parsed and every name checked (an empty list: none given)."""
    regions = parse_regions(values)
    if regions:
        validate_regions(regions, known_regions())
    return regions
