"""The console's view helpers: times, severity badges, bookmarkable query strings, safe redirects, embedded JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.web.auth import safe_next
from regscout.web.pages.dashboard import script_json
from regscout.web.templating import ago, query, severity_class, when

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=3, seconds=59), "3 min ago"),
        (timedelta(hours=2, minutes=59), "2 h ago"),
        (timedelta(days=5, hours=23), "5 d ago"),
        (timedelta(seconds=-30), "in the future"),
    ],
)
def test_ago_says_the_largest_whole_unit(delta: timedelta, text: str) -> None:
    assert ago(NOW - delta, NOW) == text


def test_when_is_utc_whatever_the_zone() -> None:
    berlin = datetime(2026, 12, 4, 13, 15, tzinfo=UTC).astimezone()
    assert when(berlin) == "2026-12-04 13:15 UTC"
    assert when(None) == "—"


def test_severity_badges_know_every_level_and_default_to_unknown() -> None:
    assert severity_class("CRITICAL") == "sev sev-critical"
    assert severity_class("high") == "sev sev-high"
    assert severity_class("bogus") == severity_class(None) == "sev sev-unknown"


def test_query_changes_one_filter_and_drops_empty_ones() -> None:
    params = {"registry": "lab", "severity": "HIGH", "page": "3"}
    changed = parse_qs(query(params, page=None, sort="critical")[1:])
    assert changed == {"registry": ["lab"], "severity": ["HIGH"], "sort": ["critical"]}
    assert query({}, page=None) == "?"


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5))
def test_query_round_trips_any_filters(params: dict[str, str]) -> None:
    kept = {k: v for k, v in params.items() if v}
    assert {k: v[0] for k, v in parse_qs(query(params)[1:], keep_blank_values=True).items()} == kept


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/images?severity=HIGH", "/images?severity=HIGH"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
        (None, "/"),
        ("images", "/"),
    ],
)
def test_sign_in_returns_only_to_paths_of_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target) == safe


@given(st.text(max_size=200))
def test_embedded_json_never_closes_its_script_element(text: str) -> None:
    embedded = script_json({"label": text})
    assert "<" not in embedded and json.loads(embedded) == {"label": text}
