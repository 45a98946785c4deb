"""AI gateway overhead: the official `openai` SDK calling a local OpenAI-wire upstream directly, and the
same SDK calling the AI gateway in front of that upstream, in the same run (and the same with `anthropic`).

    uv run python bench/ai_bench.py [--rate 100] [--seconds 8] [--streams 500] [--hold-seconds 10]

Starts on loopback, in their own processes: the upstream (a raw ASGI stub of both wires on uvicorn)
and the AI gateway (`python -m ai_gateway`, on its default server, uvicorn) on a throw-away database, with
real Redis and NATS.
Figures (issue 7's budgets in brackets):

1. Fixed rate, open loop (latency counted from each request's scheduled time): p50 and p99 added by the
   gateway for a plain completion [p50 <= 2 ms, p99 <= 8 ms at 100 req/s]. Direct and through take turns in
   blocks of half a second (`rate * seconds` calls each, the order alternating), so the machine's slow
   moments fall on both sides of the difference rather than on one phase.
   With it, the gateway process's CPU time per call (user + system, its background writers included):
   less noisy than latency on a busy machine, and what a change to the gateway's own work moves.
   The same with the `anthropic` SDK against the upstream's Messages route directly, and through the
   gateway's Messages route and its Anthropic provider (`anthropic_fixed_rate`, half as many calls).
2. Time to first token of a stream, direct vs through [added <= 5 ms].
3. `--streams` concurrent streams held open for `--hold-seconds`: the gateway's RSS before, while held,
   and per stream [flat memory].

Every call through the gateway is admitted (policy, budget, rate limits) and recorded (ledger row,
budget charge, outbox event) as in production. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
USAGE = {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}
ANTHROPIC_ANSWER = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "benchmark answer"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 8},
}


# ---------------------------------------------------------------- the upstream (its own process)


def upstream_app() -> Any:
    """OpenAI Chat Completions on the wire: plain JSON, or SSE chunks; model `slow` streams one chunk a second.
    Anthropic Messages (`/v1/messages`): plain JSON."""
    from portal_core.testing import answer_lifespan

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = json.loads(raw or b"{}")
        if scope["path"].endswith("/messages"):  # Anthropic Messages, plain JSON
            data = json.dumps(ANTHROPIC_ANSWER | {"model": body.get("model", "")}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
        base = {"id": "chatcmpl-bench", "created": 0, "model": body.get("model", "")}
        if not body.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": "benchmark answer"},
                "finish_reason": "stop",
            }
            data = json.dumps({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
        slow = body.get("model") == "slow"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(30 if slow else 8):
            choice = {"index": 0, "delta": {"content": f" tok{n}"}, "finish_reason": None}
            frame = json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice]})
            await send({"type": "http.response.body", "body": f"data: {frame}\n\n".encode(), "more_body": True})
            if slow:
                await asyncio.sleep(1.0)
        end = {**base, "object": "chat.completion.chunk", "choices": [], "usage": USAGE}
        await send({"type": "http.response.body", "body": f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()})

    return app


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------- processes


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # AI_BENCH_LOG=path keeps the processes' output (for a failing run); otherwise it is dropped.
    log = open(os.environ.get("AI_BENCH_LOG", os.devnull), "ab")  # noqa: SIM115  (the child owns it)
    return subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_ready(url: str, deadline_seconds: float = 40) -> None:
    import httpx

    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code in (200, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


# ---------------------------------------------------------------- measurements


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def fixed_rate(client: Any, rate: int, seconds: float, model: str = "openai/bench") -> list[float]:
    return (await interleaved_fixed_rate({"only": openai_call(client, model)}, rate, seconds))["only"]


def openai_call(client: Any, model: str = "openai/bench") -> Callable[[], Awaitable[Any]]:
    messages = [{"role": "user", "content": "hello"}]
    return lambda: client.chat.completions.create(model=model, messages=messages)


def anthropic_call(client: Any, model: str) -> Callable[[], Awaitable[Any]]:
    messages = [{"role": "user", "content": "hello"}]
    return lambda: client.messages.create(model=model, max_tokens=64, messages=messages)


async def interleaved_fixed_rate(
    calls: dict[str, Callable[[], Awaitable[Any]]], rate: int, seconds: float, block_seconds: float = 0.5
) -> dict[str, list[float]]:
    """`rate * seconds` calls of each kind at `rate`, open loop, the kinds taking turns in blocks of
    `block_seconds` (the order alternating block by block), so a slow moment of the machine falls on all."""
    loop = asyncio.get_running_loop()
    latencies: dict[str, list[float]] = {name: [] for name in calls}

    async def one(name: str, scheduled: float) -> None:
        await calls[name]()
        latencies[name].append((loop.time() - scheduled) * 1000)

    for name in calls:  # warm-up, not counted
        for _ in range(min(rate, 50)):
            await one(name, loop.time())
        latencies[name].clear()
    total, per_block = int(rate * seconds), max(1, int(rate * block_seconds))
    names = list(calls)
    for block in range(-(-total // per_block)):
        count = min(per_block, total - block * per_block)
        for name in names if block % 2 == 0 else names[::-1]:
            start_at, tasks = loop.time() + 0.01, []
            for n in range(count):
                scheduled = start_at + n / rate
                await asyncio.sleep(max(0.0, scheduled - loop.time()))
                tasks.append(asyncio.ensure_future(one(name, scheduled)))
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    return latencies


async def first_token(client: Any, count: int) -> list[float]:
    out: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        stream = await client.chat.completions.create(
            model="openai/bench", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                out.append((time.perf_counter() - started) * 1000)
                break
        await stream.close()
    return out[5:]  # the first few warm connections up


async def hold_streams(client: Any, count: int, hold_seconds: float, pid: int) -> dict[str, Any]:
    import psutil

    process = psutil.Process(pid)
    before = process.memory_info().rss
    opened = 0
    ready = asyncio.Event()

    async def one() -> None:
        nonlocal opened
        stream = await client.chat.completions.create(
            model="openai/slow", messages=[{"role": "user", "content": "hold"}], stream=True
        )
        try:
            async for _ in stream:
                opened += 1
                if opened >= count:
                    ready.set()
                await ready.wait()
                await asyncio.sleep(hold_seconds)
                break
        finally:
            await stream.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    await asyncio.wait_for(ready.wait(), timeout=60)
    samples = []
    for _ in range(max(1, int(hold_seconds))):
        samples.append(process.memory_info().rss)
        await asyncio.sleep(1)
    await asyncio.gather(*tasks, return_exceptions=True)
    held = max(samples)
    return {
        "streams": count,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_held_max_mib": round(held / 2**20, 1),
        "rss_held_min_mib": round(min(samples) / 2**20, 1),
        "kib_per_stream": round((held - before) / 1024 / count, 1),
    }


async def run(args: argparse.Namespace, upstream: str, gateway: str, gateway_pid: int, token: str) -> dict[str, Any]:
    import anthropic
    import httpx2  # the SDKs' HTTP client
    import openai
    import psutil

    limits = httpx2.Limits(max_connections=args.streams + 50, max_keepalive_connections=200)

    def client(sdk: Any, base_url: str, through_gateway: bool) -> Any:
        """An SDK client (`openai.AsyncOpenAI`, `anthropic.AsyncAnthropic`) with the bench's pool limits."""
        return sdk(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            default_headers={"x-portal-identity": token} if through_gateway else None,
            http_client=httpx2.AsyncClient(limits=limits),
        )

    direct = client(openai.AsyncOpenAI, f"{upstream}/v1", through_gateway=False)
    through = client(openai.AsyncOpenAI, f"{gateway}/api/ai/v1", through_gateway=True)
    gateway_process = psutil.Process(gateway_pid)
    cpu_before = sum(gateway_process.cpu_times()[:2])
    paired = await interleaved_fixed_rate(
        {"direct": openai_call(direct), "through": openai_call(through)}, args.rate, args.seconds
    )
    # Everything the gateway did for those calls, its background writers included (ledger, starts, limits).
    cpu_ms_per_call = (sum(gateway_process.cpu_times()[:2]) - cpu_before) * 1000 / len(paired["through"])
    local = await fixed_rate(through, args.rate, args.seconds, model="local/echo")
    # The Anthropic SDK on both sides: the gateway's Messages route and its Anthropic provider.
    anthropic_direct = client(anthropic.AsyncAnthropic, upstream, through_gateway=False)
    anthropic_through = client(anthropic.AsyncAnthropic, f"{gateway}/api/ai", through_gateway=True)
    anthropic_paired = await interleaved_fixed_rate(
        {
            "direct": anthropic_call(anthropic_direct, "bench"),
            "through": anthropic_call(anthropic_through, "anthropic/bench"),
        },
        args.rate,
        args.seconds / 2,
    )
    ttft_direct = await first_token(direct, args.ttft_count)
    ttft_through = await first_token(through, args.ttft_count)
    held = await hold_streams(through, args.streams, args.hold_seconds, gateway_pid)
    t_d, t_g = percentile(ttft_direct, 50), percentile(ttft_through, 50)
    return {
        "fixed_rate": {
            **added_latency(paired, args.rate),
            "gateway_cpu_ms_per_call": round(cpu_ms_per_call, 3),
            "budget_ms": {"p50": 2, "p99": 8},
            # The gateway alone, with its built-in provider: admission + accounting, no second SDK hop.
            "local_provider_ms": {"p50": round(percentile(local, 50), 3), "p99": round(percentile(local, 99), 3)},
        },
        "anthropic_fixed_rate": added_latency(anthropic_paired, args.rate),
        "time_to_first_token": {
            "direct_p50_ms": round(t_d, 3),
            "gateway_p50_ms": round(t_g, 3),
            "added_p50_ms": round(t_g - t_d, 3),
            "added_p99_ms": round(percentile(ttft_through, 99) - percentile(ttft_direct, 99), 3),
            "budget_ms": 5,
        },
        "held_streams": held,
    }


def added_latency(paired: dict[str, list[float]], rate: int) -> dict[str, Any]:
    d, g = paired["direct"], paired["through"]
    return {
        "rate_per_second": rate,
        "requests": len(g),
        "direct_ms": {"p50": round(percentile(d, 50), 3), "p99": round(percentile(d, 99), 3)},
        "gateway_ms": {"p50": round(percentile(g, 50), 3), "p99": round(percentile(g, 99), 3)},
        "added_ms": {
            "p50": round(percentile(g, 50) - percentile(d, 50), 3),
            "p99": round(percentile(g, 99) - percentile(d, 99), 3),
        },
    }


async def ledger_outcomes(dsn: str) -> dict[str, int]:
    """Ledger rows by outcome: every call made above must be there exactly once."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT outcome, stream, count(*) AS n FROM ai.usage GROUP BY outcome, stream")
    finally:
        await conn.close()
    return {f"{r['outcome']}{'_stream' if r['stream'] else ''}": r["n"] for r in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--ttft-count", type=int, default=60)
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--hold-seconds", type=float, default=10)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return

    from portal_core.assertion import AssertionSigner, Identity
    from portal_core.dev_keys import DEV_ASSERTION_PRIVATE_JWK
    from portal_core.testing import free_port
    from portal_db.testing import temporary_database

    async def with_database() -> dict[str, Any]:
        async with temporary_database(prefix="ai_bench") as dsn:
            return await asyncio.to_thread(measure, dsn)

    def measure(dsn: str) -> dict[str, Any]:
        upstream_port, gateway_port = free_port(), free_port()
        upstream = start([sys.executable, __file__, "--serve-upstream", str(upstream_port)], {})
        env = {
            "DATABASE_URL": dsn,
            "PORT": str(gateway_port),
            "LOG_LEVEL": "WARNING",
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{upstream_port}",
            "REDIS_KEY_PREFIX": f"bench:ai:{uuid.uuid4().hex}:",
            "TENANT_REQUESTS_PER_MINUTE": "100000000",
            "USER_REQUESTS_PER_MINUTE": "100000000",
            "TENANT_TOKENS_PER_MINUTE": "100000000000",
            "USER_TOKENS_PER_MINUTE": "100000000000",
        }
        subprocess.run(
            [sys.executable, "-m", "ai_gateway", "migrate"], env={**os.environ, **env}, check=True, capture_output=True
        )
        gateway = start([sys.executable, "-m", "ai_gateway"], env)
        try:
            wait_ready(f"http://127.0.0.1:{upstream_port}/v1/chat/completions")
            wait_ready(f"http://127.0.0.1:{gateway_port}/readyz")
            token = AssertionSigner(DEV_ASSERTION_PRIVATE_JWK, ttl_seconds=3600).mint(
                Identity(tenant_id=f"bench-{uuid.uuid4().hex[:8]}", user_id="bench"), "ai"
            )
            import psutil

            worker = psutil.Process(gateway.pid).children(recursive=True) or [psutil.Process(gateway.pid)]
            upstream_url, gateway_url = f"http://127.0.0.1:{upstream_port}", f"http://127.0.0.1:{gateway_port}"
            result = asyncio.run(run(args, upstream_url, gateway_url, worker[-1].pid, token))
        finally:
            stop(gateway)  # SIGTERM: the calls still being recorded are drained first
            stop(upstream)
        result["ledger"] = asyncio.run(ledger_outcomes(dsn))
        return result

    print(json.dumps(asyncio.run(with_database()), indent=2))


if __name__ == "__main__":
    main()
