"""The registries pages' view helpers: type options between JSON schema, form and stored options; pull settings
between form and PullSettings; progress and ETA wording; and the pages' handling of a Harbor-managed integration
and of an unsaved preview (on an app with a fresh database, no registry needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from regscout.api.app import create_app
from regscout.registries.base import MANAGED_BY_OPTION, RepositoryListing, TagInfo
from regscout.registries.types import REGISTRY_TYPES, adapter_class
from regscout.runtime import Runtime
from regscout.scanning.syncs import SyncProgress
from regscout.secrets import Secret
from regscout.selection import PullSettings
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationError, IntegrationInput, IntegrationView, registry_types
from regscout.services.registry_pages import preview_pull
from regscout.services.sync import SyncService
from regscout.settings import Settings
from regscout.web.pages.registries import (
    OptionField,
    ProgressView,
    edit_changes,
    format_duration,
    option_fields,
    option_values,
    options_from_form,
    pull_from_form,
    pull_values,
    registry_path,
    types,
)
from regscout.web.templating import ENVIRONMENT

SCHEMAS = {entry["type"]: entry["options"] for entry in registry_types()}
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _form(fields: list[OptionField], values: dict[str, Any]) -> dict[str, str]:
    """What a browser submits for these field values: a checkbox only when ticked."""
    form: dict[str, str] = {}
    for field in fields:
        value = values[field.name]
        if field.kind == "boolean":
            if value:
                form[field.input_name] = "on"
        else:
            form[field.input_name] = value
    return form


# ---------------------------------------------------------------------------------------------------- options


def test_the_generic_type_offers_its_repositories_and_platform_but_not_managed_by() -> None:
    fields = {f.name: f for f in option_fields(SCHEMAS["docker-registry"])}
    assert set(fields) == {"repositories", "platform"}
    assert fields["repositories"].kind == "list"
    assert fields["repositories"].label == "Repositories"
    assert fields["repositories"].help_text.endswith("catalog. Comma-separated.")
    assert (fields["platform"].kind, fields["platform"].default) == ("string", "linux/amd64")
    assert fields["platform"].input_name == "option.platform" and fields["platform"].input_id == "option-platform"


def test_field_kinds_from_the_schema() -> None:
    fields = {f.name: f for f in option_fields(SCHEMAS["gitlab"]) + option_fields(SCHEMAS["artifactory"])}
    assert fields["api_url"].kind == "string" and fields["api_url"].nullable
    assert fields["graphql"].kind == "boolean" and fields["graphql"].default is True
    assert fields["api_auth"].kind == "enum"
    assert fields["access_method"].choices == ("repository_path", "subdomain", "port")
    assert fields["ports"].kind == "mapping" and fields["ports"].item_kind == "integer"


def test_kinds_the_form_cannot_show_are_left_out() -> None:
    schema = {
        "properties": {
            "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "nested": {"type": "object", "properties": {"a": {"type": "string"}}},
            "numbers": {"type": "array", "items": {"type": "integer"}},
            "count": {"type": "integer", "default": 3},
            "ratio": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None, "title": "Ratio"},
        }
    }
    fields = option_fields(schema)
    assert [(f.name, f.kind, f.nullable) for f in fields] == [("count", "integer", False), ("ratio", "number", True)]
    assert fields[0].label == "Count"  # no title: from the name
    options = options_from_form(fields, {"option.count": " 7 ", "option.ratio": "0.5"})
    assert options == {"count": 7, "ratio": 0.5}
    assert options_from_form(fields, {"option.count": "", "option.ratio": ""}) == {"count": 3, "ratio": None}
    # not a number: kept as typed, so the type's validation says what is wrong
    assert options_from_form(fields, {"option.count": "seven", "option.ratio": ""})["count"] == "seven"


def _validated(type_name: str, options: dict[str, Any]) -> dict[str, Any] | str:
    try:
        return adapter_class(type_name).validate_options(options, "user")
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"])


@pytest.mark.parametrize("type_name", sorted(REGISTRY_TYPES))
def test_the_defaults_shown_and_submitted_unchanged_are_no_options_at_all(type_name: str) -> None:
    """Submitted as shown, a new registry's option fields mean what giving no options means (stored: nothing; or,
    for a type that needs one, the same complaint)."""
    fields = option_fields(SCHEMAS[type_name])
    submitted = options_from_form(fields, _form(fields, option_values(fields, {})))
    assert _validated(type_name, submitted) == _validated(type_name, {})


def test_stored_options_round_trip_through_the_form() -> None:
    fields = option_fields(SCHEMAS["gitlab"])
    stored = {"groups": ["acme/platform", "acme/tools"], "graphql": False, "api_auth": "bearer"}
    values = option_values(fields, stored)
    assert values["groups"] == "acme/platform, acme/tools"
    assert values["graphql"] is False
    assert values["api_url"] == ""
    submitted = options_from_form(fields, _form(fields, values))
    assert adapter_class("gitlab").validate_options(submitted) == stored


def test_a_mapping_option_is_written_as_key_value_pairs() -> None:
    fields = [f for f in option_fields(SCHEMAS["artifactory"]) if f.name == "ports"]
    assert option_values(fields, {"ports": {"docker-local": 5000, "docker-remote": 5001}}) == {
        "ports": "docker-local=5000, docker-remote=5001"
    }
    assert options_from_form(fields, {"option.ports": "docker-local=5000, docker-remote = 5001,"}) == {
        "ports": {"docker-local": 5000, "docker-remote": 5001}
    }
    with pytest.raises(IntegrationError, match="'docker-local' is not KEY=VALUE"):
        options_from_form(fields, {"option.ports": "docker-local"})


def test_an_emptied_field_clears_the_stored_value_and_an_unticked_box_is_false() -> None:
    fields = option_fields(SCHEMAS["harbor"])
    options = options_from_form(fields, {"option.api_url": " ", "option.projects": "", "option.platform": ""})
    assert options["api_url"] is None
    assert options["projects"] == []
    assert options["platform"] == "linux/amd64"
    assert options["include_public"] is False and options["include_proxy_cache"] is False
    assert options_from_form(fields, {"option.include_public": "on"})["include_public"] is True


def test_every_type_has_its_fields_and_a_default_auth() -> None:
    table = types()
    assert set(table) == set(REGISTRY_TYPES)
    assert table["ghcr"].auth == ("password", "token")
    assert all(field.name != MANAGED_BY_OPTION for kind in table.values() for field in kind.fields)


# ---------------------------------------------------------------------------------------------------- edit


def _view(**changes: Any) -> IntegrationView:
    base: dict[str, Any] = {
        "name": "reg",
        "description": "",
        "type": "docker-registry",
        "url": "https://r.example",
        "auth": "password",
        "username": "reader",
        "has_secret": True,
        "tls_insecure": False,
        "has_ca": False,
        "options": {},
        "pull": {},
        "connection": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return IntegrationView(**{**base, **changes})


def test_edit_keeps_the_stored_password_unless_update_is_ticked_and_one_is_typed() -> None:
    kind = types()["docker-registry"]
    form = {"name": "reg", "url": "https://r.example", "auth": "password", "username": "reader", "password": "new"}
    assert edit_changes(_view(), kind, form).secret is None  # typed, but the box is not ticked
    assert edit_changes(_view(), kind, {**form, "update_credentials": "on", "password": ""}).secret is None
    changed = edit_changes(_view(), kind, {**form, "update_credentials": "on"})
    assert changed.secret is not None and changed.secret.reveal() == "new"
    assert changed.new_name is None
    assert edit_changes(_view(), kind, {**form, "name": "renamed"}).new_name == "renamed"


# ---------------------------------------------------------------------------------------------------- pull settings


def test_pull_settings_round_trip_through_the_form() -> None:
    settings = PullSettings(
        mode="automatic",
        schedule="0 3 * * *",
        timezone="Europe/Berlin",
        include=["team/*", ":stable"],
        condition="latest",
        latest=2,
        order_by="semver",
        never=["team/old"],
        always=["team/app:1.0"],
        rescan=True,
        platforms=["linux/amd64", "linux/arm64"],
        scan_timeout_minutes=0.5,
        max_concurrency=2,
        requests_per_second=5,
    )
    values = pull_values(settings)
    assert values["include"] == "team/*\n:stable"
    assert values["platforms"] == "linux/amd64, linux/arm64"
    assert values["scan_timeout_minutes"] == "0.5" and values["requests_per_second"] == "5"
    form = {k: v for k, v in values.items() if k != "rescan"} | {"rescan": "on"}
    assert PullSettings.model_validate(pull_from_form(form)) == settings


def test_pull_form_patterns_per_line_and_emptied_fields() -> None:
    form = {
        "mode": "manual",
        "include": "team/*\r\n\r\n  lib/app  \n",
        "schedule": " ",
        "requests_per_second": "",
        "latest": "",
        "platforms": "linux/amd64,, linux/arm64",
    }
    changes = pull_from_form(form)
    assert changes["include"] == ["team/*", "lib/app"]
    assert changes["schedule"] is None and changes["requests_per_second"] is None
    assert "latest" not in changes  # an emptied number keeps the stored one
    assert "never" not in changes  # a field the form does not hold is not changed
    assert changes["rescan"] is False
    assert changes["platforms"] == ["linux/amd64", "linux/arm64"]
    assert pull_from_form({"max_concurrency": "four"})["max_concurrency"] == "four"  # validation names it


# ---------------------------------------------------------------------------------------------------- progress


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (44.6, "45 s"), (60, "1 min"), (185, "3 min 5 s"), (7200, "2 h"), (7830, "2 h 10 min")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def _progress(state: str, done: int, total: int, eta: float | None = None, **more: Any) -> ProgressView:
    return ProgressView(
        SyncProgress(
            sync_id=7,
            integration="reg",
            trigger="manual",
            state=state,
            started_at=NOW,
            found=4,
            selected=total,
            gone=0,
            error=more.get("error"),
            total=total,
            done=done,
            by_state={},
            failures=more.get("failures", {}),
            eta_seconds=eta,
        )
    )


def test_progress_while_scanning_and_when_done() -> None:
    listing = _progress("listing", 0, 0)
    assert (listing.finished, listing.percent, listing.eta) == (False, 0, "after the listing")
    assert listing.summary == "Listing the registry…"
    first = _progress("scanning", 0, 3)
    assert first.eta == "known once a scan has ended" and first.summary == "0 of 3 scans done…"
    running = _progress("scanning", 1, 3, 130.4, failures={"timeout": 1})
    assert (running.percent, running.eta, running.failed_jobs) == (33, "2 min 10 s", 1)
    done = _progress("done", 3, 3, 0.0)
    assert (done.finished, done.percent, done.eta, done.summary) == (True, 100, "none (finished)", "3 of 3 scans done.")
    nothing = _progress("done", 0, 0)
    assert (nothing.percent, nothing.summary) == (100, "0 of 0 scans done.")
    failed = _progress("failed", 0, 0, error="cannot connect")
    assert failed.finished and failed.percent == 0 and "could not be listed" in failed.summary


def test_the_progress_fragment_polls_until_the_sync_has_ended() -> None:
    fragment = ENVIRONMENT.get_template("registries/_progress.html")
    running = fragment.render(progress=_progress("scanning", 1, 3, 20, failures={"timeout": 1}), view=_view(),
                              path_of=registry_path)  # fmt: skip
    assert 'hx-get="/registries/reg/syncs/7" hx-trigger="every 1s"' in running
    assert "1/3" in running and "20 s" in running and "<td>timeout</td><td>1</td>" in running
    done = fragment.render(progress=_progress("done", 3, 3, 0.0), view=_view(), path_of=registry_path)
    assert "hx-trigger" not in done and 'data-state="done"' in done and "No scan failed." in done


def test_registry_paths_quote_the_name() -> None:
    assert registry_path("Harbor External Integration (h1)") == "/registries/Harbor%20External%20Integration%20%28h1%29"
    assert registry_path("a/b", "/edit") == "/registries/a%2Fb/edit"


# ---------------------------------------------------------------------------------------------------- preview


class _Integrations:
    def __init__(self, settings: PullSettings) -> None:
        self.stored = settings

    def get(self, name: str) -> IntegrationView:
        return _view(name=name, url="https://r.example:5000")

    def pull_settings(self, name: str) -> PullSettings:
        return self.stored

    async def browse(self, name: str, *, with_tags: bool = False) -> list[RepositoryListing]:
        created = NOW - timedelta(days=1)
        return [
            RepositoryListing(
                "library/debian", [TagInfo("library/debian", "12", "sha256:d", None, (), created, "build")]
            ),
            RepositoryListing(
                "team/tool",
                [TagInfo("team/tool", f"1.{n}", f"sha256:{n}", None, (), created, "push") for n in range(2)],
            ),
            RepositoryListing("team/broken", error="denied"),
        ]


class _Results:
    def __init__(self) -> None:
        self.hosts: list[str] = []

    def scanned_digests(self, host: str) -> dict[str, str]:
        self.hosts.append(host)
        return {"team/tool:1.0": "sha256:0"}


def test_the_preview_decides_with_the_unsaved_settings() -> None:
    sync = SyncService(_Integrations(PullSettings()), _Results())  # type: ignore[arg-type]
    unsaved = PullSettings(include=["team/*"])
    plan = asyncio.run(preview_pull(sync, "reg", unsaved, now=NOW))
    assert [(d.candidate.reference, d.selected, d.rule) for d in plan.decisions] == [
        ("library/debian:12", False, "criteria: no pattern matches"),
        ("team/tool:1.0", False, "unchanged digest, rescan off"),
        ("team/tool:1.1", True, "criteria: team/*"),
    ]
    assert plan.settings is unsaved and plan.repository_errors == {"team/broken": "denied"}
    assert sync.results.hosts == ["r.example:5000"]  # type: ignore[attr-defined]
    assert sync.integrations.stored == PullSettings()  # type: ignore[attr-defined]  # nothing written


# ---------------------------------------------------------------------------------------------------- pages


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime, str]]:
    home = tmp_path / "home"
    runtime = Runtime(Settings(home, f"sqlite:///{home / 'regscout.db'}", None, "127.0.0.1", 0, "INFO"))
    runtime.users.add("admin", Secret("a console password"), actor=SYSTEM)
    signed = runtime.users.sign_in("admin", "a console password")
    assert signed is not None
    session_id, user = signed
    with TestClient(create_app(runtime), cookies={"regscout_session": session_id}) as test_client:
        yield test_client, runtime, user.csrf_token
    runtime.db.dispose()


def _add(runtime: Runtime, name: str, **options: Any) -> None:
    data = IntegrationInput(name=name, type="docker-registry", url="http://127.0.0.1:9", options=options)
    asyncio.run(runtime.integrations.add(data, test=False, actor=SYSTEM))


def test_a_harbor_managed_integration_is_shown_but_not_edited_or_synced(
    client: tuple[TestClient, Runtime, str],
) -> None:
    http, runtime, csrf = client
    name = "Harbor External Integration (h1)"
    _add(runtime, name, **{MANAGED_BY_OPTION: "Harbor registration h1"})
    _add(runtime, "own")
    listing = http.get("/registries").text
    assert "managed by Harbor registration h1" in listing
    assert listing.count("Sync now") == 1  # only for "own"
    detail = http.get(registry_path(name)).text
    assert "Managed by Harbor registration h1" in detail
    assert registry_path(name, "/edit") not in detail and registry_path(name, "/sync") not in detail
    assert http.get(registry_path(name, "/edit")).status_code == 409
    assert http.post(registry_path(name, "/sync"), data={"csrf_token": csrf}).status_code == 409
    refused = http.post(registry_path(name, "/pull"), data={"csrf_token": csrf, "include": "x/*"})
    assert refused.status_code == 409
    assert runtime.integrations.pull_settings(name) == PullSettings()


def test_the_add_form_follows_the_type_and_a_missing_registry_is_a_page(
    client: tuple[TestClient, Runtime, str],
) -> None:
    http, _runtime, _csrf = client
    harbor = http.get("/registries/new?type=harbor").text
    assert 'name="option.include_public"' in harbor and 'name="option.managed_by"' not in harbor
    assert 'value="anonymous"' in harbor and 'value="token"' not in harbor  # Harbor: anonymous or password
    missing = http.get("/registries/nothing-here")
    assert missing.status_code == 404 and "No such registry" in missing.text


def test_an_invalid_preview_and_save_keep_what_was_typed(client: tuple[TestClient, Runtime, str]) -> None:
    http, runtime, csrf = client
    _add(runtime, "own")
    form = {"csrf_token": csrf, "mode": "automatic", "include": "team/*", "platforms": "linux/amd64"}
    fragment = http.post(registry_path("own", "/pull/preview"), data=form, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "automatic mode needs a schedule" in fragment.text
    saved = http.post(registry_path("own", "/pull"), data=form)
    assert saved.status_code == 422 and "automatic mode needs a schedule" in saved.text
    assert ">team/*</textarea>" in saved.text
    assert runtime.integrations.pull_settings("own") == PullSettings()
