"""Local multi-cluster Kubernetes (etcd + control plane + kwok nodes) for tests and the demo."""

from tests.localcluster.versions import BinaryMissingError, binary_path

__all__ = ["BinaryMissingError", "binary_path"]
