"""Sign-up, login, the MFA step and logout."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, post
from litestar.params import Body
from portal_core.http import CallerIdentity, require_user

from identity.auth import service
from identity.auth.schemas import LoginCreate, MfaLoginCreate, SignupCreate
from identity.errors import InvalidMfaChallenge
from identity.runtime import RuntimeDep
from identity.sessions.cookies import MFA_COOKIE, cleared_session_cookies, login_response
from identity.sessions.schemas import LoginRead
from identity.sessions.service import revoke_session

PREFIX = "/api/identity/v1"
_TAGS = ["sign-in"]


@post(f"{PREFIX}/signup", tags=_TAGS, summary="Create an account in a new tenant and sign in", status_code=201)
async def sign_up(
    data: Annotated[SignupCreate, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[LoginRead]:
    outcome = await service.sign_up(
        runtime,
        email=data.email,
        password=data.password,
        tenant_name=data.tenant_name,
        display_name=data.display_name,
        client_ip=identity.client_ip,
    )
    return login_response(outcome, runtime.settings, delivery=data.token_delivery, status_code=201)


@post(
    f"{PREFIX}/login",
    tags=_TAGS,
    summary="Sign in with email and password",
    status_code=200,
    description="Answers `signed_in` with a session, or `mfa_required` with the token of the MFA step. "
    "Wrong email and wrong password read the same; repeated failures answer 429 with Retry-After.",
)
async def log_in(
    data: Annotated[LoginCreate, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[LoginRead]:
    outcome = await service.log_in(
        runtime, email=data.email, password=data.password, tenant_id=data.tenant_id, client_ip=identity.client_ip
    )
    return login_response(outcome, runtime.settings, delivery=data.token_delivery)


@post(f"{PREFIX}/login/mfa", tags=_TAGS, summary="Second factor: a TOTP code or a recovery code", status_code=200)
async def log_in_mfa(
    data: Annotated[MfaLoginCreate, Body()], request: Request[Any, Any, Any], runtime: RuntimeDep
) -> Response[LoginRead]:
    mfa_token = data.mfa_token or request.cookies.get(MFA_COOKIE)
    if not mfa_token:
        raise InvalidMfaChallenge()
    outcome = await service.complete_mfa(runtime, mfa_token=mfa_token, code=data.code, recovery_code=data.recovery_code)
    return login_response(outcome, runtime.settings, delivery=data.token_delivery)


@post(f"{PREFIX}/logout", tags=_TAGS, summary="End the current session", status_code=204)
async def log_out(identity: CallerIdentity, runtime: RuntimeDep) -> Response[None]:
    caller = require_user(identity)
    if caller.session_id is not None and caller.user_id is not None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await revoke_session(runtime, conn, UUID(caller.user_id), caller.session_id, "logout")
    return Response(None, status_code=204, cookies=cleared_session_cookies(runtime.settings))


ROUTE_HANDLERS = [sign_up, log_in, log_in_mfa, log_out]
