"""Helpers shared by the tests and the consumer worker subprocess: a test event type and a private NATS server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
from portal_contracts import EventData, event, spec_for
from portal_core.testing import free_port, install_test_telemetry
from portal_events import Topology

NATS_SERVER = Path(sys.executable).parent / "nats-server"


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


class PrivateNatsServer:
    """A nats-server of the test's own (JetStream on, file store in `store_dir`), stoppable and restartable."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


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
