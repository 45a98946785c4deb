"""The event contract mechanism: a msgspec Struct per event version, registered under its subject."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import msgspec

SUBJECT_PATTERN = re.compile(
    r"^portal\.(?P<service>[a-z][a-z0-9-]*)\.(?P<entity>[a-z][a-z0-9_]*)\.(?P<action>[a-z][a-z0-9_]*)\.v(?P<major>[1-9][0-9]*)$"
)


class EventData(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every event body. Evolve by appending fields with defaults; never change a type."""


E = TypeVar("E", bound=type[EventData])


@dataclass(frozen=True)
class EventSpec:
    """One published event version: its subject (also the CloudEvents `type`) and body type."""

    subject: str
    data_type: type[EventData]
    description: str

    @cached_property  # read for every event published
    def service(self) -> str:
        return self._part("service")

    @property
    def major(self) -> int:
        return int(self._part("major"))

    def _part(self, name: str) -> str:
        match = SUBJECT_PATTERN.match(self.subject)
        assert match is not None
        return match.group(name)


_registry: dict[str, EventSpec] = {}
_by_type: dict[type[EventData], EventSpec] = {}  # the first subject each body type was registered under


def event(subject: str, *, description: str) -> Callable[[E], E]:
    """Class decorator: register `cls` as the body of events published on `subject`."""
    if not SUBJECT_PATTERN.match(subject):
        raise ValueError(f"subject {subject!r} is not portal.<service>.<entity>.<action>.v<major>")

    def register(cls: E) -> E:
        existing = _registry.get(subject)
        if existing is not None and existing.data_type is not cls:
            raise ValueError(f"subject {subject!r} is already registered to {existing.data_type.__name__}")
        spec = _registry[subject] = EventSpec(subject=subject, data_type=cls, description=description)
        _by_type.setdefault(cls, spec)
        return cls

    return register


def spec_for(subject: str) -> EventSpec:
    """The registered spec of `subject`; KeyError when nobody declared it."""
    return _registry[subject]


def spec_of(data_type: type[EventData]) -> EventSpec:
    """The spec whose body type is `data_type` (the first subject it was registered under)."""
    spec = _by_type.get(data_type)
    if spec is None:
        raise KeyError(data_type.__name__)
    return spec


def all_specs() -> list[EventSpec]:
    return sorted(_registry.values(), key=lambda s: s.subject)
