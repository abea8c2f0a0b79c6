PYTHON ?= .venv/bin/python
VENV_STAMP := .venv/.installed-stamp
PROTO_FILES := $(wildcard proto/gamefleet/v1/*.proto) $(wildcard proto/externalscaler/*.proto) \
	proto/agones/allocation/allocation.proto

.PHONY: install proto proto-check lint typecheck test test-unit check demo demo-down deploy

install: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'
	touch $@

proto: $(VENV_STAMP)
	PATH="$(abspath .venv/bin):$$PATH" $(PYTHON) -m grpc_tools.protoc -Iproto \
		--python_out=proto --grpc_python_out=proto --mypy_out=proto --mypy_grpc_out=proto \
		$(PROTO_FILES)

# Fails when the committed generated code differs from what the .proto files produce.
proto-check: proto
	git diff --exit-code --stat -- proto/ || \
		(echo "generated code is stale: run make proto and commit it" >&2; exit 1)

lint: $(VENV_STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	.venv/bin/lint-imports

typecheck: $(VENV_STAMP)
	$(PYTHON) -m mypy

# The test command: unit, integration and end-to-end (local clusters start on demand).
test: $(VENV_STAMP) cluster-binaries
	$(PYTHON) -m pytest -q -p no:cacheprovider --durations=30

test-unit: $(VENV_STAMP)
	$(PYTHON) -m pytest -q tests/unit

check: lint typecheck proto-check test

# Renders deploy/*.yaml from the Helm charts in charts/ with the pinned helm (built by
# cluster-binaries); tests/unit/deploy/test_charts.py fails when they differ.
deploy: $(VENV_STAMP)
	$(PYTHON) -m tests.localcluster build helm
	$(PYTHON) -m tests.support.charts

-include mk/clusters.mk

# The main job: a hub on its embedded store, two local clusters with agents, a fleet coming up;
# ends by printing how to reach it (gamefleet on PATH, GAMEFLEET_HUB, kubectl and kubeconfigs).
demo: $(VENV_STAMP) cluster-binaries
	$(PYTHON) -m examples.demo up

# Stops the demo's hub and agents, removes namespace demo and the hub's store, and stops the
# local clusters only if `make demo` started them (else `make clusters-down` does).
demo-down:
	$(PYTHON) -m examples.demo down
