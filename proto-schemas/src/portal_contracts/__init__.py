"""Parametric Portal event contracts. Importing this package registers every published event."""

from portal_contracts import ai as ai
from portal_contracts import gateway as gateway
from portal_contracts import identity as identity
from portal_contracts import platform
from portal_contracts import storage as storage
from portal_contracts.base import EventData, EventSpec, all_specs, event, spec_for, spec_of
from portal_contracts.platform import MessageDeadLettered

__all__ = [
    "EventData",
    "EventSpec",
    "MessageDeadLettered",
    "all_specs",
    "event",
    "platform",
    "spec_for",
    "spec_of",
]
