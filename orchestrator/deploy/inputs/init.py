"""`ec2c init`: a starter config folder, copied from the templates shipped in the package."""

from __future__ import annotations

import shutil
from pathlib import Path

from ...errors import BadInput

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "config"


def template_files() -> list[Path]:
    """The template's files, relative to its root (defaults, an example environment, a plan)."""
    return sorted(p.relative_to(TEMPLATE) for p in TEMPLATE.rglob("*.yaml"))


def write_starter_config(target: Path, *, force: bool) -> list[Path]:
    """Copy the template into `target`; refuses to overwrite any file unless `force`."""
    if target.exists() and not target.is_dir():
        raise BadInput(f"{target}: is a file; `ec2c init` writes a folder")
    existing = [target / name for name in template_files() if (target / name).exists()]
    if existing and not force:
        raise BadInput(f"{target}: would overwrite {', '.join(str(p) for p in existing)}; pass --force to replace them")
    written = []
    for name in template_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATE / name, destination)
        written.append(destination)
    return written
