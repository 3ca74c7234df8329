"""The console's registries section: the list with connection status, add / edit / delete, the pull-and-scan
settings with a dry-run preview of unsaved settings, and "sync now" with live progress.

Every operation goes through the services the API and the CLI use; this module only turns forms into their
inputs and their results into pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...access import AccessDenied
from ...api.authorization import require_owns_url
from ...registries.base import MANAGED_BY_OPTION, ConnectionResult
from ...registries.errors import ConnectionStatus, RegistryError
from ...scanning.jobs import JobError
from ...scanning.syncs import SyncNotFound, SyncProgress
from ...secrets import Secret
from ...selection import PullSettings
from ...services.images import host_of
from ...services.integrations import (
    ConnectionTestFailed,
    IntegrationChanges,
    IntegrationError,
    IntegrationInput,
    IntegrationView,
    registry_types,
)
from ...services.registry_pages import candidate_settings, preview_pull
from ...services.users import SessionUser
from ..auth import Forbidden, User, actor_of, principal_of, runtime_of
from ..templating import SECURITY_HEADERS, render

router = APIRouter()

SECTION = "registries"
WRITE = "registries:write"
DEFAULT_TYPE = "docker-registry"
# The six connection statuses, in the order the list explains them, and the word for "never tested".
STATUSES = tuple(status.value for status in ConnectionStatus)
NOT_TESTED = "Not tested"
# Options the console does not offer: set by another system (Harbor's registrations), never by hand.
HIDDEN_OPTIONS = frozenset({MANAGED_BY_OPTION})
# Fixed notices a redirect may ask for (a query parameter picks one; no text comes from the URL).
NOTICES = {
    "added": "The registry was added.",
    "saved": "The changes were saved.",
    "pull-saved": "The pull-and-scan settings were saved.",
    "tested": "The connection was tested; the status below is the new one.",
    "deleted": "The registry was deleted.",
}


# ---------------------------------------------------------------------------------------------------- type options

FieldKind = Literal["string", "enum", "boolean", "integer", "number", "list", "mapping"]


@dataclass(frozen=True)
class OptionField:
    """One type-specific option as the form shows it, derived from the type's options JSON schema."""

    name: str
    label: str
    description: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    default: Any = None
    nullable: bool = False
    item_kind: Literal["string", "integer"] = "string"  # of a mapping's values

    @property
    def input_name(self) -> str:
        return f"option.{self.name}"

    @property
    def input_id(self) -> str:
        return f"option-{self.name.replace('_', '-')}"

    @property
    def format_hint(self) -> str:
        if self.kind == "list":
            return "Comma-separated."
        if self.kind == "mapping":
            return "Comma-separated KEY=VALUE pairs."
        return ""

    @property
    def help_text(self) -> str:
        """The schema's description as a sentence, then how to write the value."""
        text = self.description.strip()
        if text and not text.endswith((".", ")")):
            text += "."
        return " ".join(part for part in (text, self.format_hint) if part)


def _kind(prop: Mapping[str, Any]) -> tuple[FieldKind, tuple[str, ...], Literal["string", "integer"]] | None:
    if "enum" in prop:
        return "enum", tuple(str(choice) for choice in prop["enum"]), "string"
    kind = prop.get("type")
    if kind in ("string", "boolean", "integer", "number"):
        return kind, (), "string"
    if kind == "array" and prop.get("items", {}).get("type") == "string":
        return "list", (), "string"
    if kind == "object":
        values = prop.get("additionalProperties")
        if isinstance(values, Mapping) and values.get("type") in ("string", "integer"):
            return "mapping", (), values["type"]
    return None


def option_fields(schema: Mapping[str, Any]) -> list[OptionField]:
    """The form fields of a type's options schema (pydantic's JSON schema), in schema order. Options of a kind the
    form cannot show (nested objects, lists of numbers) are left out, and so kept as stored when editing."""
    fields: list[OptionField] = []
    for name, prop in (schema.get("properties") or {}).items():
        if name in HIDDEN_OPTIONS:
            continue
        branches = prop.get("anyOf")
        nullable = False
        if branches:
            nullable = any(branch.get("type") == "null" for branch in branches)
            concrete = [branch for branch in branches if branch.get("type") != "null"]
            if len(concrete) != 1:
                continue
            prop = {**concrete[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
        kind = _kind(prop)
        if kind is None:
            continue
        fields.append(
            OptionField(
                name=name,
                label=prop.get("title") or name.replace("_", " ").capitalize(),
                description=prop.get("description", ""),
                kind=kind[0],
                choices=kind[1],
                default=prop.get("default"),
                nullable=nullable,
                item_kind=kind[2],
            )
        )
    return fields


def option_values(fields: list[OptionField], options: Mapping[str, Any]) -> dict[str, Any]:
    """What each field shows for stored (or default) options: text for the inputs, a bool for a checkbox."""
    values: dict[str, Any] = {}
    for field in fields:
        value = options.get(field.name, field.default)
        if field.kind == "boolean":
            values[field.name] = bool(value)
        elif field.kind == "list":
            values[field.name] = ", ".join(str(item) for item in value or [])
        elif field.kind == "mapping":
            values[field.name] = ", ".join(f"{key}={item}" for key, item in (value or {}).items())
        else:
            values[field.name] = "" if value is None else str(value)
    return values


def _number(text: str, kind: FieldKind) -> int | float | str:
    """A number when the text is one; else the text, which the type's validation then names as wrong."""
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text


def options_from_form(fields: list[OptionField], form: Mapping[str, str]) -> dict[str, Any]:
    """The options the submitted form gives, one entry per field (an emptied field goes back to its default), so
    that merging them over the stored options also clears what was emptied. The type validates the result."""
    options: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.input_name, "")
        text = raw.strip()
        if field.kind == "boolean":
            options[field.name] = field.input_name in form and raw not in ("", "false", "off")
        elif field.kind == "list":
            options[field.name] = [item.strip() for item in text.split(",") if item.strip()]
        elif field.kind == "mapping":
            mapping: dict[str, Any] = {}
            for pair in (item.strip() for item in text.split(",")):
                if not pair:
                    continue
                key, sep, value = pair.partition("=")
                if not sep or not key.strip():
                    raise IntegrationError(f"{field.label}: {pair!r} is not KEY=VALUE")
                value = value.strip()
                mapping[key.strip()] = _number(value, "integer") if field.item_kind == "integer" else value
            options[field.name] = mapping
        elif not text:
            options[field.name] = None if field.nullable or field.default is None else field.default
        elif field.kind in ("integer", "number"):
            options[field.name] = _number(text, field.kind)
        else:
            options[field.name] = text
    return options


@dataclass(frozen=True)
class RegistryType:
    type: str
    label: str
    default_url: str | None
    auth: tuple[str, ...]
    least_rights: str
    fields: tuple[OptionField, ...]


@cache
def types() -> dict[str, RegistryType]:
    return {
        entry["type"]: RegistryType(
            entry["type"],
            entry["label"],
            entry["default_url"],
            tuple(entry["auth"]),
            entry["least_rights"],
            tuple(option_fields(entry["options"])),
        )
        for entry in registry_types()
    }


def default_auth(kinds: tuple[str, ...]) -> str:
    return "password" if "password" in kinds else kinds[0]


# ---------------------------------------------------------------------------------------------------- pull settings

PULL_CHOICES = ("mode", "condition", "order_by")
PULL_LISTS = ("include", "never", "always")  # one pattern per line
PULL_OPTIONAL = ("schedule", "timezone", "requests_per_second")  # empty = none
PULL_KEPT_WHEN_EMPTY = ("created_within", "latest", "scan_timeout_minutes", "max_concurrency")


def _number_text(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def pull_values(settings: PullSettings) -> dict[str, Any]:
    """The pull settings form's values for stored settings."""
    rate = settings.requests_per_second
    return {
        "mode": settings.mode,
        "schedule": settings.schedule or "",
        "timezone": settings.timezone or "",
        "include": "\n".join(settings.include),
        "condition": settings.condition,
        "created_within": settings.created_within,
        "latest": str(settings.latest),
        "order_by": settings.order_by,
        "never": "\n".join(settings.never),
        "always": "\n".join(settings.always),
        "rescan": settings.rescan,
        "platforms": ", ".join(settings.platforms),
        "scan_timeout_minutes": _number_text(settings.scan_timeout_minutes),
        "max_concurrency": str(settings.max_concurrency),
        "requests_per_second": "" if rate is None else _number_text(rate),
    }


def pull_form_values(form: Mapping[str, str]) -> dict[str, Any]:
    """The submitted pull settings form as typed (to show it again after an error or a preview)."""
    values: dict[str, Any] = {key: form.get(key, "") for key in pull_values(PullSettings()) if key != "rescan"}
    values["rescan"] = "rescan" in form
    return values


def pull_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """PullSettings fields from the form, merged over the stored ones: patterns one per line, platforms
    comma-separated, an emptied optional field unset, an emptied number kept as stored; a field the form does not
    hold is not changed (the rescan checkbox, absent when unticked, is always in it). Numbers stay text where they
    are not numbers, so the settings' validation names them."""
    changes: dict[str, Any] = {"rescan": "rescan" in form}
    for key in PULL_CHOICES:
        if form.get(key):
            changes[key] = form[key]
    if "platforms" in form:
        changes["platforms"] = [p.strip() for p in form["platforms"].split(",") if p.strip()]
    for key in PULL_LISTS:
        if key in form:
            changes[key] = [line.strip() for line in form[key].splitlines() if line.strip()]
    for key in PULL_OPTIONAL:
        if key in form:
            text = form[key].strip()
            changes[key] = (_number(text, "number") if key == "requests_per_second" else text) if text else None
    for key in PULL_KEPT_WHEN_EMPTY:
        text = form.get(key, "").strip()
        if not text:
            continue
        if key == "created_within":
            changes[key] = text
        else:
            changes[key] = _number(text, "integer" if key in ("latest", "max_concurrency") else "number")
    return changes


# ---------------------------------------------------------------------------------------------------- progress


def format_duration(seconds: float | None) -> str:
    """A remaining time in words: `45 s`, `3 min 5 s`, `2 h 10 min`; `—` when not known yet."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class ProgressView:
    """A sync's progress as the progress fragment shows it."""

    progress: SyncProgress

    @property
    def finished(self) -> bool:
        return self.progress.state in ("done", "failed")

    @property
    def percent(self) -> int:
        p = self.progress
        if p.total == 0:
            return 100 if p.state == "done" else 0
        return int(100 * p.done / p.total)

    @property
    def eta(self) -> str:
        p = self.progress
        if self.finished:
            return "none (finished)"
        if p.state == "listing":
            return "after the listing"
        if p.eta_seconds is None:
            return "known once a scan has ended"
        return format_duration(p.eta_seconds)

    @property
    def summary(self) -> str:
        p = self.progress
        if p.state == "listing":
            return "Listing the registry…"
        if p.state == "failed":
            return "The sync failed: the registry could not be listed."
        noun = "scan" if p.total == 1 else "scans"
        return f"{p.done} of {p.total} {noun} done" + ("." if self.finished else "…")

    @property
    def failed_jobs(self) -> int:
        return sum(self.progress.failures.values())


# ---------------------------------------------------------------------------------------------------- page helpers


def registry_path(name: str, suffix: str = "") -> str:
    """The console path of a registry (its name quoted: names may hold spaces and parentheses)."""
    return f"/registries/{quote(name, safe='')}{suffix}"


def managed_by(view: IntegrationView) -> str | None:
    value = view.options.get(MANAGED_BY_OPTION)
    return str(value) if value else None


def status_of(view: IntegrationView) -> str:
    return view.connection.status if view.connection else NOT_TESTED


def form_fields(form: Any) -> dict[str, str]:
    """The text fields of a submitted form (files ignored; a repeated field keeps its last value)."""
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


def _page(
    request: Request, template: str, user: SessionUser | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        user,
        section=SECTION,
        status_code=status_code,
        path_of=registry_path,
        managed_by=managed_by,
        status_of=status_of,
        types=types(),
        statuses=STATUSES,
        **context,
    )


def _error(request: Request, user: SessionUser, status_code: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", user, section=SECTION, status_code=status_code, title=title, message=message)


def _redirect(target: str) -> Response:
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def _managed(request: Request, user: SessionUser, view: IntegrationView) -> HTMLResponse:
    return _error(
        request,
        user,
        409,
        "Managed elsewhere",
        f"{view.name} is managed by {managed_by(view)}: Harbor starts its scans, and it is not edited or synced here.",
    )


# ---------------------------------------------------------------------------------------------------- list


@router.get("/registries", response_class=HTMLResponse, include_in_schema=False)
def list_registries(request: Request, user: User, notice: str = "") -> HTMLResponse:
    principal = principal_of(request, user)
    views = [v for v in runtime_of(request).integrations.list_all() if principal.sees_registry(host_of(v.url))]
    return _page(request, "registries/list.html", user, title="Registries", views=views, notice=NOTICES.get(notice))


# ---------------------------------------------------------------------------------------------------- add


def _form_values(kind: RegistryType, view: IntegrationView | None = None) -> dict[str, Any]:
    if view is None:
        return {
            "name": "",
            "description": "",
            "url": "",
            "auth": default_auth(kind.auth),
            "username": "",
            "insecure": False,
            "ca_pem": "",
            "options": option_values(list(kind.fields), {}),
        }
    return {
        "name": view.name,
        "description": view.description,
        "url": view.url,
        "auth": view.auth,
        "username": view.username or "",
        "insecure": view.tls_insecure,
        "ca_pem": "",
        "options": option_values(list(kind.fields), view.options),
    }


def _typed_values(kind: RegistryType, form: Mapping[str, str]) -> dict[str, Any]:
    """What was typed, to show the form again: everything but the password."""
    shown = option_values(list(kind.fields), {})
    for field in kind.fields:
        if field.kind == "boolean":
            shown[field.name] = field.input_name in form
        else:
            shown[field.name] = form.get(field.input_name, "")
    return {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "url": form.get("url", ""),
        "auth": form.get("auth", default_auth(kind.auth)),
        "username": form.get("username", ""),
        "insecure": "insecure" in form,
        "ca_pem": form.get("ca_pem", ""),
        "clear_ca": "clear_ca" in form,
        "update_credentials": "update_credentials" in form,
        "options": shown,
    }


def _form_page(
    request: Request,
    user: SessionUser,
    kind: RegistryType,
    values: dict[str, Any],
    *,
    view: IntegrationView | None = None,
    failure: ConnectionResult | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    title = f"Edit {view.name}" if view else "Add a registry"
    return _page(
        request,
        "registries/form.html",
        user,
        status_code=status_code,
        title=title,
        kind=kind,
        values=values,
        view=view,
        failure=failure,
        error=error,
    )


@router.get("/registries/new", response_class=HTMLResponse, include_in_schema=False)
def new_registry(request: Request, user: User, type: str = DEFAULT_TYPE) -> HTMLResponse:
    kind = types().get(type) or types()[DEFAULT_TYPE]
    return _form_page(request, user, kind, _form_values(kind))


@router.post("/registries/new", response_class=HTMLResponse, include_in_schema=False)
async def add_registry(request: Request, user: User) -> Response:
    form = form_fields(await request.form())
    try:
        require_owns_url(principal_of(request, user), form.get("url", "").strip())
    except AccessDenied as exc:
        raise Forbidden(str(exc)) from None
    kind = types().get(form.get("type", ""))
    if kind is None:
        return _error(request, user, 422, "Unknown registry type", f"there is no registry type {form.get('type')!r}")
    password = form.get("password", "")
    try:
        data = IntegrationInput(
            name=form.get("name", ""),
            type=kind.type,
            url=form.get("url", "").strip(),
            description=form.get("description", "").strip(),
            username=form.get("username", "").strip() or None,
            secret=Secret(password) if password else None,
            auth=form.get("auth") or None,  # type: ignore[arg-type]
            insecure="insecure" in form,
            ca_pem=form.get("ca_pem", "").strip() or None,
            options={k: v for k, v in options_from_form(list(kind.fields), form).items() if v is not None},
        )
        view, _result = await runtime_of(request).integrations.add(
            data, actor=actor_of(request, user), test=form.get("action") != "save"
        )
    except ConnectionTestFailed as failed:
        return _form_page(request, user, kind, _typed_values(kind, form), failure=failed.result, status_code=422)
    except IntegrationError as exc:
        return _form_page(request, user, kind, _typed_values(kind, form), error=str(exc), status_code=422)
    return _redirect(registry_path(view.name, "?notice=added"))


# ---------------------------------------------------------------------------------------------------- edit


@router.get("/registries/{name:path}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_page(request: Request, user: User, name: str) -> HTMLResponse:
    view = runtime_of(request).integrations.get(name)
    if managed_by(view):
        return _managed(request, user, view)
    kind = types()[view.type]
    return _form_page(request, user, kind, _form_values(kind, view), view=view)


def edit_changes(view: IntegrationView, kind: RegistryType, form: Mapping[str, str]) -> IntegrationChanges:
    """The changes the edit form asks for. The password counts only with "update stored credentials" ticked
    and not empty: otherwise the stored credentials are kept."""
    password = form.get("password", "") if "update_credentials" in form else ""
    username = form.get("username", "").strip()
    new_name = form.get("name", "").strip()
    return IntegrationChanges(
        description=form.get("description", "").strip(),
        url=form.get("url", "").strip() or None,
        username=username if username or view.username else None,
        secret=Secret(password) if password else None,
        auth=form.get("auth") or None,  # type: ignore[arg-type]
        insecure="insecure" in form,
        ca_pem=form.get("ca_pem", "").strip() or None,
        clear_ca="clear_ca" in form,
        options=options_from_form(list(kind.fields), form),
        new_name=new_name if new_name and new_name != view.name else None,
    )


@router.post("/registries/{name:path}/edit", response_class=HTMLResponse, include_in_schema=False)
async def edit_registry(request: Request, user: User, name: str) -> Response:
    runtime = runtime_of(request)
    view = runtime.integrations.get(name)
    if managed_by(view):
        return _managed(request, user, view)
    kind = types()[view.type]
    form = form_fields(await request.form())
    try:
        changes = edit_changes(view, kind, form)
        saved, _result = await runtime.integrations.edit(
            name, changes, actor=actor_of(request, user), test=form.get("action") != "save"
        )
    except ConnectionTestFailed as failed:
        values = _typed_values(kind, form)
        return _form_page(request, user, kind, values, view=view, failure=failed.result, status_code=422)
    except IntegrationError as exc:
        values = _typed_values(kind, form)
        return _form_page(request, user, kind, values, view=view, error=str(exc), status_code=422)
    return _redirect(registry_path(saved.name, "?notice=saved"))


# ---------------------------------------------------------------------------------------------------- delete, test


@router.get("/registries/{name:path}/delete", response_class=HTMLResponse, include_in_schema=False)
def delete_page(request: Request, user: User, name: str) -> HTMLResponse:
    view = runtime_of(request).integrations.get(name)
    return _page(request, "registries/delete.html", user, title=f"Delete {view.name}", view=view)


@router.post("/registries/{name:path}/delete", include_in_schema=False)
def delete_registry(request: Request, user: User, name: str) -> Response:
    runtime_of(request).integrations.delete(name, actor=actor_of(request, user))
    return _redirect("/registries?notice=deleted")


@router.post("/registries/{name:path}/test", include_in_schema=False)
async def test_registry(request: Request, user: User, name: str) -> Response:
    await runtime_of(request).integrations.test(name)
    return _redirect(registry_path(name, "?notice=tested"))


# ---------------------------------------------------------------------------------------------------- pull settings


def _pull_page(
    request: Request,
    user: SessionUser,
    view: IntegrationView,
    values: dict[str, Any],
    *,
    error: str | None = None,
    status_code: int = 200,
    preview: dict[str, Any] | None = None,
) -> HTMLResponse:
    return _page(
        request,
        "registries/pull.html",
        user,
        status_code=status_code,
        title=f"Pull settings of {view.name}",
        view=view,
        values=values,
        error=error,
        preview=preview,
    )


@router.get("/registries/{name:path}/pull", response_class=HTMLResponse, include_in_schema=False)
def pull_page(request: Request, user: User, name: str) -> HTMLResponse:
    runtime = runtime_of(request)
    view = runtime.integrations.get(name)
    settings = runtime.integrations.pull_settings(name)
    if managed_by(view):
        return _managed(request, user, view)
    return _pull_page(request, user, view, pull_values(settings))


@router.post("/registries/{name:path}/pull", response_class=HTMLResponse, include_in_schema=False)
async def save_pull(request: Request, user: User, name: str) -> Response:
    runtime = runtime_of(request)
    view = runtime.integrations.get(name)
    if managed_by(view):
        return _managed(request, user, view)
    form = form_fields(await request.form())
    try:
        changes = IntegrationChanges(pull=pull_from_form(form))
        await runtime.integrations.edit(name, changes, actor=actor_of(request, user), test=False)
    except IntegrationError as exc:
        return _pull_page(request, user, view, pull_form_values(form), error=str(exc), status_code=422)
    return _redirect(registry_path(name, "?notice=pull-saved"))


async def _preview(request: Request, name: str, form: Mapping[str, str]) -> dict[str, Any]:
    """The dry-run of the submitted (unsaved) settings, or the error that stopped it."""
    sync = runtime_of(request).sync
    try:
        settings = candidate_settings(sync, name, pull_from_form(form))
        plan = await preview_pull(sync, name, settings)
    except IntegrationError as exc:
        return {"error": str(exc)}
    except RegistryError as exc:
        return {"error": f"the registry could not be listed: {exc.describe()}"}
    return {"plan": plan}


@router.post("/registries/{name:path}/pull/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_settings(request: Request, user: User, name: str) -> Response:
    """The decisions the form's settings would make, without saving them (an htmx fragment, or the whole form with
    the preview below it when scripts are off)."""
    runtime = runtime_of(request)
    view = runtime.integrations.get(name)
    if managed_by(view):
        return _managed(request, user, view)
    form = form_fields(await request.form())
    preview = await _preview(request, name, form)
    if request.headers.get("hx-request") == "true":
        return _page(request, "registries/_preview.html", user, view=view, preview=preview)
    return _pull_page(request, user, view, pull_form_values(form), preview=preview)


# ---------------------------------------------------------------------------------------------------- sync


@router.post("/registries/{name:path}/sync", include_in_schema=False)
async def sync_now(request: Request, user: User, name: str) -> Response:
    """List the registry now, queue what its pull settings select, and follow the sync on its progress page."""
    runtime = runtime_of(request)
    try:
        view = runtime.integrations.get(name)
        outcome = await runtime.sync_runner.run(name, "manual")
    except JobError as exc:
        return _error(request, user, 409, "Not synced", str(exc))
    except RegistryError:
        return _redirect(registry_path(name, "/sync"))  # the failed sync, with its error, is the newest
    return _redirect(registry_path(view.name, f"/syncs/{outcome.sync_id}"))


@router.get("/registries/{name:path}/sync", response_class=HTMLResponse, include_in_schema=False)
def latest_sync(request: Request, user: User, name: str) -> Response:
    runtime = runtime_of(request)
    try:
        view = runtime.integrations.get(name)
        progress = runtime.sync_runner.latest(name)
    except SyncNotFound:
        return _page(request, "registries/sync.html", user, title=f"Sync of {view.name}", view=view, progress=None)
    return _redirect(registry_path(view.name, f"/syncs/{progress.sync_id}"))


@router.get("/registries/{name:path}/syncs/{sync_id:int}", response_class=HTMLResponse, include_in_schema=False)
def sync_page(request: Request, user: User, name: str, sync_id: int) -> HTMLResponse:
    """A sync's progress; an htmx request (the page polling itself) gets only the progress fragment."""
    runtime = runtime_of(request)
    try:
        view = runtime.integrations.get(name)
        progress = runtime.sync_runner.progress(sync_id)
    except SyncNotFound as exc:
        return _error(request, user, 404, "No such sync", str(exc))
    if progress.integration != view.name:
        return _error(request, user, 404, "No such sync", f"sync {sync_id} is not a sync of {view.name}")
    shown = ProgressView(progress)
    template = "registries/_progress.html" if request.headers.get("hx-request") == "true" else "registries/sync.html"
    return _page(request, template, user, title=f"Sync {sync_id} of {view.name}", view=view, progress=shown)


# ---------------------------------------------------------------------------------------------------- detail (last:
# its path would also match the pages above)


@router.get("/registries/{name:path}", response_class=HTMLResponse, include_in_schema=False)
def registry_detail(request: Request, user: User, name: str, notice: str = "") -> HTMLResponse:
    runtime = runtime_of(request)
    view = runtime.integrations.get(name)
    settings = runtime.integrations.pull_settings(name)
    try:
        latest: SyncProgress | None = runtime.sync_runner.latest(name)
    except SyncNotFound:
        latest = None
    kind = types().get(view.type)
    shown_options = []
    if kind is not None:
        values = option_values(list(kind.fields), view.options)
        shown_options = [(f.label, values[f.name]) for f in kind.fields if f.name in view.options]
    return _page(
        request,
        "registries/detail.html",
        user,
        title=view.name,
        view=view,
        kind=kind,
        settings=settings,
        shown_options=shown_options,
        latest=ProgressView(latest) if latest else None,
        notice=NOTICES.get(notice),
    )
