"""Render every generated file from the registry, write them, and tell which files on disk are stale."""

from __future__ import annotations

from pathlib import Path

from portal_contracts.asyncapi import document
from portal_contracts.base import EventSpec
from portal_contracts.catalogue import catalogue
from portal_contracts.schema import dumps, subject_schema
from portal_contracts.yaml_text import to_yaml

JSONSCHEMA_DIR = "proto-schemas/generated/jsonschema"
ASYNCAPI_FILE = "proto-schemas/generated/asyncapi.yaml"
CATALOGUE_FILE = "docs/events.md"


def render(specs: list[EventSpec]) -> dict[str, str]:
    """Every generated file as {path relative to the repo root: text}, in a stable order."""
    files = {f"{JSONSCHEMA_DIR}/{spec.subject}.json": dumps(subject_schema(spec)) for spec in specs}
    files[ASYNCAPI_FILE] = to_yaml(document(specs))
    files[CATALOGUE_FILE] = catalogue(specs)
    return dict(sorted(files.items()))


def stale(root: Path, files: dict[str, str]) -> list[str]:
    """Paths whose content on disk differs from `files`, plus generated schemas nobody renders any more."""
    changed = [path for path, text in files.items() if _read(root / path) != text]
    return sorted(changed + _leftovers(root, files))


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write `files` under `root` (only those that changed) and delete leftover schemas; returns what changed."""
    changed = stale(root, files)
    for path in _leftovers(root, files):
        (root / path).unlink()
    for path, text in files.items():
        target = root / path
        if _read(target) != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return changed


def _leftovers(root: Path, files: dict[str, str]) -> list[str]:
    directory = root / JSONSCHEMA_DIR
    if not directory.is_dir():
        return []
    on_disk = (path.relative_to(root).as_posix() for path in directory.glob("*.json"))
    return sorted(path for path in on_disk if path not in files)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
