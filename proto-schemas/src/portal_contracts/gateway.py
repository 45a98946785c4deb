"""Events the gateway publishes: requests it refused for want of authentication or permission."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from portal_contracts.base import EventData, event


@event(
    "portal.gateway.access.denied.v1",
    description=(
        "A request was answered 401 or 403, by the gateway (no or invalid session, CORS origin refused, ...) "
        "or by the service it went to (code `denied_by_service`). "
        "Actor, tenant, client IP, user agent and request id ride in the CloudEvents extensions when known."
    ),
)
class AccessDenied(EventData, kw_only=True, frozen=True):
    """A refused request, for the audit log's failed-access view."""

    method: Annotated[str, msgspec.Meta(description="HTTP method, e.g. `GET`")]
    path: Annotated[str, msgspec.Meta(description="request path without the query string (it may carry tokens)")]
    status: Annotated[int, msgspec.Meta(ge=400, le=499, description="401 or 403")]
    code: Annotated[str, msgspec.Meta(description="problem+json `code` the client got, e.g. `unauthenticated`")]
    service: Annotated[str | None, msgspec.Meta(description="target service of the path, when it names one")] = None
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True, description="when the request was refused (UTC)")]
