"""A small, deterministic YAML writer for JSON-shaped documents (no dependency; output is YAML 1.2)."""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_RESERVED = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"})


def to_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML of `document`, keys in the order given, strings double-quoted, trailing newline."""
    lines: list[str] = []
    _block(document, 0, lines)
    return "\n".join(lines) + "\n"


def _block(value: dict[str, Any] | list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_nested(item):
                out.append(f"{pad}{_key(key)}:")
                _block(item, indent + 2, out)
            else:
                out.append(f"{pad}{_key(key)}: {_scalar(item)}")
        return
    for item in value:
        if isinstance(item, dict) and item:
            nested: list[str] = []
            _block(item, indent + 2, nested)
            out.append(f"{pad}- {nested[0][indent + 2 :]}")
            out.extend(nested[1:])
        elif _is_nested(item):
            out.append(f"{pad}-")
            _block(item, indent + 2, out)
        else:
            out.append(f"{pad}- {_scalar(item)}")


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _key(key: str) -> str:
    if _PLAIN_KEY.match(key) and key.lower() not in _RESERVED:
        return key
    return json.dumps(key)


def _scalar(value: Any) -> str:
    # JSON scalars are valid YAML flow scalars; {} and [] too.
    return json.dumps(value, ensure_ascii=False)
