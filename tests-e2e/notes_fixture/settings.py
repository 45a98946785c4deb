from __future__ import annotations

from portal_core.settings import ServiceSettings

SERVICE = "notes"
SCHEMA = "notes"


class NotesSettings(ServiceSettings, kw_only=True, frozen=True):
    pass
