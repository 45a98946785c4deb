import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from portal_core.logging import configure_logging, get_logger
from portal_core.telemetry import tracer


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """configure_logging binds the root logger to this test's captured stdout, which closes when the test
    ends: put back what was there, or later tests' servers would log into a closed file."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers = handlers
    root.setLevel(level)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_every_line_is_json_with_trace_span_and_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("svc", "INFO")
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        with tracer("test").start_as_current_span("work") as span:
            get_logger("test").info("structlog line", items=3)
            logging.getLogger("stdlib").warning("stdlib line")
        ctx = span.get_span_context()
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    lines = _lines(capsys)
    assert [line["event"] for line in lines] == ["structlog line", "stdlib line"]
    for line in lines:
        assert line["trace_id"] == format(ctx.trace_id, "032x")
        assert line["span_id"] == format(ctx.span_id, "016x")
        assert line["request_id"] == "req-1"
        assert line["service"] == "svc"
    assert lines[0]["items"] == 3


def test_level_is_honoured(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("svc", "WARNING")
    get_logger("test").info("hidden")
    get_logger("test").error("shown")
    assert [line["event"] for line in _lines(capsys)] == ["shown"]
    configure_logging("svc", "DEBUG")


def test_secret_named_keys_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("svc", "INFO")
    get_logger("test").info("login", password="hunter2", token="abc", user="alice")
    line = _lines(capsys)[0]
    assert line["password"] == line["token"] == "**********"
    assert line["user"] == "alice"
