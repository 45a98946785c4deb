"""`portal-contracts generate | check | publish`: generated files and the published-schema lock."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from portal_contracts import all_specs
from portal_contracts.base import EventSpec
from portal_contracts.compat import Schema, check
from portal_contracts.generate import render, stale, write
from portal_contracts.schema import dumps, subject_schema

LOCK_FILE = "proto-schemas/published.lock.json"
# src/portal_contracts/cli.py -> the repo root (the workspace is installed editable).
DEFAULT_ROOT = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None, specs: list[EventSpec] | None = None) -> int:
    """Run one command; `specs` defaults to the real registry (tests pass their own)."""
    parser = argparse.ArgumentParser(prog="portal-contracts", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="repository root (default: this checkout)")
    parser.add_argument("command", choices=["generate", "check", "publish"])
    args = parser.parse_args(argv)
    root: Path = args.root
    specs = all_specs() if specs is None else specs
    command = {"generate": _generate, "check": _check, "publish": _publish}[args.command]
    return command(root, specs)


def _generate(root: Path, specs: list[EventSpec]) -> int:
    changed = write(root, render(specs))
    print(
        f"generated {len(specs)} event schemas; {len(changed)} file(s) changed" + "".join(f"\n  {p}" for p in changed)
    )
    return 0


def _check(root: Path, specs: list[EventSpec]) -> int:
    out_of_date = stale(root, render(specs))
    problems = check(read_lock(root), current_schemas(specs))
    for path in out_of_date:
        print(f"stale: {path} differs from what `portal-contracts generate` writes", file=sys.stderr)
    for problem in problems:
        print(f"incompatible: {problem}", file=sys.stderr)
    if out_of_date:
        print("run `portal-contracts generate` and commit the result", file=sys.stderr)
    if out_of_date or problems:
        return 1
    print(f"contracts ok: {len(specs)} subjects, generated files up to date, compatible with {LOCK_FILE}")
    return 0


def _publish(root: Path, specs: list[EventSpec]) -> int:
    current = current_schemas(specs)
    problems = check(read_lock(root), current)
    for problem in problems:
        print(f"incompatible: {problem}", file=sys.stderr)
    if problems:
        print(f"nothing published: {LOCK_FILE} unchanged", file=sys.stderr)
        return 1
    (root / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / LOCK_FILE).write_text(dumps(current), encoding="utf-8")
    print(f"published {len(current)} subjects to {LOCK_FILE}")
    return 0


def current_schemas(specs: list[EventSpec]) -> dict[str, Schema]:
    return {spec.subject: subject_schema(spec) for spec in sorted(specs, key=lambda s: s.subject)}


def read_lock(root: Path) -> dict[str, Schema]:
    """The published schemas (subject -> schema); empty when nothing was published yet."""
    path = root / LOCK_FILE
    if not path.exists():
        return {}
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a JSON object of subject -> schema")
    return data


if __name__ == "__main__":
    sys.exit(main())
