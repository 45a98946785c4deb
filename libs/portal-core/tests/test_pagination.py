"""Signed keyset cursors: round trips, and every cursor not handed out by the same list is a 400."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from portal_core.errors import InvalidCursor
from portal_core.pagination import CursorCodec
from portal_core.settings import Secret


class Position(msgspec.Struct, array_like=True):
    path: str
    id: uuid.UUID


CODEC = CursorCodec(Secret("s3cret"), "objects")


def test_positions_round_trip() -> None:
    position = Position("a/b.txt", uuid.uuid4())
    assert CODEC.decode(CODEC.encode(position), Position) == position
    assert CODEC.decode(CODEC.encode(42), int) == 42
    assert CODEC.decode_or_none(None, int) is None
    assert CODEC.decode_or_none(CODEC.encode(7), int) == 7


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !",
        "AAAA",
        CursorCodec(Secret("other secret"), "objects").encode(42),  # another deployment's secret
        CursorCodec(Secret("s3cret"), "sessions").encode(42),  # another list of the same service
        CODEC.encode(42)[:-2] + "AA",  # edited
    ],
)
def test_foreign_or_edited_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        CODEC.decode(cursor, int)
    assert (refused.value.status, refused.value.code) == (400, "invalid_cursor")


def test_a_signed_cursor_of_another_shape_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        CODEC.decode(CODEC.encode("text"), Position)
