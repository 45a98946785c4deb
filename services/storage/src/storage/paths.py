"""Display paths inside a tenant: normalized, no empty/dot segments, no control or invisible characters.

Paths are metadata only (S3 keys are built from ids), so this is hygiene for clients, not the isolation.
"""

from __future__ import annotations

import unicodedata

from storage.errors import InvalidPath

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _check_characters(value: str, what: str) -> None:
    for char in value:
        if char == "\\" or unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise InvalidPath(f"The {what} contains a character that is not allowed: U+{ord(char):04X}")


def normalize_path(raw: str, what: str = "path") -> str:
    """The canonical form of an object (or folder) path, or InvalidPath."""
    path = unicodedata.normalize("NFC", raw)
    _check_characters(path, what)
    if not path or path.startswith("/") or path.endswith("/"):
        raise InvalidPath(f"The {what} must be relative, e.g. `reports/q1.pdf`, without a leading or trailing `/`")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise InvalidPath(f"The {what} is longer than {MAX_PATH_BYTES} bytes")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidPath(f"The {what} has an empty, `.` or `..` segment")
        if segment != segment.strip():
            raise InvalidPath(f"The {what} has a segment with leading or trailing spaces")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidPath(f"A segment of the {what} is longer than {MAX_SEGMENT_BYTES} bytes")
    return path


def normalize_prefix(raw: str) -> str:
    """A listing prefix: any start of a path (may end with `/`); empty lists everything."""
    prefix = unicodedata.normalize("NFC", raw)
    _check_characters(prefix, "prefix")
    if prefix.startswith("/") or len(prefix.encode()) > MAX_PATH_BYTES:
        raise InvalidPath("The prefix must be relative and at most 1024 bytes")
    return prefix


def like_prefix(prefix: str) -> str:
    """`prefix` as a LIKE pattern that matches only paths starting with it."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]
