"""Walk a tenant's chain and name the first record altered, removed or reordered, or a truncated tail."""

from __future__ import annotations

from typing import Literal

import asyncpg
import msgspec
from portal_db import Connection

from audit.chain import repository
from audit.chain.hashing import GENESIS, RecordContent, record_hash
from audit.chain.service import ANCHOR, CHECKPOINT
from audit.chain.signing import HeadSigner, SignedHead

ProblemKind = Literal["altered", "removed", "reordered", "truncated", "forged_checkpoint", "forged_anchor"]


class ChainProblem(msgspec.Struct, frozen=True, kw_only=True):
    kind: ProblemKind
    seq: int
    record_id: str | None = None
    detail: str


class ChainReport(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    ok: bool
    records_checked: int
    first_seq: int | None
    last_seq: int | None
    checkpoint_seq: int | None
    problem: ChainProblem | None = None


def content_of(row: asyncpg.Record) -> RecordContent:
    get = row.__getitem__
    return RecordContent(
        id=str(get("id")),
        tenant_id=get("tenant_id"),
        action=get("action"),
        actor_id=get("actor_id"),
        target_type=get("target_type"),
        target_id=get("target_id"),
        outcome=get("outcome"),
        client_ip=get("client_ip"),
        user_agent=get("user_agent"),
        trace_id=get("trace_id"),
        request_id=get("request_id"),
        source=get("source"),
        occurred_at=get("occurred_at"),
        received_at=get("received_at"),
        body=get("body"),
    )


async def _newest_valid(
    conn: Connection, table: str, kind: str, tenant_id: str, signer: HeadSigner
) -> tuple[SignedHead | None, bool]:
    """The newest head in `table` with a valid signature, and whether a newer one carried a bad signature."""
    forged = False
    for head in await repository.latest_signed(conn, table, tenant_id):
        if signer.is_valid(kind, head):
            return head, forged
        forged = True
    return None, forged


async def verify_tenant(conn: Connection, tenant_id: str, signer: HeadSigner) -> ChainReport:
    """Verify one chain from its retention anchor (or genesis) to its newest signed checkpoint."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        anchor, anchor_forged = await _newest_valid(conn, "chain_anchors", ANCHOR, tenant_id, signer)
        checkpoint, checkpoint_forged = await _newest_valid(conn, "checkpoints", CHECKPOINT, tenant_id, signer)
        expected_seq = (anchor.seq if anchor else 0) + 1
        prev = anchor.hash if anchor else GENESIS
        checked, first_seq, last_seq = 0, None, None
        problem: ChainProblem | None = None
        if anchor_forged:
            problem = ChainProblem(
                kind="forged_anchor", seq=expected_seq - 1, detail="a retention anchor's signature is invalid"
            )
        elif checkpoint_forged:
            problem = ChainProblem(kind="forged_checkpoint", seq=0, detail="a checkpoint's signature is invalid")
        else:
            async for row in repository.chain_rows(conn, tenant_id, expected_seq - 1):
                problem = await _check_row(conn, tenant_id, row, expected_seq, prev)
                if problem is not None:
                    break
                if checkpoint is not None and row["seq"] == checkpoint.seq and bytes(row["hash"]) != checkpoint.hash:
                    problem = ChainProblem(
                        kind="altered",
                        seq=row["seq"],
                        record_id=str(row["id"]),
                        detail="the chain up to this record was rewritten: its hash differs from the signed checkpoint",
                    )
                    break
                first_seq = row["seq"] if first_seq is None else first_seq
                last_seq = row["seq"]
                prev, expected_seq, checked = bytes(row["hash"]), expected_seq + 1, checked + 1
            if problem is None and checkpoint is not None and checkpoint.seq >= expected_seq:
                problem = ChainProblem(
                    kind="truncated",
                    seq=expected_seq,
                    detail=f"records {expected_seq}..{checkpoint.seq} are missing: a signed checkpoint reached "
                    f"seq {checkpoint.seq}, the table ends at {expected_seq - 1}",
                )
    return ChainReport(
        tenant_id=tenant_id,
        ok=problem is None,
        records_checked=checked,
        first_seq=first_seq,
        last_seq=last_seq,
        checkpoint_seq=checkpoint.seq if checkpoint else None,
        problem=problem,
    )


async def _check_row(
    conn: Connection, tenant_id: str, row: asyncpg.Record, expected_seq: int, prev: bytes
) -> ChainProblem | None:
    get = row.__getitem__
    seq, record_id = get("seq"), str(get("id"))
    if seq != expected_seq:
        return ChainProblem(
            kind="removed", seq=expected_seq, detail=f"record seq {expected_seq} is missing (next present: {seq})"
        )
    stored_prev, stored_hash = bytes(get("prev_hash")), bytes(get("hash"))
    if record_hash(stored_prev, content_of(row)) != stored_hash:
        return ChainProblem(
            kind="altered", seq=seq, record_id=record_id, detail="the record's content does not match its hash"
        )
    if stored_prev != prev:
        chained_to = await repository.seq_with_hash(conn, tenant_id, stored_prev)
        if chained_to is not None:
            return ChainProblem(
                kind="reordered",
                seq=seq,
                record_id=record_id,
                detail=f"this record was chained after seq {chained_to}, not after seq {seq - 1}",
            )
        return ChainProblem(
            kind="removed",
            seq=seq,
            record_id=record_id,
            detail=f"the record this one was chained to is gone (removed and renumbered, or seq {seq - 1} rewritten)",
        )
    return None


async def verify_all(conn: Connection, signer: HeadSigner, tenant_id: str | None = None) -> list[ChainReport]:
    names = [tenant_id] if tenant_id is not None else await repository.tenants(conn)
    return [await verify_tenant(conn, name, signer) for name in names]
