"""Business-hours arithmetic across weekends, holidays, time zones and DST (pure)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handover.calendars import (
    CalendarError,
    add_business_minutes,
    business_minutes_between,
    is_working_time,
    parse_calendar,
)

WEEK = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def cal(tz="UTC", hours=None, holidays=()):
    return parse_calendar(time_zone=tz, working_hours=hours or WEEK, holidays=list(holidays))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_deadline_crosses_the_weekend():
    # Fri 2026-11-20 16:00 + 2 business hours = Mon 2026-11-23 10:00
    assert add_business_minutes(cal(), utc(2026, 11, 20, 16), 120) == utc(2026, 11, 23, 10)


def test_start_outside_hours_starts_at_next_opening():
    assert add_business_minutes(cal(), utc(2026, 11, 21, 12), 30) == utc(2026, 11, 23, 9, 30)
    assert add_business_minutes(cal(), utc(2026, 11, 23, 18), 60) == utc(2026, 11, 24, 10)


def test_holidays_are_skipped():
    c = cal(holidays=["2026-12-24", "2026-12-25"])
    # Wed 23 Dec 16:00 + 2h: 1h on the 23rd, 24th+25th holidays, weekend -> Mon 28th 10:00
    assert add_business_minutes(c, utc(2026, 12, 23, 16), 120) == utc(2026, 12, 28, 10)


def test_time_zone_is_the_calendars_own():
    berlin = cal(tz="Europe/Berlin")  # UTC+1 in November
    # 07:30 UTC = 08:30 Berlin: clock starts 09:00 Berlin (08:00 UTC); +60 -> 09:00 UTC
    assert add_business_minutes(berlin, utc(2026, 11, 23, 7, 30), 60) == utc(2026, 11, 23, 9)
    assert add_business_minutes(cal(tz="Asia/Tokyo"), utc(2026, 11, 23, 7, 30), 60) == utc(
        2026, 11, 24, 0, 30
    )  # 16:30 Tokyo: 30 min today, the other 30 from 09:00 Tokyo (00:00 UTC) next day


def test_dst_change_keeps_wall_clock_hours():
    ny = cal(tz="America/New_York")
    # Fri 2026-03-06 16:00 EST (21:00 UTC) + 2h -> Mon 2026-03-09 10:00 EDT (14:00 UTC)
    start = datetime(2026, 3, 6, 16, tzinfo=ZoneInfo("America/New_York"))
    due = add_business_minutes(ny, start, 120)
    assert due == utc(2026, 3, 9, 14)
    assert due.astimezone(ZoneInfo("America/New_York")).hour == 10


def test_warning_before_the_deadline_goes_back_across_the_weekend():
    assert add_business_minutes(cal(), utc(2026, 11, 23, 9, 30), -60) == utc(2026, 11, 20, 16, 30)


def test_business_minutes_between_counts_only_working_time():
    assert business_minutes_between(cal(), utc(2026, 11, 20, 16), utc(2026, 11, 23, 10)) == 120
    assert business_minutes_between(cal(), utc(2026, 11, 23, 10), utc(2026, 11, 20, 16)) == -120


def test_split_day_and_working_time():
    c = cal(hours={"mon": [["09:00", "12:00"], ["13:00", "17:00"]]})
    assert add_business_minutes(c, utc(2026, 11, 23, 11), 120) == utc(2026, 11, 23, 14)
    assert is_working_time(c, utc(2026, 11, 23, 11))
    assert not is_working_time(c, utc(2026, 11, 23, 12, 30))
    assert not is_working_time(c, utc(2026, 11, 24, 11))


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone"),
        ({"working_hours": {"mon": [["9am", "5pm"]]}}, "working_hours", "not a time"),
        ({"working_hours": {"mon": [["17:00", "09:00"]]}}, "working_hours", "ends before"),
        (
            {"working_hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}},
            "working_hours",
            "overlap",
        ),
        ({"working_hours": {"funday": [["09:00", "17:00"]]}}, "working_hours", "Unknown weekday"),
        ({"working_hours": {}}, "working_hours", "at least one"),
        ({"holidays": ["25/12/2026"]}, "holidays", "not a date"),
    ],
)
def test_invalid_calendars_name_the_field(kwargs, field, words):
    args = {"time_zone": "UTC", "working_hours": WEEK, "holidays": [], **kwargs}
    with pytest.raises(CalendarError) as err:
        parse_calendar(**args)
    assert err.value.field == field
    assert words in str(err.value)


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),  # noqa: DTZ001
    minutes=st.integers(min_value=1, max_value=5000),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_adding_then_measuring_gives_the_same_minutes(start, minutes, tz):
    c = cal(tz=tz, holidays=["2026-12-25", "2027-01-01"])
    begin = start.replace(tzinfo=UTC)
    due = add_business_minutes(c, begin, minutes)
    assert due > begin
    assert business_minutes_between(c, begin, due) == pytest.approx(minutes)
    assert add_business_minutes(c, due, -minutes) >= begin - timedelta(seconds=0)
