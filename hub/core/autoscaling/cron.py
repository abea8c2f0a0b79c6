"""Five-field cron expressions read in a time zone: when each schedule window starts.

`minute hour day-of-month month day-of-week`, each field `*`, a number, a range `a-b`, a step
`*/n` or `a-b/n`, or a comma list of those; months and weekdays also by name (JAN, SUN);
weekday 0 and 7 are Sunday. As in standard cron, when both day fields are restricted a day
matches either. The descriptors @yearly, @annually, @monthly, @weekly, @daily, @midnight and
@hourly are accepted.

Times are wall-clock times in the zone, so "0 18 * * *" is 18:00 local on every day of the
year, in summer and winter time. Across a DST change: a wall-clock time the clocks skip (02:30
on the spring-forward night in Europe) does not happen, so that day has no start at it; a
wall-clock time that happens twice (the fall-back night) starts once, at its first occurrence.
"""

from __future__ import annotations

import dataclasses
import datetime
import zoneinfo
from collections.abc import Iterator

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# How far a search for the next or previous start looks: a start on February 29 may be eight
# years away (across a century that is not a leap year).
SEARCH_DAYS = 8 * 366


class CronError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    # 0 = Sunday, as cron counts.
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches_day(self, day: datetime.date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return by_weekday
        if self.any_weekday:
            return by_day
        return by_day or by_weekday


def _number(text: str, low: int, high: int, names: tuple[str, ...], base: int) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + base
    if not text.isdigit():
        raise CronError(f'"{text}" is not a number from {low} to {high}')
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{value} is not from {low} to {high}")
    return value


def _field(
    text: str, low: int, high: int, what: str, names: tuple[str, ...] = (), base: int = 0
) -> tuple[set[int], bool]:
    """The values a field allows, and whether it was `*` (unrestricted)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f'{what}: step "{step_text}" must be a positive number')
            step = int(step_text)
        if span == "*":
            first, last = low, high
            star = star or not slash
        elif "-" in span:
            start, _, end = span.partition("-")
            try:
                first = _number(start, low, high, names, base)
                last = _number(end, low, high, names, base)
            except CronError as exc:
                raise CronError(f"{what}: {exc}") from None
            if last < first:
                raise CronError(f'{what}: range "{span}" ends before it starts')
        else:
            try:
                first = _number(span, low, high, names, base)
            except CronError as exc:
                raise CronError(f"{what}: {exc}") from None
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values, star


def parse(expression: str) -> Cron:
    """The schedule ``expression`` describes; CronError naming the field that is wrong."""
    text = _DESCRIPTORS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(
            f'"{expression}" must have 5 fields (minute hour day-of-month month day-of-week)'
        )
    minutes, _ = _field(fields[0], 0, 59, "minute")
    hours, _ = _field(fields[1], 0, 23, "hour")
    days, any_day = _field(fields[2], 1, 31, "day of month")
    months, _ = _field(fields[3], 1, 12, "month", _MONTHS, 1)
    weekdays, any_weekday = _field(fields[4], 0, 7, "day of week", _WEEKDAYS)
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    return Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(weekdays),
        any_day=any_day,
        any_weekday=any_weekday,
    )


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name`` ("" is UTC); CronError when unknown."""
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CronError(f'"{name}" is not an IANA time zone such as "Europe/Paris"') from None


def _instant(day: datetime.date, hour: int, minute: int, tz: zoneinfo.ZoneInfo) -> float | None:
    """The epoch second of a wall-clock time in ``tz``: None if the clocks skip it, the first
    occurrence if it happens twice."""
    wall = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
    instant = wall.timestamp()
    back = datetime.datetime.fromtimestamp(instant, tz)
    if (back.hour, back.minute) != (hour, minute):
        return None
    return instant


def _starts(cron: Cron, day: datetime.date, tz: zoneinfo.ZoneInfo) -> Iterator[float]:
    """The day's starts in time order."""
    for hour in cron.hours:
        for minute in cron.minutes:
            instant = _instant(day, hour, minute, tz)
            if instant is not None:
                yield instant


def next_start(cron: Cron, after: float, tz: zoneinfo.ZoneInfo) -> float | None:
    """The first start strictly after ``after`` (epoch seconds), or None within the horizon."""
    day = datetime.datetime.fromtimestamp(after, tz).date() - datetime.timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if cron.matches_day(day):
            for instant in _starts(cron, day, tz):
                if instant > after:
                    return instant
        day += datetime.timedelta(days=1)
    return None


def previous_start(cron: Cron, at: float, tz: zoneinfo.ZoneInfo) -> float | None:
    """The last start at or before ``at`` (epoch seconds), or None within the horizon."""
    day = datetime.datetime.fromtimestamp(at, tz).date() + datetime.timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if cron.matches_day(day):
            for instant in reversed(list(_starts(cron, day, tz))):
                if instant <= at:
                    return instant
        day -= datetime.timedelta(days=1)
    return None
