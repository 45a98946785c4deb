"""Where tests find PostgreSQL, Redis, NATS and S3: one decision per dependency, taken once per process.

For each dependency, in this order:
1. the environment names it (see `DEPENDENCIES`): use that;
2. a Docker engine answers: start a container (testcontainers) and export its address into `os.environ`,
   so that processes the tests start, and settings read from the environment, reach it too;
3. the local services: PostgreSQL, Redis and NATS on their standard loopback ports, SeaweedFS started by
   `scripts/infra.py ensure` (as `make infra` does).

Test processes only: testcontainers and botocore are dev dependencies, imported when a branch needs them.
"""

from __future__ import annotations

import atexit
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Source = Literal["environment", "container", "local"]

ROOT = Path(__file__).resolve().parents[4]  # the workspace (this lib is installed editable)
LOCAL_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379"}
LOCAL_NATS_URL = "nats://127.0.0.1:4222"
S3_REGION = "us-east-1"
S3_BUCKETS = ("portal-dev", "portal-test")  # the buckets `make infra` creates; the containers get them too
_CONTAINER_S3_KEYS = ("portal-test", "portal-test-secret")  # throwaway keys of a throwaway container


@dataclass(frozen=True)
class Dependency:
    """One piece of infrastructure: the variables that name it, and how to start or find it otherwise."""

    name: str
    named_by: tuple[str, ...]  # any of these set (non-empty) means the environment names it
    also_reads: tuple[str, ...]  # read from the environment with them (credentials, port)
    start_container: Callable[[], dict[str, str]]  # returns the variables that describe it
    local: Callable[[], dict[str, str]]


@dataclass(frozen=True)
class S3Access:
    endpoint: str
    region: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """The `STORAGE_*` variables a service needs to reach it (the bucket is the caller's choice)."""
        return {
            "STORAGE_ENDPOINT": self.endpoint,
            "STORAGE_REGION": self.region,
            "STORAGE_ACCESS_KEY_ID": self.access_key,
            "STORAGE_SECRET_ACCESS_KEY": self.secret_key,
        }


def docker_engine_answers() -> bool:
    """True when a Docker engine (DOCKER_HOST or the default socket) answers a ping within a few seconds."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no permission, no answer: all mean "no engine"
        return False


def choose(
    dependency: Dependency, environ: Mapping[str, str], engine_answers: Callable[[], bool]
) -> tuple[Source, dict[str, str]]:
    """Which source serves `dependency`, and the variables describing it (nothing is exported here)."""
    if any(environ.get(name) for name in dependency.named_by):
        names = (*dependency.named_by, *dependency.also_reads)
        return "environment", {name: environ[name] for name in names if environ.get(name)}
    if engine_answers():
        return "container", dependency.start_container()
    return "local", dependency.local()


_chosen: dict[str, tuple[Source, dict[str, str]]] = {}
_engine: list[bool] = []  # the probe's answer, once per process


def _engine_answers() -> bool:
    if not _engine:
        _engine.append(docker_engine_answers())
    return _engine[0]


def resolve(dependency: Dependency, environ: MutableMapping[str, str] | None = None) -> tuple[Source, dict[str, str]]:
    """The source and variables of `dependency`, chosen on first use; a container's are exported."""
    if dependency.name not in _chosen:
        env = os.environ if environ is None else environ
        source, variables = choose(dependency, env, _engine_answers)
        if source == "container":
            env.update(variables)
        _chosen[dependency.name] = (source, variables)
    return _chosen[dependency.name]


# --- containers (run only where a Docker engine answers; not exercised on machines without one) ----------

_started: list[Any] = []


def _stop_containers() -> None:
    while _started:
        _started.pop().stop()


def _keep(container: Any) -> Any:
    """Stop `container` when the process exits (testcontainers' reaper removes it should we crash)."""
    if not _started:
        atexit.register(_stop_containers)
    _started.append(container)
    return container


def _postgres_container() -> dict[str, str]:
    from testcontainers.community.postgres import PostgresContainer

    # A throwaway server that only this test process reaches.
    container = PostgresContainer("postgres:17", username="postgres", password="postgres", driver=None)  # noqa: S106
    pg = _keep(container.start())
    return {"PORTAL_TEST_ADMIN_DSN": pg.get_connection_url()}


def _redis_container() -> dict[str, str]:
    from testcontainers.community.redis import RedisContainer

    redis = _keep(RedisContainer("redis:7").start())
    return {"REDIS_HOST": redis.get_container_host_ip(), "REDIS_PORT": str(redis.get_exposed_port(6379))}


def _nats_container() -> dict[str, str]:
    from testcontainers.community.nats import NatsContainer

    nats = _keep(NatsContainer("nats:2", jetstream=True).start())  # jetstream=True runs `nats-server -js`
    return {"NATS_URL": nats.nats_uri()}


def _s3_container() -> dict[str, str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    access_key, secret_key = _CONTAINER_S3_KEYS
    minio = (
        DockerContainer("minio/minio:latest")
        .with_command("server /data")
        .with_env("MINIO_ROOT_USER", access_key)
        .with_env("MINIO_ROOT_PASSWORD", secret_key)
        .with_exposed_ports(9000)
        .waiting_for(HttpWaitStrategy(9000, "/minio/health/live"))
    )
    _keep(minio.start())
    endpoint = f"http://{minio.get_container_host_ip()}:{minio.get_exposed_port(9000)}"
    access = S3Access(endpoint, S3_REGION, access_key, secret_key)
    create_buckets(access, S3_BUCKETS)
    return access.env()


def s3_client(access: S3Access) -> Any:
    """A plain (synchronous) botocore S3 client for `access`, path-style as the services address S3."""
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=access.endpoint,
        region_name=access.region,
        aws_access_key_id=access.access_key,
        aws_secret_access_key=access.secret_key,
        config=Config(s3={"addressing_style": "path"}),
    )


def create_buckets(access: S3Access, buckets: tuple[str, ...]) -> None:
    """Create each bucket that does not exist yet."""
    client = s3_client(access)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


# --- local services -----------------------------------------------------------------------------------------


def _local_s3() -> dict[str, str]:
    """Start SeaweedFS if it is not running (`scripts/infra.py ensure`) and read where it listens."""
    script = ROOT / "scripts" / "infra.py"
    # Fixed script of this repository with fixed arguments.
    subprocess.run([sys.executable, str(script), "ensure"], check=True, capture_output=True, timeout=180)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [sys.executable, str(script), "env"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    env: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0] if value else ""
    return {name: env[name] for name in S3Access("", "", "", "").env()}


POSTGRES = Dependency(
    "postgres",
    ("PORTAL_TEST_ADMIN_DSN", "DATABASE_URL"),
    (),
    _postgres_container,
    lambda: {"PORTAL_TEST_ADMIN_DSN": LOCAL_ADMIN_DSN},
)
REDIS = Dependency(
    "redis", ("REDIS_HOST", "REDIS_PORT"), ("REDIS_PASSWORD",), _redis_container, lambda: dict(LOCAL_REDIS)
)
NATS = Dependency(
    "nats", ("PORTAL_TEST_NATS_URL", "NATS_URL"), (), _nats_container, lambda: {"NATS_URL": LOCAL_NATS_URL}
)
S3 = Dependency(
    "s3",
    ("STORAGE_ENDPOINT",),
    ("STORAGE_REGION", "STORAGE_ACCESS_KEY_ID", "STORAGE_SECRET_ACCESS_KEY"),
    _s3_container,
    _local_s3,
)
DEPENDENCIES = (POSTGRES, REDIS, NATS, S3)


# --- what tests call -----------------------------------------------------------------------------------------


def postgres_admin_dsn() -> str:
    """DSN of a role that may create databases (tests make one of their own per session)."""
    variables = resolve(POSTGRES)[1]
    return variables.get("PORTAL_TEST_ADMIN_DSN") or variables["DATABASE_URL"]


def redis_env() -> dict[str, str]:
    """`REDIS_HOST` and `REDIS_PORT` (and `REDIS_PASSWORD` when the environment sets one)."""
    return {**LOCAL_REDIS, **resolve(REDIS)[1]}  # REDIS_PORT alone in the environment keeps the local host


def redis_address() -> tuple[str, int]:
    env = redis_env()
    return env["REDIS_HOST"], int(env["REDIS_PORT"])


def nats_url() -> str:
    variables = resolve(NATS)[1]
    return variables.get("PORTAL_TEST_NATS_URL") or variables["NATS_URL"]


def s3_access() -> S3Access:
    variables = resolve(S3)[1]
    return S3Access(
        variables["STORAGE_ENDPOINT"],
        variables.get("STORAGE_REGION") or S3_REGION,
        variables.get("STORAGE_ACCESS_KEY_ID", ""),
        variables.get("STORAGE_SECRET_ACCESS_KEY", ""),
    )
