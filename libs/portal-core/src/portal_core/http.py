"""The litestar app factory every service uses: health, readiness, metrics, problem+json, identity."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import prometheus_client
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import ControllerRouterHandler

from portal_core.assertion import IDENTITY_HEADER, AssertionVerifier, Identity
from portal_core.errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    DependencyUnavailable,
    FieldError,
    MalformedBody,
    PortalError,
    Unauthorized,
    ValidationFailed,
    dependency_outage,
    encode_problem,
    error_for_status,
)
from portal_core.logging import get_logger
from portal_core.observability import ObservabilityMiddleware
from portal_core.request_context import current_request

ReadinessCheck = Callable[[], Awaitable[object]]
Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]

_log = get_logger("portal.http")

# Handlers declare `identity: CallerIdentity` to receive the verified caller (or the request gets a 401).
CallerIdentity = NamedDependency[Identity]


def problem_response(request: Request[Any, Any, Any], error: PortalError) -> Response[bytes]:
    request_id = request.scope.get("state", {}).get("request_id", "")
    return Response(
        content=encode_problem(error.problem(request_id)),
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )


def _on_portal_error(request: Request[Any, Any, Any], exc: PortalError) -> Response[bytes]:
    if exc.status >= 500:
        _log.error("request failed", code=exc.code, detail=exc.detail)
    return problem_response(request, exc)


def _on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, ValidationException):
        extras = exc.extra if isinstance(exc.extra, list) else []
        errors = [FieldError(field=str(e.get("key", "")), message=str(e.get("message", ""))) for e in extras]
        detail = exc.detail if not errors else "See `errors` for each invalid field"
        return problem_response(request, ValidationFailed(detail, errors=errors))
    if isinstance(exc.__cause__, SerializationException):
        return problem_response(request, MalformedBody(f"Not valid JSON: {exc.detail}"))
    error = error_for_status(exc.status_code, exc.detail if exc.status_code < 500 else "")
    error.headers.update(exc.headers or {})
    return problem_response(request, error)


# PostgreSQL refuses text it cannot store (a NUL character, bytes that are not UTF-8): that is the
# client's input, whichever field it came in, so every service answers 400 rather than 500.
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


async def _refuse_nul_in_query(request: Request[Any, Any, Any]) -> None:
    # Checked before the handler, so a streamed answer (an export) never starts on input it cannot use.
    # `async` though it never awaits: litestar runs a sync hook in a worker thread, a thread hop per request.
    if b"%00" in request.scope.get("query_string", b""):
        raise BadRequest("A query parameter contains a NUL character", code="invalid_text")


def outage_error(request: Request[Any, Any, Any], exc: Exception) -> DependencyUnavailable | None:
    """The 503 to answer when `exc` says a dependency is away (logged with its cause), else None: for every
    catch-all error handler, whatever shape it renders errors in."""
    if not dependency_outage(exc):
        return None
    _log.warning("dependency unavailable", path=request.url.path, error=repr(exc))
    return DependencyUnavailable(retry_after=1)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if getattr(exc, "sqlstate", None) in _UNSTORABLE_TEXT_SQLSTATES:
        return problem_response(
            request, BadRequest("Text in the request contains a character that cannot be stored", code="invalid_text")
        )
    if (outage := outage_error(request, exc)) is not None:
        return problem_response(request, outage)
    _log.exception("unhandled error", path=request.url.path)
    return problem_response(request, PortalError())


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[Any]:
    checks: dict[str, ReadinessCheck] = state.get("readiness_checks", {})
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), timeout=2.0) for check in checks.values()), return_exceptions=True
    )
    report = {
        name: ("ok" if not isinstance(result, BaseException) else f"failed: {type(result).__name__}")
        for name, result in zip(checks, results, strict=True)
    }
    ready = not state.get("shutting_down", False) and all(v == "ok" for v in report.values())
    return Response({"status": "ready" if ready else "not ready", "checks": report}, status_code=200 if ready else 503)


@get("/metrics", include_in_schema=False, media_type=MediaType.TEXT, sync_to_thread=False)
def metrics_endpoint() -> Response[bytes]:
    return Response(
        prometheus_client.generate_latest(prometheus_client.REGISTRY),
        media_type=prometheus_client.CONTENT_TYPE_LATEST,
    )


def add_readiness_check(app: Litestar, name: str, check: ReadinessCheck) -> None:
    """Register a dependency `/readyz` must find healthy (called from a lifespan once it is built)."""
    app.state.setdefault("readiness_checks", {})[name] = check


def identity_provider(verifier: AssertionVerifier) -> Provide:
    """DI provider: every handler that takes `identity: Identity` gets the verified caller, or a 401."""

    def provide_identity(request: Request[Any, Any, Any]) -> Identity:
        token = request.headers.get(IDENTITY_HEADER)
        if not token:
            raise Unauthorized("This service is reached only through the gateway", code="missing_assertion")
        identity = verifier.verify(token)
        context = current_request()
        if context is not None:
            context.attach_identity(identity)
        return identity

    return Provide(provide_identity, sync_to_thread=False)


def require_user(identity: Identity) -> Identity:
    """The caller, who must be signed in (not anonymous) and in a tenant."""
    if identity.user_id is None or identity.tenant_id is None:
        raise Unauthorized("Sign in to use this route", code="unauthenticated")
    return identity


def create_app(
    *,
    service: str,
    route_handlers: Sequence[ControllerRouterHandler],
    lifespan: Sequence[Lifespan] = (),
    verifier: AssertionVerifier | None = None,
    dependencies: dict[str, Provide] | None = None,
    version: str = "1",
    description: str = "",
    debug: bool = False,
    request_max_body_size: int = 10 * 1024 * 1024,
) -> Litestar:
    """A service app: its routes under /api/<service>, OpenAPI at /api/<service>/openapi.json."""
    deps = dict(dependencies or {})
    if verifier is not None:
        deps["identity"] = identity_provider(verifier)

    async def mark_shutting_down(app: Litestar) -> None:
        # Readiness fails first so the load balancer stops sending before the pools close.
        app.state["shutting_down"] = True

    app = Litestar(
        route_handlers=[healthz, readyz, metrics_endpoint, *route_handlers],
        lifespan=list(lifespan),
        on_shutdown=[mark_shutting_down],
        before_request=_refuse_nul_in_query,
        dependencies=deps,
        exception_handlers={
            PortalError: _on_portal_error,
            HTTPException: _on_http_exception,
            Exception: _on_unexpected,
        },
        openapi_config=OpenAPIConfig(
            title=f"Parametric Portal {service} API",
            version=version,
            description=description,
            path=f"/api/{service}",
            render_plugins=[JsonRenderPlugin()],
        ),
        state=State({"readiness_checks": {}, "service": service}),
        request_max_body_size=request_max_body_size,
        debug=debug,
        logging_config=None,
    )
    # Outside routing, so unknown routes and 405s get a request id, a span and metrics too.
    app.asgi_handler = ObservabilityMiddleware(app.asgi_handler, service)  # type: ignore[assignment]
    return app
