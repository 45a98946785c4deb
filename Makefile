# Parametric Portal: every entry point a developer, CI or an SRE needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --frozen
PYTEST := $(RUN) pytest
OIDC_HARNESS := services/identity/tests/oauth/oidc_provider

.PHONY: help install dev infra infra-stop lint format types contracts contracts-generate test test-unit test-e2e check bench images deploy-check

help: ## list every target
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-20s\033[0m %s\n", $$1, $$2}'

install: ## install uv (if missing) and the whole workspace from the lock file; the npm test harnesses
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet
	@# identity's OAuth tests run the npm oidc-provider (Node 20+); reinstalled only when its lock file changed
	@if [ ! -f $(OIDC_HARNESS)/node_modules/.package-lock.json ] || [ $(OIDC_HARNESS)/package-lock.json -nt $(OIDC_HARNESS)/node_modules/.package-lock.json ]; then \
		command -v npm >/dev/null 2>&1 || { echo "npm (Node.js 20+) is needed for identity's OAuth tests" >&2; exit 1; }; \
		npm ci --prefix $(OIDC_HARNESS) --no-audit --no-fund --silent; \
	fi

dev: install ## start the whole suite on local infrastructure (Ctrl-C stops it)
	@.venv/bin/python scripts/dev.py  # not `uv run`: Ctrl-C goes straight to the supervisor

infra: install ## start what the tests need and is not running (SeaweedFS; PostgreSQL/Redis/NATS if down)
	@$(RUN) python scripts/infra.py ensure

infra-stop: ## stop what `make infra` started
	@$(RUN) python scripts/infra.py stop

lint: install ## ruff lint and format check
	@$(RUN) ruff check .
	@$(RUN) ruff format --check --quiet .

format: install ## apply ruff fixes and formatting
	@$(RUN) ruff check --fix --quiet .
	@$(RUN) ruff format --quiet .

types: install ## mypy (strict on libs/ and proto-schemas/)
	@$(RUN) mypy libs/*/src proto-schemas/src services/*/src

contracts: install ## fail when generated event schemas are stale or a published contract changed incompatibly
	@$(RUN) portal-contracts check

contracts-generate: install ## regenerate JSON Schema, AsyncAPI and docs/events.md from proto-schemas
	@$(RUN) portal-contracts generate

test-unit: install infra ## unit and integration tests of libs, contracts and services (real PG, Redis, NATS, S3)
	@$(PYTEST) -q libs proto-schemas services

test-e2e: install infra ## end-to-end tests: the suite started as processes, driven through the gateway
	@$(PYTEST) -q tests-e2e

test: lint types contracts deploy-check test-unit test-e2e ## everything CI runs: lint, types, contracts, deploy/ offline, unit, integration, e2e

check: test ## lint, types, contracts, the offline deploy/ validation and all tests

deploy-check: install ## render every Kustomize overlay and validate it offline: schemas, policies, settings, ArgoCD, Tilt (kubectl from the lock)
	@$(PYTEST) -q -p no:cacheprovider deploy/tests

images: install ## build the service images (SERVICE=<dir> for one; IMAGE_REGISTRY, IMAGE_TAG, PUSH=1); needs a Docker engine
	@$(RUN) python deploy/images/build.py $(if $(PUSH),--push) $(SERVICE)

bench: install infra ## benchmarks (ratios against baselines measured in the same run); writes bench/results/
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	@mkdir -p bench/results
	@$(RUN) python bench/machine_bench.py | tee bench/results/machine.json
	@$(RUN) python bench/gateway_bench.py | tee bench/results/gateway.json
	@$(RUN) python bench/events_bench.py | tee bench/results/events.json
	@$(RUN) python bench/events_bench.py --handler batch | tee bench/results/events-batch.json
	@$(RUN) python bench/ai_bench.py | tee bench/results/ai.json
	@$(RUN) python bench/storage_bench.py | tee bench/results/storage.json
	@$(RUN) python bench/identity_bench.py | tee bench/results/identity.json
	@$(RUN) python bench/audit_bench.py | tee bench/results/audit.json
