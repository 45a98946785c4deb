"""What the e2e session fixture hands each test: where the started platform listens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support.otlp_receiver import OtlpReceiver

GATEWAY_MAX_BODY = 64 * 1024


@dataclass
class Platform:
    gateway: str
    notes: str
    database_url: str
    receiver: OtlpReceiver
    consumer_env: dict[str, str]
    logs: Path
