# The words of the README. Every target bootstraps first (idempotent), so each one works on a
# fresh machine of this kind: `make run` brings up the platform, `make test` passes the tests.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: bootstrap run down stack-up stack-down lint crds chart test test-unit test-integration test-e2e

bootstrap:
	@hack/bootstrap.sh

run: bootstrap  ## local stack + CRDs + operator + control plane + sample tenant
	@$(BIN)/caasctl up

down: bootstrap  ## stop the platform and the stack (data kept; `caasctl stack down --purge` wipes it)
	@$(BIN)/caasctl down

stack-up: bootstrap
	@$(BIN)/caasctl stack up

stack-down: bootstrap
	@$(BIN)/caasctl stack down

crds: bootstrap  ## regenerate crds/ from the Python models, then the chart's copies of them
	@$(BIN)/python -m caas_core.crd
	@$(BIN)/python hack/chart_crds.py

chart: bootstrap  ## regenerate the chart's CRD templates and manifests/install.yaml from crds/
	@$(BIN)/python hack/chart_crds.py

lint: bootstrap  ## ruff, formatting, mypy --strict, import-linter layers, CRDs not stale
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m caas_core.crd --check
	$(BIN)/python hack/chart_crds.py --check

test: lint  ## everything: lint, then unit, integration and e2e tests against the real stack
	$(BIN)/caasctl stack install
	$(BIN)/pytest

test-unit: bootstrap
	$(BIN)/pytest -m unit

test-integration: bootstrap
	$(BIN)/pytest -m integration

test-e2e: bootstrap
	$(BIN)/pytest -m e2e
