"""Every Kustomize root renders, and every object it renders passes a schema check.

Core kinds: kubernetes-validate --strict (the Kubernetes OpenAPI schemas, unknown fields refused).
Custom kinds: the structural schemas in crd_schemas.py (see its docstring for what they cover).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import jsonschema
import kubernetes_validate
import pytest
from deploy_crd_schemas import SCHEMAS
from deploy_support import DEPLOY, ENVIRONMENTS, Rendered, deployed_service_dirs, discover_services, kustomize_roots

# The oldest Kubernetes the manifests target (the preStop `sleep` action is on by default from 1.30).
KUBERNETES_VERSION = "1.32.0"


def test_every_service_has_a_base_and_all_overlays() -> None:
    services = {s.directory for s in discover_services()}
    deployed = set(deployed_service_dirs())
    assert services - deployed == set(), f"services without deploy/services/<dir>: {sorted(services - deployed)}"
    assert deployed - services == set(), f"manifests for services that do not exist: {sorted(deployed - services)}"
    for directory in sorted(deployed):
        for env in ENVIRONMENTS:
            overlay = DEPLOY / "services" / directory / "overlays" / env / "kustomization.yaml"
            assert overlay.is_file(), f"{directory}: missing overlay {env}"


@pytest.mark.parametrize("root", [str(r.relative_to(DEPLOY)) for r in kustomize_roots()])
def test_root_renders(rendered: Rendered, root: str) -> None:
    docs = rendered.get(f"deploy/{root}")
    assert docs, f"{root} rendered nothing"
    leftovers = [f"{d['kind']}/{d['metadata']['name']}: {v}" for d in docs for v in strings(d) if PLACEHOLDER.match(v)]
    assert not leftovers, f"{root}: component placeholders not replaced: {leftovers}"


# What deploy/components write where the service's name goes, until its facts.yaml replaces them.
PLACEHOLDER = re.compile(r"^SERVICE(-|$)")


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_core_kinds_pass_kubernetes_validate_strict(rendered: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    # kubernetes-validate re-reads its (large) JSON schema files for every object; read each once.
    monkeypatch.setattr(
        kubernetes_validate.utils, "schema_contents", functools.cache(kubernetes_validate.utils.schema_contents)
    )
    failures = []
    checked = 0
    for root, doc in rendered.all_docs():
        if (doc["apiVersion"], doc["kind"]) in SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked += 1
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{root}: {doc['apiVersion']} {doc['kind']}: no schema (unknown kind: add one)")
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{root}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)
    assert checked > 100


def test_custom_resources_match_their_structural_schemas(rendered: Rendered) -> None:
    failures = []
    seen = set()
    for root, doc in rendered.all_docs():
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        seen.add((doc["apiVersion"], doc["kind"]))
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{root}: {doc['kind']}/{doc['metadata']['name']} at {path}: {error.message}")
    assert not failures, "\n".join(failures)
    assert seen == set(SCHEMAS), f"schemas never exercised: {sorted(set(SCHEMAS) - seen)}"


def test_structural_schemas_reject_a_misspelt_field() -> None:
    # The schemas must be able to fail: a typo one level down and a missing required field.
    cluster = {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "x"}}
    validator = jsonschema.Draft202012Validator(SCHEMAS[("postgresql.cnpg.io/v1", "Cluster")])
    assert not list(validator.iter_errors({**cluster, "spec": {"instances": 3}}))
    assert list(validator.iter_errors({**cluster, "spec": {"instances": 3, "managed": {"role": []}}}))
    assert list(validator.iter_errors({**cluster, "spec": {"storage": {"size": "1Gi"}}}))


def test_kubernetes_validate_strict_refuses_an_unknown_field(rendered: Rendered) -> None:
    deployment = next(d for d in rendered.overlay("gateway", "prod") if d["kind"] == "Deployment")
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    broken = {**deployment, "spec": {**deployment["spec"], "template": {"spec": {"containers": [
        {**container, "livenessprobe": container["livenessProbe"]}]}}}}  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_placeholder_check_can_fail() -> None:
    found = list(strings({"a": ["SERVICE-secrets", {"b": "SERVICE"}], "c": "SERVICE_INSTANCE_ID"}))
    assert [v for v in found if PLACEHOLDER.match(v)] == ["SERVICE-secrets", "SERVICE"]
