"""The metrics address, the reconcile histogram's buckets, and what a scrape shows per role."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import prometheus_client
import pytest
from gamefleet import listen
from prometheus_client import parser

from hub.api import metrics
from hub.federation.stats import FederationStats, LiveCounts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9465", ("127.0.0.1", 9465)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:9465", ("::1", 9465)),
    ],
)
def test_listen_address_is_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert listen.parse_listen(text) == expected


@pytest.mark.parametrize(
    "text", ["", "9465", ":9465", "host:", "host:http", "host:65536", "::1:9465", "[]:9465"]
)
def test_listen_address_without_host_or_valid_port_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        listen.parse_listen(text)


Value = Callable[..., float | None]


def _registry(
    read: metrics.ReadLive, loop: asyncio.AbstractEventLoop | None = None
) -> prometheus_client.CollectorRegistry:
    registry = prometheus_client.CollectorRegistry()
    registry.register(metrics.LiveCollector(loop or asyncio.get_running_loop(), read))
    return registry


async def _scrape(read: metrics.ReadLive) -> Value:
    """Scrape from another thread, as the HTTP server does, while this loop answers."""
    text = await asyncio.to_thread(prometheus_client.generate_latest, _registry(read))
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parser.text_string_to_metric_families(text.decode())
        for sample in family.samples
    }

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset(labels.items())))

    return value


async def _follower() -> None:
    return None


async def test_a_follower_reports_leader_0_and_no_live_state() -> None:
    value = await _scrape(_follower)

    assert value("gamefleet_hub_leader") == 0
    assert value("gamefleet_hub_fleets") is None
    assert value("gamefleet_hub_reconcile_seconds_count") is None


async def test_a_scrape_on_the_loop_itself_is_refused() -> None:
    with pytest.raises(RuntimeError, match="another thread"):
        prometheus_client.generate_latest(_registry(_follower))


def test_a_closed_loop_leaves_the_live_state_out() -> None:
    loop = asyncio.new_event_loop()
    loop.close()

    text = prometheus_client.generate_latest(_registry(_follower, loop)).decode()

    assert "gamefleet_hub_leader" not in text


async def test_the_leader_reports_its_counts_and_reconcile_buckets() -> None:
    stats = FederationStats(desired_messages=3, status_deltas=7)
    for seconds in (0.0005, 0.003, 0.003, 100.0):
        stats.observe_reconcile(seconds)
    counts = LiveCounts(
        fleets=2,
        sessions=1,
        clusters={("Ready", False): 1, ("Unknown", True): 1},
        game_servers={("Ready", "Allocated"): 4},
        stats=stats,
    )

    async def leader() -> LiveCounts:
        return counts

    value = await _scrape(leader)

    assert value("gamefleet_hub_leader") == 1
    assert (value("gamefleet_hub_fleets"), value("gamefleet_hub_agent_sessions")) == (2, 1)
    assert value("gamefleet_hub_clusters", phase="Ready", cordoned="false") == 1
    assert value("gamefleet_hub_clusters", phase="Ready", cordoned="true") == 0
    assert value("gamefleet_hub_clusters", phase="Unknown", cordoned="true") == 1
    assert value("gamefleet_hub_game_servers", state="Ready", ops_state="Allocated") == 4
    assert value("gamefleet_hub_desired_set_messages_total") == 3
    assert value("gamefleet_hub_status_deltas_total") == 7
    bucket = "gamefleet_hub_reconcile_seconds_bucket"
    assert value(bucket, le="0.0005") == 1  # an upper bound is inclusive
    assert value(bucket, le="0.001") == 1
    assert value(bucket, le="0.005") == 3
    assert value(bucket, le="10.0") == 3
    assert value(bucket, le="+Inf") == 4
    assert value("gamefleet_hub_reconcile_seconds_count") == 4
    assert value("gamefleet_hub_reconcile_seconds_sum") == pytest.approx(100.0065)
