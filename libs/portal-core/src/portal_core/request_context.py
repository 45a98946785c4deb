"""Who and where the current request comes from, for whatever records it (events, audit) deeper down.

The observability middleware opens one `RequestContext` per request; the identity provider fills in
the verified caller. It is one mutable object in a ContextVar, so a value filled in by a dependency that
litestar resolves in a child task is still seen by the handler that publishes an event.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from portal_core.assertion import Identity

MAX_USER_AGENT = 512


@dataclass(slots=True)
class RequestContext:
    request_id: str
    user_agent: str | None = None
    client_ip: str | None = None
    actor_id: str | None = None
    tenant_id: str | None = None

    def attach_identity(self, identity: Identity) -> None:
        """Record the verified caller (the gateway's assertion is the only source of these)."""
        self.actor_id = identity.user_id
        self.tenant_id = identity.tenant_id
        self.client_ip = identity.client_ip


_current: ContextVar[RequestContext | None] = ContextVar("portal_request_context", default=None)


def current_request() -> RequestContext | None:
    """The context of the request being served, or None outside a request (consumers, jobs)."""
    return _current.get()


def begin_request(request_id: str, user_agent: bytes | None) -> Token[RequestContext | None]:
    agent = user_agent.decode("latin-1")[:MAX_USER_AGENT] if user_agent else None
    return _current.set(RequestContext(request_id=request_id, user_agent=agent))


def end_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)
