"""When a Schedule policy is active, and when that can next change.

Active means: within `between` (from `start`, unset: always; until `end`, unset: forever) and,
with a `startCron`, inside a window that starts at one of its times (read in `timezone`) and
lasts `duration` of elapsed time; without a duration, a window lasts until `between.end` and
counts only if it started at or after `between.start`.
"""

from __future__ import annotations

import dataclasses

from gamefleet.v1 import autoscaler_pb2

from . import cron
from .durations import parse_duration


@dataclasses.dataclass(frozen=True)
class Window:
    """A validated schedule, in epoch seconds."""

    start: float | None
    end: float | None
    cron: cron.Cron | None
    zone: str
    duration: float | None

    @classmethod
    def of(cls, schedule: autoscaler_pb2.SchedulePolicy) -> Window:
        """The schedule's window; CronError or DurationError on a field validation refuses."""
        between, period = schedule.between, schedule.active_period
        start = between.start.ToNanoseconds() / 1e9 if between.HasField("start") else None
        end = between.end.ToNanoseconds() / 1e9 if between.HasField("end") else None
        cron.zone(period.timezone)
        parsed = cron.parse(period.start_cron) if period.start_cron.strip() else None
        duration = parse_duration(period.duration) if period.duration.strip() else None
        return cls(start, end, parsed, period.timezone, duration)

    def active(self, now: float) -> bool:
        if (self.start is not None and now < self.start) or (
            self.end is not None and now >= self.end
        ):
            return False
        if self.cron is None:
            return True
        began = cron.previous_start(self.cron, now, cron.zone(self.zone))
        if began is None:
            return False
        if self.duration is None:
            return self.start is None or began >= self.start
        return now < began + self.duration

    def next_change(self, now: float) -> float | None:
        """The first time after ``now`` at which ``active`` may change, or None."""
        times = [t for t in (self.start, self.end) if t is not None and t > now]
        if self.cron is not None:
            tz = cron.zone(self.zone)
            upcoming = cron.next_start(self.cron, now, tz)
            if upcoming is not None:
                times.append(upcoming)
            began = cron.previous_start(self.cron, now, tz)
            if began is not None and self.duration is not None and began + self.duration > now:
                times.append(began + self.duration)
        return min(times) if times else None
