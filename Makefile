PYTHON ?= .venv/bin/python
PROTO_FILES := $(wildcard proto/gamefleet/v1/*.proto)

.PHONY: install proto proto-check lint typecheck test test-unit demo

install:
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[dev]'

proto:
	PATH="$(abspath .venv/bin):$$PATH" $(PYTHON) -m grpc_tools.protoc -Iproto --python_out=proto --grpc_python_out=proto \
		--mypy_out=proto --mypy_grpc_out=proto $(PROTO_FILES)

# Fails when the committed generated code differs from what the .proto files produce.
proto-check: proto
	git diff --exit-code -- proto/ || (echo "generated code is stale: run make proto and commit" >&2; exit 1)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	.venv/bin/lint-imports

typecheck:
	$(PYTHON) -m mypy

test:
	$(PYTHON) -m pytest -q

test-unit:
	$(PYTHON) -m pytest -q tests/unit

-include mk/clusters.mk
