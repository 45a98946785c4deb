"""`scripts/infra.py env`: services named in the environment win over the local dev stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

INFRA = Path(__file__).resolve().parents[1] / "scripts" / "infra.py"


def exports(env: dict[str, str]) -> dict[str, str]:
    out = subprocess.run([sys.executable, str(INFRA), "env"], env=env, capture_output=True, text=True, check=True)
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
    return {name: value for name, value in pairs}


def test_env_prints_every_variable_and_respects_the_environment(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STORAGE_", "REDIS_", "NATS_", "DATABASE_"))}
    local = exports(base | {"PORTAL_INFRA_DIR": str(tmp_path)})
    assert local["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/portal"
    assert local["REDIS_HOST"] == "127.0.0.1"
    assert local["NATS_URL"] == "nats://127.0.0.1:4222"
    assert local["STORAGE_BUCKET"] == "portal-dev"
    assert set(local) == {
        "STORAGE_ENDPOINT",
        "STORAGE_REGION",
        "STORAGE_BUCKET",
        "STORAGE_ACCESS_KEY_ID",
        "STORAGE_SECRET_ACCESS_KEY",
        "DATABASE_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "NATS_URL",
    }
    given = {
        "REDIS_HOST": "redis.internal",
        "NATS_URL": "nats://nats.internal:4222",
        "STORAGE_ENDPOINT": "https://s3.example.com",
    }
    remote = exports(base | {"PORTAL_INFRA_DIR": str(tmp_path)} | given)
    assert {name: remote[name] for name in given} == given
