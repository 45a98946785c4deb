"""Park a message that cannot be handled on `<deadletter prefix>.<consumer>`, with why, then terminate it."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from portal_events import metrics
from portal_events.envelope import MSG_ID_HEADER

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
    await msg.term()
    metrics.deadlettered.add(1, {"consumer": consumer, "reason": reason})
