"""OAuth / OIDC routes: public authorize and callback under /api/oauth, linked accounts under identity v1."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, delete, get, post, route
from litestar.di import NamedDependency, Provide
from litestar.enums import HttpMethod
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect
from portal_contracts.identity import LoginFailed
from portal_core.errors import FieldError, PortalError, ValidationFailed
from portal_core.http import CallerIdentity, require_user
from portal_core.logging import get_logger
from portal_core.pagination import Cursor, Limit
from portal_events import publish

from identity.oauth.cookies import cleared_flow_cookie, flow_cookie, flow_cookie_name
from identity.oauth.errors import AccountExists, InvalidOAuthState, OAuthDenied
from identity.oauth.repository import LinkedAccountRepository, LinkedAccountRow
from identity.oauth.runtime import OAuthRuntime, provide_oauth
from identity.oauth.schemas import (
    LinkedAccountPage,
    LinkedAccountRead,
    LinkRequestCreate,
    LinkRequestRead,
    ProvidersRead,
)
from identity.oauth.service import link_to_signed_in_user, login_method, sign_in_with, unlink
from identity.runtime import Runtime
from identity.sessions.cookies import login_cookies
from identity.settings import SCHEMA

_log = get_logger("identity.oauth")
_TAGS = ["oauth"]
# A path on this site, printable ASCII (it goes in a Location header), never "//host" or "/\\host".
_RETURN_TO = re.compile(r"^/(?![/\\])[!-\[\]-~]{0,1999}$")
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
DEPENDENCIES = {"oauth": Provide(provide_oauth, sync_to_thread=False)}


def _with_query(path: str, **params: str) -> str:
    path, hash_mark, fragment = path.partition("#")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}{'&' if '?' in path else '?'}{query}{hash_mark}{fragment}"


@get("/api/oauth/providers", tags=_TAGS, summary="The sign-in providers enabled here", dependencies=DEPENDENCIES)
async def list_providers(identity: CallerIdentity, oauth: NamedDependency[OAuthRuntime]) -> ProvidersRead:
    return ProvidersRead(providers=sorted(oauth.providers))


@get(
    "/api/oauth/{provider:str}/authorize",
    tags=_TAGS,
    summary="Start signing in with a provider (redirects the browser there)",
    description="Authorization code with PKCE (S256); state and nonce are kept server-side, single use.",
    status_code=302,
    dependencies=DEPENDENCIES,
)
async def authorize(
    provider: FromPath[str],
    identity: CallerIdentity,
    runtime: NamedDependency[Runtime],
    oauth: NamedDependency[OAuthRuntime],
    return_to: Annotated[str, QueryParameter(max_length=2000)] = "/",
) -> Redirect:
    client = oauth.provider(provider)
    if not _RETURN_TO.match(return_to):
        raise ValidationFailed(
            "return_to must be a path on this site", errors=[FieldError("return_to", "a path starting with /")]
        )
    started = await oauth.flows.start(provider, "login", return_to)
    url = await client.authorization_url(
        state=started.state, nonce=started.flow.nonce, code_verifier=started.flow.code_verifier
    )
    return Redirect(url, status_code=302, cookies=[flow_cookie(provider, started.browser_binding, runtime.settings)])


@route(
    "/api/oauth/{provider:str}/callback",
    http_method=[HttpMethod.GET, HttpMethod.POST],
    tags=_TAGS,
    summary="Where the provider sends the browser back (GET, or POST for Apple's form_post)",
    description="Signs in (or links, for a flow started from a session) and redirects to `return_to`.",
    status_code=303,
    dependencies=DEPENDENCIES,
)
async def callback(
    provider: FromPath[str],
    request: Request[Any, Any, Any],
    identity: CallerIdentity,
    runtime: NamedDependency[Runtime],
    oauth: NamedDependency[OAuthRuntime],
) -> Redirect:
    client = oauth.provider(provider)
    params = dict((await request.form()) if request.method == HttpMethod.POST else request.query_params)
    fields = {k: v for k, v in params.items() if isinstance(v, str)}
    try:
        flow = await oauth.flows.finish(
            provider, fields.get("state", ""), request.cookies.get(flow_cookie_name(provider))
        )
        if "error" in fields:
            reason = fields["error"] if _ERROR_CODE.match(fields["error"]) else "error"
            raise OAuthDenied(f"The provider answered {reason}")
        if not fields.get("code"):
            raise OAuthDenied("The provider sent no authorization code")
        external = await client.identify(
            code=fields["code"], nonce=flow.nonce, code_verifier=flow.code_verifier, form=fields
        )
        cookies = [cleared_flow_cookie(provider, runtime.settings)]
        if flow.intent == "link":
            if identity.user_id is not None and identity.user_id != flow.user_id:
                raise InvalidOAuthState("This link was started by another account")
            async with runtime.pool.acquire() as conn, conn.transaction():
                await link_to_signed_in_user(runtime, conn, flow, external)
            return Redirect(_with_query(flow.return_to, linked=provider), status_code=303, cookies=cookies)
        async with runtime.pool.acquire() as conn, conn.transaction():
            outcome = await sign_in_with(runtime, conn, external)
        location = flow.return_to if outcome.session else _with_query(flow.return_to, mfa="required")
        return Redirect(location, status_code=303, cookies=[*cookies, *login_cookies(outcome, runtime.settings)])
    except PortalError as error:
        await _record_failure(runtime, provider, error)
        raise


async def _record_failure(runtime: Runtime, provider: str, error: PortalError) -> None:
    _log.info("oauth sign-in refused", provider=provider, problem=error.code, status=error.status)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await publish(
            conn,
            LoginFailed(
                reason="oauth_error",
                method=login_method(provider),
                user_id=error.user_id if isinstance(error, AccountExists) else None,
            ),
            schema=SCHEMA,
            outcome="failure",
        )


def _read(row: LinkedAccountRow) -> LinkedAccountRead:
    return LinkedAccountRead(
        id=str(row.id),
        provider=row.provider,
        email=row.email,
        display_name=row.display_name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@get("/api/identity/v1/linked-accounts", tags=_TAGS, summary="Your linked sign-in accounts")
async def list_linked_accounts(
    identity: CallerIdentity,
    runtime: NamedDependency[Runtime],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> LinkedAccountPage:
    user_id = UUID(require_user(identity).user_id)
    after = runtime.cursors.decode_or_none(cursor, UUID)
    async with runtime.pool.acquire() as conn:
        rows = await LinkedAccountRepository(conn).page_for_user(user_id, after, limit + 1)
    page = rows[:limit]
    next_cursor = runtime.cursors.encode(page[-1].id) if len(rows) > limit else None
    return LinkedAccountPage(items=[_read(r) for r in page], next_cursor=next_cursor)


@post(
    "/api/identity/v1/linked-accounts/link-requests",
    tags=_TAGS,
    summary="Start linking a provider to your account",
    description="Answers the provider URL to send the browser to; the callback links the account to you.",
    dependencies=DEPENDENCIES,
)
async def start_link(
    data: JSONBody[LinkRequestCreate],
    identity: CallerIdentity,
    runtime: NamedDependency[Runtime],
    oauth: NamedDependency[OAuthRuntime],
) -> Response[LinkRequestRead]:
    caller = require_user(identity)
    client = oauth.provider(data.provider)
    started = await oauth.flows.start(
        data.provider,
        "link",
        data.return_to,
        user_id=caller.user_id,
        tenant_id=caller.tenant_id,
        session_id=caller.session_id,
    )
    url = await client.authorization_url(
        state=started.state, nonce=started.flow.nonce, code_verifier=started.flow.code_verifier
    )
    body = LinkRequestRead(
        provider=data.provider, authorization_url=url, expires_in=runtime.settings.oauth_flow_ttl_seconds
    )
    return Response(
        body, status_code=201, cookies=[flow_cookie(data.provider, started.browser_binding, runtime.settings)]
    )


@delete(
    "/api/identity/v1/linked-accounts/{link_id:uuid}",
    tags=_TAGS,
    summary="Unlink a provider (not your last way to sign in)",
    status_code=204,
)
async def delete_linked_account(
    link_id: FromPath[UUID], identity: CallerIdentity, runtime: NamedDependency[Runtime]
) -> None:
    user_id = UUID(require_user(identity).user_id)
    async with runtime.pool.acquire() as conn, conn.transaction():
        await unlink(conn, user_id, link_id)


ROUTE_HANDLERS = [list_providers, authorize, callback, list_linked_accounts, start_link, delete_linked_account]
