"""The kinds the agent reads and writes, and their API paths."""

from __future__ import annotations

import dataclasses
import urllib.parse

from okg import vocabulary


@dataclasses.dataclass(frozen=True)
class Resource:
    """One namespaced (or cluster-scoped) kind."""

    group_version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.group_version

    def prefix(self) -> str:
        if "/" in self.group_version:
            return f"/apis/{self.group_version}"
        return f"/api/{self.group_version}"

    def collection(self, namespace: str | None) -> str:
        """Path of the collection, across namespaces when `namespace` is None."""
        if self.namespaced and namespace:
            return f"{self.prefix()}/namespaces/{urllib.parse.quote(namespace)}/{self.plural}"
        return f"{self.prefix()}/{self.plural}"

    def item(self, namespace: str | None, name: str, subresource: str = "") -> str:
        path = f"{self.collection(namespace)}/{urllib.parse.quote(name)}"
        return f"{path}/{subresource}" if subresource else path


GAME_SERVER_SET = Resource(vocabulary.API_VERSION, "gameserversets", "GameServerSet")
GAME_SERVER = Resource(vocabulary.API_VERSION, "gameservers", "GameServer")
GAME_SERVER_ALLOCATION = Resource(
    "allocation.gamefleet.io/v1", "gameserverallocations", "GameServerAllocation"
)
POD = Resource("v1", "pods", "Pod")
EVENT = Resource("v1", "events", "Event")
LEASE = Resource("coordination.k8s.io/v1", "leases", "Lease")
CRD = Resource(
    "apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", False
)
SERVICE = Resource("v1", "services", "Service")
CONFIG_MAP = Resource("v1", "configmaps", "ConfigMap")
PERSISTENT_VOLUME_CLAIM = Resource("v1", "persistentvolumeclaims", "PersistentVolumeClaim")
PERSISTENT_VOLUME = Resource("v1", "persistentvolumes", "PersistentVolume", False)
NODE = Resource("v1", "nodes", "Node", False)
NAMESPACE = Resource("v1", "namespaces", "Namespace", False)
POD_DISRUPTION_BUDGET = Resource("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget")
INGRESS = Resource("networking.k8s.io/v1", "ingresses", "Ingress")
# AmazonWebServices-NLB: the AWS controllers' custom resources (served only where installed).
TARGET_GROUP = Resource("elbv2.services.k8s.aws/v1alpha1", "targetgroups", "TargetGroup")
LISTENER = Resource("elbv2.services.k8s.aws/v1alpha1", "listeners", "Listener")
TARGET_GROUP_BINDING = Resource(
    "elbv2.k8s.aws/v1beta1", "targetgroupbindings", "TargetGroupBinding"
)
# AlibabaCloud-EIP and -NATGW: what Alibaba Cloud's network controller reports per pod.
POD_EIP = Resource("alibabacloud.com/v1beta1", "podeips", "PodEIP")
POD_DNAT = Resource("alibabacloud.com/v1beta1", "poddnats", "PodDNAT")
# Global addresses for AmazonWebServices-NLB: the aws-load-balancer-controller's accelerators.
GLOBAL_ACCELERATOR = Resource("aga.k8s.aws/v1beta1", "globalaccelerators", "GlobalAccelerator")
# Global addresses for GoogleCloud-NLB: Config Connector's global proxy load balancer objects.
_CNRM = "compute.cnrm.cloud.google.com/v1beta1"
COMPUTE_ADDRESS = Resource(_CNRM, "computeaddresses", "ComputeAddress")
COMPUTE_HEALTH_CHECK = Resource(_CNRM, "computehealthchecks", "ComputeHealthCheck")
COMPUTE_BACKEND_SERVICE = Resource(_CNRM, "computebackendservices", "ComputeBackendService")
COMPUTE_TCP_PROXY = Resource(_CNRM, "computetargettcpproxies", "ComputeTargetTCPProxy")
COMPUTE_FORWARDING_RULE = Resource(_CNRM, "computeforwardingrules", "ComputeForwardingRule")
