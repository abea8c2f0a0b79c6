"""The agent's connection to a real API server trusts the environment only for a proxy:
without one, aiohttp does not read ~/.netrc on every request (a thread hop per write)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.kube import client as kclient
from agent.kube import resources

if TYPE_CHECKING:
    import pytest

    from tests.localcluster.state import Cluster

NAMESPACES = resources.Resource("v1", "namespaces", "Namespace", False)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


async def test_without_a_proxy_the_session_does_not_trust_the_environment(
    local_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    kube = await kclient.KubeClient.connect(str(local_cluster.kubeconfig))
    try:
        default = await kube.get(NAMESPACES, None, "default")
        assert default["metadata"]["name"] == "default"
        assert kube.session().trust_env is False
    finally:
        await kube.close()


async def test_with_a_proxy_in_the_environment_the_session_trusts_it(
    local_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    kube = await kclient.KubeClient.connect(str(local_cluster.kubeconfig))
    try:
        assert kube.session().trust_env is True
    finally:
        await kube.close()
