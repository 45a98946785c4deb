"""Parametric Portal event contracts. Importing this package registers every published event."""

from portal_contracts.base import EventData, EventSpec, all_specs, event, spec_for, spec_of

__all__ = ["EventData", "EventSpec", "all_specs", "event", "spec_for", "spec_of"]
