"""Which fleet change an ApplyFleet call traced: state in, state out."""

from __future__ import annotations

from hub.federation.traces import ApplyTraces

KEY = ("games", "arena")
CALL = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_change_seen_after_the_call_stored_it_is_the_call_s_once() -> None:
    traces = ApplyTraces()
    traces.expect(KEY, CALL)
    traces.stored(KEY, CALL, 7)
    traces.changed(KEY, 6)  # an older change, still on its way
    assert traces.take(KEY) == ""
    traces.changed(KEY, 7)
    assert traces.take(KEY) == CALL
    assert traces.take(KEY) == ""


def test_a_change_seen_while_the_call_is_storing_is_the_call_s() -> None:
    traces = ApplyTraces()
    traces.expect(KEY, CALL)
    traces.changed(KEY, 7)
    traces.stored(KEY, CALL, 7)
    assert traces.take(KEY) == CALL


def test_a_call_that_stored_nothing_leaves_no_trace_to_continue() -> None:
    traces = ApplyTraces()
    traces.expect(KEY, CALL)
    traces.stored(KEY, CALL, None)
    traces.changed(KEY, 8)
    assert traces.take(KEY) == ""


def test_untraced_calls_note_nothing_and_a_later_call_replaces_an_earlier_one() -> None:
    traces = ApplyTraces()
    traces.expect(KEY, "")
    traces.changed(KEY, 3)
    assert traces.take(KEY) == ""
    traces.expect(KEY, CALL)
    traces.expect(KEY, OTHER)
    traces.stored(KEY, CALL, 4)  # the earlier call's store: the later one's entry stays
    traces.stored(KEY, OTHER, 5)
    traces.changed(KEY, 4)
    assert traces.take(KEY) == ""
    traces.changed(KEY, 5)
    assert traces.take(KEY) == OTHER
