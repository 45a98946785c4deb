"""The manifests agree with the code: env vars, secrets, ports, images, commands, DB names.

The truth is each service's settings class (services/<dir>/src/<pkg>/settings.py, read by import),
its __main__.py (the commands it accepts), its migrations folder, and deploy/images/build.py.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import re
import sys
import tomllib
import typing
from dataclasses import dataclass
from types import UnionType

import msgspec
import pytest
from deploy_support import (
    ENVIRONMENTS,
    GATEWAY,
    ROOT,
    Doc,
    Rendered,
    ServiceDir,
    discover_services,
    facts_name,
    find,
    load_build_script,
    one,
    pod_spec,
)
from portal_core.settings import BaseSettings, Secret

# Env vars a container may carry that are not settings fields: read by libraries, or used to build one.
NOT_SETTINGS = {
    "PGUSER": "asyncpg takes the DB user from it (DATABASE_URL names none)",
    "PGPASSWORD": "asyncpg takes the DB password from it",
    "K8S_NAMESPACE": "builds OTEL_RESOURCE_ATTRIBUTES",
    "K8S_NODE_NAME": "builds OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_RESOURCE_ATTRIBUTES": "read by the OpenTelemetry SDK's resource detector",
}
# Secrets owned by the platform rather than by one service: env var -> (Secret name, key).
PLATFORM_SECRETS = {"REDIS_PASSWORD": ("portal-redis-auth", "password")}
SERVICES = discover_services()


@dataclass(frozen=True)
class Field:
    env: str
    secret: bool  # typed Secret or Secret | None: must come from a Secret
    required_in_production: bool  # a Secret with a development default, or listed in required_in_production


def settings_class(service: ServiceDir) -> type[BaseSettings]:
    module = importlib.import_module(f"{service.package}.settings")
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, BaseSettings) and v.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{service.package}.settings defines {len(found)} settings classes"
    return found[0]


def settings_fields(cls: type[BaseSettings]) -> dict[str, Field]:
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in msgspec.structs.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union else ()
        secret = hint is Secret or Secret in args
        required = hint is Secret or f.name in cls.required_in_production
        fields[f.name.upper()] = Field(f.name.upper(), secret, required)
    return fields


def container_env(docs: list[Doc], workload: Doc) -> dict[str, Doc]:
    """Env var name -> its source ({"value": ...}, {"valueFrom": ...}, {"configMap": name}) of the app container."""
    container = next(c for c in pod_spec(workload)["containers"] if c["name"] == "app")
    env: dict[str, Doc] = {}
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "envFrom secretRef hides which variables a Secret sets: list them"
        config = one(docs, "ConfigMap", source["configMapRef"]["name"])
        env.update({key: {"configMap": config["metadata"]["name"], "value": v} for key, v in config["data"].items()})
    for item in container.get("env", []):
        env[item["name"]] = item
    return env


def server(docs: list[Doc], name: str) -> Doc:
    return one(docs, "Deployment", name)


@pytest.fixture(scope="module", params=SERVICES, ids=[s.directory for s in SERVICES])
def service(request: pytest.FixtureRequest) -> ServiceDir:
    return request.param  # type: ignore[no-any-return]


def env_problems(docs: list[Doc], workload: Doc, fields: dict[str, Field], name: str) -> list[str]:
    """Env vars of `workload` that its settings do not read, or secrets not read from the right Secret."""
    where = f"{workload['kind']}/{workload['metadata']['name']}"
    problems = []
    for var, source in container_env(docs, workload).items():
        if var in NOT_SETTINGS:
            continue
        if var not in fields:
            problems.append(f"{where}: {var} is not a setting (typo, or stale?)")
            continue
        ref = source.get("valueFrom", {}).get("secretKeyRef")
        if fields[var].secret and not ref:
            problems.append(f"{where}: {var} is a secret setting but is not read from a Secret")
        if not ref or ref["name"].endswith("-db"):
            continue
        # Platform secrets by their fixed name; a service's own: Secret <name>-secrets, key = the env var.
        expected = PLATFORM_SECRETS.get(var, (f"{name}-secrets", var))
        name_ok = ref["name"] == expected[0] or (var not in PLATFORM_SECRETS and ref["name"].startswith(expected[0]))
        if not name_ok or ref["key"] != expected[1]:
            problems.append(f"{where}: {var} from Secret {ref['name']} key {ref['key']}")
    return problems


def test_every_env_var_is_a_setting_and_every_secret_comes_from_a_secret(
    rendered: Rendered, service: ServiceDir
) -> None:
    fields = settings_fields(settings_class(service))
    name = facts_name(service.directory)
    for env in ENVIRONMENTS:
        docs = rendered.overlay(service.directory, env)
        for workload in [d for d in docs if d["kind"] in ("Deployment", "Job")]:
            problems = env_problems(docs, workload, fields, name)
            assert not problems, f"{service.directory}/{env}:\n" + "\n".join(problems)


def test_the_env_check_can_fail(rendered: Rendered) -> None:
    storage = next(s for s in SERVICES if s.directory == "storage")
    fields = settings_fields(settings_class(storage))
    docs = copy.deepcopy(rendered.overlay("storage", "prod"))
    deployment = server(docs, "storage")
    env = pod_spec(deployment)["containers"][0]["env"]
    env.append({"name": "STORAGE_BUKET", "value": "typo"})
    secret = next(e for e in env if e["name"] == "STORAGE_SECRET_ACCESS_KEY")
    secret.pop("valueFrom")
    secret["value"] = "in-plain-sight"
    cursor = next(e for e in env if e["name"] == "CURSOR_SECRET")
    cursor["valueFrom"]["secretKeyRef"]["name"] = "identity-secrets"
    problems = "\n".join(env_problems(docs, deployment, fields, "storage"))
    assert "STORAGE_BUKET is not a setting" in problems
    assert "STORAGE_SECRET_ACCESS_KEY is a secret setting but is not read from a Secret" in problems
    assert "CURSOR_SECRET from Secret identity-secrets" in problems


def test_production_overlays_set_what_production_requires(rendered: Rendered, service: ServiceDir) -> None:
    cls = settings_class(service)
    fields = settings_fields(cls)
    uses_redis = False
    for env in ("staging", "prod"):
        docs = rendered.overlay(service.directory, env)
        env_vars = container_env(docs, server(docs, facts_name(service.directory)))
        uses_redis = "REDIS_HOST" in env_vars
        assert env_vars["ENVIRONMENT"]["value"] == "production", f"{service.directory}/{env}: not production mode"
        for field in fields.values():
            if not field.required_in_production:
                continue
            assert field.env in env_vars, f"{service.directory}/{env}: production needs {field.env}"
            ref = env_vars[field.env].get("valueFrom", {}).get("secretKeyRef", {})
            assert not ref.get("optional"), f"{service.directory}/{env}: {field.env} is required, not optional"
    # Every optional secret feature (OAuth providers, AI keys, ...) can be switched on from the Secret.
    docs = rendered.overlay(service.directory, "prod")
    env_vars = container_env(docs, server(docs, facts_name(service.directory)))
    for field in fields.values():
        if field.secret and (field.env != "REDIS_PASSWORD" or uses_redis):
            assert field.env in env_vars, f"{service.directory}: secret setting {field.env} is not wired"


# A direct dependency on a client means the service talks to that part of the platform: the setting that
# points the client at it must be set (its default is loopback, which inside a pod is the pod itself).
CLIENT_SETTINGS = {
    "asyncpg": "DATABASE_URL",
    "portal-db": "DATABASE_URL",
    "nats-py": "NATS_URL",
    "portal-events": "NATS_URL",
    "redis": "REDIS_HOST",
    "aiobotocore": "STORAGE_ENDPOINT",
}


def test_every_client_the_service_depends_on_is_pointed_at_the_platform(
    rendered: Rendered, service: ServiceDir
) -> None:
    pyproject = tomllib.loads((ROOT / "services" / service.directory / "pyproject.toml").read_text())
    direct = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in pyproject["project"]["dependencies"]}
    fields = settings_fields(settings_class(service))
    needed = {CLIENT_SETTINGS[d] for d in direct if d in CLIENT_SETTINGS} & fields.keys()
    for env in ENVIRONMENTS:
        docs = rendered.overlay(service.directory, env)
        env_vars = container_env(docs, server(docs, facts_name(service.directory)))
        missing = needed - env_vars.keys()
        assert not missing, f"{service.directory}/{env}: depends on a client but does not set {sorted(missing)}"


def test_dev_overlay_runs_in_development_mode(rendered: Rendered, service: ServiceDir) -> None:
    docs = rendered.overlay(service.directory, "dev")
    env_vars = container_env(docs, server(docs, facts_name(service.directory)))
    assert env_vars["ENVIRONMENT"]["value"] == "development"


def test_ports_agree(rendered: Rendered, service: ServiceDir) -> None:
    name = facts_name(service.directory)
    for env in ENVIRONMENTS:
        docs = rendered.overlay(service.directory, env)
        deployment = server(docs, name)
        env_vars = container_env(docs, deployment)
        container = pod_spec(deployment)["containers"][0]
        http = next(p for p in container["ports"] if p["name"] == "http")
        assert env_vars["HOST"]["value"] == "0.0.0.0", "a pod must listen beyond loopback"
        assert int(env_vars["PORT"]["value"]) == http["containerPort"], f"{name}: PORT != containerPort"
        svc = one(docs, "Service", name)
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] == "http"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_image_is_the_one_build_py_builds(rendered: Rendered, service: ServiceDir) -> None:
    build = load_build_script()
    spec = next(s for s in build.discover() if s.directory == service.directory)
    assert (spec.project, spec.package) == (service.project, service.package)
    expected = f"{build.DEFAULT_REGISTRY}/{service.directory}"
    for env in ENVIRONMENTS:
        for workload in [d for d in rendered.overlay(service.directory, env) if d["kind"] in ("Deployment", "Job")]:
            image = pod_spec(workload)["containers"][0]["image"]
            assert image.rpartition(":")[0] == expected, f"{service.directory}/{env}: image {image}"
    deployment = server(rendered.overlay(service.directory, "prod"), facts_name(service.directory))
    assert pod_spec(deployment)["containers"][0]["ports"][0]["containerPort"] == spec.default_port


def test_commands_exist_in_the_services_main(rendered: Rendered, service: ServiceDir) -> None:
    main = service.source / "__main__.py"
    if not main.exists():
        pytest.skip(f"{service.directory} has no __main__.py yet: cannot check its commands")
    text = main.read_text()
    for workload in [d for d in rendered.overlay(service.directory, "prod") if d["kind"] in ("Deployment", "Job")]:
        for arg in pod_spec(workload)["containers"][0].get("args", [])[:1]:
            assert re.search(rf"[\"']{re.escape(arg)}[\"']", text), f"{service.package} __main__ has no {arg!r}"


def test_database_names_agree(rendered: Rendered, service: ServiceDir) -> None:
    name = facts_name(service.directory)
    module = importlib.import_module(f"{service.package}.settings")
    for constant in ("SERVICE", "SCHEMA"):
        if hasattr(module, constant):
            assert getattr(module, constant) == name, f"{service.package}.settings.{constant} != facts name {name}"
    has_migrations = (service.source / "migrations").is_dir()
    docs = rendered.overlay(service.directory, "prod")
    jobs = find(docs, "Job", f"{name}-migrate")
    assert bool(jobs) == has_migrations, f"{service.directory}: migrations folder and migrate Job disagree"
    if not has_migrations:
        return
    job = jobs[0]
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "Sync"
    for env in ENVIRONMENTS:
        platform = rendered.platform(env)
        roles = {r["name"]: r for r in one(platform, "Cluster", "portal-db")["spec"]["managed"]["roles"]}
        assert name in roles, f"platform/{env}: no CloudNativePG role {name}"
        assert roles[name]["passwordSecret"]["name"] == f"{name}-db"
        assert roles[name]["login"] is True
        assert roles[name]["superuser"] is False
        schemas = one(platform, "Database", "portal")["spec"]["schemas"]
        assert {"name": name, "owner": name, "ensure": "present"} in schemas, f"platform/{env}: no schema {name}"


def test_the_gateway_routes_to_every_deployed_service(rendered: Rendered) -> None:
    gateway = next(s for s in SERVICES if s.directory == GATEWAY)
    fields = settings_fields(settings_class(gateway))
    for env in ENVIRONMENTS:
        docs = rendered.overlay(GATEWAY, env)
        env_vars = container_env(docs, server(docs, GATEWAY))
        extra = json.loads(env_vars.get("UPSTREAMS", {}).get("value") or "{}")
        for service in SERVICES:
            if service.directory == GATEWAY:
                continue
            name = facts_name(service.directory)
            port = one(rendered.overlay(service.directory, env), "Service", name)["spec"]["ports"][0]["port"]
            var = f"UPSTREAM_{name.upper().replace('-', '_')}_URL"
            url = env_vars.get(var, {}).get("value") if var in fields else extra.get(name)
            assert url == f"http://{name}:{port}", f"gateway/{env}: route to {name} is {url!r}"


def test_staging_and_prod_do_not_trust_the_development_keys(rendered: Rendered) -> None:
    from portal_core.dev_keys import DEV_ASSERTION_PUBLIC_JWKS

    dev_kids = {k["kid"] for k in json.loads(DEV_ASSERTION_PUBLIC_JWKS)["keys"]}
    for env in ("staging", "prod"):
        jwks = one(rendered.platform(env), "ConfigMap", "portal-identity-assertion")["data"]["public-jwks"]
        assert not dev_kids & {k.get("kid") for k in json.loads(jwks)["keys"]}, f"{env} trusts a development key"


def test_declared_workers_each_have_a_deployment(rendered: Rendered, service: ServiceDir) -> None:
    pyproject = tomllib.loads((ROOT / "services" / service.directory / "pyproject.toml").read_text())
    workers = pyproject.get("tool", {}).get("portal", {}).get("workers", [])
    docs = rendered.overlay(service.directory, "prod")
    running = {tuple(pod_spec(d)["containers"][0].get("args", [])[:1]) for d in find(docs, "Deployment")}
    for worker in workers:
        assert (worker,) in running, f"{service.directory}: worker {worker!r} ([tool.portal]) has no Deployment"


def test_names_match_what_make_dev_uses(service: ServiceDir) -> None:
    spec = importlib.util.spec_from_file_location("portal_dev_services", ROOT / "scripts" / "dev_services.py")
    assert spec is not None
    assert spec.loader is not None
    dev = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = dev
    spec.loader.exec_module(dev)
    expected = GATEWAY if service.directory == GATEWAY else dev.KNOWN.get(service.directory, (service.directory,))[0]
    assert facts_name(service.directory) == expected, f"{service.directory}: `make dev` calls it {expected}"
