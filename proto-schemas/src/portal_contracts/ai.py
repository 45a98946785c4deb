"""Events the AI gateway publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from portal_contracts.base import EventData, event


@event(
    "portal.ai.completion.finished.v1",
    description=(
        "A model call through the AI gateway finished (answered, failed or cut short by the client). "
        "One event per call; never carries prompts or outputs."
    ),
)
class CompletionFinished(EventData, kw_only=True, frozen=True):
    """One finished call, as recorded in the usage ledger."""

    call_id: Annotated[str, msgspec.Meta(description="usage ledger id of the call (UUIDv7)")]
    tenant_id: Annotated[str, msgspec.Meta(description="tenant that was charged")]
    user_id: Annotated[str, msgspec.Meta(description="user who made the call")]
    endpoint: Annotated[str, msgspec.Meta(description="chat.completions or messages")]
    stream: Annotated[bool, msgspec.Meta(description="whether the answer was streamed")]
    model_requested: Annotated[str, msgspec.Meta(description="model name as the client asked (maybe an alias)")]
    model_used: Annotated[str | None, msgspec.Meta(description="provider/model that answered; null if none did")]
    input_tokens: Annotated[int, msgspec.Meta(ge=0)]
    output_tokens: Annotated[int, msgspec.Meta(ge=0)]
    cached_tokens: Annotated[int, msgspec.Meta(ge=0, description="input tokens served from the provider's cache")]
    cost_usd: Annotated[float, msgspec.Meta(ge=0, description="cost charged to the tenant's budget, in USD")]
    latency_ms: Annotated[int, msgspec.Meta(ge=0)]
    outcome: Annotated[
        str,
        msgspec.Meta(
            description="completed, failed, client_disconnected or interrupted (settled by the sweeper after a crash)"
        ),
    ]
    error_code: Annotated[str | None, msgspec.Meta(description="stable error code when the call failed")] = None
    finished_at: Annotated[datetime, msgspec.Meta(tz=True, description="when the call finished (UTC)")]
