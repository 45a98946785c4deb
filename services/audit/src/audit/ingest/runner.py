"""`python -m audit ingest`: one durable consumer per producing stream, rediscovered while running.

JetStream consumers belong to one stream and each service has its own (`PORTAL_<SERVICE>`), so the
ingester lists the streams every few seconds and starts a consumer for each new one. Why not one audit
stream sourcing all others: it stores every event twice and still needs updating when a service appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import asyncpg
from nats.js import JetStreamContext
from portal_core.logging import get_logger
from portal_core.server import run_worker
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_db import create_pool
from portal_events import EventConsumer, RetryPolicy, connect_nats, decode_envelope

from audit.chain.signing import HeadSigner
from audit.ingest.service import batch_recorder
from audit.retention.schedule import retention_loop
from audit.settings import SCHEMA, AuditSettings

_log = get_logger("audit.ingest")


def durable_name(prefix: str, stream: str) -> str:
    return f"{prefix}_{stream.lower()}"


class StreamIngester:
    """Keeps one EventConsumer per `<prefix>_*` stream (but the dead-letter stream) running."""

    def __init__(self, js: JetStreamContext, pool: asyncpg.Pool, settings: AuditSettings) -> None:
        self._js = js
        self._pool = pool
        self._settings = settings
        self._topology = settings.topology()
        self._handler = batch_recorder(HeadSigner(settings.audit_checkpoint_signing_key.reveal()))
        self.consumers: dict[str, EventConsumer] = {}

    async def discover(self) -> list[str]:
        """Start a consumer for every stream not consumed yet; return the streams started."""
        started = []
        for info in await self._js.streams_info():
            name, subjects = info.config.name, list(info.config.subjects or [])
            if name is None or name in self.consumers or not subjects:
                continue
            if not self._wanted(name):
                continue
            consumer = EventConsumer(
                self._js,
                self._pool,
                schema=SCHEMA,
                durable_name=durable_name(self._settings.audit_consumer_prefix, name),
                stream=name,
                subjects=subjects,
                batch_handler=self._handler,
                decoder=decode_envelope,  # every type is audited, registered in portal_contracts or not
                retry=RetryPolicy(max_deliver=10),
                batch_size=self._settings.audit_batch_size,
                ack_wait=self._settings.audit_ack_wait_seconds,
                topology=self._topology,
            )
            await consumer.start()
            self.consumers[name] = consumer
            started.append(name)
            _log.info("auditing stream", stream=name, subjects=subjects)
        return started

    def _wanted(self, stream: str) -> bool:
        only = self._settings.only_streams()
        if only:
            return stream in only
        return stream.startswith(f"{self._topology.stream_prefix}_") and stream != self._topology.deadletter_stream

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.discover()
            except Exception as exc:  # NATS away: the running consumers wait for it themselves
                _log.warning("stream discovery failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.audit_discovery_interval_seconds)

    async def stop(self) -> None:
        for consumer in self.consumers.values():
            await consumer.stop()


async def ingest(settings: AuditSettings) -> None:
    pool = await create_pool(settings.database_url, name="audit-ingest", max_size=8)
    nc = await connect_nats(settings.nats_url, "audit-ingest")
    ingester = StreamIngester(nc.jetstream(), pool, settings)
    stop = asyncio.Event()
    retention = None
    if settings.audit_retention_interval_seconds > 0:
        signer = HeadSigner(settings.audit_checkpoint_signing_key.reveal())
        retention = asyncio.create_task(
            retention_loop(
                pool, signer, settings.audit_default_retention_days, settings.audit_retention_interval_seconds, stop
            )
        )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _log.info("audit ingest started", prefix=settings.audit_stream_prefix)
    try:
        await ingester.run(stop)
    finally:
        stop.set()
        if retention is not None:
            await retention
        await ingester.stop()
        await nc.drain()
        await pool.close()


def run() -> None:
    settings = load_settings(AuditSettings)
    telemetry = setup_telemetry("audit-ingest", settings)
    try:
        run_worker(ingest(settings))
    finally:
        telemetry.shutdown()
