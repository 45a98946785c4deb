"""A consumer process for the crash test: `python consumer_worker.py DSN NATS_URL SCHEMA SERVICE SUFFIX`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from events_support import order_placed_type
from portal_db import Connection, create_pool
from portal_events import EventConsumer, ReceivedEvent, RetryPolicy, Topology, connect_nats


async def main(dsn: str, nats_url: str, schema: str, service: str, suffix: str) -> None:
    order_placed_type(service)
    pool = await create_pool(dsn, min_size=1, max_size=2, name="worker")
    nc = await connect_nats(nats_url, "crash-test-worker")
    topology = Topology(
        deadletter_stream=f"PORTAL_DL_{suffix.upper()}", deadletter_subject_prefix=f"portal.dl-{suffix}"
    )

    async def handle(conn: Connection, event: ReceivedEvent) -> None:
        order_id = event.data.order_id  # type: ignore[attr-defined]
        await conn.execute(f"INSERT INTO {schema}.applied (event_id, order_id) VALUES ($1, $2)", event.id, order_id)
        await asyncio.sleep(0.003)  # slow enough that the kill lands inside a batch

    consumer = EventConsumer(
        nc.jetstream(),
        pool,
        schema=schema,
        durable_name=f"c_{service}",
        stream=topology.service_stream(service),
        subjects=[f"portal.{service}.>"],
        handler=handle,
        retry=RetryPolicy(max_deliver=100, first_delay=0.05),
        batch_size=25,
        ack_wait=2.0,
        topology=topology,
    )
    await consumer.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
