"""Cron expressions and Schedule windows, in time zones and across DST changes."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from gamefleet.v1 import autoscaler_pb2

from hub.core import documents
from hub.core.autoscaling import cron
from hub.core.autoscaling.durations import DurationError, parse_duration
from hub.core.autoscaling.schedule import Window

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = datetime.UTC


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: object = UTC) -> float:
    assert isinstance(tz, datetime.tzinfo)
    return datetime.datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


def local(instant: float | None, tz: zoneinfo.ZoneInfo) -> str:
    assert instant is not None
    return datetime.datetime.fromtimestamp(instant, tz).isoformat()


@pytest.mark.parametrize(
    ("expression", "minutes", "hours", "days", "weekdays"),
    [
        ("*/15 * * * *", (0, 15, 30, 45), tuple(range(24)), None, None),
        ("0 18-23 * * MON-FRI", (0,), (18, 19, 20, 21, 22, 23), None, {1, 2, 3, 4, 5}),
        ("30 2 1,15 * *", (30,), (2,), {1, 15}, None),
        ("0 0 * * 7", (0,), (0,), None, {0}),
        ("@daily", (0,), (0,), None, None),
        ("5 4-10/3 * jan sun", (5,), (4, 7, 10), None, {0}),
    ],
)
def test_cron_fields(
    expression: str,
    minutes: tuple[int, ...],
    hours: tuple[int, ...],
    days: set[int] | None,
    weekdays: set[int] | None,
) -> None:
    parsed = cron.parse(expression)
    assert parsed.minutes == minutes
    assert parsed.hours == hours
    if days is not None:
        assert parsed.days == days
    if weekdays is not None:
        assert parsed.weekdays == weekdays


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields"),
        ("60 * * * *", "minute: 60 is not from 0 to 59"),
        ("* 24 * * *", "hour: 24 is not from 0 to 23"),
        ("* * 0 * *", "day of month: 0 is not from 1 to 31"),
        ("* * * 13 *", "month: 13 is not from 1 to 12"),
        ("* * * * MOO", 'day of week: "MOO" is not a number'),
        ("*/0 * * * *", 'minute: step "0" must be a positive number'),
        ("10-5 * * * *", 'minute: range "10-5" ends before it starts'),
    ],
)
def test_cron_refuses_naming_the_field(expression: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=message):
        cron.parse(expression)


def test_both_day_fields_restricted_match_either_as_cron_does() -> None:
    parsed = cron.parse("0 0 13 * FRI")
    assert parsed.matches_day(datetime.date(2025, 6, 13))  # a Friday the 13th
    assert parsed.matches_day(datetime.date(2025, 6, 6))  # a Friday
    assert parsed.matches_day(datetime.date(2025, 5, 13))  # a Tuesday the 13th
    assert not parsed.matches_day(datetime.date(2025, 6, 7))


def test_starts_are_wall_clock_times_of_the_zone() -> None:
    daily = cron.parse("0 18 * * *")
    winter = cron.next_start(daily, at(2025, 1, 10, 12), PARIS)
    summer = cron.next_start(daily, at(2025, 7, 10, 12), PARIS)
    assert local(winter, PARIS) == "2025-01-10T18:00:00+01:00"
    assert local(summer, PARIS) == "2025-07-10T18:00:00+02:00"
    assert winter == at(2025, 1, 10, 17)
    assert summer == at(2025, 7, 10, 16)


def test_a_time_the_clocks_skip_does_not_start_that_day() -> None:
    # Europe/Paris springs forward on 2025-03-30: 02:00 -> 03:00.
    nightly = cron.parse("30 2 * * *")
    start = cron.next_start(nightly, at(2025, 3, 29, 12, tz=PARIS), PARIS)
    assert local(start, PARIS) == "2025-03-31T02:30:00+02:00"
    before = cron.previous_start(nightly, at(2025, 3, 30, 23, tz=PARIS), PARIS)
    assert local(before, PARIS) == "2025-03-29T02:30:00+01:00"


def test_a_time_that_happens_twice_starts_once_at_its_first_occurrence() -> None:
    # Europe/Paris falls back on 2025-10-26: 03:00 -> 02:00, so 02:30 happens twice.
    nightly = cron.parse("30 2 * * *")
    start = cron.next_start(nightly, at(2025, 10, 25, 12, tz=PARIS), PARIS)
    assert local(start, PARIS) == "2025-10-26T02:30:00+02:00"
    after = cron.next_start(nightly, start or 0.0, PARIS)
    assert local(after, PARIS) == "2025-10-27T02:30:00+01:00"
    second_occurrence = (start or 0.0) + 3600
    assert cron.previous_start(nightly, second_occurrence, PARIS) == start


def test_new_york_evening_window_across_the_spring_change() -> None:
    # America/New_York springs forward on 2025-03-09.
    evenings = cron.parse("0 19 * * *")
    saturday = cron.next_start(evenings, at(2025, 3, 8, 12, tz=NEW_YORK), NEW_YORK)
    sunday = cron.next_start(evenings, saturday or 0.0, NEW_YORK)
    assert local(saturday, NEW_YORK) == "2025-03-08T19:00:00-05:00"
    assert local(sunday, NEW_YORK) == "2025-03-09T19:00:00-04:00"
    assert (sunday or 0.0) - (saturday or 0.0) == 23 * 3600


def test_february_29th_is_found_years_ahead() -> None:
    leap = cron.parse("0 0 29 2 *")
    found = cron.next_start(leap, at(2025, 3, 1, 0), zoneinfo.ZoneInfo("UTC"))
    assert local(found, zoneinfo.ZoneInfo("UTC")) == "2028-02-29T00:00:00+00:00"


def schedule(**fields: object) -> autoscaler_pb2.SchedulePolicy:
    doc = {"policy": {"type": "Buffer", "buffer": {"bufferSize": 1, "maxReplicas": 5}}, **fields}
    return documents.from_document(doc, autoscaler_pb2.SchedulePolicy)


def test_window_is_active_for_its_duration_after_each_start() -> None:
    window = Window.of(
        schedule(
            activePeriod={"timezone": "Europe/Paris", "startCron": "0 18 * * *", "duration": "4h"}
        )
    )
    assert not window.active(at(2025, 7, 10, 17, 59, tz=PARIS))
    assert window.active(at(2025, 7, 10, 18, 0, tz=PARIS))
    assert window.active(at(2025, 7, 10, 21, 59, tz=PARIS))
    assert not window.active(at(2025, 7, 10, 22, 0, tz=PARIS))
    assert window.active(at(2025, 7, 11, 1, 0, tz=PARIS)) is False
    assert window.next_change(at(2025, 7, 10, 12, tz=PARIS)) == at(2025, 7, 10, 18, tz=PARIS)
    assert window.next_change(at(2025, 7, 10, 19, tz=PARIS)) == at(2025, 7, 10, 22, tz=PARIS)


def test_window_duration_is_elapsed_time_across_a_dst_change() -> None:
    # 4 h from 00:00 on the spring-forward night in Paris ends at 05:00 local, not 04:00.
    window = Window.of(
        schedule(
            activePeriod={"timezone": "Europe/Paris", "startCron": "0 0 * * *", "duration": "4h"}
        )
    )
    assert window.active(at(2025, 3, 30, 4, 30, tz=PARIS))
    assert not window.active(at(2025, 3, 30, 5, 0, tz=PARIS))


def test_window_between_bounds_and_an_open_duration() -> None:
    window = Window.of(
        schedule(
            between={"start": "2025-07-01T00:00:00Z", "end": "2025-07-31T00:00:00Z"},
            activePeriod={"startCron": "0 12 * * *"},
        )
    )
    assert not window.active(at(2025, 6, 30, 13))
    assert not window.active(at(2025, 7, 1, 11))  # no start since between.start yet
    assert window.active(at(2025, 7, 1, 12))
    assert window.active(at(2025, 7, 15, 3))  # no duration: until between.end
    assert not window.active(at(2025, 7, 31, 0))
    assert window.next_change(at(2025, 7, 15, 3)) == at(2025, 7, 15, 12)


def test_window_without_cron_is_the_between_range() -> None:
    window = Window.of(schedule(between={"end": "2025-07-31T00:00:00Z"}))
    assert window.active(at(2020, 1, 1, 0))
    assert not window.active(at(2025, 7, 31, 0))
    assert window.next_change(at(2025, 7, 1, 0)) == at(2025, 7, 31, 0)
    assert window.next_change(at(2025, 8, 1, 0)) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1d", "h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
