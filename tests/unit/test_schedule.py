"""Next-run times: intervals, cron in a time zone (across daylight-saving changes), first runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.scanning.schedule import first_run, next_run, spec_key

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "timezone", "after", "expected"),
    [
        ("6h", None, NOON, NOON + timedelta(hours=6)),
        ("90s", None, NOON, NOON + timedelta(seconds=90)),
        ("2d", "Europe/Berlin", NOON, NOON + timedelta(days=2)),
        ("0 3 * * *", "UTC", NOON, datetime(2026, 11, 24, 3, 0, tzinfo=UTC)),
        # 03:00 on Berlin's wall clock: 02:00 UTC in winter (CET), 01:00 UTC in summer (CEST).
        ("0 3 * * *", "Europe/Berlin", NOON, datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
        ("0 3 * * *", "Europe/Berlin", datetime(2026, 7, 1, 12, tzinfo=UTC), datetime(2026, 7, 2, 1, 0, tzinfo=UTC)),
        # The night clocks go forward (29 March 2026): 03:00 Berlin exists and is 01:00 UTC.
        ("0 3 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 29, 1, tzinfo=UTC)),
        ("*/15 * * * *", "UTC", NOON, NOON + timedelta(minutes=15)),
        ("0 0 * * mon", "UTC", NOON, datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),  # 23 Nov 2026 is a Monday
        ("@daily", "America/New_York", NOON, datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
    ],
)
def test_next_run(schedule: str, timezone: str | None, after: datetime, expected: datetime) -> None:
    assert next_run(schedule, timezone, after) == expected


def test_an_interval_runs_at_once_and_a_cron_expression_at_its_time() -> None:
    assert first_run("6h", None, NOON) == NOON
    assert first_run("0 3 * * *", "UTC", NOON) == datetime(2026, 11, 24, 3, tzinfo=UTC)


def test_invalid_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="neither an interval"):
        next_run("every day", None, NOON)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run("6h", None, NOON.replace(tzinfo=None))


def test_the_stored_key_changes_with_schedule_and_zone() -> None:
    assert spec_key("6h", None) != spec_key("6h", "UTC") != spec_key("7h", "UTC")


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    after=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_cron_next_run_is_later_and_within_a_day_and_a_bit(minute: int, hour: int, after: datetime, zone: str) -> None:
    due = next_run(f"{minute} {hour} * * *", zone, after)
    assert after < due <= after + timedelta(days=1, hours=2)
    assert due.tzinfo is not None
