"""Business-hours maths: pure functions, no database.

A calendar is a time zone, working intervals per weekday (local wall-clock times) and holiday
dates. SLA deadlines are "N business minutes after the start": the clock runs only inside the
working intervals of non-holiday days, in the calendar's own time zone (so DST shifts and
weekends fall out of the wall-clock maths).
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

from handover.rules import RuleError

WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# No calendar may need more than ten years to fit a deadline: a guard against a calendar with
# (almost) no working time left after its holidays.
_MAX_DAYS: Final = 3660

DEFAULT_WORKING_HOURS: Final[dict[str, list[list[str]]]] = {
    day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]
}


class CalendarError(RuleError):
    """An invalid calendar; ``field`` names the bad part."""


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    hours: Mapping[int, tuple[tuple[time, time], ...]]  # weekday (Mon=0) -> sorted intervals
    holidays: frozenset[date]

    def intervals_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals of ``day`` as aware UTC datetimes (none on holidays)."""
        if day in self.holidays:
            return
        for start, end in self.hours.get(day.weekday(), ()):
            local_start = datetime.combine(day, start, tzinfo=self.tz)
            local_end = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
                if end == time(0)
                else datetime.combine(day, end, tzinfo=self.tz)
            )
            yield local_start.astimezone(UTC), local_end.astimezone(UTC)


def _parse_time(value: Any, field: str) -> time:
    if not isinstance(value, str):
        raise CalendarError(_not_a_time(value), field=field)
    if value == "24:00":
        return time(0)
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise CalendarError(_not_a_time(value), field=field) from None


def _not_a_time(value: Any) -> str:
    return _("%(value)s is not a time like '09:00'.") % {"value": repr(value)}


def parse_calendar(
    *, time_zone: str, working_hours: Mapping[str, Any], holidays: Sequence[Any]
) -> BusinessCalendar:
    """Validate and build a calendar. Raises CalendarError naming the field and the problem."""
    try:
        tz = ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(
            _("Unknown time zone %(zone)s.") % {"zone": repr(time_zone)}, field="time_zone"
        ) from None
    if not isinstance(working_hours, Mapping):
        raise CalendarError(
            _("Working hours must map weekdays (mon..sun) to intervals."), field="working_hours"
        )
    unknown = sorted(set(working_hours) - set(WEEKDAYS))
    if unknown:
        raise CalendarError(
            # Translators: both placeholders are lists of weekday keys (mon, tue, ...)
            _("Unknown weekday(s) %(unknown)s; use %(weekdays)s.")
            % {"unknown": ", ".join(map(str, unknown)), "weekdays": ", ".join(WEEKDAYS)},
            field="working_hours",
        )
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for index, day in enumerate(WEEKDAYS):
        raw = working_hours.get(day) or []
        intervals: list[tuple[time, time]] = []
        for interval in raw:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                raise CalendarError(
                    # Translators: %(day)s is a weekday key (mon, tue, ...)
                    _("%(day)s: each interval is a pair like ['09:00', '17:00'].") % {"day": day},
                    field="working_hours",
                )
            start = _parse_time(interval[0], "working_hours")
            end = _parse_time(interval[1], "working_hours")
            if end != time(0) and end <= start:
                raise CalendarError(
                    _("%(day)s: interval %(start)s–%(end)s ends before it starts.")
                    % {"day": day, "start": interval[0], "end": interval[1]},
                    field="working_hours",
                )
            intervals.append((start, end))
        intervals.sort()
        for (_first, prev_end), (start, _end) in zip(intervals, intervals[1:], strict=False):
            if prev_end == time(0) or start < prev_end:
                raise CalendarError(
                    _("%(day)s: intervals overlap.") % {"day": day}, field="working_hours"
                )
        hours[index] = tuple(intervals)
    if not any(hours.values()):
        raise CalendarError(
            _("A calendar needs at least one working interval."), field="working_hours"
        )
    parsed: set[date] = set()
    for value in holidays or []:
        try:
            parsed.add(date.fromisoformat(str(value)))
        except ValueError:
            raise CalendarError(
                _("Holiday %(value)s is not a date like '2026-12-25'.") % {"value": repr(value)},
                field="holidays",
            ) from None
    return BusinessCalendar(tz=tz, hours=hours, holidays=frozenset(parsed))


def _days_from(cal: BusinessCalendar, moment: datetime, step: int) -> Iterator[date]:
    day = moment.astimezone(cal.tz).date() - timedelta(days=step)  # one day of slack for DST
    for _step in range(_MAX_DAYS):
        yield day
        day += timedelta(days=step)


def add_business_minutes(cal: BusinessCalendar, start: datetime, minutes: float) -> datetime:
    """The moment ``minutes`` of working time after ``start`` (negative: before it)."""
    if minutes < 0:
        return _subtract(cal, start, -minutes)
    remaining = timedelta(minutes=minutes)
    for day in _days_from(cal, start, 1):
        for begin, end in cal.intervals_on(day):
            if end <= start:
                continue
            begin = max(begin, start)
            if remaining <= end - begin:
                if remaining == timedelta(0):
                    return begin
                return begin + remaining
            remaining -= end - begin
    raise CalendarError(_("The calendar has no working time left to fit this."), field="holidays")


def _subtract(cal: BusinessCalendar, end_at: datetime, minutes: float) -> datetime:
    remaining = timedelta(minutes=minutes)
    for day in _days_from(cal, end_at, -1):
        for begin, end in reversed(list(cal.intervals_on(day))):
            if begin >= end_at:
                continue
            end = min(end, end_at)
            if remaining <= end - begin:
                return end - remaining
            remaining -= end - begin
    raise CalendarError(_("The calendar has no working time left to fit this."), field="holidays")


def business_minutes_between(cal: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Working minutes from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    if end < start:
        return -business_minutes_between(cal, end, start)
    total = timedelta(0)
    day = start.astimezone(cal.tz).date() - timedelta(days=1)
    last = end.astimezone(cal.tz).date() + timedelta(days=1)
    while day <= last:
        for begin, finish in cal.intervals_on(day):
            overlap = min(finish, end) - max(begin, start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60


def is_working_time(cal: BusinessCalendar, at: datetime) -> bool:
    local_day = at.astimezone(cal.tz).date()
    return any(
        begin <= at < end
        for day in (local_day - timedelta(days=1), local_day)
        for begin, end in cal.intervals_on(day)
    )
