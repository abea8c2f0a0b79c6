"""Store URL parsing."""

from __future__ import annotations

import pytest

from hub.store import _etcd_rpc, url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqlite:///var/lib/gamefleet/hub.db", url.SqliteUrl("/var/lib/gamefleet/hub.db")),
        ("sqlite:hub.db", url.SqliteUrl("hub.db")),
        ("sqlite:data/hub.db?synchronous=normal", url.SqliteUrl("data/hub.db", "normal")),
        ("sqlite:///x.db?history=50", url.SqliteUrl("/x.db", history=50)),
        (
            "etcd://10.0.0.1:2379",
            url.EtcdUrl((_etcd_rpc.Endpoint("10.0.0.1", 2379),), "/gamefleet/"),
        ),
        (
            "etcd://a:1,b/prod",
            url.EtcdUrl((_etcd_rpc.Endpoint("a", 1), _etcd_rpc.Endpoint("b", 2379)), "/prod/"),
        ),
        ("etcd://[::1]:2379/x/y/", url.EtcdUrl((_etcd_rpc.Endpoint("[::1]", 2379),), "/x/y/")),
    ],
)
def test_valid_urls(text: str, expected: url.SqliteUrl | url.EtcdUrl) -> None:
    assert url.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("hub.db", "no scheme"),
        ("postgres://x", "unknown scheme 'postgres'"),
        ("sqlite://host/hub.db", "host 'host'"),
        ("sqlite://", "missing database file path"),
        ("sqlite:///data/", "missing database file path"),
        ("sqlite:///x.db?synchronous=off", "synchronous='off'"),
        ("sqlite:///x.db?history=0", "history='0'"),
        ("sqlite:///x.db?mode=ro", "unknown query parameter 'mode'"),
        ("etcd://", "missing etcd endpoint"),
        ("etcd://a:1,,b:2", "endpoint ''"),
        ("etcd://a:b", "endpoint 'a:b'"),
        ("etcd://a:70000", "endpoint 'a:70000' has port out of range"),
        ("etcd://a:1?x=1", "no query"),
    ],
)
def test_invalid_urls_name_the_wrong_part(text: str, names: str) -> None:
    with pytest.raises(ValueError, match="store URL") as raised:
        url.parse(text)

    message = str(raised.value)
    assert names in message
    assert "\n" not in message
