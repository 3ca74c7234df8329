"""Link headers as vendor APIs send them (RFC 8288): the next page is found, and only the next page."""

from __future__ import annotations

import httpx
import pytest

from regscout.registries.vendor_api import next_link


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (['</api/v2.0/projects?page=2&page_size=10>; rel="next"'], "/api/v2.0/projects?page=2&page_size=10"),
        (['<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"'], "https://a/x?page=3"),
        (['<https://gitlab/p?page=1>; rel="first", <https://gitlab/p?page=9>; rel="last"'], None),
        (
            ["<https://api.github.com/orgs/o/packages?page=2>; rel=next"],
            "https://api.github.com/orgs/o/packages?page=2",
        ),
        (['<https://a/x?page=2>; rel="next last"'], "https://a/x?page=2"),
        (['<https://a/x?page=2>; title="n"; REL="Next"'], "https://a/x?page=2"),  # relation types ignore case
        (['<https://a/x?page=1>; rel="prev"', '<https://a/x?page=2>; rel="next"'], "https://a/x?page=2"),
        ([], None),
        (["garbage without brackets; rel=next"], None),
    ],
)
def test_next_link(values: list[str], expected: str | None) -> None:
    headers = httpx.Headers([("Link", value) for value in values])
    assert next_link(headers) == expected
