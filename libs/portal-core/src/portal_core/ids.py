"""Time-ordered opaque identifiers (UUIDv7)."""

from __future__ import annotations

import uuid

import uuid_utils.compat as _uuid


def new_id() -> uuid.UUID:
    """A new UUIDv7: unique, sortable by creation time."""
    return _uuid.uuid7()
