"""A test-only hook: with STORAGE_FAULT_PAUSE_AT=<step>, the process announces and blocks at that step.

The fault tests SIGKILL it there, to prove a crash between two steps leaves nothing orphaned.
"""

from __future__ import annotations

import asyncio
import sys

from storage.settings import StorageSettings

AFTER_METADATA_DELETE = "deletion.after_metadata"  # intent committed, bytes not yet deleted
AFTER_BYTES_DELETE = "deletion.after_bytes"  # bytes deleted, intent row not yet removed


async def pause_point(settings: StorageSettings, step: str) -> None:
    if settings.storage_fault_pause_at != step:
        return
    sys.stderr.write(f"FAULT-PAUSE {step}\n")
    sys.stderr.flush()
    await asyncio.Event().wait()
