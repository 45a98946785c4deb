"""Pure rules: path normalization, signed cursors, content-type patterns, download names."""

from __future__ import annotations

import pytest
from portal_core.assertion import Identity
from portal_core.errors import Forbidden
from storage.errors import InvalidPath
from storage.objects.quota import content_type_allowed
from storage.objects.service import content_disposition, tenant_of
from storage.paths import like_prefix, normalize_path, normalize_prefix


@pytest.mark.parametrize(
    "raw",
    ["", "/etc/passwd", "a/", "a//b", "./a", "a/../b", "..", "a\\b", "a\x00b", "a\u202eb", "a\u200bb", " a", "a/ b "],
)
def test_paths_that_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


def test_paths_are_nfc_and_length_limited() -> None:
    assert normalize_path("cafe\u0301/x.txt") == "caf\u00e9/x.txt"
    assert normalize_path("%2E%2E%2Fother") == "%2E%2E%2Fother"  # a literal name: it never becomes a key
    with pytest.raises(InvalidPath):
        normalize_path("a" * 256)
    with pytest.raises(InvalidPath):
        normalize_path("/".join(["abcd"] * 300))
    assert normalize_prefix("reports/") == "reports/"
    with pytest.raises(InvalidPath):
        normalize_prefix("/abs")


def test_like_prefix_escapes_wildcards() -> None:
    assert like_prefix("a_b%c\\") == "a\\_b\\%c\\\\%"


@pytest.mark.parametrize(
    ("allowed", "content_type", "expected"),
    [
        ("*/*", "application/x-anything", True),
        ("image/*,text/plain", "image/png", True),
        ("image/*,text/plain", "text/plain", True),
        ("image/*,text/plain", "text/html", False),
        ("image/*", "imagex/png", False),
        ("", "text/plain", False),
    ],
)
def test_content_type_patterns(allowed: str, content_type: str, expected: bool) -> None:
    assert content_type_allowed(allowed, content_type) is expected


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    header = content_disposition("attachment", 'dir/r\u00e9sum\u00e9 "1".pdf')
    assert header == "attachment; filename=\"r_sum_ _1_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"


@pytest.mark.parametrize("tenant", ["..", ".", "a/b", "../x", "a b", "x" * 129, "%2e%2e"])
def test_tenant_ids_that_cannot_be_a_key_segment_are_refused(tenant: str) -> None:
    with pytest.raises(Forbidden):
        tenant_of(Identity(tenant_id=tenant, user_id="u"))


def test_ordinary_tenant_ids_are_accepted() -> None:
    for tenant in ("tenant-1", "01939a6e-1f2b-7c3d-8e4f-a5b6c7d8e9f0", "acme_corp.eu"):
        assert tenant_of(Identity(tenant_id=tenant, user_id="u")) == tenant
