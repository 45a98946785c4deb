"""The services `make dev` runs: discovered from services/*/pyproject.toml, with their ports and DB names."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

GATEWAY = "gateway"

# directory name -> (name in /api/<name>/, UPSTREAM_<NAME>_URL, DB role and schema; port offset from the base).
# One place for the few names that differ from the directory; unknown services get the next free offsets.
KNOWN: dict[str, tuple[str, int]] = {
    "identity": ("identity", 1),
    "storage": ("storage", 2),
    "ai-gateway": ("ai", 3),
    "webhooks": ("webhooks", 4),
    "realtime": ("realtime", 5),
    "audit": ("audit", 6),
}


@dataclass(frozen=True)
class Service:
    directory: Path
    package: str  # what `python -m` runs
    name: str  # route, upstream and DB role/schema name
    port: int
    workers: tuple[str, ...] = ()  # `python -m <package> <worker>` processes beside the server (consumers, jobs)

    @property
    def label(self) -> str:
        return self.directory.name

    @property
    def upstream_env(self) -> str:
        return f"UPSTREAM_{self.name.upper().replace('-', '_')}_URL"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def has_migrations(self) -> bool:
        return (self.directory / "migrations").is_dir() or (
            self.directory / "src" / self.package / "migrations"
        ).is_dir()


def workers_of(pyproject: Path) -> tuple[str, ...]:
    """The worker commands a service declares in `[tool.portal] workers = [...]` (deploy/ runs the same ones)."""
    data = tomllib.loads(pyproject.read_text())
    return tuple(data.get("tool", {}).get("portal", {}).get("workers", []))


def package_of(pyproject: Path) -> str:
    """The import package a service's wheel ships ([tool.hatch.build.targets.wheel] packages: src/<pkg>)."""
    data = tomllib.loads(pyproject.read_text())
    packages = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    listed = packages.get("packages") or [f"src/{pyproject.parent.name.replace('-', '_')}"]
    return Path(listed[0]).name


def discover(services_dir: Path, gateway_port: int, base_port: int) -> tuple[Service | None, list[Service]]:
    """(the gateway, the backend services in port order) found under `services_dir`."""
    gateway: Service | None = None
    backends: list[Service] = []
    next_offset = max(offset for _, offset in KNOWN.values()) + 1
    for pyproject in sorted(services_dir.glob("*/pyproject.toml")):
        directory = pyproject.parent
        package = package_of(pyproject)
        if directory.name == GATEWAY:
            gateway = Service(directory, package, GATEWAY, gateway_port)
            continue
        name, offset = KNOWN.get(directory.name, (directory.name, 0))
        if offset == 0:
            offset, next_offset = next_offset, next_offset + 1
        backends.append(Service(directory, package, name, base_port + offset, workers_of(pyproject)))
    return gateway, sorted(backends, key=lambda s: s.port)
