# Local Kubernetes clusters for tests and the demo (see docs/local-clusters.md).
# Included by the main Makefile; also usable alone: make -f mk/clusters.mk clusters
# A cluster's state (kubeconfig, pki, logs, data) lives in .local/clusters/<name>/ of this
# checkout; GAMEFLEET_CLUSTERS_DIR=DIR puts it elsewhere (every target, the tests and the demo
# read it). GAMEFLEET_CACHE=DIR moves the binary cache (default ~/.cache/gamefleet).
PYTHON ?= .venv/bin/python
CLUSTERS ?= 2
NODES ?= 3
CLUSTER_RUNTIME ?= binary

.PHONY: clusters clusters-down clusters-env cluster-binaries

## Build the pinned etcd, kube-apiserver/controller-manager/scheduler, kubectl and kwok (cached).
cluster-binaries:
	$(PYTHON) -m tests.localcluster build

## Start $(CLUSTERS) clusters with $(NODES) simulated nodes each (reuses healthy ones); ends with
## the shell lines for kubectl (eval "$$(make -s clusters-env)"; JSON: python -m tests.localcluster status).
clusters: $(if $(filter binary,$(CLUSTER_RUNTIME)),cluster-binaries)
	$(PYTHON) -m tests.localcluster up --count $(CLUSTERS) --nodes $(NODES) --runtime $(CLUSTER_RUNTIME)

## Print the shell lines that put the pinned kubectl on PATH and every cluster in KUBECONFIG.
clusters-env:
	@$(PYTHON) -m tests.localcluster env

## Stop EVERY local cluster of this checkout (also those the demo or a test session uses) and
## remove its data.
clusters-down:
	$(PYTHON) -m tests.localcluster down
