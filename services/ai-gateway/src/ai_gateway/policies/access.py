"""Who may change a tenant's AI settings: its admins (role `admin` in the identity assertion)."""

from __future__ import annotations

from portal_core.assertion import Identity
from portal_core.errors import Forbidden
from portal_core.http import require_user

ADMIN_ROLE = "admin"


def require_admin(identity: Identity) -> Identity:
    caller = require_user(identity)
    if ADMIN_ROLE not in caller.roles:
        raise Forbidden("Only tenant admins may change AI settings", code="admin_required")
    return caller
