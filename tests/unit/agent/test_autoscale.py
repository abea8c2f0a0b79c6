"""OKG's external scaler formulas."""

from __future__ import annotations

import pytest

from agent.core import autoscale

Config = autoscale.ScalerConfig
Input = autoscale.ScalerInput


@pytest.mark.parametrize(
    ("config", "observed", "expected"),
    [
        pytest.param(Config(), Input(5, 5, 2, 0), 5, id="nothing-to-do"),
        pytest.param(Config(min_available="3"), Input(5, 5, 1, 0), 7, id="absolute-min"),
        pytest.param(Config(min_available="3"), Input(5, 5, 1, 2), 7, id="min-before-wtbd"),
        pytest.param(Config(min_available="3"), Input(5, 5, 3, 2), 3, id="remove-wtbd"),
        pytest.param(
            Config(min_available="5", max_available="3"), Input(5, 5, 1, 0), 7, id="min-capped"
        ),
        pytest.param(Config(max_available="2"), Input(10, 10, 5, 0), 7, id="max-shrinks"),
        pytest.param(Config(max_available="2"), Input(10, 10, 5, 1), 9, id="wtbd-before-max"),
        # total 10, none 2, ratio 0.5: delta = (5 - 2) / 0.5 = 6, minNum = 8 -> 10 + 8 - 2
        pytest.param(Config(min_available="0.5"), Input(10, 10, 2, 0), 16, id="ratio"),
        pytest.param(Config(min_available="0.2"), Input(10, 10, 5, 0), 10, id="ratio-satisfied"),
        pytest.param(Config(min_available="0"), Input(0, 0, 0, 0), 0, id="zero"),
        pytest.param(Config(min_available="1.5"), Input(0, 0, 0, 0), 2, id="fraction-rounds-up"),
        pytest.param(
            Config(min_available="3", scale_down_threshold="2"),
            Input(6, 6, 0, 3),
            3,
            id="threshold-beats-min",
        ),
        pytest.param(
            Config(min_available="3", scale_down_threshold="3"),
            Input(6, 6, 0, 3),
            9,
            id="threshold-not-exceeded",
        ),
        pytest.param(
            Config(min_available="3", scale_down_threshold="0.25"),
            Input(8, 8, 0, 3),
            5,
            id="threshold-ratio",
        ),
        # 3 of 6 is not more than half: the usual order (scale up to minAvailable first).
        pytest.param(
            Config(min_available="2", scale_down_threshold="0.5"),
            Input(6, 6, 0, 3),
            8,
            id="threshold-ratio-not-exceeded",
        ),
        # A count is rounded up, as OKG does: 2.5 -> 3, and 3 WaitToBeDeleted do not exceed it.
        pytest.param(
            Config(min_available="2", scale_down_threshold="2.5"),
            Input(6, 6, 0, 3),
            8,
            id="threshold-rounds-up",
        ),
        # Past the threshold the result counts from the live servers, not spec.replicas.
        pytest.param(
            Config(scale_down_threshold="1"), Input(4, 6, 1, 3), 3, id="threshold-from-total"
        ),
        # ... and minAvailable (capped by maxAvailable) is its floor.
        pytest.param(
            Config(min_available="5", scale_down_threshold="1"),
            Input(6, 6, 1, 3),
            5,
            id="threshold-floored-by-min",
        ),
        pytest.param(
            Config(min_available="5", max_available="4", scale_down_threshold="1"),
            Input(6, 6, 1, 3),
            4,
            id="threshold-floor-capped-by-max",
        ),
        pytest.param(Config(), Input(1, 3, 0, 3), 0, id="never-negative"),
    ],
)
def test_desired_replicas(config: Config, observed: Input, expected: int) -> None:
    assert autoscale.desired_replicas(config, observed) == expected


def test_ratio_uses_okg_32_bit_parsing_and_two_decimal_rounding() -> None:
    # 0.3 as float32 is 0.30000001: delta = (10 * 0.3 - 0) / 0.7 = 4.2857 -> 4.29 -> 5.
    assert autoscale.min_none("0.3", 10, 0) == 5
    # 0.99 as float32 is 0.9900000095: delta = 5247.0055 -> 5247.01 -> 5248 (64-bit gives 5247).
    assert autoscale.min_none("0.99", 53, 0) == 5248


@pytest.mark.parametrize(
    ("config", "current", "wtbd", "expected"),
    [
        (Config(min_available="1"), 0, 0, True),
        (Config(), 3, 3, False),
        (Config(), 3, 2, True),
        (Config(min_available="0"), 0, 0, False),
    ],
)
def test_is_active(config: Config, current: int, wtbd: int, expected: bool) -> None:
    assert autoscale.is_active(config, current, wtbd) is expected


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (Config(min_available="-1"), "minAvailable"),
        (Config(min_available="abc"), "minAvailable"),
        (Config(min_available="inf"), "minAvailable"),
        (Config(min_available="1e100"), "minAvailable"),
        (Config(scale_down_threshold="0"), "scaleDownThreshold"),
        (Config(scale_down_threshold="x"), "scaleDownThreshold"),
        (Config(scale_down_threshold="-0.5"), "scaleDownThreshold"),
        (Config(max_available="oops"), "maxAvailable"),
        (Config(max_available="2.5"), "maxAvailable"),
        (Config(max_available="-1"), "maxAvailable"),
    ],
)
def test_invalid_config_names_the_key(config: Config, key: str) -> None:
    with pytest.raises(autoscale.ScalerConfigError) as caught:
        autoscale.desired_replicas(config, Input(1, 1, 1, 0))
    assert caught.value.key == key
    with pytest.raises(autoscale.ScalerConfigError) as caught:
        autoscale.validate(config)
    assert caught.value.key == key


def test_from_metadata_reads_okg_keys_and_ignores_the_rest() -> None:
    metadata = {
        "scalerAddress": "gamefleet-agent-scaler.gamefleet-system:6000",
        "minAvailable": "0.3",
        "maxAvailable": "10",
        "scaleDownThreshold": "5",
    }
    assert Config.from_metadata(metadata) == Config("0.3", "10", "5")
    assert Config.from_metadata({}) == Config()
    autoscale.validate(Config.from_metadata(metadata))


def test_observe_counts_the_servers_that_stay() -> None:
    Server = autoscale.Server
    servers = [
        Server("None", leaving=False),
        Server("None", leaving=False),
        Server("None", leaving=True),
        Server("Allocated", leaving=False),
        Server("WaitToBeDeleted", leaving=False),
        Server("WaitToBeDeleted", leaving=True),
        Server("Maintaining", leaving=False),
        Server("Custom", leaving=False),
    ]
    assert autoscale.observe(7, servers) == Input(replicas=7, total=6, none=2, wait_to_be_deleted=1)
    assert autoscale.observe(0, []) == Input(0, 0, 0, 0)
