"""The `make dev` lock: one supervisor per dev dir; a lock left by a dead process is taken over."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from infra_support import pid_alive


class AlreadyRunning(RuntimeError):
    def __init__(self, pid: int, gateway_url: str) -> None:
        super().__init__(
            f"make dev is already running (pid {pid}): gateway on {gateway_url} — stop it with Ctrl-C in its terminal"
        )


def acquire(path: Path, gateway_url: str) -> None:
    """Create the lock for this process, or raise AlreadyRunning naming the live holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = read(path)
            pid = holder.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and pid_alive(pid):
                raise AlreadyRunning(pid, str(holder.get("gateway_url", gateway_url))) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as out:
            json.dump({"pid": os.getpid(), "gateway_url": gateway_url, "children": {}}, out)
        return
    raise RuntimeError(f"could not take the lock {path}")


def update(path: Path, **fields: Any) -> None:
    """Record more about this run (children's pids) in the lock, for tools and tests."""
    data = read(path) | fields
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def release(path: Path) -> None:
    if read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
