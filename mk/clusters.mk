# Local Kubernetes clusters for tests and the demo (see docs/local-clusters.md).
# Included by the main Makefile; also usable alone: make -f mk/clusters.mk clusters
PYTHON ?= .venv/bin/python
CLUSTERS ?= 2
NODES ?= 3
CLUSTER_RUNTIME ?= binary

.PHONY: clusters clusters-down cluster-binaries

## Build the pinned etcd, kube-apiserver/controller-manager/scheduler, kubectl and kwok (cached).
cluster-binaries:
	$(PYTHON) -m tests.localcluster build

## Start $(CLUSTERS) clusters with $(NODES) simulated nodes each (reuses healthy ones).
clusters: $(if $(filter binary,$(CLUSTER_RUNTIME)),cluster-binaries)
	$(PYTHON) -m tests.localcluster up --count $(CLUSTERS) --nodes $(NODES) --runtime $(CLUSTER_RUNTIME)

## Stop every local cluster this checkout started and remove its data.
clusters-down:
	$(PYTHON) -m tests.localcluster down
