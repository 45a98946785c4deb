#!/usr/bin/env python3
"""`make dev`: infrastructure, DB roles and migrations, then the gateway and every service, until Ctrl-C.

Overrides (for tests and a second checkout): --dev-dir / PORTAL_DEV_DIR (lock and logs, default .dev),
--gateway-port / PORT (default 4000), --base-port / PORTAL_DEV_BASE_PORT (services at base+1.., default 8000),
--services-dir (default services/), --skip-infra (use the environment and .dev/infra.json as they are),
--skip-db (no DB roles, schemas or migrations).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import dev_lock
import infra
from dev_services import GATEWAY, Service, discover
from infra_support import ROOT, InfraError, tail
from portal_db import bootstrap_service_db

STOP_TIMEOUT = 10.0


@dataclass
class Running:
    service: Service
    process: subprocess.Popen[bytes]
    log: Path
    worker: str | None = None  # None: the service's HTTP server

    @property
    def label(self) -> str:
        return self.service.label if self.worker is None else f"{self.service.label}-{self.worker}"


@dataclass
class Supervisor:
    dev_dir: Path
    lock: Path
    children: list[Running] = field(default_factory=list)

    def start(self, service: Service, env: dict[str, str], worker: str | None = None) -> Running:
        """Start the service's server, or one of its declared workers when `worker` is given."""
        label = service.label if worker is None else f"{service.label}-{worker}"
        log = self.dev_dir / "logs" / f"{label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        where = f"on {service.url}" if worker is None else f"(worker of {service.label})"
        with log.open("ab") as out:
            out.write(f"\n--- make dev: starting {label} {where} ---\n".encode())
            out.flush()
            # Own session: Ctrl-C reaches only the supervisor, which stops children in order.
            process = subprocess.Popen(
                [sys.executable, "-m", service.package, *([worker] if worker else [])],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        running = Running(service, process, log, worker)
        self.children.append(running)
        dev_lock.update(self.lock, children={c.label: c.process.pid for c in self.children})
        return running

    def stop_all(self) -> None:
        """SIGTERM every child's process group, wait, then SIGKILL what is left."""
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{child.label} did not stop in {STOP_TIMEOUT:.0f}s: killing it", file=sys.stderr)
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            _signal_group(child.process, signal.SIGKILL)  # stray workers of a stopped server


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


# --- database -----------------------------------------------------------------------------------------------


def service_database_url(admin_url: str, role: str) -> str:
    """The admin URL with the service's own role as user (trust auth on the dev stack: no password)."""
    scheme, rest = admin_url.split("://", 1)
    hostpart = rest.split("@", 1)[-1]
    return f"{scheme}://{role}@{hostpart}"


def bootstrap_database(admin_url: str, role: str) -> None:
    """Idempotently create the service's login role and its own schema (portal_db's one way to do it)."""
    try:
        asyncio.run(bootstrap_service_db(admin_url, role=role, schema=role))
    except ValueError as exc:
        raise InfraError(f"service name {role!r} is not usable as a DB role: {exc}") from None


def migrate(service: Service, env: dict[str, str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- make dev: {service.package} migrate ---\n".encode())
        out.flush()
        result = subprocess.run(
            [sys.executable, "-m", service.package, "migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        raise InfraError(
            f"migrations of {service.label} failed (exit {result.returncode}); last lines of {log}:\n{tail(log)}"
        )


# --- readiness ----------------------------------------------------------------------------------------------


def wait_ready(child: Running, timeout: float) -> None:
    url = f"{child.service.url}/readyz"
    deadline = time.monotonic() + timeout
    while True:
        code = child.process.poll()
        if code is not None:
            raise InfraError(
                f"{child.service.label} exited with code {code} before it was ready; "
                f"last lines of {child.log}:\n{tail(child.log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise InfraError(
                f"{child.service.label} not ready: {url} did not answer 200 within {timeout:.0f}s; see {child.log}"
            )
        time.sleep(0.25)


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-dir", type=Path, default=Path(os.environ.get("PORTAL_DEV_DIR") or ROOT / ".dev"))
    parser.add_argument("--gateway-port", type=int, default=int(os.environ.get("PORT") or 4000))
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("PORTAL_DEV_BASE_PORT") or 8000))
    parser.add_argument("--services-dir", type=Path, default=ROOT / "services")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--skip-infra", action="store_true", help="do not run `infra.py ensure`")
    parser.add_argument("--skip-db", action="store_true", help="no DB roles, schemas or migrations")
    return parser.parse_args(argv)


def service_env(base: dict[str, str], service: Service, upstreams: list[Service]) -> dict[str, str]:
    env = base | {"HOST": "127.0.0.1", "PORT": str(service.port)}
    if service.name == GATEWAY:
        env |= {upstream.upstream_env: upstream.url for upstream in upstreams}
        env["UPSTREAMS"] = json.dumps({upstream.name: upstream.url for upstream in upstreams}, sort_keys=True)
    else:
        env["DATABASE_URL"] = service_database_url(base["DATABASE_URL"], service.name)
    return env


def run(args: argparse.Namespace, supervisor: Supervisor) -> int:
    gateway, backends = discover(args.services_dir, args.gateway_port, args.base_port)
    state = infra.load_state() if args.skip_infra else infra.ensure()
    base_env = {**os.environ, **infra.environment(state)}
    base_env.setdefault("ENVIRONMENT", "development")
    for service in [] if args.skip_db else backends:
        bootstrap_database(base_env["DATABASE_URL"], service.name)
        if service.has_migrations:
            migrate(service, service_env(base_env, service, backends), args.dev_dir / "logs" / f"{service.label}.log")
    for service in backends:
        env = service_env(base_env, service, backends)
        wait_ready(supervisor.start(service, env), args.ready_timeout)
        for worker in service.workers:
            supervisor.start(service, env, worker)
    if gateway is not None:
        wait_ready(supervisor.start(gateway, service_env(base_env, gateway, backends)), args.ready_timeout)
    print_table(supervisor.children)
    while True:
        for child in supervisor.children:
            code = child.process.poll()
            if code is not None:
                print(f"{child.label} exited with code {code}; see {child.log}. Stopping the suite.")
                return 1
        time.sleep(0.5)


def print_table(children: list[Running]) -> None:
    width = max((len(c.label) for c in children), default=7)
    print(f"\n{'service':<{width}}  {'listens on':<24}  log")
    for child in children:
        log = child.log.relative_to(ROOT) if child.log.is_relative_to(ROOT) else child.log
        where = child.service.url if child.worker is None else "(worker)"
        print(f"{child.label:<{width}}  {where:<24}  {log}")
    print("\nmake dev is running; Ctrl-C stops everything.", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.dev_dir = args.dev_dir.resolve()
    lock = args.dev_dir / "dev.lock"
    try:
        dev_lock.acquire(lock, f"http://127.0.0.1:{args.gateway_port}")
    except dev_lock.AlreadyRunning as exc:
        print(exc, file=sys.stderr)
        return 1
    supervisor = Supervisor(args.dev_dir, lock)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(args, supervisor)
    except Interrupted as exc:
        print(f"\n{exc}: stopping {len(supervisor.children)} service(s) ...", flush=True)
        return 0
    except InfraError as exc:
        print(f"make dev: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        dev_lock.release(lock)


if __name__ == "__main__":
    sys.exit(main())
