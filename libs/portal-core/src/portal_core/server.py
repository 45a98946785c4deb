"""Serve an ASGI app factory: the one way every service and the gateway run in production and dev.

granian is the default for services. On the gateway's proxy path the two measured close, uvicorn a
little ahead in the last run (bench/gateway_bench.py), so the gateway picks its own default (its
ASGI_SERVER setting). Both stop gracefully on SIGTERM: stop accepting, let
in-flight requests finish, then run the lifespan shutdown (pools closed, telemetry flushed).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import uvloop

AsgiServer = Literal["granian", "uvicorn"]
T = TypeVar("T")


def run_worker(main: Coroutine[Any, Any, T]) -> T:
    """Run a worker process's main coroutine (consumers, sweepers, CLIs) on uvloop, as the servers run.

    Measured on an event consumer with a per-event handler (bench/events_bench.py): ~6.3k events/s on
    uvloop against ~4.7k on asyncio's selector loop in the same window.
    """
    return uvloop.run(main)


def serve(factory: str, *, host: str, port: int, workers: int = 1, server: AsgiServer = "granian") -> None:
    """Run `module:function` (an app factory) until SIGTERM/SIGINT."""
    if server == "uvicorn":
        import uvicorn

        from portal_core.uvicorn_http import CoalescingHttpToolsProtocol

        uvicorn.run(
            factory,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            server_header=False,  # do not advertise the server software to clients
            lifespan="on",
            http=CoalescingHttpToolsProtocol,
            timeout_graceful_shutdown=25,
            proxy_headers=False,  # X-Forwarded-For is read by the gateway itself, only from trusted proxies
        )
        return
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    Server(
        factory,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_access=False,
        workers_kill_timeout=25,
    ).serve()
