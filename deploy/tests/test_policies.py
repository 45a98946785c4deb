"""What every service's rendered workloads must be: hardened, probed, limited, pinned, fenced.

The same rules as the Kyverno policies in deploy/platform/cluster (those enforce them in a cluster;
this test enforces them before a commit), plus NetworkPolicy coverage, checked per overlay.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from deploy_support import (
    ENVIRONMENTS,
    GATEWAY,
    Doc,
    Rendered,
    deployed_service_dirs,
    find,
    pod_spec,
    pod_template,
    workloads,
)

NO_PROBES = "portal.parametric.dev/no-probes"
OVERLAYS = [(d, e) for d in deployed_service_dirs() for e in ENVIRONMENTS]


def _containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def hardening_problems(workload: Doc) -> list[str]:
    """Why a workload breaks the house rules (empty when it does not)."""
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    spec = pod_spec(workload)
    template = pod_template(workload)
    problems = []
    if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: automountServiceAccountToken is not false")
    # serve() drains for up to 25 s after SIGTERM, after a 5 s preStop pause: the kubelet must wait longer.
    if workload["kind"] == "Deployment" and spec.get("terminationGracePeriodSeconds", 30) < 35:
        problems.append(f"{name}: terminationGracePeriodSeconds below the 30 s drain")
    for c in _containers(workload):
        where = f"{name} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities are not all dropped")
        if sc.get("runAsUser") == 0 or sc.get("privileged"):
            problems.append(f"{where}: runs as root or privileged")
        resources = c.get("resources", {})
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not resources.get(section, {}).get(resource):
                    problems.append(f"{where}: resources.{section}.{resource} missing")
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            problems.append(f"{where}: image {image!r} has no pinned tag")
        exempt = workload["kind"] == "Job" or NO_PROBES in template.get("metadata", {}).get("annotations", {})
        if not exempt and not (c.get("livenessProbe") and c.get("readinessProbe")):
            problems.append(f"{where}: liveness or readiness probe missing")
    return problems


def selected_by(policy: Doc, labels: dict[str, str]) -> bool:
    wanted = policy["spec"].get("podSelector", {}).get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


@pytest.mark.parametrize(("directory", "env"), OVERLAYS)
def test_workloads_are_hardened(rendered: Rendered, directory: str, env: str) -> None:
    docs = rendered.overlay(directory, env)
    assert workloads(docs), f"{directory}/{env} has no workload"
    problems = [p for w in workloads(docs) for p in hardening_problems(w)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("directory", "env"), OVERLAYS)
def test_every_pod_is_fenced_by_ingress_and_egress_policies(rendered: Rendered, directory: str, env: str) -> None:
    docs = rendered.overlay(directory, env)
    policies = find(docs, "NetworkPolicy")
    for workload in workloads(docs):
        labels = pod_template(workload)["metadata"]["labels"]
        mine = [p for p in policies if selected_by(p, labels)]
        types = {t for p in mine for t in p["spec"]["policyTypes"]}
        assert {"Ingress", "Egress"} <= types, f"{workload['metadata']['name']}: policy types {types}"


@pytest.mark.parametrize(("directory", "env"), OVERLAYS)
def test_only_the_gateway_is_reachable_from_the_ingress(rendered: Rendered, directory: str, env: str) -> None:
    docs = rendered.overlay(directory, env)
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    if directory == GATEWAY:
        allowed = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}]
    else:
        allowed = [{"podSelector": {"matchLabels": {"app": GATEWAY}}}]
    peers = [
        peer
        for policy in find(docs, "NetworkPolicy")
        if "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [{"anywhere": True}])
    ]
    assert peers, f"{directory}: no ingress rule at all"
    strangers = [p for p in peers if p not in [*allowed, monitoring]]
    assert not strangers, f"{directory}/{env}: ingress from {strangers}"


def test_postgres_accepts_only_the_suite_its_replicas_and_the_operator(rendered: Rendered) -> None:
    for env in ENVIRONMENTS:
        policy = next(
            p for p in find(rendered.platform(env), "NetworkPolicy") if p["metadata"]["name"] == "portal-db-ingress"
        )
        peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert peers == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "parametric-portal"}}},
            {"podSelector": {"matchLabels": {"cnpg.io/cluster": "portal-db"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}},
        ]
        assert any(p["metadata"]["name"] == "default-deny" for p in find(rendered.platform(env), "NetworkPolicy"))


def test_staging_and_prod_carry_no_secret_values(rendered: Rendered) -> None:
    for directory in deployed_service_dirs():
        for env in ("staging", "prod"):
            assert not find(rendered.overlay(directory, env), "Secret"), f"{directory}/{env} ships a Secret"
    for env in ("staging", "prod"):
        assert not find(rendered.platform(env), "Secret"), f"platform/{env} ships a Secret"


def _broken(workload: Doc, change: Any) -> Doc:
    import copy

    clone = copy.deepcopy(workload)
    change(clone)
    return clone


def test_the_hardening_check_can_fail(rendered: Rendered) -> None:
    deployment = next(d for d in rendered.overlay(GATEWAY, "prod") if d["kind"] == "Deployment")
    assert hardening_problems(deployment) == []

    def container(d: Doc) -> Doc:
        first: Doc = d["spec"]["template"]["spec"]["containers"][0]
        return first

    cases = {
        "writable": lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False),
        "probe": lambda d: container(d).pop("readinessProbe"),
        "limits.memory": lambda d: container(d)["resources"]["limits"].pop("memory"),
        "no pinned tag": lambda d: container(d).update(image="ghcr.io/parametric-portal/gateway:latest"),
        "runAsNonRoot": lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
        "automount": lambda d: d["spec"]["template"]["spec"].pop("automountServiceAccountToken"),
        "drain": lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=30),
    }
    for expected, change in cases.items():
        problems = hardening_problems(_broken(deployment, change))
        assert any(expected in p for p in problems), f"{expected}: {problems}"


@pytest.mark.parametrize(("directory", "env"), OVERLAYS)
def test_env_references_point_at_variables_defined_before_them(rendered: Rendered, directory: str, env: str) -> None:
    # Kubernetes expands $(NAME) only from variables earlier in the list; otherwise it stays literal.
    for workload in workloads(rendered.overlay(directory, env)):
        for container in pod_spec(workload)["containers"]:
            defined: set[str] = set()
            for item in container.get("env", []):
                for reference in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(item.get("value", ""))):
                    assert reference in defined, f"{workload['metadata']['name']}: {item['name']} uses $({reference})"
                defined.add(item["name"])
