"""JSON Schema of one event version, and the canonical (deterministic) JSON text of any document."""

from __future__ import annotations

import json
from typing import Any, cast

import msgspec

from portal_contracts.base import EventSpec

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "https://schemas.parametric-portal.dev/events/"

# Maps whose key order is meaningful (struct field order) and is kept as msgspec wrote it.
_ORDERED_MAPS = frozenset({"properties"})


def schema_id(subject: str) -> str:
    return f"{SCHEMA_ID_BASE}{subject}.json"


def subject_schema(spec: EventSpec) -> dict[str, Any]:
    """The standalone JSON Schema of `spec`'s body: the struct at top level, nested types under `$defs`."""
    name = spec.data_type.__name__
    _, components = msgspec.json.schema_components([spec.data_type], ref_template="#/$defs/{name}")
    body = dict(components.pop(name))
    body.pop("title", None)
    body.pop("description", None)
    doc: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(spec.subject),
        "title": spec.subject,
        "description": spec.description,
        "x-struct": name,
        **body,
    }
    if components:
        doc["$defs"] = components
    return cast(dict[str, Any], canonical(doc))


def canonical(value: Any, *, keep_order: bool = False) -> Any:
    """`value` with every map's keys sorted, except maps of struct fields, whose order is the field order."""
    if isinstance(value, dict):
        keys = list(value) if keep_order else sorted(value)
        return {key: canonical(value[key], keep_order=key in _ORDERED_MAPS and not keep_order) for key in keys}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def dumps(document: Any) -> str:
    """Stable, readable JSON text with a trailing newline (input must already be canonical)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
