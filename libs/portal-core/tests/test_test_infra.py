"""How tests choose their infrastructure: the environment, else a container where Docker answers, else local.

No Docker engine runs where these tests were written: the container branch is tested with a fake engine
(the probe) and a fake start, so what is proven is the choice and the export, not a real container.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from portal_core import test_infra
from portal_core.test_infra import (
    NATS,
    POSTGRES,
    REDIS,
    S3Access,
    choose,
    create_buckets,
    resolve,
    s3_access,
    s3_client,
)
from portal_core.testing import refusing_port


def never_probed() -> bool:
    raise AssertionError("the engine was probed although the environment names the service")


def test_the_environment_wins_over_an_engine() -> None:
    environ = {"NATS_URL": "nats://nats.internal:4222", "REDIS_HOST": "redis.internal", "REDIS_PASSWORD": "pw"}
    assert choose(NATS, environ, never_probed) == ("environment", {"NATS_URL": "nats://nats.internal:4222"})
    assert choose(REDIS, environ, never_probed) == (
        "environment",
        {"REDIS_HOST": "redis.internal", "REDIS_PASSWORD": "pw"},
    )
    dsn = "postgresql://admin@db.internal/postgres"
    assert choose(POSTGRES, {"PORTAL_TEST_ADMIN_DSN": dsn}, never_probed) == (
        "environment",
        {"PORTAL_TEST_ADMIN_DSN": dsn},
    )


def test_without_an_engine_the_local_services_are_used() -> None:
    def no_engine() -> bool:
        return False

    assert choose(POSTGRES, {}, no_engine) == ("local", {"PORTAL_TEST_ADMIN_DSN": test_infra.LOCAL_ADMIN_DSN})
    assert choose(REDIS, {"REDIS_PASSWORD": ""}, no_engine) == ("local", test_infra.LOCAL_REDIS)
    assert choose(NATS, {}, no_engine) == ("local", {"NATS_URL": "nats://127.0.0.1:4222"})


def test_with_an_engine_a_container_starts_once_and_its_address_is_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def start() -> dict[str, str]:
        started.append("redis")
        return {"REDIS_HOST": "10.0.0.7", "REDIS_PORT": "32768"}

    fake = dataclasses.replace(REDIS, name="redis-under-test", start_container=start)
    monkeypatch.setattr(test_infra, "_chosen", {})
    monkeypatch.setattr(test_infra, "_engine_answers", lambda: True)
    environ: dict[str, str] = {"PATH": "/usr/bin"}
    first = resolve(fake, environ)
    second = resolve(fake, environ)
    assert first == second == ("container", {"REDIS_HOST": "10.0.0.7", "REDIS_PORT": "32768"})
    assert started == ["redis"]  # once per process, however many fixtures ask
    assert environ == {"PATH": "/usr/bin", "REDIS_HOST": "10.0.0.7", "REDIS_PORT": "32768"}


class FakeEngine(BaseHTTPRequestHandler):
    """Answers the two calls the docker SDK makes to ping: the API version, then `_ping`."""

    def do_GET(self) -> None:
        body = json.dumps({"ApiVersion": "1.45"}).encode() if self.path == "/version" else b"OK"
        if not (self.path == "/version" or self.path.endswith("/_ping")):
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json" if self.path == "/version" else "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_engine() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_probe_answers_whether_an_engine_answers(monkeypatch: pytest.MonkeyPatch, fake_engine: str) -> None:
    with refusing_port() as port:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
        assert test_infra.docker_engine_answers() is False
    monkeypatch.setenv("DOCKER_HOST", fake_engine)
    assert test_infra.docker_engine_answers() is True


@pytest.mark.integration
def test_the_container_branch_bucket_creation_works_on_a_real_s3() -> None:
    """`create_buckets` (run on the S3 container) checked against the tests' S3, and idempotent."""
    access: S3Access = s3_access()
    bucket = f"infra-test-{uuid.uuid4().hex[:10]}"
    create_buckets(access, (bucket,))
    create_buckets(access, (bucket,))
    client = s3_client(access)
    try:
        assert bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}
    finally:
        client.delete_bucket(Bucket=bucket)
