"""Ports on shared load balancers: once per load balancer, deterministic, rebuilt from records."""

from __future__ import annotations

import pytest

from agent.core.network import lbports

RANGE = (500, 504)


def test_lowest_free_ports_on_the_first_load_balancer_with_room() -> None:
    table = lbports.LbPortTable()
    first = table.allocate(("ns", "gs-0"), ["lb-a", "lb-b"], 2, RANGE)
    second = table.allocate(("ns", "gs-1"), ["lb-a", "lb-b"], 2, RANGE)
    third = table.allocate(("ns", "gs-2"), ["lb-a", "lb-b"], 2, RANGE)
    assert (first.lb_id, first.ports) == ("lb-a", (500, 501))
    assert (second.lb_id, second.ports) == ("lb-a", (502, 503))
    # lb-a has one port left: the next server spills over to lb-b.
    assert (third.lb_id, third.ports) == ("lb-b", (500, 501))


def test_balanced_picks_the_load_balancer_with_most_free_ports() -> None:
    table = lbports.LbPortTable()
    picks = [
        table.allocate(("ns", f"gs-{i}"), ["lb-a", "lb-b"], 1, RANGE, balanced=True).lb_id
        for i in range(4)
    ]
    assert picks == ["lb-a", "lb-b", "lb-a", "lb-b"]


def test_blocked_ports_are_never_handed_out() -> None:
    table = lbports.LbPortTable()
    got = table.allocate(("ns", "gs-0"), ["lb"], 3, RANGE, blocked=[500, 502])
    assert got.ports == (501, 503, 504)


def test_a_port_is_held_across_sets_and_namespaces_sharing_a_load_balancer() -> None:
    table = lbports.LbPortTable()
    table.observe(("other", "x-0"), lbports.Allocation("lb", (500, 501), "uid-x"))
    got = table.allocate(("ns", "gs-0"), ["lb"], 1, RANGE)
    assert got.ports == (502,)


def test_no_room_anywhere_is_an_error_naming_the_load_balancers() -> None:
    table = lbports.LbPortTable()
    table.allocate(("ns", "gs-0"), ["lb"], 5, RANGE)
    with pytest.raises(lbports.NoCapacityError, match="no load balancer of lb has 1 free ports"):
        table.allocate(("ns", "gs-1"), ["lb"], 1, RANGE)


def test_a_deleted_service_frees_its_ports_but_a_reservation_survives_an_old_delete() -> None:
    table = lbports.LbPortTable()
    table.observe(("ns", "gs-0"), lbports.Allocation("lb", (500,), "old"))
    table.release(("ns", "gs-0"), "old")
    assert table.taken("lb") == set()
    # A reservation for the next Service of the same name is not freed by a late DELETED event.
    table.allocate(("ns", "gs-0"), ["lb"], 1, RANGE)
    table.release(("ns", "gs-0"), "old")
    assert table.taken("lb") == {500}
    table.forget(("ns", "gs-0"))
    assert table.taken("lb") == set()


def test_a_record_is_kept_on_a_load_balancer_the_set_no_longer_lists() -> None:
    table = lbports.LbPortTable()
    table.observe(("ns", "gs-0"), lbports.Allocation("lb-old", (600,), "uid"))
    got = table.allocate(("ns", "gs-0"), ["lb-new"], 1, RANGE)
    assert (got.lb_id, got.ports) == ("lb-old", (600,))


def test_a_record_of_another_port_count_is_replaced() -> None:
    table = lbports.LbPortTable()
    table.observe(("ns", "gs-0"), lbports.Allocation("lb", (500,), "uid"))
    got = table.allocate(("ns", "gs-0"), ["lb"], 2, RANGE)
    assert got.ports == (500, 501)
    assert table.taken("lb") == {500, 501}
