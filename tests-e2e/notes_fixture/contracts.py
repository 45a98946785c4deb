"""The fixture's one event. Registered here, not in proto-schemas: it is not a published contract."""

from __future__ import annotations

from portal_contracts import EventData, event


@event("portal.notes.note.created.v1", description="A note was created (end-to-end test fixture).")
class NoteCreated(EventData, kw_only=True, frozen=True):
    note_id: str
    title: str
