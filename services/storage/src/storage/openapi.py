"""What every storage route may answer besides success: problem+json (RFC 9457), documented once."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec
from portal_core.errors import PROBLEM_CONTENT_TYPE, Problem


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(Problem, description=description, media_type=PROBLEM_CONTENT_TYPE, generate_examples=False)


PROBLEMS: dict[int, ResponseSpec] = {
    400: _problem("Invalid input: `validation_failed` (see `errors`), `invalid_path`, `invalid_cursor`, ..."),
    401: _problem("No valid identity assertion: the service is reached only through the gateway"),
    403: _problem("`quota_exceeded`: the tenant's storage quota is full"),
    404: _problem("No such object or upload in the caller's tenant"),
    409: _problem("`path_taken`, `upload_incomplete` or `invalid_state`"),
    413: _problem("`upload_too_large`: over the per-upload limit"),
    415: _problem("`content_type_not_allowed`"),
    422: _problem("`checksum_mismatch` or `idempotency_key_reused`"),
}
