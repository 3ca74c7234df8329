"""OpenVEX (v0.2.0) documents into acceptances: statuses, time order, OCI and package products, errors."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regscout.policy import evaluate
from regscout.policy.vex import VexError, parse_openvex
from tests.unit.test_policy_support import DIGEST, LOG4J, OPENSSL, REQUESTS, finding, policy, subject

# The spec's example (openvex/spec OPENVEX-SPEC.md, "Example"), with the @context of v0.2.0.
SPRING = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://openvex.dev/docs/public/vex-2e67563e128250cbcb3e98930df948dd053e43271d70dc50cfa22d57e03fe96f",
    "author": "Spring Builds <spring-builds@users.noreply.github.com>",
    "role": "Project Release Bot",
    "timestamp": "2023-01-16T19:07:16.853479631-06:00",
    "version": 1,
    "statements": [
        {
            "vulnerability": {
                "@id": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
                "name": "CVE-2021-44228",
                "description": "Remote code injection in Log4j",
                "aliases": ["GHSA-jfh8-c2jp-5v3q"],
            },
            "products": [
                {
                    "@id": "pkg:maven/org.springframework.boot/spring-boot@2.6.0-M3",
                    "identifiers": {"purl": "pkg:maven/org.springframework.boot/spring-boot@2.6.0-M3"},
                    "hashes": {"sha-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                }
            ],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": "Spring Boot users are only affected if they switched the logging system to Log4J2.",
        }
    ],
}


def doc(*statements: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "Example Security",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": list(statements),
        **top,
    }


def statement(
    status: str = "not_affected", name: str = "CVE-2024-0001", products: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vulnerability": {"name": name},
        "products": products if products is not None else [{"@id": "pkg:deb/debian/libssl3@3.0.1-1"}],
        "status": status,
        **extra,
    }
    if status == "not_affected" and "justification" not in extra and "impact_statement" not in extra:
        body["justification"] = "vulnerable_code_not_present"
    return body


def test_the_spec_example() -> None:
    result = parse_openvex(json.dumps(SPRING))
    (a,) = result.acceptances
    assert (a.vulnerability, a.aliases, a.scope) == ("CVE-2021-44228", ["GHSA-jfh8-c2jp-5v3q"], "everywhere")
    assert a.purls == ["pkg:maven/org.springframework.boot/spring-boot@2.6.0-M3"]
    assert (a.vex_status, a.justification) == ("not_affected", "vulnerable_code_not_in_execute_path")
    assert a.reason.startswith("VEX not_affected: vulnerable_code_not_in_execute_path (Spring Boot users")
    assert a.by == "Spring Builds <spring-builds@users.noreply.github.com>"
    assert a.source == f"openvex {SPRING['@id']}"
    assert a.created == datetime(2023, 1, 17, 1, 7, 16, 853479, tzinfo=UTC)
    assert result.skipped == ()


@pytest.mark.parametrize(
    ("status", "accepted"),
    [("not_affected", True), ("fixed", True), ("affected", False), ("under_investigation", False)],
)
def test_statuses(status: str, accepted: bool) -> None:
    extra = {"action_statement": "upgrade"} if status == "affected" else {}
    result = parse_openvex(doc(statement(status, **extra)))
    assert bool(result.acceptances) is accepted
    if accepted:
        assert result.acceptances[0].vex_status == status


def test_the_latest_statement_decides() -> None:
    early = statement("not_affected", timestamp="2026-01-01T00:00:00Z")
    late = statement("affected", timestamp="2026-02-01T00:00:00Z", action_statement="upgrade")
    assert parse_openvex(doc(early, late)).acceptances == ()
    assert len(parse_openvex(doc(late, early)).acceptances) == 0  # order in the document does not matter, time does
    fixed_later = statement("fixed", timestamp="2026-03-01T00:00:00Z")
    (a,) = parse_openvex(doc(early, late, fixed_later)).acceptances
    assert a.vex_status == "fixed"
    # without timestamps (inherited from the document), the later statement in the document wins
    (b,) = parse_openvex(doc(statement("under_investigation"), statement("fixed"))).acceptances
    assert b.vex_status == "fixed"
    assert parse_openvex(doc(statement("fixed"), statement("under_investigation"))).acceptances == ()


def test_oci_products_scope_to_the_image_or_the_repository() -> None:
    digest_purl = f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?repository_url=ghcr.io/team/app"
    image = statement(products=[{"@id": digest_purl, "subcomponents": [{"@id": "pkg:deb/debian/libssl3"}]}])
    (a,) = parse_openvex(doc(image)).acceptances
    assert (a.scope, a.digest, a.registry, a.repository, a.purls) == (
        "image",
        DIGEST,
        "ghcr.io",
        "team/app",
        ["pkg:deb/debian/libssl3"],
    )
    repo = statement(products=[{"identifiers": {"purl": "pkg:oci/app?repository_url=ghcr.io/team/app"}}])
    (b,) = parse_openvex(doc(repo)).acceptances
    assert (b.scope, b.registry, b.repository, b.purls) == ("repository", "ghcr.io", "team/app", [])
    bare = statement(products=[{"@id": f"pkg:oci/app@{DIGEST}"}])
    (c,) = parse_openvex(doc(bare)).acceptances
    assert (c.scope, c.digest, c.registry) == ("image", DIGEST, None)


def test_products_that_cannot_be_matched_are_skipped_and_listed() -> None:
    result = parse_openvex(
        doc(
            statement(products=[{"identifiers": {"cpe23": "cpe:2.3:a:x:y:1"}}]),
            statement(name="CVE-2", products=[{"@id": "pkg:oci/app?tag=1.0"}]),
            statement(name="CVE-3", products=[{"@id": "pkg:oci/app"}]),
            statement(name="CVE-4", products=[]),
        )
    )
    assert result.acceptances == ()
    assert result.skipped == (
        "statements[0].products[0] (CVE-2024-0001) has no package URL",
        "statements[1].products[0] (CVE-2): an OCI product named by tag is not supported; give its digest",
        "statements[2].products[0] (CVE-3): an OCI product needs a digest or a repository_url",
        "statements[3] (CVE-4) names no products",
    )


def test_subcomponents_of_a_package_product_are_the_packages() -> None:
    product = {
        "@id": "pkg:golang/github.com/example/tool@v1.0.0",
        "subcomponents": [{"@id": "pkg:golang/github.com/docker/docker"}, {"@id": "pkg:golang/golang.org/x/net"}],
    }
    acceptances = parse_openvex(doc(statement(products=[product]))).acceptances
    assert [a.purls for a in acceptances] == [["pkg:golang/github.com/docker/docker"], ["pkg:golang/golang.org/x/net"]]


def test_the_draft_form_with_strings() -> None:
    draft = {
        "@context": "https://openvex.dev/ns",
        "@id": "https://openvex.dev/docs/example/vex-9fb3463de1b57",
        "author": "Wolfi J Inkinson",
        "timestamp": "2023-01-08T18:02:03.647787998-06:00",
        "version": "1",
        "statements": [
            {
                "vulnerability": "CVE-2023-12345",
                "products": ["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"],
                "status": "fixed",
            }
        ],
    }
    (a,) = parse_openvex(json.dumps(draft).encode()).acceptances
    assert (a.vulnerability, a.purls) == ("CVE-2023-12345", ["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not JSON"),
        (b"\xff\xfe", "UTF-8 JSON"),
        ("[]", "an OpenVEX document is a JSON object"),
        (
            {"@context": "https://cyclonedx.org", "statements": [{}]},
            "not an OpenVEX document: @context is 'https://cyclonedx.org'",
        ),
        (doc(), "needs a non-empty statements list"),
        (doc(statement(), timestamp="yesterday"), "document: timestamp 'yesterday' is not an RFC 3339"),
        (doc("CVE-1"), r"statements\[0\] must be an object"),
        (doc({"products": [], "status": "fixed"}), r"statements\[0\]: vulnerability must be an object with a name"),
        (doc(statement(name="CVE 1")), "vulnerability.name must be an id"),
        (
            doc({**statement(), "vulnerability": {"name": "CVE-1", "aliases": "GHSA-1"}}),
            "aliases must be a list of ids",
        ),
        (doc(statement("exploitable")), r"statements\[0\]: status 'exploitable' is not one of"),
        (doc(statement(justification="trust_me")), "justification 'trust_me' is not one of"),
        (
            doc({"vulnerability": {"name": "CVE-1"}, "products": [], "status": "not_affected"}),
            "needs a justification or an impact_statement",
        ),
        (doc(statement(products=[{"@id": "pkg:"}])), r"statements\[0\].products\[0\]: 'pkg:' is not a package URL"),
        (doc(statement(products="pkg:npm/x")), r"statements\[0\].products must be a list"),
        (
            doc(statement(products=[{"@id": "pkg:npm/x", "subcomponents": {"@id": "pkg:npm/y"}}])),
            "subcomponents must be a list",
        ),
        (doc(statement(products=[{"identifiers": {"purl": 5}}])), "identifiers.purl must be a string"),
        (
            doc(statement(products=[{"@id": "pkg:oci/app@sha256:zz?repository_url=ghcr.io/a"}])),
            "is not an image digest",
        ),
        (doc(statement(timestamp=1700000000)), "timestamp must be an RFC 3339 string"),
    ],
)
def test_malformed_documents_raise_clear_errors(document: Any, message: str) -> None:
    with pytest.raises(VexError, match=message):
        parse_openvex(document)


def test_vex_acceptances_through_evaluate() -> None:
    """A not_affected statement for libssl3 accepts libssl3's finding (purl qualifiers the VEX omits do not
    matter), not the same CVE in another package; an OCI statement for another digest accepts nothing."""
    s = subject([finding("CVE-2024-0001"), finding("CVE-2024-0001", REQUESTS), finding("CVE-2021-44228", LOG4J)])
    vex = parse_openvex(
        doc(
            statement(products=[{"@id": "pkg:deb/debian/libssl3@3.0.1-1"}]),
            statement(
                name="CVE-2021-44228",
                products=[{"@id": "pkg:oci/app@sha256:" + "f" * 64, "subcomponents": [{"@id": LOG4J.purl}]}],
            ),
        )
    )
    result = evaluate([policy(severity="LOW")], s, vex.acceptances, datetime(2026, 6, 1, tzinfo=UTC))
    assert [(a.finding.id, a.finding.package) for a in result.accepted] == [("CVE-2024-0001", OPENSSL.name)]
    remaining = [(x.finding.id, x.finding.package) for x in result.verdicts[0].violations if x.finding]
    assert remaining == [("CVE-2024-0001", "requests"), ("CVE-2021-44228", LOG4J.name)]


# ---------------------------------------------------------------------------------------------------- never crashes

json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "@context",
                    "@id",
                    "name",
                    "status",
                    "products",
                    "vulnerability",
                    "subcomponents",
                    "identifiers",
                    "purl",
                    "timestamp",
                    "justification",
                    "aliases",
                ]
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=100), st.binary(max_size=60), json_values.map(json.dumps)))
def test_random_input_never_crashes(document: Any) -> None:
    with contextlib.suppress(VexError):
        parse_openvex(document)


FIELDS = ["@context", "statements", "timestamp", "author", "@id"]
STATEMENT_FIELDS = ["vulnerability", "products", "status", "justification", "impact_statement", "timestamp"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FIELDS + STATEMENT_FIELDS), json_values)
def test_a_valid_document_with_one_field_replaced_never_crashes(field: str, value: Any) -> None:
    document = copy.deepcopy(SPRING)
    target = document if field in FIELDS else document["statements"][0]
    target[field] = value
    try:
        result = parse_openvex(document)
    except VexError:
        return
    for acceptance in result.acceptances:
        assert acceptance.vulnerability
