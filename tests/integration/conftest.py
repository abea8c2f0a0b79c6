"""Integration tests run against the real Kubernetes API: see the `local_clusters` fixture."""
