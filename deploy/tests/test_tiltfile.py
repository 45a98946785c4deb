"""tilt/Tiltfile runs in a real Starlark interpreter, with recorders in place of Tilt's builtins.

starlark-rust (PyPI starlark-pyo3) parses and evaluates the file in the standard Starlark dialect plus
top-level statements, as Tilt (starlark-go) allows; Tilt's builtins (docker_build_with_restart,
k8s_yaml, kustomize, local, ...) are Python functions that record their calls, and kustomize()
returns the session's real renders. This proves the Tiltfile's language and logic, not Tilt itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import starlark
import yaml
from deploy_support import DEPLOY, ROOT, Doc, Rendered, discover_services, facts_name, render

TILTFILE = ROOT / "tilt" / "Tiltfile"
# Tilt's `os` and `config` modules, as Starlark structs over the recorder's functions.
PRELUDE = (
    "os = struct(path = struct(join = _join, abspath = _abspath, relpath = _relpath, exists = _exists))\n"
    "config = struct(main_dir = _main_dir)\n"
)


@dataclass
class TiltRecorder:
    rendered: Rendered  # Tilt's kustomize(): the session's renders of the same roots
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    applied: list[Doc] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)

    def module(self) -> starlark.Module:
        module = starlark.Module()
        module["_main_dir"] = str(TILTFILE.parent)
        callables: dict[str, Any] = {
            "_join": os.path.join,
            "_abspath": os.path.abspath,
            "_relpath": os.path.relpath,
            "_exists": os.path.exists,
            "listdir": self.listdir,
            "read_file": lambda path: Path(path).read_text(),
            "decode_yaml": yaml.safe_load,
            "decode_yaml_stream": lambda text: [d for d in yaml.safe_load_all(text) if d],
            "encode_yaml_stream": lambda docs: yaml.safe_dump_all(docs),
            "kustomize": lambda path: yaml.safe_dump_all(self.rendered.get(str(Path(path).relative_to(ROOT)))),
            "k8s_yaml": lambda text: self.applied.extend(d for d in yaml.safe_load_all(text) if d),
            "k8s_resource": lambda **kw: self.resources.append(kw),
            "sync": lambda src, dest: [src, dest],
            "local": self.local,
        }
        for name, function in callables.items():
            module.add_callable(name, function)
        return module

    def extension(self, module_id: str) -> starlark.FrozenModule:
        assert module_id == "ext://restart_process", module_id
        extension = starlark.Module()
        extension.add_callable("docker_build_with_restart", self.docker_build)
        return extension.freeze()

    @staticmethod
    def listdir(directory: str, recursive: bool = False) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            found += [os.path.join(dirpath, f) for f in filenames]
            if not recursive:
                break
        return found

    def local(self, command: list[str], quiet: bool = False) -> str:
        self.commands.append(list(command))
        return ""  # no helm here: the chart's output is Tilt's concern, the command is checked

    def docker_build(self, ref: str, context: str, **kwargs: Any) -> None:
        assert ref not in self.builds, f"{ref} built twice"
        self.builds[ref] = {"context": context, **kwargs}


def tilt_dialect() -> starlark.Dialect:
    dialect = starlark.Dialect.standard()
    dialect.enable_top_level_stmt = True  # Tilt allows top-level for/if
    return dialect


@pytest.fixture(scope="module")
def tilt(rendered: Rendered) -> TiltRecorder:
    recorder = TiltRecorder(rendered)
    ast = starlark.parse(str(TILTFILE), PRELUDE + TILTFILE.read_text(), tilt_dialect())
    builtins = starlark.Globals.extended_by([starlark.LibraryExtension.StructType])
    starlark.eval(recorder.module(), ast, builtins, starlark.FileLoader(recorder.extension))
    return recorder


def test_python_only_syntax_is_refused_as_tilt_would() -> None:
    # The interpreter above must be able to say no: f-strings and classes are not Starlark.
    for source in ('x = f"{1}"\n', "class A:\n    pass\n"):
        with pytest.raises(starlark.StarlarkError):
            starlark.parse("Tiltfile", source, tilt_dialect())


def test_every_service_is_built_with_its_own_names(tilt: TiltRecorder) -> None:
    for service in discover_services():
        build = tilt.builds[f"ghcr.io/parametric-portal/{service.directory}"]
        assert build["target"] == "dev"
        assert Path(build["dockerfile"]) == DEPLOY / "images" / "Dockerfile"
        assert Path(build["context"]) == ROOT
        assert build["build_args"]["PROJECT"] == service.project
        assert build["build_args"]["PACKAGE"] == service.package
        synced = {dest: Path(src) for src, dest in build["live_update"]}
        src = f"services/{service.directory}/src"
        assert synced[f"/src/{src}"] == ROOT / src  # the Dockerfile's dev stage installs /src editable
        assert synced["/src/libs"] == ROOT / "libs"
    assert len(tilt.builds) == len(discover_services())


def test_every_service_dev_overlay_is_applied_writable_for_live_update(tilt: TiltRecorder) -> None:
    deployments = {d["metadata"]["name"]: d for d in tilt.applied if d["kind"] == "Deployment"}
    for service in discover_services():
        name = facts_name(service.directory)
        deployment = deployments[name]
        assert deployment["metadata"]["namespace"] == "portal-dev"
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].startswith(f"ghcr.io/parametric-portal/{service.directory}:")
        assert container["securityContext"]["readOnlyRootFilesystem"] is False  # the local loop only
    images = {c["image"].split(":")[0] for d in tilt.applied if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images - set(tilt.builds) == {"chrislusf/seaweedfs"}, "an applied image Tilt does not build"
    # The shipped overlays themselves stay read-only.
    shipped = render(DEPLOY / "services" / "gateway" / "overlays" / "dev")
    gateway = next(d for d in shipped if d["kind"] == "Deployment")
    assert gateway["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_resources_wait_for_migrations_and_the_gateway_is_forwarded(tilt: TiltRecorder) -> None:
    by_workload = {r["workload"]: r for r in tilt.resources}
    applied = {d["metadata"]["name"] for d in tilt.applied if d["kind"] in ("Deployment", "Job")}
    assert set(by_workload) <= applied, f"k8s_resource for unknown workloads: {set(by_workload) - applied}"
    for service in discover_services():
        name = facts_name(service.directory)
        if (service.source / "migrations").is_dir():
            assert f"{name}-migrate" in by_workload[name]["resource_deps"]
    assert by_workload["gateway"]["port_forwards"] == ["4000:4000"]


def test_nats_and_redis_come_from_the_charts_and_values_argocd_uses(tilt: TiltRecorder) -> None:
    charts = {c[3]: c for c in tilt.commands if c[:2] == ["helm", "template"]}
    assert set(charts) == {"nats", "redis-ha"}
    for chart, command in charts.items():
        name = "nats" if chart == "nats" else "redis"
        app = yaml.safe_load((DEPLOY / "argocd" / "platform" / "base" / f"{name}.yaml").read_text())
        assert command[command.index("--version") + 1] == app["spec"]["sources"][0]["targetRevision"]
        assert str(DEPLOY / "platform" / "helm" / name / "values.yaml") in command
        assert command[2] == f"portal-{name}"
