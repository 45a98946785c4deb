"""Compatibility of current event schemas with the published lock.

A published subject never disappears; its fields are never removed, reordered or retyped; new fields
are appended at the end with defaults, so the required set never grows. A new subject is always fine.
"""

from __future__ import annotations

import json
from typing import Any

from portal_contracts.catalogue import type_name

Schema = dict[str, Any]

# Keys that document a schema without changing what it accepts.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment", "deprecated"})
_NAME_MAPS = frozenset({"properties", "$defs", "patternProperties"})


def check(published: dict[str, Schema], current: dict[str, Schema]) -> list[str]:
    """Every incompatibility of `current` (subject -> schema) with `published`, as messages naming subject and field."""
    problems: list[str] = []
    for subject in sorted(published):
        if subject not in current:
            problems.append(
                f"{subject}: published subject was removed; a published subject stays registered "
                "(publish its successor as a new major version instead)"
            )
            continue
        old, new = published[subject], current[subject]
        _compare_object(_Walk(subject, "", old, new), old, new, problems)
    return problems


class _Walk:
    """Where the comparison is: subject, field path, and the two roots that `$ref`s resolve against."""

    def __init__(self, subject: str, path: str, old_root: Schema, new_root: Schema) -> None:
        self.subject, self.path, self.old_root, self.new_root = subject, path, old_root, new_root

    def at(self, name: str) -> _Walk:
        return _Walk(self.subject, f"{self.path}{name}", self.old_root, self.new_root)

    def problem(self, name: str, text: str) -> str:
        return f"{self.subject}: field '{self.path}{name}' {text}"


def _compare_object(walk: _Walk, old: Schema, new: Schema, problems: list[str]) -> None:
    old_fields, new_fields = list(old.get("properties", {})), list(new.get("properties", {}))
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    kept = [name for name in old_fields if name in new_fields]
    for name in old_fields:
        if name not in new_fields:
            problems.append(
                walk.problem(name, "was removed; a published field stays (deprecate it in its description)")
            )
    if [name for name in new_fields if name in kept] != kept:
        problems.append(f"{walk.subject}: fields of '{walk.path or '<body>'}' were reordered; keep the published order")
    last_kept = max((new_fields.index(name) for name in kept), default=-1)
    for index, name in enumerate(new_fields):
        if name in old_fields:
            continue
        if index < last_kept:
            problems.append(
                walk.problem(name, f"was inserted before '{new_fields[last_kept]}'; append new fields at the end")
            )
        if name in new_required:
            problems.append(
                walk.problem(name, "is new and required; a field added to a published version needs a default")
            )
    for name in kept:
        if name in new_required and name not in old_required:
            problems.append(walk.problem(name, "became required (lost its default); the required set never grows"))
        _compare_field(walk, name, old["properties"][name], new["properties"][name], problems)


def _compare_field(walk: _Walk, name: str, old: Schema, new: Schema, problems: list[str]) -> None:
    old_resolved, new_resolved = _resolve(old, walk.old_root), _resolve(new, walk.new_root)
    if _is_struct(old_resolved) and _is_struct(new_resolved):
        _compare_object(walk.at(f"{name}."), old_resolved, new_resolved, problems)
        return
    if old_resolved.get("type") == new_resolved.get("type") == "array" and "items" in old_resolved:
        rest_old, rest_new = _without(old_resolved, "items"), _without(new_resolved, "items")
        if _signature(rest_old) == _signature(rest_new) and "items" in new_resolved:
            _compare_field(walk, f"{name}[]", old_resolved["items"], new_resolved["items"], problems)
            return
    old_options, new_options = old_resolved.get("anyOf"), new_resolved.get("anyOf")
    same_union_shape = (
        isinstance(old_options, list)
        and isinstance(new_options, list)
        and len(old_options) == len(new_options)
        and _signature(_without(old_resolved, "anyOf")) == _signature(_without(new_resolved, "anyOf"))
    )
    if same_union_shape:
        for option_old, option_new in zip(old_options, new_options, strict=True):  # type: ignore[arg-type]
            _compare_field(walk, name, option_old, option_new, problems)
        return
    if _signature(old_resolved) != _signature(new_resolved):
        problems.append(
            walk.problem(
                name,
                f"changed type from {_describe(old_resolved)} to {_describe(new_resolved)}; a type never changes "
                "(publish a new major version on a new subject instead)",
            )
        )


def _resolve(schema: Schema, root: Schema) -> Schema:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return schema
    target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"))
    return _resolve(target, root) if isinstance(target, dict) else schema


def _is_struct(schema: Schema) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def _without(schema: Schema, key: str) -> Schema:
    return {k: v for k, v in schema.items() if k != key}


def _signature(schema: Schema) -> str:
    """What a schema accepts, ignoring annotations, as comparable text."""
    return json.dumps(_strip(schema), sort_keys=True)


def _strip(value: Any, *, names: bool = False) -> Any:
    # `names`: the keys of this map are field or definition names, never annotations.
    if isinstance(value, dict):
        return {
            k: _strip(v, names=k in _NAME_MAPS and not names)
            for k, v in value.items()
            if names or (k not in _ANNOTATIONS and not k.startswith("x-"))
        }
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _describe(schema: Schema) -> str:
    name = type_name(schema)
    constraints = {k: v for k, v in _strip(schema).items() if k not in {"type", "format", "items", "anyOf", "enum"}}
    return f"{name} {json.dumps(constraints, sort_keys=True)}" if constraints else name
