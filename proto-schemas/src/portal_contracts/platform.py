"""Events the platform itself publishes (not any one service): today, the dead-letter notice."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from portal_contracts.base import EventData, event


@event(
    "portal.platform.message.deadlettered.v1",
    description=(
        "A consumer parked a message that kept failing. This notice is the body; "
        "the original bytes travel in the dead-letter message itself."
    ),
)
class MessageDeadLettered(EventData, kw_only=True, frozen=True):
    """Notice that a consumer gave up on a message and parked it on the dead-letter subject."""

    original_event_id: Annotated[str, msgspec.Meta(description="CloudEvents id (ce-id) of the parked event")]
    original_type: Annotated[str, msgspec.Meta(description="CloudEvents type (ce-type) of the parked event")]
    original_subject: Annotated[str, msgspec.Meta(description="NATS subject the parked event was delivered on")]
    consumer: Annotated[str, msgspec.Meta(description="durable consumer name that gave up")]
    deliveries: Annotated[int, msgspec.Meta(ge=1, description="delivery attempts before the message was parked")]
    error: Annotated[str, msgspec.Meta(description="last error, as the consumer reported it")]
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True, description="when the message was parked (UTC)")]
