"""Run housekeeping on a schedule inside the service, or once / in a loop as its own process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from portal_core.logging import get_logger

from storage.context import StorageContext
from storage.housekeeping.service import Report, run_once

_log = get_logger("storage.housekeeping")


async def run_forever(ctx: StorageContext) -> None:
    while True:
        try:
            await run_once(ctx)
        except Exception as exc:  # a failed pass is retried at the next tick
            _log.warning("housekeeping failed", error=repr(exc))
        await asyncio.sleep(ctx.settings.storage_housekeeping_interval_seconds)


@asynccontextmanager
async def housekeeping_lifespan(app: Litestar) -> AsyncIterator[None]:
    ctx: StorageContext = app.state.ctx
    task = asyncio.create_task(run_forever(ctx)) if ctx.settings.storage_housekeeping_enabled else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_standalone(ctx: StorageContext, *, once: bool) -> Report | None:
    if once:
        return await run_once(ctx)
    await run_forever(ctx)
    return None
