"""schemathesis over every operation of an OpenAPI document, driven by hand: one hypothesis run each.

schemathesis' pytest plugin does not load under pytest 9 (`'Function' object has no attribute '_nodeid'`),
so every suite fuzzes from a plain test through `fuzz_operations` and asserts on the report it returns.
Test processes only: schemathesis and hypothesis are dev dependencies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

POSITIVE = (GenerationMode.POSITIVE,)
POSITIVE_AND_NEGATIVE = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@dataclass
class FuzzReport:
    operations: list[str] = field(default_factory=list)  # the labels of the operations fuzzed
    sent: int = 0  # requests sent
    statuses: set[int] = field(default_factory=set)  # every status code seen
    failures: list[str] = field(default_factory=list)  # "<operation> (<mode>): <what failed>"


def problem_json_errors(response: Any) -> None:
    """An extra check: every 4xx/5xx answer is RFC 9457 problem+json."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type  # schemathesis: lists
        assert content_type.startswith("application/problem+json"), f"{response.status_code}: {response.text[:300]}"


def fuzz_operations(
    schema: Any,
    *,
    base_url: str | None = None,
    headers: Callable[[], Mapping[str, str]] = dict,
    fresh_headers: Literal["case", "operation"] = "case",
    checks: Sequence[Any] = (not_a_server_error,),
    extra_checks: Sequence[Callable[[Any], None]] = (),
    modes: Sequence[GenerationMode] = POSITIVE,
    max_examples: int = 20,
    derandomize: bool = True,
    select: Callable[[Any], bool] = lambda operation: True,
    timeout: float = 30.0,
) -> FuzzReport:
    """Send `max_examples` generated requests per selected operation and mode; collect what failed.

    `headers()` is called for every request, or once per operation and mode with `fresh_headers="operation"`
    (a signed-in pass then signs in once per operation, and a fuzzed logout cannot sign out the next one).
    `checks` are schemathesis checks; `extra_checks` take the response and raise AssertionError.
    """
    sender = _Sender(FuzzReport(), base_url, checks, extra_checks, timeout)
    fuzz_settings = settings(
        max_examples=max_examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=derandomize
    )
    for result in schema.get_all_operations():
        operation = result.ok()  # an invalid OpenAPI document raises here, failing the test
        if not select(operation):
            continue
        sender.report.operations.append(operation.label)
        for mode in modes:
            send_headers = functools.partial(dict, headers()) if fresh_headers == "operation" else headers
            try:
                sender.fuzz(operation, mode, fuzz_settings, send_headers)
            except Unsatisfiable:
                if mode is GenerationMode.NEGATIVE:
                    continue  # no invalid request exists for an operation without inputs
                sender.report.failures.append(f"{operation.label} ({mode.value}): no request could be generated")
            except (Exception, FailureGroup) as exc:  # FailureGroup: several failed checks (not an Exception)
                sender.report.failures.append(f"{operation.label} ({mode.value}): {exc}")
    return sender.report


@dataclass
class _Sender:
    report: FuzzReport
    base_url: str | None
    checks: Sequence[Any]
    extra_checks: Sequence[Callable[[Any], None]]
    timeout: float

    def fuzz(
        self, operation: Any, mode: GenerationMode, fuzz_settings: settings, headers: Callable[[], Mapping[str, str]]
    ) -> None:
        @fuzz_settings
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call(base_url=self.base_url, headers=dict(headers()), timeout=self.timeout)
            self.report.sent += 1
            self.report.statuses.add(response.status_code)
            case.validate_response(response, checks=list(self.checks))
            for check in self.extra_checks:
                check(response)

        run()
