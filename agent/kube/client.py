"""A thin asyncio client over `kubernetes.aio`: raw JSON in and out, writes counted.

The official client loads the kubeconfig (or the in-cluster service account) and owns the
connection pool; requests go through its REST layer with plain dicts, so a list of thousands of
pods is parsed once by `json` and never turned into model objects.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import os
import urllib.parse
from typing import TYPE_CHECKING, Any

import tenacity
from gamefleet import telemetry
from kubernetes.aio import client as k8s_client
from kubernetes.aio import config as k8s_config

from agent.core import bodies

from . import resources

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Mapping

Obj = bodies.Json
"""A Kubernetes object or any JSON body, as parsed by `json`."""

FIELD_MANAGER = "gamefleet-agent"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_log = logging.getLogger(__name__)
# A 429 (priority and fairness shedding load, or a watch cache still "(re)initializing" after
# a start or a CRD change) means the request was not served: it is retried, for this long at
# most, waiting as the server's Retry-After says (capped) or with exponential backoff.
TOO_MANY_REQUESTS_RETRY_S = 30.0
RETRY_AFTER_CAP_S = 5.0


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, body: Obj | None, text: str = "") -> None:
        self.status = status
        self.body = body or {}
        self.reason = str(self.body.get("reason", ""))
        self.message = str(self.body.get("message", text))
        super().__init__(f"{status} {self.reason}: {self.message}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def too_many_requests(self) -> bool:
        return self.status == 429

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (its Status details' retryAfterSeconds)."""
        details = self.body.get("details")
        seconds = details.get("retryAfterSeconds") if isinstance(details, dict) else None
        return float(seconds) if isinstance(seconds, int | float) and seconds > 0 else None


_backoff = tenacity.wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.1)


def _retry_wait_for(failed: ApiError) -> float:
    asked = failed.retry_after
    return min(asked, RETRY_AFTER_CAP_S) if asked is not None else 0.1


def _retry_wait(state: tenacity.RetryCallState) -> float:
    failed = state.outcome.exception() if state.outcome is not None else None
    if isinstance(failed, ApiError) and failed.retry_after is not None:
        return _retry_wait_for(failed)
    return float(_backoff(state))


def _too_many_requests(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.too_many_requests


async def unless_gone(call: Awaitable[Obj]) -> Obj | None:
    """Run a write; None when the object is gone already (404) or is not the one meant any
    more (409: a uid or resourceVersion precondition, or it exists). Other errors raise."""
    try:
        return await call
    except ApiError as exc:
        if exc.not_found or exc.conflict:
            return None
        raise


class WriteCounter:
    """Counts the API writes the agent makes, by verb and kind."""

    def __init__(self) -> None:
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def add(self, verb: str, kind: str) -> None:
        self.counts[(verb, kind)] += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return {f"{verb} {kind}": n for (verb, kind), n in sorted(self.counts.items())}


def proxy_in_environment(environ: Mapping[str, str]) -> bool:
    """Whether the environment names an HTTP(S) proxy (aiohttp's trust_env then matters)."""
    return any(
        environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
    )


class KubeClient:
    """Requests against one cluster's API server."""

    def __init__(self, api: Any, configuration: Any, *, max_writes_in_flight: int = 64) -> None:
        self._api = api
        self._cfg = configuration
        self._host = str(configuration.host).rstrip("/")
        self.writes = WriteCounter()
        self.requests = 0
        self.retry_429_for = TOO_MANY_REQUESTS_RETRY_S
        self._write_slots = asyncio.Semaphore(max_writes_in_flight)

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None = None) -> KubeClient:
        """Load a kubeconfig file, or the in-cluster service account when `kubeconfig` is None."""
        cfg = k8s_client.Configuration()
        if kubeconfig:
            await k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=cfg
            )
        else:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.connection_pool_maxsize = 128
        # aiohttp with trust_env reads ~/.netrc in a worker thread on every request (5% of the
        # agent's CPU during an allocation burst); the environment matters only for a proxy.
        cfg.client_session_kwargs = {"trust_env": proxy_in_environment(os.environ)}
        api = k8s_client.ApiClient(cfg)
        return cls(api, cfg)

    async def close(self) -> None:
        await self._api.close()

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        auth = await self._cfg.auth_settings()
        token = auth.get("BearerToken")
        if token and token.get("value"):
            headers["authorization"] = str(token["value"])
        return headers

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = ""
        if params:
            query = "?" + urllib.parse.urlencode(
                {k: _param(v) for k, v in params.items() if v is not None}
            )
        return f"{self._host}{path}{query}"

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The full URL of an API path."""
        return self._url(path, params)

    async def auth_headers(self) -> dict[str, str]:
        """Headers carrying this client's credentials (for WebSocket requests)."""
        headers = await self._headers(None)
        headers.pop("Accept", None)
        return headers

    def session(self) -> Any:
        """The aiohttp session of the connection pool (TLS and client certificate applied)."""
        rest = self._api.rest_client
        if rest.pool_manager is None:
            rest.pool_manager = rest._create_pool_manager()
        return rest.pool_manager

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: object = None,
        content_type: str | None = None,
        seconds: float = 60.0,
    ) -> Obj:
        """Send one request; returns the parsed body or raises ApiError. A 429 is retried
        (for up to `TOO_MANY_REQUESTS_RETRY_S`): the server did not serve it."""
        call = functools.partial(
            self._request_once, method, path, params=params, body=body,
            content_type=content_type, seconds=seconds,
        )  # fmt: skip
        try:
            return await call()
        except ApiError as exc:
            if not exc.too_many_requests or self.retry_429_for <= 0:
                raise
            first = exc
        _log.debug("429 %s %s: %s; retrying", method, path, first.message)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_delay(self.retry_429_for),
            wait=_retry_wait,
            retry=tenacity.retry_if_exception(_too_many_requests),
            reraise=True,
        )
        await asyncio.sleep(_retry_wait_for(first))
        result: Obj = await retrying(call)
        return result

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        body: object,
        content_type: str | None,
        seconds: float,
    ) -> Obj:
        self.requests += 1
        # The REST layer encodes the body as JSON (apply patches too: JSON is YAML).
        data: object = body
        resp = await self._api.rest_client.request(
            method,
            self._url(path, params),
            headers=await self._headers(content_type or ("application/json" if body else None)),
            body=data,
            _request_timeout=seconds,
        )
        raw = await resp.read()
        parsed: Obj | None = None
        try:
            loaded = json.loads(raw) if raw else {}
            parsed = loaded if isinstance(loaded, dict) else {"items": loaded}
        except ValueError:
            parsed = None
        if resp.status >= 400:
            raise ApiError(resp.status, parsed, raw.decode(errors="replace")[:500])
        return parsed or {}

    async def write(
        self,
        verb: str,
        resource: resources.Resource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: object = None,
        content_type: str | None = None,
    ) -> Obj:
        """A request that changes state: counted, limited in parallel, and traced when made
        for a traced call."""
        async with self._write_slots:
            self.writes.add(verb, resource.kind)
            attributes = {"http.request.method": method, "url.path": path}
            with telemetry.child_span(f"kubernetes {verb} {resource.kind}", attributes):
                return await self.request(
                    method, path, params=params, body=body, content_type=content_type
                )

    async def watch_lines(
        self, path: str, params: Mapping[str, Any], seconds: float
    ) -> AsyncIterator[Obj]:
        """Stream a watch: one parsed event per line, until the server closes it."""
        self.requests += 1
        resp = await self._api.rest_client.request(
            "GET",
            self._url(path, {**params, "watch": "true"}),
            headers=await self._headers(None),
            _request_timeout=seconds,
        )
        response = resp.response
        try:
            if resp.status >= 400:
                raw = await response.read()
                parsed = json.loads(raw) if raw else None
                raise ApiError(resp.status, parsed if isinstance(parsed, dict) else None)
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while (cut := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:cut], buffer[cut + 1 :]
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release()

    # Typed helpers for the verbs the agent uses.

    async def get(self, resource: resources.Resource, namespace: str | None, name: str) -> Obj:
        return await self.request("GET", resource.item(namespace, name))

    async def create(self, resource: resources.Resource, namespace: str | None, obj: Obj) -> Obj:
        return await self.write(
            "create",
            resource,
            "POST",
            resource.collection(namespace),
            params={"fieldManager": FIELD_MANAGER},
            body=obj,
            content_type="application/json",
        )

    async def patch(
        self,
        resource: resources.Resource,
        namespace: str | None,
        name: str,
        patch: object,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str = "",
    ) -> Obj:
        return await self.write(
            f"patch{'/' + subresource if subresource else ''}",
            resource,
            "PATCH",
            resource.item(namespace, name, subresource),
            params={"fieldManager": FIELD_MANAGER},
            body=patch,
            content_type=content_type,
        )

    async def apply(
        self, resource: resources.Resource, namespace: str | None, obj: Obj, *, force: bool = True
    ) -> Obj:
        """Server-side apply with field manager `gamefleet-agent`."""
        name = str(obj["metadata"]["name"])
        return await self.write(
            "apply",
            resource,
            "PATCH",
            resource.item(namespace, name),
            params={"fieldManager": FIELD_MANAGER, "force": "true" if force else None},
            body=obj,
            content_type=APPLY_PATCH,
        )

    async def delete(
        self,
        resource: resources.Resource,
        namespace: str | None,
        name: str,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
    ) -> Obj:
        """Delete, only if the object still has this uid (and resourceVersion) when given."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        preconditions: Obj = {}
        if uid:
            preconditions["uid"] = uid
        if resource_version:
            preconditions["resourceVersion"] = resource_version
        if preconditions:
            body["preconditions"] = preconditions
        return await self.write(
            "delete",
            resource,
            "DELETE",
            resource.item(namespace, name),
            body=body,
            content_type="application/json",
        )


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
