"""ArgoCD: one Application per service and environment, and the order things sync in."""

from __future__ import annotations

from pathlib import PurePosixPath

import yaml
from deploy_support import DEPLOY, ENVIRONMENTS, Doc, Rendered, deployed_service_dirs, find, one

WAVE = "argocd.argoproj.io/sync-wave"


def argocd(rendered: Rendered) -> list[Doc]:
    return rendered.get("deploy/argocd")


def wave(doc: Doc) -> int:
    return int(doc["metadata"].get("annotations", {}).get(WAVE, "0"))


def test_the_application_set_yields_one_application_per_service_and_environment(rendered: Rendered) -> None:
    appset = one(argocd(rendered), "ApplicationSet", "portal-services")
    git, listed = appset["spec"]["generators"][0]["matrix"]["generators"]
    pattern = git["git"]["directories"][0]["path"]
    envs = [e["env"] for e in listed["list"]["elements"]]
    assert sorted(envs) == sorted(ENVIRONMENTS)
    assert appset["spec"]["template"]["metadata"]["name"] == "{{.path.basename}}-{{.env}}"
    assert appset["spec"]["template"]["spec"]["source"]["path"] == "{{.path.path}}/overlays/{{.env}}"
    # What the git generator finds is exactly the deployed services, each with every overlay.
    found = sorted(p.name for p in DEPLOY.glob(pattern.removeprefix("deploy/")) if p.is_dir())
    assert found == deployed_service_dirs()
    for directory in found:
        for env in envs:
            assert (DEPLOY / "services" / directory / "overlays" / env / "kustomization.yaml").is_file()
    assert appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True
    assert "prune: true" in appset["spec"]["templatePatch"]
    assert not next(e for e in listed["list"]["elements"] if e["env"] == "prod")["autoSync"], "prod syncs by hand"


def test_sync_waves_put_operators_then_policies_then_platform_then_services(rendered: Rendered) -> None:
    docs = argocd(rendered)
    operators = [a for a in find(docs, "Application") if a["spec"]["project"] == "portal-platform"]
    policies = one(docs, "Application", "portal-cluster-policies")
    platform = [a for a in find(docs, "Application") if a["spec"]["project"] == "parametric-portal"]
    services = one(docs, "ApplicationSet", "portal-services")
    expected = {"cloudnative-pg", "plugin-barman-cloud", "cert-manager", "kyverno", "traefik"}
    assert {a["metadata"]["name"] for a in operators} >= expected | {"portal-cluster-policies"}
    assert max(wave(a) for a in operators if a is not policies) < wave(policies)
    assert wave(policies) < min(wave(a) for a in platform)
    assert max(wave(a) for a in platform) < wave(services)
    names = {a["metadata"]["name"] for a in platform}
    assert names == {f"{c}-{e}" for c in ("platform", "nats", "redis") for e in ENVIRONMENTS}
    for app in platform:
        env = app["metadata"]["name"].rsplit("-", 1)[1]
        assert app["spec"]["destination"]["namespace"] == f"portal-{env}"


def test_platform_applications_point_at_files_that_exist(rendered: Rendered) -> None:
    for app in find(argocd(rendered), "Application"):
        sources = app["spec"].get("sources") or [app["spec"]["source"]]
        for source in sources:
            if source.get("path"):
                assert (DEPLOY.parent / source["path"] / "kustomization.yaml").is_file(), source["path"]
            for values in source.get("helm", {}).get("valueFiles", []):
                assert (DEPLOY.parent / PurePosixPath(values).relative_to("$values")).is_file(), values


def test_migrations_run_after_what_they_need_and_before_the_rollout(rendered: Rendered) -> None:
    for directory in deployed_service_dirs():
        for env in ENVIRONMENTS:
            docs = rendered.overlay(directory, env)
            for job in find(docs, "Job"):
                annotations = job["metadata"]["annotations"]
                assert annotations["argocd.argoproj.io/hook"] == "Sync", job["metadata"]["name"]
                assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
                assert wave(job) == -1
            for doc in docs:
                if doc["kind"] in ("ServiceAccount", "ConfigMap", "Secret", "NetworkPolicy"):
                    assert wave(doc) == -2, f"{directory}/{env} {doc['kind']}/{doc['metadata']['name']}"
                elif doc["kind"] != "Job":
                    assert wave(doc) == 0, f"{directory}/{env} {doc['kind']}/{doc['metadata']['name']}"


def test_nats_is_a_three_node_jetstream_cluster_from_the_official_chart(rendered: Rendered) -> None:
    values = yaml.safe_load((DEPLOY / "platform" / "helm" / "nats" / "values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    assert values["config"]["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    assert values["fullnameOverride"] == "portal-nats"  # the services' NATS_URL host
    for env in ENVIRONMENTS:
        app = one(argocd(rendered), "Application", f"nats-{env}")
        chart = app["spec"]["sources"][0]
        assert (chart["repoURL"], chart["chart"]) == ("https://nats-io.github.io/k8s/helm/charts/", "nats")
        assert chart["helm"]["releaseName"] == "portal-nats"


def test_redis_fails_over_behind_a_primary_following_proxy(rendered: Rendered) -> None:
    values = yaml.safe_load((DEPLOY / "platform" / "helm" / "redis" / "values.yaml").read_text())
    assert values["replicas"] >= 3
    assert values["sentinel"]["quorum"] == 2
    assert values["haproxy"]["enabled"] is True
    assert (values["existingSecret"], values["authKey"]) == ("portal-redis-auth", "password")
    for directory in deployed_service_dirs():
        for deployment in find(rendered.overlay(directory, "prod"), "Deployment"):
            for var in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
                if var["name"] == "REDIS_HOST":
                    assert var["value"] == f"{values['fullnameOverride']}-haproxy"
