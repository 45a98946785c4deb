"""Stream and subject naming, and idempotent creation of the JetStream streams."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

_STREAM_NAME_IN_USE = 10058


@dataclass(frozen=True)
class Topology:
    """Where events go. Production uses the defaults; tests pass unique prefixes so runs never collide."""

    subject_root: str = "portal"
    stream_prefix: str = "PORTAL"
    deadletter_stream: str = "PORTAL_DEADLETTER"
    deadletter_subject_prefix: str = "portal.deadletter"
    duplicate_window: float = 120.0

    def service_stream(self, service: str) -> str:
        """`PORTAL_<SERVICE>`: the stream of everything `service` publishes."""
        return f"{self.stream_prefix}_{service.upper().replace('-', '_')}"

    def service_subjects(self, service: str) -> str:
        return f"{self.subject_root}.{service}.>"

    def deadletter_subject(self, consumer: str) -> str:
        return f"{self.deadletter_subject_prefix}.{consumer}"


DEFAULT_TOPOLOGY = Topology()


async def ensure_stream(js: JetStreamContext, name: str, subjects: list[str], *, duplicate_window: float) -> None:
    """Create stream `name` (file storage, dedup window) or bring an existing one to this config."""
    config = StreamConfig(name=name, subjects=subjects, storage=StorageType.FILE, duplicate_window=duplicate_window)
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
        await js.update_stream(config)


async def ensure_service_stream(js: JetStreamContext, service: str, topology: Topology = DEFAULT_TOPOLOGY) -> str:
    """Ensure the stream of producing `service` and return its name."""
    name = topology.service_stream(service)
    await ensure_stream(js, name, [topology.service_subjects(service)], duplicate_window=topology.duplicate_window)
    return name


async def ensure_deadletter_stream(js: JetStreamContext, topology: Topology = DEFAULT_TOPOLOGY) -> str:
    """Ensure the dead-letter stream (and the platform stream its notices go to) and return its name."""
    subjects = [f"{topology.deadletter_subject_prefix}.>"]
    await ensure_stream(js, topology.deadletter_stream, subjects, duplicate_window=topology.duplicate_window)
    await ensure_service_stream(js, "platform", DEFAULT_TOPOLOGY)
    return topology.deadletter_stream
