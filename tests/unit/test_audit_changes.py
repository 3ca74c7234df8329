"""What the audit log records of a change: the fields that differ, a secret only as "changed", and the times its
filters read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regscout.secrets import REDACTED, Secret
from regscout.services.audit import (
    SECRET_CHANGED,
    AuditEntry,
    changed_fields,
    created_fields,
    deleted_fields,
    filters_from_text,
    is_secret_key,
    parse_moment,
    scrub,
)

MARK = "§"  # every generated secret holds it and no other generated value does, so any occurrence is a leak
ALPHABET = st.characters(exclude_characters=MARK, codec="utf-8")
plain_text = st.text(alphabet=ALPHABET, max_size=20)
# Shorter than any live secret (Secret registers values of 4 characters or more for redaction), so that no secret
# another test made can be found in one and redacted.
short_text = st.text(alphabet=ALPHABET, max_size=3)
plain_names = plain_text.filter(lambda name: not is_secret_key(name))
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | short_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(plain_names, children, max_size=3),
    max_leaves=8,
)
secret_text = st.builds(lambda a, b: a + MARK + b, plain_text, plain_text)
secret_values = secret_text | st.builds(Secret, secret_text) | st.dictionaries(plain_text, secret_text, min_size=1)
SECRET_NAMES = ("password", "secret", "token", "key", "authorization", "secret_ciphertext", "api_key", "robot_token")
secret_names = st.sampled_from(SECRET_NAMES)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record with plain fields, secret-named fields and secrets nested in plain fields' objects."""
    fields: dict[str, Any] = draw(st.dictionaries(plain_names, plain_values, max_size=4))
    fields.update(draw(st.dictionaries(secret_names, secret_values, max_size=3)))
    nested = draw(st.dictionaries(secret_names, secret_values, max_size=2))
    if nested:
        fields[draw(plain_names)] = nested
    return fields


@given(records(), records())
def test_no_secret_value_is_ever_in_the_changes(before: dict[str, Any], after: dict[str, Any]) -> None:
    changes = changed_fields(before, after)
    assert MARK not in json.dumps(changes, ensure_ascii=False)
    for name, change in changes.items():
        if is_secret_key(name):
            assert change == SECRET_CHANGED
    assert MARK not in json.dumps(scrub({"before": before, "after": after}), ensure_ascii=False)


@given(st.dictionaries(plain_names, plain_values, max_size=5), st.dictionaries(plain_names, plain_values, max_size=5))
def test_every_plain_field_that_differs_and_no_other(before: dict[str, Any], after: dict[str, Any]) -> None:
    changes = changed_fields(before, after)
    differing = {name for name in {*before, *after} if before.get(name) != after.get(name)}
    assert set(changes) == differing
    for name in differing:
        assert changes[name] == {"from": before.get(name), "to": after.get(name)}


def test_a_secret_shows_whether_it_changed_only() -> None:
    before = {"url": "https://a", "secret": "ciphertext-1", "username": "bob"}
    after = {"url": "https://b", "secret": "ciphertext-2", "username": "bob"}
    expected = {"url": {"from": "https://a", "to": "https://b"}, "secret": {"changed": True}}
    assert changed_fields(before, after) == expected
    assert changed_fields(before, before) == {}
    # something new or deleted: the fields that hold a value (False and 0 are values)
    fields = {"description": "", "ca": None, "hosts": [], "insecure": False, "retries": 0, "secret": "ciphertext"}
    assert created_fields(fields) == {
        "insecure": {"from": None, "to": False},
        "retries": {"from": None, "to": 0},
        "secret": {"changed": True},
    }
    assert deleted_fields(fields) == {
        "insecure": {"from": False, "to": None},
        "retries": {"from": 0, "to": None},
        "secret": {"changed": True},
    }
    # a field made secret by the caller, and a secret inside a plain field's object
    assert changed_fields({"pin": "1"}, {"pin": "2"}, secret_keys={"pin"}) == {"pin": {"changed": True}}
    assert changed_fields({}, {"options": {"token": "t0ps3cret", "region": "eu"}}) == {
        "options": {"from": None, "to": {"token": REDACTED, "region": "eu"}}
    }


def test_scrub_redacts_live_secrets_in_text_and_makes_values_json_ready() -> None:
    live = Secret("a-live-secret-value")
    assert scrub({"message": "login with a-live-secret-value failed"}) == {"message": f"login with {REDACTED} failed"}
    assert scrub({"value": live, "when": datetime(2026, 5, 1, tzinfo=UTC), "hosts": ("a", "b")}) == {
        "value": REDACTED,
        "when": "2026-05-01T00:00:00+00:00",
        "hosts": ["a", "b"],
    }


def test_change_lines_say_what_changed() -> None:
    entry = AuditEntry(
        id=1,
        at=datetime(2026, 5, 1, tzinfo=UTC),
        actor_kind="cli",
        actor="ana",
        source="local",
        action="integration.update",
        target="lab",
        changes={"url": {"from": None, "to": "https://b"}, "secret": {"changed": True}, "records": 3},
    )
    assert entry.change_lines() == ["url: — → https://b", "secret: changed", "records: 3"]
    assert json.loads(entry.model_dump_json())["at"] == "2026-05-01T00:00:00Z"


def test_times_are_iso_dates_or_date_times_in_utc() -> None:
    assert parse_moment("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_moment("2026-05-01", end_of_day=True) == datetime(2026, 5, 2, tzinfo=UTC)
    assert parse_moment("2026-05-01T12:30") == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert parse_moment("2026-05-01T14:30+02:00") == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert parse_moment("  ") is None and parse_moment(None) is None
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        parse_moment("yesterday")
    filters = filters_from_text(actor=" ana ", action="", target=None, since="2026-05-01", until="2026-05-01")
    assert filters == {
        "actor": "ana",
        "action": None,
        "target": None,
        "since": datetime(2026, 5, 1, tzinfo=UTC),
        "until": datetime(2026, 5, 2, tzinfo=UTC),
    }
