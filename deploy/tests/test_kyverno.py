"""The Kyverno policies admit every pod the suite renders, and refuse the broken ones.

No Kyverno engine runs here, so this evaluates the policies with a small implementation of exactly the
features they use: match/exclude by kind, namespace glob and label selector; JMESPath preconditions;
validate patterns with `=()` anchors, per-element list patterns, `?*`, `*` wildcards, `!`, `&`, `|`
and `>N`. A policy using anything else fails this test rather than being skipped.
"""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

import jmespath
import pytest
from deploy_support import ENVIRONMENTS, Doc, Rendered, deployed_service_dirs, pod_template, workloads

SUPPORTED_RULE_KEYS = {"name", "match", "exclude", "preconditions", "validate"}


def value_matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, bool) or not isinstance(pattern, str):
        return bool(pattern == value)
    if "|" in pattern:
        return any(value_matches(p.strip(), value) for p in pattern.split("|"))
    if "&" in pattern:
        return all(value_matches(p.strip(), value) for p in pattern.split("&"))
    if pattern.startswith("!"):
        return not value_matches(pattern[1:], value)
    if pattern.startswith(">"):
        return isinstance(value, int | float) and value > float(pattern[1:])
    if pattern == "?*":
        return value not in (None, "")
    return isinstance(value, str) and fnmatch.fnmatchcase(value, pattern)


def pattern_matches(pattern: Any, resource: Any) -> bool:
    if isinstance(pattern, dict):
        if not isinstance(resource, dict):
            return False
        for key, sub in pattern.items():
            if key.startswith("=(") and key.endswith(")"):  # equality anchor: checked only when present
                inner = key[2:-1]
                if inner in resource and not pattern_matches(sub, resource[inner]):
                    return False
                continue
            assert not key.startswith(("(", "^(", "+(", "<(", "X(")), f"anchor {key} is not implemented here"
            if key not in resource or not pattern_matches(sub, resource[key]):
                return False
        return True
    if isinstance(pattern, list):
        assert len(pattern) == 1, "only single-element list patterns are implemented"
        return isinstance(resource, list) and all(pattern_matches(pattern[0], item) for item in resource)
    return value_matches(pattern, resource)


def resources_match(filters: dict[str, Any], pod: Doc, namespace: str) -> bool:
    resources = filters["resources"]
    assert set(resources) <= {"kinds", "namespaces", "selector"}, f"unsupported filter {sorted(resources)}"
    if "kinds" in resources and "Pod" not in resources["kinds"]:
        return False
    if "namespaces" in resources and not any(fnmatch.fnmatchcase(namespace, n) for n in resources["namespaces"]):
        return False
    labels = pod["metadata"].get("labels", {})
    selector = resources.get("selector", {})
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def precondition_holds(condition: dict[str, Any], pod: Doc) -> bool:
    key = condition["key"].strip()
    assert key.startswith("{{"), key
    assert key.endswith("}}"), key
    found = jmespath.search(key[2:-2].strip(), {"request": {"object": pod}})
    assert condition["operator"] == "Equals", "only Equals is implemented"
    return bool(found == condition["value"])


def violations(policy: Doc, pod: Doc, namespace: str) -> list[str]:
    """The rule names of `policy` that refuse `pod` (a Pod built from a workload's template)."""
    refused = []
    for rule in policy["spec"]["rules"]:
        assert set(rule) <= SUPPORTED_RULE_KEYS, f"{rule['name']}: unsupported keys {set(rule) - SUPPORTED_RULE_KEYS}"
        if not any(resources_match(f, pod, namespace) for f in rule["match"]["any"]):
            continue
        if any(resources_match(f, pod, namespace) for f in rule.get("exclude", {}).get("any", [])):
            continue
        if not all(precondition_holds(c, pod) for c in rule.get("preconditions", {}).get("all", [])):
            continue
        assert rule["validate"]["failureAction"] == "Enforce"
        if not pattern_matches(rule["validate"]["pattern"], pod):
            refused.append(rule["name"])
    return refused


def as_pod(workload: Doc) -> Doc:
    template = pod_template(workload)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"], "spec": template["spec"]}


@pytest.fixture(scope="module")
def policies(rendered: Rendered) -> list[Doc]:
    docs = rendered.get("deploy/platform/cluster")
    assert {d["kind"] for d in docs} == {"ClusterPolicy"}
    assert len(docs) == 4
    return docs


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_policies_admit_every_pod_of_the_suite(rendered: Rendered, policies: list[Doc], env: str) -> None:
    checked = 0
    for directory in deployed_service_dirs():
        for workload in workloads(rendered.overlay(directory, env)):
            pod = as_pod(workload)
            assert pod["metadata"]["labels"].get("app.kubernetes.io/part-of") == "parametric-portal"
            for policy in policies:
                refused = violations(policy, pod, f"portal-{env}")
                assert not refused, f"{directory}/{env} {workload['metadata']['name']}: refused by {refused}"
            checked += 1
    assert checked >= 2 * len(deployed_service_dirs())


def test_policies_refuse_what_they_promise_to(rendered: Rendered, policies: list[Doc]) -> None:
    deployment = next(d for d in rendered.overlay("identity", "prod") if d["kind"] == "Deployment")
    pod = as_pod(deployment)

    def refused_by(change: Any) -> set[str]:
        broken = copy.deepcopy(pod)
        change(broken)
        return {r for p in policies for r in violations(p, broken, "portal-prod")}

    def app(p: Doc) -> Doc:
        first: Doc = p["spec"]["containers"][0]
        return first

    assert refused_by(lambda p: None) == set()
    assert refused_by(lambda p: p["spec"]["securityContext"].update(runAsNonRoot=False)) == {
        "non-root-read-only-no-capabilities"
    }
    assert refused_by(lambda p: app(p)["securityContext"].update(readOnlyRootFilesystem=False)) == {
        "non-root-read-only-no-capabilities"
    }
    assert refused_by(lambda p: app(p)["resources"].pop("limits")) == {"requests-and-limits"}
    assert refused_by(lambda p: app(p).pop("livenessProbe")) == {"liveness-and-readiness"}
    assert refused_by(lambda p: app(p).update(image="ghcr.io/parametric-portal/identity:latest")) == {"pinned-tag"}
    assert refused_by(lambda p: app(p).update(image="ghcr.io/parametric-portal/identity")) == {"pinned-tag"}
    # The one exemption: a pod annotated as serving no probes.
    exempt = lambda p: (  # noqa: E731
        app(p).pop("livenessProbe"),
        p["metadata"].setdefault("annotations", {}).update({"portal.parametric.dev/no-probes": "worker"}),
    )
    assert refused_by(exempt) == set()
    # Pods outside the suite's namespaces or labels are not the policies' business.
    outsider = copy.deepcopy(pod)
    outsider["spec"]["securityContext"]["runAsNonRoot"] = False
    assert not [r for p in policies for r in violations(p, outsider, "kube-system")]
