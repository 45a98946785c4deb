"""A NATS connection that keeps reconnecting, and a readiness check."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from portal_core.logging import get_logger

_log = get_logger(__name__)


async def _on_error(exc: Exception) -> None:
    _log.warning("nats error", error=repr(exc))


async def _on_disconnected() -> None:
    _log.warning("nats disconnected")


async def _on_reconnected() -> None:
    _log.info("nats reconnected")


async def connect_nats(url: str, name: str, *, connect_timeout: float = 5.0) -> Client:
    """Connect to `url` as client `name`; reconnect forever with a bounded wait, buffering publishes meanwhile."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        ping_interval=10,
        max_outstanding_pings=3,
        pending_size=8 * 1024 * 1024,
        error_cb=_on_error,
        disconnected_cb=_on_disconnected,
        reconnected_cb=_on_reconnected,
    )


async def check_nats_ready(nc: Client, *, within: int = 2) -> bool:
    """True when the connection is up and the server answers a round trip within `within` seconds."""
    if not nc.is_connected:
        return False
    try:
        await nc.flush(timeout=within)
    except Exception:  # any failure of the round trip means not ready
        return False
    return True
