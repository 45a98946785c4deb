"""An upstream that dies mid-body: a small answer becomes a clean 502, a large (streamed) one arrives truncated."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway.proxy import SMALL_BODY_BYTES


class _CutHandler(socketserver.BaseRequestHandler):
    """Declares a body of `declared` bytes, sends half of it, then closes the connection."""

    def handle(self) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        declared = SMALL_BODY_BYTES * 4 if b"/large" in request.split(b"\r\n", 1)[0] else 100
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
        self.request.sendall(head.encode() + b"x" * (declared // 2))
        self.request.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def cutting_upstream() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CutHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_small_answer_cut_short_is_a_502(make_gateway: Any, cutting_upstream: str) -> None:
    with make_gateway(UPSTREAMS=json.dumps({"cut": cutting_upstream})) as server:
        response = httpx.get(f"{server.url}/api/cut/v1/small")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "upstream_unavailable"


def test_large_answer_cut_short_reaches_the_client_truncated(make_gateway: Any, cutting_upstream: str) -> None:
    received = bytearray()
    with (
        make_gateway(UPSTREAMS=json.dumps({"cut": cutting_upstream})) as server,
        httpx.stream("GET", f"{server.url}/api/cut/v1/large") as response,
    ):
        status = response.status_code  # the head was already relayed when the upstream failed
        with pytest.raises(httpx.RemoteProtocolError):
            _read_all(response, received)
    assert status == 200
    assert 0 < len(received) < SMALL_BODY_BYTES * 4  # never presented as complete


def _read_all(response: httpx.Response, into: bytearray) -> None:
    for chunk in response.iter_bytes():
        into += chunk
