"""Log records exported over OTLP as a collector expects them: the message as body, the fields as attributes.

structlog hands the stdlib its whole event dict as `record.msg` (plus its own logger object in
`extra`), which OpenTelemetry's LoggingHandler would export as a map body with an unexportable
attribute. Here the event text becomes the body and the other fields (already through the secret
filter) become attributes.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from opentelemetry.sdk._logs import LoggingHandler

_STRUCTLOG_EXTRAS = ("_logger", "_name", "_from_structlog", "_record")
_PRIMITIVES = (bool, str, bytes, int, float)


class StructlogOtlpHandler(LoggingHandler):
    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict):
            record = _flatten(record, record.msg)
        super().emit(record)


def _flatten(record: logging.LogRecord, fields: dict[str, Any]) -> logging.LogRecord:
    flat = copy.copy(record)
    event = dict(fields)
    flat.msg, flat.args = str(event.pop("event", "")), ()
    for name in _STRUCTLOG_EXTRAS:
        flat.__dict__.pop(name, None)
    for name in ("level", "logger", "timestamp", "trace_id", "span_id"):  # carried natively by OTLP
        event.pop(name, None)
    for key, value in event.items():
        flat.__dict__[key] = value if isinstance(value, _PRIMITIVES) or value is None else str(value)
    return flat
