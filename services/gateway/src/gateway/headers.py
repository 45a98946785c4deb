"""Header rules of the proxy: hop-by-hop removal, X-Forwarded-*, internal headers never from clients."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from portal_core.upstream import RawHeaders

from gateway.settings import IpNetwork

# RFC 9110 7.6.1: these describe one connection, never the message; a proxy must not forward them.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway only: what a client sends under these names is dropped, then the gateway's own added.
_REPLACED_BY_GATEWAY = frozenset({b"host", b"forwarded", b"x-request-id", b"traceparent", b"tracestate", b"x-real-ip"})
_WEBSOCKET_HANDSHAKE = frozenset(
    {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol"}
)
# The gateway owns these on responses: one X-Request-Id (its own), CORS decided here, not by a service.
_RESPONSE_OWNED = frozenset({b"x-request-id", b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset"})


@dataclass(frozen=True, slots=True)
class Forwarded:
    """Where the request came from: the client IP (rate limits, identity) and the X-Forwarded-* values."""

    client_ip: str
    forwarded_for: bytes
    proto: bytes
    host: bytes


class ClientAddressResolver:
    """Reads X-Forwarded-* only when the direct peer is one of our trusted proxies, else trusts the peer."""

    def __init__(self, trusted: list[IpNetwork]) -> None:
        self._trusted = trusted

    def resolve(self, scope: dict[str, Any]) -> Forwarded:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        host = b""
        proto = scope.get("scheme", "http").encode()
        if proto in (b"ws", b"wss"):
            proto = b"https" if proto == b"wss" else b"http"
        if not self._trusted or not self._is_trusted(peer):
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
            return Forwarded(peer, peer.encode(), proto, host)
        chain: list[str] = []
        for name, value in scope["headers"]:
            if name == b"host" and not host:
                host = value
            elif name == b"x-forwarded-host":
                host = value.split(b",")[0].strip()
            elif name == b"x-forwarded-proto":
                proto = value.split(b",")[0].strip()
            elif name == b"x-forwarded-for":
                chain.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
        chain.append(peer)
        # The nearest hop that is not ours is the client; anything left of it could be forged.
        client_ip = next((hop for hop in reversed(chain) if not self._is_trusted(hop)), chain[0])
        return Forwarded(client_ip, ", ".join(chain).encode(), proto, host)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]], forwarded: Forwarded, request_id: str, *, websocket: bool = False
) -> RawHeaders:
    """The client's headers minus hop-by-hop and internal ones, plus X-Forwarded-* and X-Request-Id."""
    headers = list(headers)
    dropped = _connection_listed(headers)
    out: RawHeaders = []
    for name, value in headers:
        if (
            name in HOP_BY_HOP
            or name in _REPLACED_BY_GATEWAY
            or name.startswith((b"x-portal-", b"x-forwarded-"))
            or (websocket and name in _WEBSOCKET_HANDSHAKE)
            or (dropped and name in dropped)
        ):
            continue
        out.append((name, value))
    out.append((b"x-forwarded-for", forwarded.forwarded_for))
    out.append((b"x-forwarded-proto", forwarded.proto))
    if forwarded.host:
        out.append((b"x-forwarded-host", forwarded.host))
    out.append((b"x-request-id", request_id.encode()))
    return out


def client_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """The upstream's response headers minus hop-by-hop ones and those the gateway sets itself."""
    headers = list(headers)
    dropped = _connection_listed(headers)
    return [
        (name, value)
        for name, value in headers
        if not (
            name in HOP_BY_HOP
            or name in _RESPONSE_OWNED
            or name.startswith(b"access-control-")
            or (dropped and name in dropped)
        )
    ]


def _connection_listed(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    # "Connection: close, x-foo" also makes x-foo hop-by-hop.
    listed = [v for n, v in headers if n == b"connection"]
    if not listed:
        return frozenset()
    return frozenset(t.strip().lower() for v in listed for t in v.split(b",") if t.strip())
