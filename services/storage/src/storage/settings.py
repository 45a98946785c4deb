"""The storage service's one settings object (field `foo_bar` comes from env var `FOO_BAR`)."""

from __future__ import annotations

from typing import ClassVar

from portal_core.settings import Secret, ServiceSettings

SERVICE = "storage"
SCHEMA = "storage"
MIB = 1024 * 1024
GIB = 1024 * MIB


class StorageSettings(ServiceSettings, kw_only=True, frozen=True):
    required_in_production: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.required_in_production,
        "storage_bucket",
        "storage_access_key_id",
    )

    # The S3-compatible store (local SeaweedFS from `scripts/infra.py` by default).
    storage_endpoint: str | None = "http://127.0.0.1:8333"
    storage_public_endpoint: str | None = None  # host clients use in presigned URLs when it differs
    storage_region: str = "us-east-1"
    storage_bucket: str = "portal-dev"
    storage_access_key_id: str = "portal-dev"
    storage_secret_access_key: Secret = Secret("portal-dev-secret")
    storage_key_prefix: str = "objects/"

    # Limits: every tenant gets the default quota unless storage.tenant_quotas says otherwise.
    storage_default_quota_bytes: int = 10 * GIB
    storage_max_upload_bytes: int = 5 * GIB
    storage_allowed_content_types: str = "*/*"  # comma-separated, `type/*` wildcards
    storage_multipart_threshold_bytes: int = 64 * MIB
    storage_min_part_bytes: int = 5 * MIB
    storage_default_part_bytes: int = 16 * MIB

    # Lifetimes.
    storage_upload_url_ttl_seconds: int = 900
    storage_download_url_ttl_seconds: int = 300
    storage_pending_ttl_seconds: int = 24 * 3600
    storage_failed_retention_seconds: int = 24 * 3600

    # Housekeeping (runs inside the service; also `python -m storage housekeeping [--once]`).
    storage_housekeeping_interval_seconds: float = 60.0
    storage_orphan_grace_seconds: int = 3600
    storage_bucket_sweep_interval_seconds: float = 3600.0  # listing the bucket for orphans costs O(objects)
    storage_housekeeping_enabled: bool = True

    # Test-only fault hook: the named step blocks forever once reached, so a test can SIGKILL the process there.
    storage_fault_pause_at: str | None = None
