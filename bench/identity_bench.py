"""Identity through the gateway: session-authenticated request rate and latency, and password logins/s.

    uv run python bench/identity_bench.py [--rate 2000] [--rate-seconds 8] [--saturation-seconds 5] [--login-seconds 5]

Starts on loopback, as separate processes: the bench upstream of gateway_bench.py (a portal_core app on
granian), the identity service (`python -m identity`, on a throw-away database) and the gateway
(`python -m gateway`) with sessions resolved through identity. One gateway, one route
(`GET /api/bench/v1/items`, listed in PUBLIC_ROUTES for this run so the anonymous baseline is served):

1. Baseline: the same route without a session (the gateway's unauthenticated rate), then with a bearer
   session. After the first request the session comes from the gateway's cache: no hop to identity.
   Fixed rate (open loop, latency from each request's scheduled time) and wrk saturation for both.
2. Password logins: concurrent `POST /api/identity/v1/login` through the gateway for a few seconds,
   at the argon2id parameters identity runs with (reported).

Targets (issue 3): authenticated >= 2,000 req/s with p99 <= 20 ms; logins >= 25/s. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from gateway_bench import PATH, fixed_rate, percentile, start, stop, wait_ready
from identity.settings import IdentitySettings
from portal_core.testing import free_port
from portal_db.testing import LOCAL_ADMIN_DSN, temporary_database

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench passphrase 0123456789"
TARGETS = {"authenticated_rps": 2000, "authenticated_p99_ms": 20.0, "logins_per_second": 25}


def saturation(port: int, seconds: int, header: str | None) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency"]
    if header:
        cmd += ["-H", header]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": round(rps), "p99_ms": round(float(p99.group(1)) * scale[p99.group(2)], 3) if p99 else -1.0}


def summary(latencies: list[float], rate: int) -> dict[str, Any]:
    return {
        "rate_per_second": rate,
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
    }


async def logins(gateway: str, email: str, seconds: float, concurrency: int) -> dict[str, Any]:
    done, failed = 0, 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done, failed
        async with httpx.AsyncClient(base_url=gateway, headers={"x-forwarded-for": f"10.9.0.{n + 1}"}) as client:
            while time.monotonic() < deadline:
                response = await client.post(
                    "/api/identity/v1/login", json={"email": email, "password": PASSWORD, "token_delivery": "bearer"}
                )
                if response.status_code == 200:
                    done += 1
                else:
                    failed += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    return {"logins": done, "failed": failed, "seconds": round(elapsed, 2), "per_second": round(done / elapsed, 1)}


def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    upstream_port, identity_port, gateway_port = free_port(), free_port(), free_port()
    run_id = uuid.uuid4().hex[:8]
    identity_env = {
        "DATABASE_URL": database_url,
        "PORT": str(identity_port),
        "REDIS_KEY_PREFIX": f"bench:identity:{run_id}:",
        "LOG_LEVEL": "WARNING",
        "COOKIE_SECURE": "false",
        "SIGNUP_MAX_PER_IP": "1000",
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "identity", "migrate"], env={**os.environ, **identity_env}, capture_output=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(migrated.stderr.decode())
    gateway_env = {
        "PORT": str(gateway_port),
        "UPSTREAMS": json.dumps({"bench": f"http://127.0.0.1:{upstream_port}"}),
        "UPSTREAM_IDENTITY_URL": f"http://127.0.0.1:{identity_port}",
        "PUBLIC_ROUTES": "POST /api/identity/v1/signup, POST /api/identity/v1/login, GET /api/bench/v1/items",
        "RATE_LIMIT_REQUESTS": "1000000000",
        "TRUSTED_PROXIES": "127.0.0.1",
        "REDIS_KEY_PREFIX": f"bench:gateway:{run_id}:",
        "LOG_LEVEL": "WARNING",
        "WORKERS": str(args.gateway_workers),
    }
    upstream_cmd = [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--no-ws", "--factory"),
        *("--host", "127.0.0.1", "--port", str(upstream_port), "--working-dir", str(ROOT / "bench")),
        "gateway_bench:upstream_app",
    ]
    procs = [start(upstream_cmd, {})]
    try:
        procs.append(start([sys.executable, "-m", "identity"], identity_env))
        procs.append(start([sys.executable, "-m", "gateway"], gateway_env))
        wait_ready(upstream_port, PATH)
        wait_ready(identity_port, "/readyz", 60)
        wait_ready(gateway_port, PATH)
        gateway = f"http://127.0.0.1:{gateway_port}"
        email = f"bench-{run_id}@example.com"
        signup = httpx.post(
            f"{gateway}/api/identity/v1/signup",
            json={"email": email, "password": PASSWORD, "token_delivery": "bearer"},
            timeout=30,
        )
        signup.raise_for_status()
        token = signup.json()["session"]["token"]
        check = httpx.get(f"{gateway}/api/identity/v1/users/me", headers={"authorization": f"Bearer {token}"})
        check.raise_for_status()
        auth = f"Authorization: Bearer {token}"
        # 32 connections; the warm-up (not counted) also fills the gateway's session cache.
        paced = {"connections": 32, "warmup": min(args.rate, 500)}
        anonymous = asyncio.run(fixed_rate(gateway_port, args.rate, args.rate_seconds, **paced))
        authenticated = asyncio.run(
            fixed_rate(gateway_port, args.rate, args.rate_seconds, headers=auth + "\r\n", **paced)
        )
        anonymous_sat = saturation(gateway_port, args.saturation_seconds, None)
        authenticated_sat = saturation(gateway_port, args.saturation_seconds, auth)
        login = asyncio.run(logins(gateway, email, args.login_seconds, args.login_concurrency))
        defaults = IdentitySettings()  # the bench runs identity with its defaults: these are the parameters
        params = {
            "algorithm": "argon2id",
            "memory_kib": defaults.argon2_memory_kib,
            "time_cost": defaults.argon2_time_cost,
            "parallelism": defaults.argon2_parallelism,
        }
    finally:
        for proc in reversed(procs):
            stop(proc)
    fixed = {"anonymous": summary(anonymous, args.rate), "authenticated": summary(authenticated, args.rate)}
    return {
        "targets": TARGETS,
        "fixed_rate": fixed,
        "saturation": {
            "anonymous": anonymous_sat,
            "authenticated": authenticated_sat,
            "ratio": round(authenticated_sat["rps"] / anonymous_sat["rps"], 3),
        },
        "password_logins": {**login, "argon2": params, "concurrency": args.login_concurrency},
        "within_targets": (
            authenticated_sat["rps"] >= TARGETS["authenticated_rps"]
            and fixed["authenticated"]["p99_ms"] <= TARGETS["authenticated_p99_ms"]
            and login["per_second"] >= TARGETS["logins_per_second"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=2000, help="fixed request rate per second")
    parser.add_argument("--rate-seconds", type=float, default=8)
    parser.add_argument("--saturation-seconds", type=int, default=5)
    parser.add_argument("--login-seconds", type=float, default=5)
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument("--gateway-workers", type=int, default=1, help="gateway worker processes")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")

    async def with_database() -> dict[str, Any]:
        async with temporary_database(LOCAL_ADMIN_DSN, prefix="identity_bench") as url:
            return await asyncio.to_thread(run, args, url)

    print(json.dumps(asyncio.run(with_database()), indent=2))


if __name__ == "__main__":
    main()
