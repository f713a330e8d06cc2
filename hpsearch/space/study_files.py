"""Finding a study by name or path and reading its file: $HPSEARCH_STUDIES, ./studies, then the
studies shipped with the package."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from hpsearch.errors import SpecError
from hpsearch.space.spec import StudySpec, parse_spec


def load_spec_file(path: Path) -> StudySpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"{path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at position "
                        f"{error.start}, line {line}); save it as UTF-8") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML ({error})") from None
    return parse_spec(document, str(path))


SHIPPED_STUDIES = Path(__file__).resolve().parents[1] / "studies"  # package data: in every install


def studies_dirs() -> list[Path]:
    """Where study names are looked up: $HPSEARCH_STUDIES, ./studies, then the shipped ones."""
    dirs = [Path(p) for p in os.environ.get("HPSEARCH_STUDIES", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "studies")
    dirs.append(SHIPPED_STUDIES)
    unique: list[Path] = []
    for directory in dirs:
        if directory.is_dir() and directory.resolve() not in [d.resolve() for d in unique]:
            unique.append(directory)
    return unique


def study_files() -> dict[str, Path]:
    """Every study file that a name can refer to, first directory winning."""
    found: dict[str, Path] = {}
    for directory in studies_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def load_spec(reference: str) -> StudySpec:
    """Load a study by file path (`path/to/x.toml`) or by name (`cifar-dropout`)."""
    path = Path(reference)
    try:
        is_file = path.is_file()
    except OSError:  # a name too long to be a path ("File name too long"): a study name, then
        is_file = False
    if reference.endswith(".toml") or is_file:
        if not is_file:
            raise SpecError(f"{reference}: no such study file")
        return load_spec_file(path)
    files = study_files()
    if reference not in files:
        known = ", ".join(sorted(files)) or "none"
        raise SpecError(f"no study named {reference!r} (known: {known}; or give a .toml path)")
    return load_spec_file(files[reference])
