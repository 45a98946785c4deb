"""Helpers shared by the tests and the consumer worker subprocess: a test event type and a private NATS server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from portal_contracts import EventData, event, spec_for
from portal_core.testing import install_test_telemetry
from portal_events import Topology
from portal_events.testing import PrivateNatsServer  # noqa: F401  (moved to the library; tests import it here)


@dataclass(frozen=True)
class Topic:
    """A producing service of the test's own: its stream, its event type and a private dead-letter stream."""

    service: str
    stream: str
    subject: str
    data_type: type[EventData]
    topology: Topology


def order_placed_type(service: str) -> type[EventData]:
    """The test event `portal.<service>.order.placed.v1`, registered once per service name."""
    subject = f"portal.{service}.order.placed.v1"
    try:
        return spec_for(subject).data_type
    except KeyError:
        pass
    cls = msgspec.defstruct(
        "OrderPlaced", [("order_id", str), ("amount", int)], bases=(EventData,), kw_only=True, frozen=True
    )
    return event(subject, description="test event")(cls)


TELEMETRY = install_test_telemetry()
metric_total = TELEMETRY.metric_total


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `check` every 50 ms until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
