"""Where players reach a server, from OKG's networkStatus, as Agones' allocation answers it."""

from __future__ import annotations

from okg.endpoints import Endpoints, endpoints


def test_external_addresses_win_and_every_address_is_listed() -> None:
    status = {
        "externalAddresses": [
            {"ip": "203.0.113.7", "ports": [{"name": "game", "port": 7001.0}]},
            {"endPoint": "lb.example.com", "ports": [{"name": "voice", "port": "7002"}]},
        ],
        "internalAddresses": [{"ip": "10.0.0.5", "ports": [{"name": "game", "port": 7777}]}],
    }
    assert endpoints(status) == Endpoints(
        address="203.0.113.7",
        addresses=(
            ("ExternalIP", "203.0.113.7"),
            ("ExternalDNS", "lb.example.com"),
            ("InternalIP", "10.0.0.5"),
        ),
        ports=(("game", 7001), ("voice", 7002)),
    )


def test_internal_addresses_without_external_ones() -> None:
    status = {"internalAddresses": [{"ip": "10.0.0.5", "ports": [{"name": "p", "port": 7777}]}]}
    assert endpoints(status) == Endpoints("10.0.0.5", (("InternalIP", "10.0.0.5"),), (("p", 7777),))


def test_a_load_balancer_name_is_the_address_without_an_ip() -> None:
    status = {"externalAddresses": [{"endPoint": "lb.example.com", "ports": []}]}
    assert endpoints(status).address == "lb.example.com"


def test_nothing_reported_and_malformed_entries_give_nothing() -> None:
    assert endpoints({}) == Endpoints()
    malformed = {
        "externalAddresses": "x",
        "internalAddresses": [
            1,
            {"ip": "10.0.0.5", "ports": [{"port": True}, {"port": 0}, {"port": 1.5}, "p"]},
        ],
    }
    assert endpoints(malformed) == Endpoints("10.0.0.5", (("InternalIP", "10.0.0.5"),), ())


def test_a_port_listed_twice_is_answered_once() -> None:
    port = {"name": "game", "port": 7000}
    status = {
        "externalAddresses": [
            {"ip": "198.51.100.1", "ports": [port]},
            {"ip": "198.51.100.2", "ports": [port]},
        ]
    }
    assert endpoints(status).ports == (("game", 7000),)
