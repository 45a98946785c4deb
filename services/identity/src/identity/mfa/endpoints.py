"""TOTP MFA of the caller: status, enrol, confirm, disable, new recovery codes.

Turning MFA on or off ends every other session of the user (they were opened under the old rules).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Response, get, post
from litestar.params import Body
from portal_core.errors import Unauthorized
from portal_core.http import CallerIdentity, require_user

from identity.errors import MfaNotEnabled
from identity.mfa import service
from identity.mfa.repository import MfaRepository
from identity.mfa.schemas import MfaStatusRead, RecoveryCodesRead, SecondFactor, TotpConfirm, TotpEnrolmentRead
from identity.runtime import RuntimeDep
from identity.sessions.service import revoke_other_sessions
from identity.users.repository import UserRepository

PREFIX = "/api/identity/v1/mfa"
_TAGS = ["mfa"]


@get(PREFIX, tags=_TAGS, summary="Whether MFA is on, and how many recovery codes are left")
async def mfa_status(identity: CallerIdentity, runtime: RuntimeDep) -> MfaStatusRead:
    user_id = UUID(require_user(identity).user_id or "")
    async with runtime.pool.acquire() as conn:
        repo = MfaRepository(conn)
        return MfaStatusRead(
            enabled=await repo.is_enabled(user_id), recovery_codes_left=await repo.recovery_codes_left(user_id)
        )


@post(
    f"{PREFIX}/totp/enrol",
    tags=_TAGS,
    summary="Start TOTP enrolment: a new secret and its otpauth:// URI",
    status_code=201,
)
async def enrol(identity: CallerIdentity, runtime: RuntimeDep) -> TotpEnrolmentRead:
    user_id = UUID(require_user(identity).user_id or "")
    async with runtime.pool.acquire() as conn, conn.transaction():
        user = await UserRepository(conn).by_id(user_id)
        if user is None:
            raise Unauthorized("The session's account no longer exists", code="invalid_session")
        secret, uri = await service.start_enrolment(runtime, conn, user_id, user.email)
    return TotpEnrolmentRead(secret=secret, otpauth_uri=uri)


@post(
    f"{PREFIX}/totp/confirm",
    tags=_TAGS,
    summary="Turn MFA on with a first code; returns ten recovery codes",
    status_code=200,
)
async def confirm(
    data: Annotated[TotpConfirm, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> RecoveryCodesRead:
    caller = require_user(identity)
    user_id = UUID(caller.user_id or "")
    async with runtime.pool.acquire() as conn, conn.transaction():
        codes = await service.confirm_enrolment(runtime, conn, user_id, data.code)
        await revoke_other_sessions(runtime, conn, user_id, keep_session_id=caller.session_id, reason="mfa_changed")
    if caller.session_id:
        await runtime.sessions.mark_mfa_passed(user_id, caller.session_id)
    return RecoveryCodesRead(recovery_codes=codes)


@post(f"{PREFIX}/totp/disable", tags=_TAGS, summary="Turn MFA off with a code or a recovery code", status_code=204)
async def disable(
    data: Annotated[SecondFactor, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> Response[None]:
    caller = require_user(identity)
    user_id = UUID(caller.user_id or "")
    async with runtime.pool.acquire() as conn, conn.transaction():
        await service.disable(runtime, conn, user_id, code=data.code, recovery_code=data.recovery_code)
        await revoke_other_sessions(runtime, conn, user_id, keep_session_id=caller.session_id, reason="mfa_changed")
    return Response(None, status_code=204)


@post(
    f"{PREFIX}/recovery-codes", tags=_TAGS, summary="Replace the recovery codes (needs a current code)", status_code=200
)
async def regenerate_recovery_codes(
    data: Annotated[SecondFactor, Body()], identity: CallerIdentity, runtime: RuntimeDep
) -> RecoveryCodesRead:
    user_id = UUID(require_user(identity).user_id or "")
    async with runtime.pool.acquire() as conn, conn.transaction():
        if not await MfaRepository(conn).is_enabled(user_id):
            raise MfaNotEnabled()
        await service.verify_second_factor(runtime, conn, user_id, code=data.code, recovery_code=data.recovery_code)
        codes = await service.new_recovery_codes(conn, user_id)
    return RecoveryCodesRead(recovery_codes=codes)


ROUTE_HANDLERS = [mfa_status, enrol, confirm, disable, regenerate_recovery_codes]
