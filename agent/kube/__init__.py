"""Kubernetes access for the agent: the only package that imports `kubernetes`.

Modules: `client` (requests, errors, write counting), `cache` (list+watch caches),
`leader` (Lease-based leader election), `crds` (install the CRDs), `events` (event recorder),
`resources` (API paths of the kinds the agent touches).
"""
