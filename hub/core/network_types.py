"""Names of the OpenKruiseGame network plugins a GameServerSet may ask for."""

from __future__ import annotations

KUBERNETES_NETWORK_TYPES: frozenset[str] = frozenset(
    {
        "Kubernetes-HostPort",
        "Kubernetes-NodePort",
        "Kubernetes-Ingress",
    }
)

CLOUD_NETWORK_TYPES: frozenset[str] = frozenset(
    {
        "AlibabaCloud-SLB",
        "AlibabaCloud-NLB",
        "AlibabaCloud-Multi-NLBs",
        "AlibabaCloud-AutoNLBs",
        "AlibabaCloud-NATGW",
        "AlibabaCloud-EIP",
        "AlibabaCloud-SLB-SharedPort",
        "AlibabaCloud-NLB-SharedPort",
        "AmazonWebServices-NLB",
        "TencentCloud-CLB",
        "Volcengine-CLB",
        "Volcengine-EIP",
        "HwCloud-ELB",
        "HwCloud-CCE-ELB",
        "HwCloud-CCE-EIP",
        "JdCloud-NLB",
        "JdCloud-EIP",
    }
)

NETWORK_TYPES: frozenset[str] = KUBERNETES_NETWORK_TYPES | CLOUD_NETWORK_TYPES

# As error messages list them: Kubernetes' own first, then the clouds', each alphabetically.
ORDERED_NETWORK_TYPES: tuple[str, ...] = (
    *sorted(KUBERNETES_NETWORK_TYPES),
    *sorted(CLOUD_NETWORK_TYPES),
)
