from __future__ import annotations

from datetime import datetime

from portal_contracts.base import EventData, EventSpec
from portal_contracts.compat import check
from portal_contracts.schema import subject_schema

ORDER_SUBJECT = "portal.shop.order.placed.v1"
USER_SUBJECT = "portal.identity.user.deleted.v1"


class Address(EventData, kw_only=True, frozen=True):
    city: str


class OrderPlaced(EventData, kw_only=True, frozen=True):
    """The published version every test evolves."""

    order_id: str
    amount: int
    placed_at: datetime
    address: Address


class UserDeleted(EventData, kw_only=True, frozen=True):
    user_id: str


def spec(subject: str, data_type: type[EventData], description: str = "something happened") -> EventSpec:
    # Unregistered on purpose: the real registry stays untouched.
    return EventSpec(subject=subject, data_type=data_type, description=description)


def schemas(**by_subject: type[EventData]) -> dict[str, dict[str, object]]:
    return {subject: subject_schema(spec(subject, data_type)) for subject, data_type in by_subject.items()}


def order(data_type: type[EventData]) -> list[str]:
    """Problems of `data_type` as the new body of the published order event."""
    published = {ORDER_SUBJECT: subject_schema(spec(ORDER_SUBJECT, OrderPlaced))}
    return check(published, {ORDER_SUBJECT: subject_schema(spec(ORDER_SUBJECT, data_type))})


def test_unchanged_schema_is_compatible() -> None:
    assert order(OrderPlaced) == []


class RicherAddress(EventData, kw_only=True, frozen=True):
    city: str
    postcode: str = ""


def test_nested_struct_may_append_fields_with_defaults() -> None:
    class NestedAppended(EventData, kw_only=True, frozen=True):
        order_id: str
        amount: int
        placed_at: datetime
        address: RicherAddress

    assert order(NestedAppended) == []


def test_field_appended_with_default_is_compatible() -> None:
    class Appended(EventData, kw_only=True, frozen=True):
        order_id: str
        amount: int
        placed_at: datetime
        address: Address
        coupon: str | None = None

    assert order(Appended) == []


def test_new_required_field_is_refused() -> None:
    class NewRequired(EventData, kw_only=True, frozen=True):
        order_id: str
        amount: int
        placed_at: datetime
        address: Address
        currency: str

    [problem] = order(NewRequired)
    assert problem.startswith(f"{ORDER_SUBJECT}: field 'currency' is new and required")


def test_field_inserted_before_existing_ones_is_refused() -> None:
    class Inserted(EventData, kw_only=True, frozen=True):
        order_id: str
        note: str = ""
        amount: int
        placed_at: datetime
        address: Address

    [problem] = order(Inserted)
    assert "field 'note' was inserted before 'address'" in problem


def test_type_change_is_refused() -> None:
    class Retyped(EventData, kw_only=True, frozen=True):
        order_id: str
        amount: float
        placed_at: datetime
        address: Address

    [problem] = order(Retyped)
    assert problem.startswith(f"{ORDER_SUBJECT}: field 'amount' changed type from integer to number")


class NumberedAddress(EventData, kw_only=True, frozen=True):
    city: int


def test_type_change_inside_a_nested_struct_names_the_path() -> None:
    class NestedRetyped(EventData, kw_only=True, frozen=True):
        order_id: str
        amount: int
        placed_at: datetime
        address: NumberedAddress

    [problem] = order(NestedRetyped)
    assert problem.startswith(f"{ORDER_SUBJECT}: field 'address.city' changed type from string to integer")


def test_field_removal_is_refused() -> None:
    class Removed(EventData, kw_only=True, frozen=True):
        order_id: str
        placed_at: datetime
        address: Address

    [problem] = order(Removed)
    assert problem.startswith(f"{ORDER_SUBJECT}: field 'amount' was removed")


def test_optional_field_becoming_required_is_refused() -> None:
    class Loose(EventData, kw_only=True, frozen=True):
        user_id: str
        reason: str = ""

    class Strict(EventData, kw_only=True, frozen=True):
        user_id: str
        reason: str

    problems = check(schemas(**{USER_SUBJECT: Loose}), schemas(**{USER_SUBJECT: Strict}))
    assert problems == [
        f"{USER_SUBJECT}: field 'reason' became required (lost its default); the required set never grows"
    ]


def test_published_subject_removal_is_refused_and_new_subject_is_fine() -> None:
    published = schemas(**{USER_SUBJECT: UserDeleted})
    current = schemas(**{ORDER_SUBJECT: OrderPlaced})
    [problem] = check(published, current)
    assert problem.startswith(f"{USER_SUBJECT}: published subject was removed")


def test_description_changes_are_compatible() -> None:
    published = {ORDER_SUBJECT: subject_schema(spec(ORDER_SUBJECT, OrderPlaced, "old words"))}
    current = {ORDER_SUBJECT: subject_schema(spec(ORDER_SUBJECT, OrderPlaced, "new words"))}
    assert check(published, current) == []
