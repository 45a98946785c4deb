"""Which service a path belongs to: `/api/<service>/...`, and `/api/oauth/...` to identity."""

from __future__ import annotations

from dataclasses import dataclass

from portal_core.errors import NotFound, ServiceUnavailable
from portal_core.upstream import Origin

from gateway.settings import KNOWN_SERVICES

_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class Target:
    service: str  # also the assertion's audience
    base_url: str
    route_template: str  # metrics and span label: one per service, never the raw path
    origin: Origin


class Routes:
    def __init__(self, upstreams: dict[str, str]) -> None:
        self._targets = {
            name: Target(name, url, f"/api/{name}/*", Origin.parse(url)) for name, url in upstreams.items()
        }
        identity = self._targets.get("identity")
        if identity is not None:
            self._targets["oauth"] = Target("identity", identity.base_url, "/api/oauth/*", identity.origin)

    @property
    def services(self) -> list[str]:
        return sorted(name for name, target in self._targets.items() if name == target.service)

    def target(self, path: str) -> Target:
        """The upstream for `path`; 404 for an unknown service, 503 for a known one not deployed here."""
        if not path.startswith(_PREFIX):
            raise NotFound("No route matches this path")
        name = path[len(_PREFIX) :].partition("/")[0]
        found = self._targets.get(name)
        if found is not None:
            return found
        if name in KNOWN_SERVICES or name == "oauth":
            service = "identity" if name == "oauth" else name
            raise ServiceUnavailable(f"The {service} service is not deployed", code="service_not_deployed")
        raise NotFound("No route matches this path")
