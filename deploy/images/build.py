"""Build one or every service image: `python deploy/images/build.py [--dry-run] [--push] [dir ...]`.

Services are discovered like `make dev` does (services/*/pyproject.toml). The image of services/<dir>
is $IMAGE_REGISTRY/<dir>:$IMAGE_TAG; deploy/services/<dir>/base maps the placeholder image
`portal-service` to that same name (deploy/tests checks it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile"
DEFAULT_REGISTRY = "ghcr.io/parametric-portal"
GATEWAY_PORT = 4000
SERVICE_PORT = 8000


@dataclass(frozen=True)
class ImageSpec:
    directory: str  # services/<directory>
    project: str  # [project] name, what `uv sync --package` installs
    package: str  # what `python -m` runs

    def reference(self, registry: str, tag: str) -> str:
        return f"{registry}/{self.directory}:{tag}"

    @property
    def default_port(self) -> int:
        return GATEWAY_PORT if self.directory == "gateway" else SERVICE_PORT


def discover(services_dir: Path = ROOT / "services") -> list[ImageSpec]:
    specs = []
    for pyproject in sorted(services_dir.glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        wheel = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
        packages = wheel.get("packages") or [f"src/{pyproject.parent.name.replace('-', '_')}"]
        specs.append(ImageSpec(pyproject.parent.name, data["project"]["name"], Path(packages[0]).name))
    return specs


def build_command(spec: ImageSpec, reference: str, target: str) -> list[str]:
    return [
        "docker", "build", "--file", str(DOCKERFILE.relative_to(ROOT)), "--target", target,
        "--build-arg", f"PROJECT={spec.project}", "--build-arg", f"PACKAGE={spec.package}",
        "--build-arg", f"DEFAULT_PORT={spec.default_port}", "--tag", reference, ".",
    ]  # fmt: skip


def _git_tag() -> str:
    git = shutil.which("git")
    if git is None:
        return "dev"
    out = subprocess.run([git, "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, check=False)  # noqa: S603
    return out.stdout.decode().strip() if out.returncode == 0 else "dev"


def _docker_engine() -> str | None:
    """The docker client's path when an engine answers it, else None."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True, check=False).returncode != 0:  # noqa: S603
        return None
    return docker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", help="service directories (default: all)")
    parser.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY") or DEFAULT_REGISTRY)
    parser.add_argument("--tag", default=os.environ.get("IMAGE_TAG") or _git_tag())
    parser.add_argument("--target", default="runtime", choices=["runtime", "dev"])
    parser.add_argument("--push", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="print the docker commands, run nothing")
    args = parser.parse_args(argv)
    if args.tag == "latest":
        parser.error("the tag `latest` is refused (the cluster's policies refuse it too)")
    specs = discover()
    unknown = set(args.services) - {s.directory for s in specs}
    if unknown:
        parser.error(f"no such service: {', '.join(sorted(unknown))}")
    chosen = [s for s in specs if not args.services or s.directory in args.services]
    if not args.dry_run and _docker_engine() is None:
        print("build.py: no Docker engine reachable here; use --dry-run to see the commands", file=sys.stderr)
        return 2
    for spec in chosen:
        reference = spec.reference(args.registry, args.tag)
        commands = [build_command(spec, reference, args.target)]
        if args.push:
            commands.append(["docker", "push", reference])
        for command in commands:
            print("+", " ".join(command), flush=True)
            if not args.dry_run:
                subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 (our own argv, no shell)
    return 0


if __name__ == "__main__":
    sys.exit(main())
