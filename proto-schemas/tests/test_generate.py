from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from portal_contracts.asyncapi import document
from portal_contracts.base import EventData, EventSpec
from portal_contracts.cli import LOCK_FILE, main
from portal_contracts.generate import ASYNCAPI_FILE, CATALOGUE_FILE, JSONSCHEMA_DIR, render, stale


class Address(EventData, kw_only=True, frozen=True):
    city: str


class OrderPlaced(EventData, kw_only=True, frozen=True):
    order_id: str
    amount: int
    address: Address
    coupon: str | None = None


class UserDeleted(EventData, kw_only=True, frozen=True):
    user_id: str


class UserDeletedBroken(EventData, kw_only=True, frozen=True):
    user_id: int


ORDER = EventSpec("portal.shop.order.placed.v1", OrderPlaced, "an order was placed")
USER = EventSpec("portal.identity.user.deleted.v1", UserDeleted, "a user was deleted | for good")
SPECS = [ORDER, USER]


def test_render_is_deterministic_and_independent_of_registration_order() -> None:
    first, second, reversed_ = render(SPECS), render(SPECS), render(SPECS[::-1])
    assert first == second == reversed_
    assert list(first) == sorted(first)
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in first.values())


def test_json_schema_per_subject_has_id_title_description_and_sorted_keys() -> None:
    files = render(SPECS)
    schema = json.loads(files[f"{JSONSCHEMA_DIR}/portal.shop.order.placed.v1.json"])
    assert schema["$id"].endswith("/portal.shop.order.placed.v1.json")
    assert schema["title"] == "portal.shop.order.placed.v1"
    assert schema["description"] == "an order was placed"
    assert list(schema) == sorted(schema)
    # Field order is the struct's order (it is what "append only" is checked against), not sorted.
    assert list(schema["properties"]) == ["order_id", "amount", "address", "coupon"]
    assert schema["required"] == ["order_id", "amount", "address"]
    assert schema["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert "Address" in schema["$defs"]


def test_asyncapi_has_a_channel_send_operation_and_message_per_subject() -> None:
    text = render(SPECS)[ASYNCAPI_FILE]
    doc = yaml.safe_load(text)
    assert doc == document(SPECS)  # the hand-written YAML reads back as the document
    assert doc["asyncapi"] == "3.0.0"
    for spec in SPECS:
        channel = doc["channels"][spec.subject]
        assert channel["address"] == spec.subject
        [message_ref] = channel["messages"].values()
        message = doc["components"]["messages"][message_ref["$ref"].rsplit("/", 1)[-1]]
        payload_name = message["payload"]["$ref"].rsplit("/", 1)[-1]
        assert payload_name == spec.data_type.__name__
        assert payload_name in doc["components"]["schemas"]
        operation = doc["operations"][f"send.{spec.subject}"]
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{spec.subject}"}
        assert operation["x-producer"] == spec.service
    headers = doc["components"]["schemas"]["CloudEventHeaders"]["properties"]
    for name in ["ce-id", "ce-source", "ce-type", "ce-time", "ce-subject", "ce-tenant", "traceparent", "Nats-Msg-Id"]:
        assert name in headers


def test_catalogue_lists_every_subject_with_producer_and_fields() -> None:
    text = render(SPECS)[CATALOGUE_FILE]
    row = next(line for line in text.splitlines() if "portal.identity.user.deleted.v1" in line)
    assert "| identity |" in row
    assert "a user was deleted \\| for good" in row
    order_row = next(line for line in text.splitlines() if "portal.shop.order.placed.v1" in line)
    assert "`coupon` string or null (optional)" in order_row


def test_stale_detects_changed_missing_and_leftover_files(tmp_path: Path) -> None:
    files = render(SPECS)
    assert stale(tmp_path, files) == sorted(files)
    assert main(["--root", str(tmp_path), "generate"], specs=SPECS) == 0
    assert stale(tmp_path, files) == []

    (tmp_path / CATALOGUE_FILE).write_text("edited by hand\n")
    leftover = tmp_path / JSONSCHEMA_DIR / "portal.old.thing.gone.v1.json"
    leftover.write_text("{}\n")
    assert stale(tmp_path, files) == sorted([CATALOGUE_FILE, f"{JSONSCHEMA_DIR}/portal.old.thing.gone.v1.json"])

    assert main(["--root", str(tmp_path), "generate"], specs=SPECS) == 0
    assert stale(tmp_path, files) == []
    assert not leftover.exists()


def test_check_fails_on_stale_files_and_passes_after_generate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path), "check"], specs=SPECS) == 1
    assert f"stale: {ASYNCAPI_FILE}" in capsys.readouterr().err
    main(["--root", str(tmp_path), "generate"], specs=SPECS)
    assert main(["--root", str(tmp_path), "check"], specs=SPECS) == 0


def test_publish_records_the_lock_and_refuses_incompatible_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--root", str(tmp_path), "generate"], specs=SPECS)
    assert main(["--root", str(tmp_path), "publish"], specs=SPECS) == 0
    lock = tmp_path / LOCK_FILE
    published = lock.read_text()
    assert set(json.loads(published)) == {ORDER.subject, USER.subject}

    broken = [ORDER, EventSpec(USER.subject, UserDeletedBroken, USER.description)]
    assert main(["--root", str(tmp_path), "publish"], specs=broken) == 1
    assert lock.read_text() == published
    main(["--root", str(tmp_path), "generate"], specs=broken)
    assert main(["--root", str(tmp_path), "check"], specs=broken) == 1
    err = capsys.readouterr().err
    assert f"incompatible: {USER.subject}: field 'user_id' changed type from string to integer" in err

    assert main(["--root", str(tmp_path), "check"], specs=[ORDER]) == 1
    assert f"{USER.subject}: published subject was removed" in capsys.readouterr().err
