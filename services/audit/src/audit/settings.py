"""The audit service's one settings object (field `foo_bar` comes from env var `FOO_BAR`)."""

from __future__ import annotations

from portal_core.settings import Secret, ServiceSettings
from portal_events import Topology

SERVICE = "audit"
SCHEMA = "audit"

# Published development key (base64url Ed25519 seed): production refuses to start with it (Secret default).
DEV_CHECKPOINT_SIGNING_KEY = "ZGV2LW9ubHktYXVkaXQtY2hlY2twb2ludC1rZXktMDA"


class AuditSettings(ServiceSettings, kw_only=True, frozen=True):
    # Signs chain checkpoints and retention anchors: base64url of a 32-byte Ed25519 private key seed.
    audit_checkpoint_signing_key: Secret = Secret(DEV_CHECKPOINT_SIGNING_KEY)
    audit_default_retention_days: int = 365

    # Which streams to record: every `<prefix>_*` stream but the dead-letter one (its messages are copies).
    audit_stream_prefix: str = "PORTAL"
    audit_deadletter_stream: str = "PORTAL_DEADLETTER"
    audit_deadletter_subject_prefix: str = "portal.deadletter"
    audit_only_streams: str = ""  # comma separated: record only these streams (empty: every one discovered)
    audit_consumer_prefix: str = "audit"  # durable consumer `<prefix>_<stream>`
    audit_discovery_interval_seconds: float = 10.0
    audit_batch_size: int = 1000
    audit_ack_wait_seconds: float = 30.0

    audit_retention_interval_seconds: float = 3600.0  # the ingester runs retention this often; 0 turns it off
    audit_export_max_rows: int = 10_000_000

    def __post_init__(self) -> None:
        if self.audit_default_retention_days < 1:
            raise ValueError("AUDIT_DEFAULT_RETENTION_DAYS must be at least 1")
        if not 1 <= self.audit_batch_size <= 10_000:
            raise ValueError("AUDIT_BATCH_SIZE must be between 1 and 10000")

    def only_streams(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.audit_only_streams.split(",") if s.strip())

    def topology(self) -> Topology:
        return Topology(
            stream_prefix=self.audit_stream_prefix,
            deadletter_stream=self.audit_deadletter_stream,
            deadletter_subject_prefix=self.audit_deadletter_subject_prefix,
        )
