"""The operator commands: `verify` (exit 1 when a chain is broken) and `retention` (once, or every N seconds)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec
from portal_core.server import run_worker
from portal_core.settings import load_settings
from portal_db import create_pool

from audit.chain.signing import HeadSigner
from audit.chain.verify import verify_all
from audit.retention.service import apply_retention
from audit.settings import AuditSettings


async def _verify(settings: AuditSettings, tenant: str | None) -> int:
    pool = await create_pool(settings.database_url, name="audit-verify", max_size=1)
    try:
        async with pool.acquire() as conn:
            reports = await verify_all(conn, HeadSigner(settings.audit_checkpoint_signing_key.reveal()), tenant)
    finally:
        await pool.close()
    for report in reports:
        print(msgspec.json.encode(report).decode())
    return 0 if all(report.ok for report in reports) else 1


async def _retention(settings: AuditSettings, every: float | None) -> int:
    pool = await create_pool(settings.database_url, name="audit-retention", max_size=2)
    signer = HeadSigner(settings.audit_checkpoint_signing_key.reveal())
    try:
        while True:
            for result in await apply_retention(pool, signer, settings.audit_default_retention_days):
                print(msgspec.json.encode(result).decode(), flush=True)
            if every is None:
                return 0
            await asyncio.sleep(every)
    finally:
        await pool.close()


def verify(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit verify", description="Verify every tenant's chain")
    parser.add_argument("--tenant", help="only this tenant ('' is the chain of events without a tenant)")
    args = parser.parse_args(argv)
    return run_worker(_verify(load_settings(AuditSettings), args.tenant))


def retention(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit retention", description="Remove expired records")
    parser.add_argument("--every", type=float, help="repeat every N seconds (default: run once, e.g. from a CronJob)")
    args = parser.parse_args(argv)
    settings = load_settings(AuditSettings)
    return run_worker(_retention(settings, args.every or None))


if __name__ == "__main__":
    sys.exit(verify(sys.argv[1:]))
