"""The fixture's HTTP side: create a note and its event in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from portal_core.assertion import AssertionVerifier
from portal_core.errors import NotFound
from portal_core.http import CallerIdentity, create_app
from portal_core.ids import new_id
from portal_core.logging import get_logger
from portal_core.settings import load_settings
from portal_core.telemetry import setup_telemetry
from portal_events import event_service_lifespan, publish

from notes_fixture.contracts import NoteCreated
from notes_fixture.settings import SCHEMA, SERVICE, NotesSettings

MIGRATIONS = Path(__file__).parent / "migrations"
_log = get_logger("notes")


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


class NoteRead(msgspec.Struct):
    id: str
    title: str
    body: str


@post("/api/notes/v1/notes")
async def create_note(data: JSONBody[NoteCreate], identity: CallerIdentity, state: State) -> NoteRead:
    note_id = new_id()
    async with state.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"INSERT INTO {SCHEMA}.notes (id, title, body, client_ip) VALUES ($1, $2, $3, $4)",
            note_id,
            data.title,
            data.body,
            identity.client_ip,
        )
        await publish(conn, NoteCreated(note_id=str(note_id), title=data.title), schema=SCHEMA, entity_id=str(note_id))
    _log.info("note created", note_id=str(note_id))
    return NoteRead(id=str(note_id), title=data.title, body=data.body)


@get("/api/notes/v1/notes/{note_id:uuid}")
async def read_note(note_id: UUID, identity: CallerIdentity, state: State) -> NoteRead:
    row = await state.pool.fetchrow(f"SELECT id, title, body FROM {SCHEMA}.notes WHERE id = $1", note_id)
    if row is None:
        raise NotFound("No such note")
    return NoteRead(id=str(row["id"]), title=row["title"], body=row["body"])


def create() -> Litestar:
    settings = load_settings(NotesSettings)
    setup_telemetry(SERVICE, settings)
    return create_app(
        service=SERVICE,
        route_handlers=[create_note, read_note],
        lifespan=[event_service_lifespan(service=SERVICE, schema=SCHEMA, settings=settings)],
        verifier=AssertionVerifier(settings.identity_assertion_public_jwks, SERVICE),
    )
