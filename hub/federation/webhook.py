"""The hub's side of a Webhook policy: POST the fleet's review, read the replicas back."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import aiohttp
from gamefleet.v1 import autoscaler_pb2

from hub.core.autoscaling import review
from hub.core.autoscaling.demand import FleetSnapshot

DEFAULT_TIMEOUT_S = 5.0


class WebhookError(Exception):
    """The webhook did not give a usable answer in time."""


class WebhookClient:
    """One HTTP client for every webhook the autoscalers call (opened on first use)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[bytes, ssl.SSLContext] = {}

    async def review(
        self, webhook: autoscaler_pb2.WebhookPolicy, snapshot: FleetSnapshot, maximum: int
    ) -> int | None:
        """The total the webhook asks for, or None when it says not to scale; WebhookError on
        a timeout, a refused connection, a status other than 200 or an unusable answer."""
        timeout = DEFAULT_TIMEOUT_S
        if webhook.HasField("timeout"):
            timeout = webhook.timeout.ToTimedelta().total_seconds()
        uid = str(uuid.uuid4())
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with (
                asyncio.timeout(timeout),
                self._session.post(
                    webhook.url, json=review.request(uid, snapshot), ssl=self._ssl(webhook)
                ) as response,
            ):
                if response.status != 200:
                    raise WebhookError(f"{webhook.url} answered HTTP {response.status}")
                body = await response.content.read(review.MAX_ANSWER_BYTES)
        except TimeoutError:
            raise WebhookError(f"{webhook.url} did not answer within {timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise WebhookError(f"{webhook.url}: {exc or type(exc).__name__}") from None
        try:
            return review.answer(uid, body, maximum)
        except review.ReviewError as exc:
            raise WebhookError(f"{webhook.url}: {exc}") from None

    def _ssl(self, webhook: autoscaler_pb2.WebhookPolicy) -> ssl.SSLContext | bool:
        if not webhook.ca_bundle:
            return True
        context = self._contexts.get(webhook.ca_bundle)
        if context is None:
            context = ssl.create_default_context(cadata=webhook.ca_bundle.decode("ascii"))
            self._contexts[webhook.ca_bundle] = context
        return context

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
