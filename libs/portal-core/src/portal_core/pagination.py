"""Lists in the house dialect: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

Cursors are keyset positions (the sort key of a page's last item), opaque to clients: the position
encoded by msgspec, with an HMAC tag keyed by the service's `CURSOR_SECRET` and the list's purpose,
so a cursor this API did not hand out, or one edited, is a 400 `invalid_cursor` (CONVENTIONS.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Annotated, TypeVar

import msgspec
from litestar.params import Parameter

from portal_core.errors import InvalidCursor
from portal_core.settings import Secret

T = TypeVar("T")
_TAG_BYTES = 16
MAX_CURSOR_LENGTH = 512

Limit = Annotated[int, Parameter(ge=1, le=100, description="How many items a page holds at most")]
Cursor = Annotated[
    str | None,
    Parameter(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page; omit for the first"),
]


class CursorCodec:
    """Encodes a position into an opaque cursor and back; one codec per list (`purpose`) keeps cursors of
    one list from being accepted by another."""

    def __init__(self, secret: Secret | str, purpose: str) -> None:
        raw = secret.reveal() if isinstance(secret, Secret) else secret
        self._key = hashlib.sha256(f"portal-cursor\n{purpose}\n{raw}".encode()).digest()

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, position: object) -> str:
        """The cursor for `position` (anything msgspec encodes: an id, a tuple, a Struct)."""
        body = msgspec.json.encode(position)
        return base64.urlsafe_b64encode(self._tag(body) + body).decode().rstrip("=")

    def decode(self, cursor: str, position_type: type[T]) -> T:
        """The position `cursor` names, as `position_type`; InvalidCursor for anything this codec did not encode."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        tag, body = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, self._tag(body)):
            raise InvalidCursor()
        try:
            return msgspec.json.decode(body, type=position_type)
        except msgspec.DecodeError:  # signed by us for another shape: an older release's cursor
            raise InvalidCursor() from None

    def decode_or_none(self, cursor: str | None, position_type: type[T]) -> T | None:
        """`decode`, or None for the first page (no cursor)."""
        return None if cursor is None else self.decode(cursor, position_type)
