"""What goes into the scanner's Lambda archive, decided once and used twice.

`archive_members` is the single source of truth: `build_archive` turns it into the
`pulumi.AssetArchive` the stack ships, `write_zip` into a zip file the packaging test unpacks
and runs. Same member list, same artifact: the test exercises what Lambda will load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pulumi

HANDLER_MODULE = "index.py"
PACKAGE = "ec2c.scanner"
ARCHIVE_PACKAGE_DIR = PACKAGE.replace(".", "/")
"""Where the scanner sits in the archive: under the same import name as in the wheel (`ec2c` is a
namespace package, so the archive needs no `ec2c/__init__.py` and holds nothing but the scanner)."""
HANDLER_SOURCE = Path(__file__).resolve().parent / "lambda_root" / HANDLER_MODULE
"""The archive's root module, shipped as package data of `stacks` (a checkout and an installed
wheel read the same file)."""

_EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test"})
_EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _is_shipped(relative: Path) -> bool:
    """Runtime files only: no tests, caches, bytecode or hidden files."""
    if any(part in _EXCLUDED_DIRS or part.startswith(".") for part in relative.parts):
        return False
    if relative.suffix in _EXCLUDED_SUFFIXES:
        return False
    return not (relative.name.startswith("test_") or relative.name == "conftest.py")


def scanner_package_dir() -> Path:
    """Where `ec2c.scanner` is imported from: `lambda_src/` in a checkout, site-packages
    when installed. Either way the same files, so the archive is the same."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the {PACKAGE} package cannot be found: is ec2-compliance installed?")
    return Path(spec.origin).parent


def archive_members(package_dir: Path | None = None, handler: Path | None = None) -> dict[str, Path]:
    """Archive path -> source file: `index.py` at the root and the scanner package beside it.

    Sorted so the archive (and its hash, hence Pulumi's diff) only changes when a file does.
    Defaults: the importable `ec2c.scanner` and the shipped `lambda_root/index.py`.
    """
    package = scanner_package_dir() if package_dir is None else package_dir
    handler = HANDLER_SOURCE if handler is None else handler
    if not handler.is_file() or not (package / "__init__.py").is_file():
        raise FileNotFoundError(f"Lambda sources incomplete: expected {handler} and {package / '__init__.py'}")
    members = {HANDLER_MODULE: handler}
    for path in package.rglob("*"):
        relative = path.relative_to(package)
        if path.is_file() and _is_shipped(relative):
            members[f"{ARCHIVE_PACKAGE_DIR}/{relative.as_posix()}"] = path
    return dict(sorted(members.items()))


def code_sha256(members: Mapping[str, Path]) -> str:
    """A SHA-256 over every member's archive path and bytes, in order: the same sources give the
    same hash on any machine (unlike the zip's, which depends on compression), so a deployed
    stack's `scanner_code_sha256` output can be compared with a checkout's."""
    digest = hashlib.sha256()
    for name in sorted(members):
        content = Path(members[name]).read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def build_archive(members: Mapping[str, Path]) -> pulumi.AssetArchive:
    """The Lambda `code` input: one `FileAsset` per member, at its archive path."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in members.items()})


def write_zip(members: Mapping[str, Path], destination: Path) -> Path:
    """Write the members to a reproducible zip (fixed timestamps and modes, sorted order)."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, Path(members[name]).read_bytes())
    return destination
