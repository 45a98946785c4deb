"""CloudEvents over NATS JetStream: transactional outbox, relay, idempotent consumers, dead letters."""

from portal_events.connection import check_nats_ready, connect_nats
from portal_events.consumer import BatchHandler, EventConsumer, Handler, RetryPolicy
from portal_events.envelope import (
    EventDecoder,
    EventOrigin,
    MalformedEvent,
    OpaqueEventData,
    ReceivedEvent,
    decode_envelope,
    decode_event,
)
from portal_events.outbox import Outgoing, publish, publish_many
from portal_events.relay import OutboxRelay
from portal_events.runtime import event_service_lifespan
from portal_events.tables import EVENT_MIGRATIONS, migrate_event_tables
from portal_events.topology import (
    DEFAULT_TOPOLOGY,
    Topology,
    ensure_deadletter_stream,
    ensure_service_stream,
    ensure_stream,
)

__all__ = [
    "DEFAULT_TOPOLOGY",
    "EVENT_MIGRATIONS",
    "BatchHandler",
    "EventConsumer",
    "EventDecoder",
    "EventOrigin",
    "Handler",
    "MalformedEvent",
    "OpaqueEventData",
    "OutboxRelay",
    "Outgoing",
    "ReceivedEvent",
    "RetryPolicy",
    "Topology",
    "check_nats_ready",
    "connect_nats",
    "decode_envelope",
    "decode_event",
    "ensure_deadletter_stream",
    "ensure_service_stream",
    "ensure_stream",
    "event_service_lifespan",
    "migrate_event_tables",
    "publish",
    "publish_many",
]
