"""WebSockets through the gateway: subprotocol, text and binary both ways, close codes both ways."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from portal_core.assertion import AssertionVerifier
from portal_core.dev_keys import DEV_ASSERTION_PUBLIC_JWKS
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus


def ws_url(gateway: str, path: str) -> str:
    return "ws" + gateway.removeprefix("http") + path


async def test_echo_text_and_binary_with_subprotocol(gateway: str) -> None:
    async with connect(ws_url(gateway, "/api/echo/v1/ws?room=1"), subprotocols=["chat.v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat.v1"
        hello = json.loads(await ws.recv())["hello"]
        identity = AssertionVerifier(DEV_ASSERTION_PUBLIC_JWKS, audience="echo").verify(hello["x-portal-identity"])
        assert identity.client_ip == "127.0.0.1"
        await ws.send("ping")
        assert await ws.recv() == "ping"
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"


async def test_client_close_code_reaches_upstream(gateway: str, upstream: Any) -> None:
    async with connect(ws_url(gateway, "/api/echo/v1/ws")) as ws:
        await ws.recv()
        await ws.close(code=4001, reason="done here")
    for _ in range(50):
        if 4001 in upstream.log.websocket_closes:
            break
        await asyncio.sleep(0.02)
    assert 4001 in upstream.log.websocket_closes


async def test_upstream_close_code_reaches_client(gateway: str) -> None:
    async with connect(ws_url(gateway, "/api/echo/v1/ws")) as ws:
        await ws.recv()
        await ws.send("close-me")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4002
        assert ws.close_reason == "bye"


@pytest.mark.parametrize(("path", "status"), [("/api/nosuch/ws", 404), ("/api/dead/ws", 502), ("/api/audit/ws", 503)])
async def test_refused_websocket_gets_the_error_status(gateway: str, path: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(gateway, path)):
            pass
    assert caught.value.response.status_code == status
    assert json.loads(caught.value.response.body or b"{}")["status"] == status
