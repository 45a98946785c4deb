"""`make dev` (scripts/dev.py) as a user runs it: starts, refuses a second copy, stops everything on Ctrl-C."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from portal_core.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
DEV_SCRIPT = ROOT / "scripts" / "dev.py"

# A stand-in service: stdlib HTTP server answering /readyz, so the supervisor is tested on its own.
FAKE_MAIN = """
import http.server, os, sys, time

if len(sys.argv) > 1:  # a declared worker: no port, just stays up
    while True:
        time.sleep(1)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ.get("UPSTREAMS", "").encode() if self.path == "/upstreams" else b"ok"
        self.send_response(200 if self.path in ("/readyz", "/upstreams") else 404)
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def free_base_port(span: int = 12) -> int:
    """A base port whose next `span` ports nobody listens on, below Linux's ephemeral range (32768+),
    so a client socket of another test cannot take one of them while the services start."""
    for _ in range(200):
        base = random.randrange(20000, 32768 - span)
        if all(_bindable(base + offset) for offset in range(1, span + 1)):
            return base
    raise RuntimeError("no free block of ports")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except OSError:
        return 0, b""


def wait_until(predicate: Callable[[], bool], timeout: float, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"dev.py exited early with {process.returncode}:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"not ready within {timeout}s")
        time.sleep(0.25)


def start_dev(
    dev_dir: Path, gateway_port: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, str(DEV_SCRIPT), "--dev-dir", str(dev_dir), "--gateway-port", str(gateway_port), *extra]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or dict(os.environ)
    )


def assert_second_instance_refused(dev_dir: Path, gateway_port: int, first: subprocess.Popen[str]) -> None:
    second = start_dev(dev_dir, gateway_port, "--skip-infra")
    out, _ = second.communicate(timeout=30)
    assert second.returncode == 1
    assert (
        f"make dev is already running (pid {first.pid}): gateway on http://127.0.0.1:{gateway_port}"
        " — stop it with Ctrl-C in its terminal"
    ) in out


def assert_ctrl_c_stops_everything(dev_dir: Path, first: subprocess.Popen[str]) -> None:
    lock = dev_dir / "dev.lock"
    children = json.loads(lock.read_text())["children"]
    assert children, "the lock names the services it started"
    first.send_signal(signal.SIGINT)
    first.wait(timeout=30)
    assert first.returncode == 0
    assert not lock.exists()
    for name, pid in children.items():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, name


def make_fake_services(root: Path) -> Path:
    services = root / "services"
    for directory, package in (("gateway", "fake_gateway"), ("identity", "fake_identity"), ("billing", "fake_billing")):
        source = services / directory / "src" / package
        source.mkdir(parents=True)
        (source / "__init__.py").write_text("")
        (source / "__main__.py").write_text(FAKE_MAIN)
        workers = '[tool.portal]\nworkers = ["sweep"]\n' if directory == "billing" else ""
        (services / directory / "pyproject.toml").write_text(
            f'[project]\nname = "{directory}"\n[tool.hatch.build.targets.wheel]\npackages = ["src/{package}"]\n'
            + workers
        )
    return services


def test_supervisor_runs_services_refuses_a_second_copy_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    services = make_fake_services(tmp_path)
    dev_dir, gateway_port = tmp_path / "dev", free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in sorted(services.glob("*/src")))
    # Sub-services are at base+1.. (identity) and after the known table (billing).
    base_port = free_base_port()
    first = start_dev(
        dev_dir,
        gateway_port,
        "--skip-infra",
        "--skip-db",
        "--services-dir",
        str(services),
        "--base-port",
        str(base_port),
        env=env,
    )
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{gateway_port}/readyz")[0] == 200, 60, first)
        status, upstreams = get(f"http://127.0.0.1:{gateway_port}/upstreams")
        assert status == 200
        assert json.loads(upstreams) == {
            "billing": f"http://127.0.0.1:{base_port + 7}",
            "identity": f"http://127.0.0.1:{base_port + 1}",
        }
        assert (dev_dir / "logs" / "identity.log").exists()
        children = json.loads((dev_dir / "dev.lock").read_text())["children"]
        assert set(children) == {"identity", "billing", "billing-sweep", "gateway"}, "declared workers run too"
        assert_second_instance_refused(dev_dir, gateway_port, first)
        assert_ctrl_c_stops_everything(dev_dir, first)
    finally:
        if first.poll() is None:
            first.kill()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    services = make_fake_services(tmp_path)
    dev_dir = tmp_path / "dev"
    dev_dir.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (dev_dir / "dev.lock").write_text(json.dumps({"pid": dead.pid, "gateway_url": "http://127.0.0.1:1"}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in sorted(services.glob("*/src"))))
    gateway_port = free_port()
    first = start_dev(
        dev_dir,
        gateway_port,
        "--skip-infra",
        "--skip-db",
        "--services-dir",
        str(services),
        "--base-port",
        str(free_base_port()),
        env=env,
    )
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{gateway_port}/readyz")[0] == 200, 60, first)
        assert json.loads((dev_dir / "dev.lock").read_text())["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=30)


def test_make_dev_starts_the_real_suite_behind_the_gateway(tmp_path: Path) -> None:
    """The real services/ on the real infrastructure (infra.py ensure), with private lock, logs and ports."""
    dev_dir, gateway_port = tmp_path / "dev", free_port()
    first = start_dev(dev_dir, gateway_port, "--base-port", str(free_base_port()))
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{gateway_port}/readyz")[0] == 200, 120, first)
        assert_second_instance_refused(dev_dir, gateway_port, first)
        assert_ctrl_c_stops_everything(dev_dir, first)
    finally:
        if first.poll() is None:
            first.kill()
