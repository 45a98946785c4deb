"""Park a message that cannot be handled on `<deadletter prefix>.<consumer>`, with why, then terminate it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from portal_contracts import spec_of
from portal_contracts.platform import MessageDeadLettered

from portal_events import metrics
from portal_events.envelope import MSG_ID_HEADER, build_headers, encode_data

_NOTICE = spec_of(MessageDeadLettered)

_MAX_ERROR_LENGTH = 512


def _header_safe(text: str) -> str:
    # NATS headers are line based: a newline in an error message would corrupt the whole header block.
    return " ".join(text.split())[:_MAX_ERROR_LENGTH]


async def deadletter(js: JetStreamContext, msg: Msg, *, subject: str, consumer: str, reason: str, error: str) -> None:
    """Publish `msg` (its headers plus error headers) to `subject`, wait for the ack, then `term` the original."""
    metadata = msg.metadata
    headers = {
        **(msg.headers or {}),
        "portal-deadletter-reason": reason,
        "portal-error": _header_safe(error) or "unknown",
        "portal-consumer": consumer,
        "portal-original-subject": msg.subject,
        "portal-original-stream": metadata.stream,
        "portal-deliveries": str(metadata.num_delivered),
        # One dead-letter stream serves every consumer: keyed per consumer and stored message, not per event.
        MSG_ID_HEADER: f"{consumer}:{metadata.stream}:{metadata.sequence.stream}",
    }
    await js.publish(subject, msg.data, headers=headers)
    await _publish_notice(js, msg, headers, consumer=consumer, error=headers["portal-error"])
    await msg.term()
    metrics.deadlettered.add(1, {"consumer": consumer, "reason": reason})


async def _publish_notice(
    js: JetStreamContext, msg: Msg, headers: dict[str, str], *, consumer: str, error: str
) -> None:
    # Subscribers (audit, on-call tooling) learn of the parked message without reading the dead-letter stream.
    # The id derives from the parked message, so a retry after a crash here is dropped as a duplicate.
    notice_id = uuid.uuid5(uuid.NAMESPACE_URL, f"portal-deadletter:{headers[MSG_ID_HEADER]}")
    original = msg.headers or {}
    notice = MessageDeadLettered(
        original_event_id=original.get("ce-id", ""),
        original_type=original.get("ce-type", ""),
        original_subject=msg.subject,
        consumer=consumer,
        deliveries=max(1, msg.metadata.num_delivered),
        error=error,
        occurred_at=datetime.now(UTC),
    )
    notice_headers = build_headers(
        _NOTICE,
        notice_id,
        time=notice.occurred_at,
        entity_id=original.get("ce-id"),
        tenant_id=original.get("ce-tenant"),
    )
    await js.publish(_NOTICE.subject, encode_data(notice), headers=notice_headers)
