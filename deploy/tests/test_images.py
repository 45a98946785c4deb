"""The images: one parametrised Dockerfile, what build.py builds, and what each image installs.

No Docker engine runs here, so the Dockerfile's install step is reproduced (the same `uv sync` line,
into a temporary environment) to prove each image gets its own service's dependencies and no others.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy_support import DEPLOY, ROOT, discover_services, load_build_script

DOCKERFILE = (DEPLOY / "images" / "Dockerfile").read_text()


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    stages = re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, re.MULTILINE)
    assert stages == ["build", "base", "dev", "runtime"]
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE
    assert "python:3.11-slim" in DOCKERFILE
    assert "--no-dev --no-editable --package" in DOCKERFILE


def test_dockerignore_sends_only_sources() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**") + 1 :][:5] == [
        "!pyproject.toml",
        "!uv.lock",
        "!libs/**",
        "!proto-schemas/**",
        "!services/**",
    ]
    assert ".venv" in lines
    assert "**/tests" in lines


def test_build_py_names_every_service_and_refuses_latest(capsys: pytest.CaptureFixture[str]) -> None:
    build = load_build_script()
    assert build.main(["--dry-run", "--tag", "1.2.3"]) == 0
    printed = capsys.readouterr().out
    for service in discover_services():
        assert f"--tag {build.DEFAULT_REGISTRY}/{service.directory}:1.2.3" in printed
        assert f"--build-arg PROJECT={service.project} --build-arg PACKAGE={service.package}" in printed
    with pytest.raises(SystemExit):
        build.main(["--dry-run", "--tag", "latest"])


@pytest.mark.parametrize("service", discover_services(), ids=lambda s: s.directory)
def test_an_image_installs_its_service_and_only_its_dependencies(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    uv = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")  # `uv run` sets UV
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    env.pop("VIRTUAL_ENV", None)
    # The Dockerfile's line, run against this checkout (uv's cache makes it a few seconds, offline).
    command = [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--package", service.project, "--quiet"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    installed = {p.name for p in site.iterdir()}
    assert service.package in installed, f"{service.package} not installed"
    assert not any(n.endswith(".pth") and "editable" in n for n in installed), "editable install in an image"
    for tool in ("pytest", "ruff", "mypy"):
        assert tool not in installed, f"dev tool {tool} in the {service.directory} image"
    others = {s.package for s in discover_services()} - {service.package}
    assert not others & installed, f"{service.directory} image carries other services: {others & installed}"
