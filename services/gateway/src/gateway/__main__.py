"""`python -m gateway`: serve the gateway on HOST:PORT with portal_core's serve() (ASGI_SERVER picks the server).

uvicorn is the gateway's default by measurement (bench/gateway_bench.py, 2 cores, 200 req/s): added
latency p50 0.69 ms / p99 1.05 ms and 3.5k req/s at saturation, against granian's 0.85 / 1.36 ms
and 3.1k. The gap is small (the proxy's own Python work dominates), so ASGI_SERVER=granian stays
supported. Both stop gracefully on SIGTERM (see portal_core.server).
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
