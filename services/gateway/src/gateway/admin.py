"""The gateway's own routes: health, readiness (Redis), Prometheus metrics, and the OpenAPI index."""

from __future__ import annotations

import asyncio

import prometheus_client
from portal_core.errors import MethodNotAllowed
from portal_core.upstream import RawHeaders
from redis.asyncio import Redis

from gateway.responses import Scope, Send, send_body, send_json

ADMIN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/docs"})


class AdminRoutes:
    def __init__(self, redis: Redis, services: list[str]) -> None:
        self._redis = redis
        self._docs = {
            "services": [{"name": name, "openapi_url": f"/api/{name}/openapi.json"} for name in services],
        }
        self.shutting_down = False

    async def handle(self, scope: Scope, send: Send, extra: RawHeaders) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{scope['path']} answers GET only")
        head = method == "HEAD"
        path = scope["path"]
        if path == "/healthz":
            await send_json(send, 200, {"status": "ok"}, head=head)
        elif path == "/readyz":
            await self._readyz(send, head)
        elif path == "/metrics":
            body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
            await send_body(send, 200, body, prometheus_client.CONTENT_TYPE_LATEST.encode(), head=head)
        else:
            await send_json(send, 200, self._docs, extra, head=head)

    async def _readyz(self, send: Send, head: bool) -> None:
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=2.0)
            redis = "ok"
        except Exception as exc:  # any failure means "not ready"; the type says which
            redis = f"failed: {type(exc).__name__}"
        ready = redis == "ok" and not self.shutting_down
        body = {"status": "ready" if ready else "not ready", "checks": {"redis": redis}}
        await send_json(send, 200 if ready else 503, body, head=head)
