"""The shared schemathesis driver finds what it is meant to find, on a small app served over real HTTP."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated

import pytest
import schemathesis
from litestar import Litestar, Request, Response, get
from litestar.params import QueryParameter
from portal_core.api_fuzz import POSITIVE_AND_NEGATIVE, fuzz_operations, problem_json_errors
from portal_core.testing import ThreadServer

SEEN_PROBES: list[str] = []


@get("/fine")
async def fine(request: Request) -> dict[str, bool]:
    SEEN_PROBES.append(request.headers.get("x-probe", ""))
    return {"ok": True}


@get("/broken")
async def broken() -> dict[str, bool]:
    raise RuntimeError("a bug")  # litestar answers 500


@get("/plain-error")
async def plain_error(limit: Annotated[int, QueryParameter()]) -> Response[str]:
    return Response("no", status_code=400, media_type="text/plain")


@pytest.fixture(scope="module")
def schema() -> Iterator[schemathesis.BaseSchema]:
    with ThreadServer(Litestar([fine, broken, plain_error], debug=False)) as server:
        yield schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")


def _labels(failures: list[str]) -> set[str]:
    return {failure.split(" (", 1)[0] for failure in failures}


def test_a_server_error_is_reported_per_operation(schema: schemathesis.BaseSchema) -> None:
    report = fuzz_operations(schema, max_examples=5)
    assert sorted(report.operations) == ["GET /broken", "GET /fine", "GET /plain-error"]
    assert _labels(report.failures) == {"GET /broken"}
    assert {200, 400, 500} <= report.statuses
    assert report.sent >= 3


def test_extra_checks_and_selection(schema: schemathesis.BaseSchema) -> None:
    report = fuzz_operations(
        schema, extra_checks=[problem_json_errors], select=lambda op: op.path != "/broken", max_examples=5
    )
    assert sorted(report.operations) == ["GET /fine", "GET /plain-error"]
    assert _labels(report.failures) == {"GET /plain-error"}  # a 400 that is not problem+json


def test_headers_fresh_per_case_or_per_operation(schema: schemathesis.BaseSchema) -> None:
    counter = itertools.count()
    SEEN_PROBES.clear()
    fuzz_operations(schema, headers=lambda: {"x-probe": str(next(counter))}, select=lambda op: op.path == "/fine")
    per_case = list(SEEN_PROBES)
    SEEN_PROBES.clear()
    fuzz_operations(
        schema,
        headers=lambda: {"x-probe": str(next(counter))},
        fresh_headers="operation",
        select=lambda op: op.path == "/fine",
    )
    assert len(set(per_case)) == len(per_case) > 0
    assert len(SEEN_PROBES) > 0
    assert len(set(SEEN_PROBES)) == 1


def test_an_operation_without_inputs_is_not_a_failure_in_negative_mode(schema: schemathesis.BaseSchema) -> None:
    report = fuzz_operations(schema, modes=POSITIVE_AND_NEGATIVE, select=lambda op: op.path == "/fine")
    assert report.failures == []
    assert report.statuses == {200}
