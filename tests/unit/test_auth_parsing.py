from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from regscout.registries.auth import granted_actions, jwt_claims, parse_challenge, token_lifetime
from regscout.registries.distribution import retry_after_seconds


def test_bearer_challenge_with_several_scopes_and_host_port_names() -> None:
    header = (
        'Bearer realm="https://auth.example.com:5001/token",service="registry.example.com",'
        'scope="repository:example.com:5000/team/app:pull,push repository:base:pull",error="insufficient_scope"'
    )
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com:5001/token"
    assert challenge.service == "registry.example.com"
    assert challenge.scopes == ["repository:example.com:5000/team/app:pull,push", "repository:base:pull"]
    assert challenge.error == "insufficient_scope"


def test_basic_challenge_and_unquoted_values() -> None:
    challenge = parse_challenge("Basic realm=registry")
    assert challenge is not None and challenge.scheme == "basic" and challenge.realm == "registry"


def test_escaped_quote_inside_value() -> None:
    challenge = parse_challenge(r'Bearer realm="a\"b",service=x')
    assert challenge is not None and challenge.realm == 'a"b' and challenge.service == "x"


def test_empty_header_is_no_challenge() -> None:
    assert parse_challenge(None) is None
    assert parse_challenge("") is None


_value = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=40)
_name = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)


@given(st.dictionaries(_name, _value, max_size=5))
def test_quoted_parameters_round_trip(params: dict[str, str]) -> None:
    header = "Bearer " + ",".join(f'{k}="{v}"' for k, v in params.items())
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.params == params


@given(st.text(max_size=200))
def test_any_header_parses_without_crashing(header: str) -> None:
    challenge = parse_challenge(header)
    assert challenge is None or isinstance(challenge.params, dict)


def _jwt(payload: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJub25lIn0.{body}.sig"


def test_granted_actions_reads_the_access_claim() -> None:
    token = _jwt(
        {
            "access": [
                {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
                {"type": "repository", "name": "other", "actions": ["delete"]},
            ]
        }
    )
    assert granted_actions(jwt_claims(token), "repository", "team/app") == {"pull", "push"}
    assert granted_actions(jwt_claims(token), "repository", "missing") == set()


def test_opaque_or_garbage_tokens_have_no_claims() -> None:
    assert jwt_claims("opaque-token") == {}
    assert jwt_claims("a.!!!.c") == {}
    assert jwt_claims(_jwt(["not", "an", "object"])) == {}


def test_token_lifetime_uses_default_and_margin() -> None:
    assert token_lifetime(None) == 54.0  # 60 s default less 10 %
    assert token_lifetime(300) == 270.0
    assert token_lifetime(3600) == 3570.0  # margin capped at 30 s
    assert token_lifetime(-5) == 54.0


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
