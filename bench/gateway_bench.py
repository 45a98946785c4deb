"""Gateway overhead: added latency at a fixed 200 req/s and saturation throughput, direct vs through it.

    uv run python bench/gateway_bench.py [--rate-seconds 8] [--saturation-seconds 5]

Starts, on loopback, a minimal upstream (a portal_core litestar app on granian, one worker) and the gateway
(`python -m gateway`) once with granian and once with uvicorn, in separate processes. For each:

1. Fixed rate (open loop): requests are sent on a fixed schedule, and each latency is counted from
   its scheduled time, so a stall is not hidden by the load generator waiting (coordinated omission).
   wrk has no fixed-rate mode (that is wrk2), so this uses a small asyncio client on raw keep-alive
   sockets. Added latency = gateway percentile - direct percentile, measured in the same run.
2. Saturation: wrk (`apt-get install -y wrk`), 1 thread, 64 connections; ratio = gateway / direct.

Needs Redis on 127.0.0.1:6379 (the rate limit runs as in production, on a huge budget). With `--otlp`
the gateway and the upstream export every span, metric and log record over OTLP to a sink in this
process (what tracing costs when it is on; without it, as in `make dev`, no SDK span is built).
Prints one JSON summary. Every phase has a deadline; the whole run stays under three minutes with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from portal_core.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/bench/v1/items?limit=10"


def upstream_app() -> Any:
    """The service stand-in: a portal service as every service is built (portal_core's litestar app
    factory), with one list route answering small JSON. A raw ASGI stub on granian answers ~60k req/s
    here, faster than any Python proxy can relay, so it would measure the stub, not the gateway.
    """
    from litestar import get
    from portal_core.http import create_app

    @get("/api/bench/v1/items", sync_to_thread=False)
    def items(limit: int = 10) -> dict[str, Any]:
        return {"items": [{"id": "0193a5a0-0000-7000-8000-000000000001", "name": "widget"}], "next_cursor": None}

    return create_app(service="bench", route_handlers=[items])


def start_otlp_sink() -> str:
    """An OTLP/HTTP endpoint that accepts and drops everything (an empty body is a valid export answer)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def wait_ready(port: int, path: str, deadline_seconds: float = 20) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered 200 on port {port}{path}")


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # SIGTERM: the graceful path
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- fixed-rate load on raw keep-alive sockets ----


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> None:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    await reader.readexactly(length)


async def fixed_rate(
    port: int, rate: int, seconds: float, *, headers: str = "", connections: int = 16, warmup: int | None = None
) -> list[float]:
    """Latencies (ms) of `rate * seconds` requests sent on schedule, each from its scheduled time.

    `headers` are extra raw header lines (each ending in CRLF); `warmup` requests (default: one second's
    worth) go first and are not counted.
    """
    raw = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    writers = []
    for _ in range(connections):
        conn = await asyncio.open_connection("127.0.0.1", port)
        writers.append(conn[1])
        idle.put_nowait(conn)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(scheduled: float) -> None:
        conn = await idle.get()
        await _request(*conn, raw)
        latencies.append((loop.time() - scheduled) * 1000)
        idle.put_nowait(conn)

    for _ in range(rate if warmup is None else warmup):
        await one(loop.time())
    latencies.clear()
    start_at, tasks = loop.time() + 0.05, []
    for n in range(int(rate * seconds)):
        scheduled = start_at + n / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.ensure_future(one(scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + 20)
    for writer in writers:
        writer.close()
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def saturation(port: int, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def measure(server: str, upstream_port: int, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = {
        "ASGI_SERVER": server,
        "PORT": str(port),
        "UPSTREAMS": json.dumps({"bench": f"http://127.0.0.1:{upstream_port}"}),
        "RATE_LIMIT_REQUESTS": "1000000000",
        "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex}:",
        "LOG_LEVEL": "WARNING",
    }
    gateway = start([sys.executable, "-m", "gateway"], env)
    try:
        wait_ready(port, PATH)
        direct = asyncio.run(fixed_rate(upstream_port, args.rate, args.rate_seconds))
        through = asyncio.run(fixed_rate(port, args.rate, args.rate_seconds))
        direct_rps = saturation(upstream_port, args.saturation_seconds)
        gateway_rps = saturation(port, args.saturation_seconds)
    finally:
        stop(gateway)
    d50, d99, g50, g99 = (percentile(v, p) for v, p in ((direct, 50), (direct, 99), (through, 50), (through, 99)))
    return {
        "fixed_rate": {
            "rate_per_second": args.rate,
            "requests": len(through),
            "direct_ms": {"p50": round(d50, 3), "p99": round(d99, 3)},
            "gateway_ms": {"p50": round(g50, 3), "p99": round(g99, 3)},
            "added_ms": {"p50": round(g50 - d50, 3), "p99": round(g99 - d99, 3)},
        },
        "saturation": {
            "direct_rps": round(direct_rps),
            "gateway_rps": round(gateway_rps),
            "ratio": round(gateway_rps / direct_rps, 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--rate-seconds", type=float, default=8)
    parser.add_argument("--saturation-seconds", type=int, default=5)
    parser.add_argument("--servers", default="granian,uvicorn", help="ASGI servers to try for the gateway")
    parser.add_argument("--upstream-server", choices=("granian", "uvicorn"), default="granian")
    parser.add_argument("--otlp", action="store_true", help="export all telemetry over OTLP (to a local sink)")
    args = parser.parse_args()
    if args.otlp:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = start_otlp_sink()  # inherited by both processes
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    upstream_port = free_port()
    if args.upstream_server == "granian":
        cmd = [
            *(sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--no-ws", "--factory"),
            *("--host", "127.0.0.1", "--port", str(upstream_port), "--working-dir", str(ROOT / "bench")),
            "gateway_bench:upstream_app",
        ]
    else:
        cmd = [
            *(sys.executable, "-m", "uvicorn", "--factory", "--no-access-log", "--log-level", "warning"),
            *("--host", "127.0.0.1", "--port", str(upstream_port), "--app-dir", str(ROOT / "bench")),
            "gateway_bench:upstream_app",
        ]
    upstream = start(cmd, {})
    results: dict[str, Any] = {}
    try:
        wait_ready(upstream_port, PATH)
        for server in args.servers.split(","):
            results[server] = measure(server, upstream_port, args)
    finally:
        stop(upstream)
    budget = {"added_p50_ms": 1.0, "added_p99_ms": 5.0, "throughput_ratio": 0.45}
    for result in results.values():
        fixed, sat = result["fixed_rate"]["added_ms"], result["saturation"]["ratio"]
        result["within_budget"] = fixed["p50"] <= 1.0 and fixed["p99"] <= 5.0 and sat >= 0.45
    summary = {"budget": budget, "upstream_server": args.upstream_server, "otlp": args.otlp, "results": results}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
