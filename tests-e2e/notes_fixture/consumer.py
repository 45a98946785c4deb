"""The fixture's consumer process: records each note event it applies, with the trace it ran in."""

from __future__ import annotations

import asyncio
import signal

from portal_core.logging import get_logger
from portal_core.observability import current_trace_id
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_db import Connection, create_pool
from portal_events import EventConsumer, ReceivedEvent, connect_nats, ensure_service_stream

from notes_fixture.contracts import NoteCreated
from notes_fixture.settings import SCHEMA, SERVICE, NotesSettings

_log = get_logger("notes.consumer")


async def record(conn: Connection, event: ReceivedEvent) -> None:
    assert isinstance(event.data, NoteCreated)
    await conn.execute(
        f"INSERT INTO {SCHEMA}.received_events (event_id, note_id, trace_id) VALUES ($1, $2, $3)",
        event.id,
        event.data.note_id,
        current_trace_id(),
    )


async def consume(settings: NotesSettings) -> None:
    pool = await create_pool(settings.database_url, name="notes-consumer")
    nc = await connect_nats(settings.nats_url, "notes-consumer")
    js = nc.jetstream()
    stream = await ensure_service_stream(js, SERVICE)
    consumer = EventConsumer(
        js,
        pool,
        schema=SCHEMA,
        durable_name="notes-e2e-recorder",
        stream=stream,
        subjects=["portal.notes.note.created.v1"],
        handler=record,
    )
    await consumer.start()
    _log.info("consuming", stream=stream)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await consumer.stop()
    await nc.drain()
    await pool.close()


def run() -> None:
    settings = load_settings(NotesSettings)
    telemetry = setup_telemetry("notes-consumer", settings)
    try:
        asyncio.run(consume(settings))
    finally:
        telemetry.shutdown()
