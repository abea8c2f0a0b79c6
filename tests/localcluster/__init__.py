"""Local multi-cluster Kubernetes (etcd + control plane + kwok nodes) for tests and the demo."""
