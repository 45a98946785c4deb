"""`python -m gateway`: serve the gateway on HOST:PORT with portal_core's serve() (ASGI_SERVER picks the server).

uvicorn is the gateway's default by measurement (bench/gateway_bench.py, 2 cores, `make bench` of
2026-12-05 12:30 UTC): added latency p50 0.41 ms / p99 0.58 ms at 200 req/s and a throughput ratio of
0.47 to the direct upstream at saturation, against granian's 0.38 / 0.68 ms and 0.42 (0.48 against
0.45 in the run before). uvicorn runs on portal_core's coalescing protocol (one send per response).
ASGI_SERVER=granian stays supported. Both stop gracefully on SIGTERM (see portal_core.server).
"""

from __future__ import annotations

import sys

from portal_core.server import serve
from portal_core.settings import SettingsError, load_settings

from gateway.settings import GatewaySettings


def main() -> None:
    try:
        settings = load_settings(GatewaySettings)
    except SettingsError as exc:
        sys.exit(str(exc))
    serve(
        "gateway.app:create_app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        server=settings.asgi_server,
    )


if __name__ == "__main__":
    main()
