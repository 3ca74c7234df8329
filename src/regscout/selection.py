"""Which images of a registry are pulled and scanned: Kaspersky Container Security's registry pull rules, and more.

Per candidate (one repository:tag), in this order of precedence:

1. ``always`` patterns select, whatever the other rules say (Kaspersky: "regardless of other conditions").
2. ``never`` patterns exclude.
3. ``include`` criteria: none means everything matches; otherwise any matching pattern lets the candidate through.
4. The additional condition: ``none``; ``created_within`` (inclusive edge, calendar months/years);
   ``latest`` N tags per repository among the candidates that passed 2 and 3.
5. With ``rescan`` off, a candidate whose digest was already scanned is dropped, even one selected by ``always``:
   ``always`` says what to scan, not what to scan again.

Patterns: ``name`` (every tag of it), ``:tag`` (that tag under any name), ``name:tag``. ``*`` is any run of
characters, ``/`` and ``:`` included; ``\\x`` is a literal ``x``; everything else is literal.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic

from regscout.vulndb.versions.semver import semver_key

# ---------------------------------------------------------------------------------------------------- patterns

_ESCAPE = "\\"


@dataclass(frozen=True)
class Pattern:
    """A parsed name/tag pattern. ``None`` for a part means "any"."""

    text: str
    name: re.Pattern[str] | None
    tag: re.Pattern[str] | None


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(character, escaped) pairs."""
    out: list[tuple[str, bool]] = []
    chars = iter(text)
    for ch in chars:
        if ch != _ESCAPE:
            out.append((ch, False))
            continue
        nxt = next(chars, None)
        if nxt is None:
            raise ValueError(f"pattern {text!r} ends with a lone backslash; write \\\\ for a literal one")
        out.append((nxt, True))
    return out


def _split(tokens: list[tuple[str, bool]]) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]] | None]:
    """Name and tag parts, split at the last unescaped ``:`` unless what follows holds a ``/`` (a registry port)."""
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i] == (":", False):
            tail = tokens[i + 1 :]
            if ("/", False) in tail:
                break
            return tokens[:i], tail
    return tokens, None


def _compile(tokens: list[tuple[str, bool]]) -> re.Pattern[str]:
    body = "".join(".*" if tok == ("*", False) else re.escape(tok[0]) for tok in tokens)
    # DOTALL: `*` is "any run of characters", newlines included, so no text can slip past a wildcard.
    return re.compile(body, re.DOTALL)


def parse_pattern(text: str) -> Pattern:
    """Parse a name/tag pattern; ValueError with the reason when it is empty or malformed."""
    tokens = _tokens(text)
    if all(ch.isspace() and not escaped for ch, escaped in tokens):
        raise ValueError("pattern is empty")
    name, tag = _split(tokens)
    if tag is not None and not tag:
        raise ValueError(f"pattern {text!r} has an empty tag after ':'; drop the ':' to match every tag")
    if not name and tag is None:
        raise ValueError(f"pattern {text!r} matches nothing")
    return Pattern(text=text, name=_compile(name) if name else None, tag=_compile(tag) if tag is not None else None)


def escape_pattern(repository: str, tag: str | None = None) -> str:
    """A pattern matching exactly this repository (and tag): every special character escaped."""
    name = "".join(_ESCAPE + ch if ch in "\\*:" or ch.isspace() else ch for ch in repository)
    if tag is None:
        return name
    return name + ":" + "".join(_ESCAPE + ch if ch in "\\*:/" or ch.isspace() else ch for ch in tag)


def pattern_matches(pattern: Pattern | str, repository: str, tag: str) -> bool:
    """Whole-string, case-sensitive match of the repository name and the tag."""
    if isinstance(pattern, str):
        pattern = parse_pattern(pattern)
    if pattern.name is not None and pattern.name.fullmatch(repository) is None:
        return False
    return pattern.tag is None or pattern.tag.fullmatch(tag) is not None


def _first_match(patterns: Iterable[Pattern], repository: str, tag: str) -> Pattern | None:
    return next((p for p in patterns if pattern_matches(p, repository, tag)), None)


# ---------------------------------------------------------------------------------------------------- settings

_INTERVAL = re.compile(r"([0-9]+)([smhd])")
_PERIOD = re.compile(r"([0-9]+)([dmy])")
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (field name, lowest, highest, names)
_CRON_FIELDS: tuple[tuple[str, int, int, Mapping[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_PLATFORM = re.compile(r"[a-z0-9_.-]+/[a-z0-9_.-]+(?:/[a-z0-9_.-]+)?")


def _cron_value(text: str, field: str, low: int, high: int, names: Mapping[str, int]) -> int:
    value = names.get(text.lower())
    if value is None:
        if not text.isdigit():
            raise ValueError(f"cron {field} {text!r} is not a number")
        value = int(text)
    if not low <= value <= high:
        raise ValueError(f"cron {field} {value} is outside {low}-{high}")
    return value


def _check_cron_item(item: str, field: str, low: int, high: int, names: Mapping[str, int]) -> None:
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"cron {field} step {step!r} must be a positive number")
    if base == "*":
        return
    first, dash, last = base.partition("-")
    start = _cron_value(first, field, low, high, names)
    if dash and _cron_value(last, field, low, high, names) < start:
        raise ValueError(f"cron {field} range {base!r} runs backwards")


def check_schedule(text: str) -> None:
    """A 5-field cron expression, a cron macro (``@daily``), or an interval ``N[smhd]`` with N > 0."""
    interval = _INTERVAL.fullmatch(text)
    if interval is not None:
        if int(interval[1]) == 0:
            raise ValueError(f"interval {text!r} must be longer than zero")
        return
    if text in _CRON_MACROS:
        return
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"schedule {text!r} is neither an interval like '6h' (N with s, m, h or d) "
            f"nor a 5-field cron expression (it has {len(fields)} fields)"
        )
    for value, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in value.split(","):
            _check_cron_item(item, field, low, high, names)


def parse_period(text: str) -> tuple[int, Literal["d", "m", "y"]]:
    """``60d``, ``3m``, ``1y``: a positive count of days, months or years."""
    m = _PERIOD.fullmatch(text)
    if m is None:
        raise ValueError(f"period {text!r} must be a number followed by d (days), m (months) or y (years), like '60d'")
    count = int(m[1])
    if count == 0:
        raise ValueError(f"period {text!r} must be longer than zero")
    return count, cast(Literal["d", "m", "y"], m[2])


def _check_patterns(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    for value in cleaned:
        try:
            parse_pattern(value)
        except ValueError as exc:
            raise ValueError(f"invalid pattern {value!r}: {exc}") from None
    return cleaned


class PullSettings(pydantic.BaseModel):
    """Pull and scan settings of one registry integration.

    ``schedule``, ``timezone``, ``scan_timeout_minutes``, ``platforms``, ``max_concurrency`` and
    ``requests_per_second`` are validated here and used by the caller; ``decide`` uses the rest.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    mode: Literal["manual", "automatic"] = "manual"
    schedule: str | None = None
    timezone: str | None = None
    scan_timeout_minutes: float = pydantic.Field(default=30, gt=0, allow_inf_nan=False)
    rescan: bool = False
    include: list[str] = []
    condition: Literal["none", "created_within", "latest"] = "none"
    created_within: str = "60d"
    latest: int = pydantic.Field(default=1, gt=0)
    never: list[str] = []
    always: list[str] = []
    platforms: list[str] = ["linux/amd64"]
    order_by: Literal["created", "semver"] = "created"
    max_concurrency: int = pydantic.Field(default=4, gt=0)
    requests_per_second: float | None = pydantic.Field(default=None, gt=0, allow_inf_nan=False)

    @pydantic.field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            check_schedule(value)
        return value

    @pydantic.field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from None
        return value

    @pydantic.field_validator("created_within")
    @classmethod
    def _created_within(cls, value: str) -> str:
        parse_period(value)
        return value

    @pydantic.field_validator("include", "never", "always")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @pydantic.field_validator("platforms")
    @classmethod
    def _platforms(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one platform is needed, like 'linux/amd64'")
        for platform in value:
            if _PLATFORM.fullmatch(platform) is None:
                raise ValueError(f"platform {platform!r} must look like os/arch or os/arch/variant")
        return value

    @pydantic.model_validator(mode="after")
    def _automatic_needs_schedule(self) -> PullSettings:
        if self.mode == "automatic" and self.schedule is None:
            raise ValueError("automatic mode needs a schedule (cron expression or interval like '6h')")
        return self


# ---------------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Candidate:
    """One tag of a repository as the registry lists it; ``created`` is timezone-aware with its source."""

    repository: str
    tag: str
    digest: str | None
    created: datetime | None
    created_source: Literal["build", "push"] | None

    def __post_init__(self) -> None:
        if (self.created is None) != (self.created_source is None):
            raise ValueError("created and created_source are given together or not at all")
        if self.created is not None and self.created.utcoffset() is None:
            raise ValueError(f"created time of {self.reference} has no time zone")

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    selected: bool
    rule: str


def months_before(moment: datetime, months: int) -> datetime:
    """Calendar months back with the day clamped to the month's length (Mar 31 - 1 month = Feb 28/29)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def created_cutoff(now: datetime, period: str, timezone: str | None = None) -> datetime | None:
    """The earliest creation time still "within" the period, or None when the period reaches before year 1.

    Arithmetic is on the wall clock of ``timezone`` (else of ``now``), so "1m" on Mar 31 10:00 is Feb 29 10:00.
    """
    count, unit = parse_period(period)
    local = now.astimezone(ZoneInfo(timezone)) if timezone else now
    try:
        if unit == "d":
            return local - timedelta(days=count)
        return months_before(local, count if unit == "m" else 12 * count)
    except (OverflowError, ValueError):
        return None


def _created_text(candidate: Candidate) -> str:
    return f"{candidate.created_source} time"


def _within(candidate: Candidate, cutoff: datetime | None, period: str) -> Decision:
    if candidate.created is None:
        return Decision(candidate, False, "no creation time: kept out by created_within")
    if cutoff is None or candidate.created >= cutoff:
        return Decision(candidate, True, f"created within {period} ({_created_text(candidate)})")
    when = candidate.created.date().isoformat()
    return Decision(candidate, False, f"older than {period} ({_created_text(candidate)} {when})")


_Key = tuple[object, ...]


def _created_key(candidate: Candidate) -> _Key:
    return (candidate.created.timestamp() if candidate.created is not None else float("-inf"),)


def _semver_key(candidate: Candidate) -> _Key:
    try:
        return (1, semver_key(candidate.tag), *_created_key(candidate))
    except ValueError:
        # Not a version: below every version, then newest first.
        return (0, (), *_created_key(candidate))


def _ranks(pool: Iterable[tuple[int, Candidate]], order_by: Literal["created", "semver"]) -> dict[int, int]:
    """Rank (1 = newest) per candidate index within its repository; ties go to the greater tag name."""
    key: Callable[[Candidate], _Key] = _created_key if order_by == "created" else _semver_key
    by_repo: dict[str, list[tuple[int, Candidate]]] = defaultdict(list)
    for index, candidate in pool:
        by_repo[candidate.repository].append((index, candidate))
    ranks: dict[int, int] = {}
    for members in by_repo.values():
        # Input index last: equal candidates keep a stable, input-ordered rank.
        members.sort(key=lambda m: (key(m[1]), m[1].tag, -m[0]), reverse=True)
        ranks.update({index: rank for rank, (index, _) in enumerate(members, start=1)})
    return ranks


def _latest(candidate: Candidate, rank: int, settings: PullSettings) -> Decision:
    if settings.order_by == "created" and candidate.created is None:
        return Decision(candidate, False, "no creation time: kept out by latest")
    by = " by semver" if settings.order_by == "semver" else ""
    what = f"latest {settings.latest} of {candidate.repository}{by} (rank {rank})"
    if rank <= settings.latest:
        return Decision(candidate, True, what)
    return Decision(candidate, False, "not in " + what)


def _already_scanned(
    candidate: Candidate, previously_scanned: Mapping[str, str], digests: Mapping[str, str]
) -> str | None:
    if candidate.digest is None:
        return None
    if previously_scanned.get(candidate.reference) == candidate.digest:
        return "unchanged digest, rescan off"
    if candidate.digest in digests:
        return f"digest already scanned as {digests[candidate.digest]}, rescan off"
    return None


@dataclass(frozen=True)
class _Rules:
    include: tuple[Pattern, ...]
    never: tuple[Pattern, ...]
    always: tuple[Pattern, ...]

    @classmethod
    def of(cls, settings: PullSettings) -> _Rules:
        def parse(values: list[str]) -> tuple[Pattern, ...]:
            return tuple(parse_pattern(v) for v in values)

        return cls(parse(settings.include), parse(settings.never), parse(settings.always))

    def gate(self, candidate: Candidate) -> Decision:
        """Never and include criteria; a selected Decision here still faces the additional condition."""
        never = _first_match(self.never, candidate.repository, candidate.tag)
        if never is not None:
            return Decision(candidate, False, f"never: {never.text}")
        if not self.include:
            return Decision(candidate, True, "no criteria: all match")
        match = _first_match(self.include, candidate.repository, candidate.tag)
        if match is None:
            return Decision(candidate, False, "criteria: no pattern matches")
        return Decision(candidate, True, f"criteria: {match.text}")


def decide(
    candidates: Sequence[Candidate],
    settings: PullSettings,
    now: datetime,
    *,
    previously_scanned: Mapping[str, str] = {},
) -> list[Decision]:
    """One Decision per candidate, in input order.

    The rules are evaluated whatever ``settings.mode`` is: in manual mode the caller (``registry sync --dry-run``,
    the UI) shows the decisions and does not queue them. ``previously_scanned`` maps ``repository:tag`` to the
    digest last scanned under it; with ``rescan`` off a candidate is dropped when its digest equals that, or was
    scanned under any other reference. A candidate without a digest never counts as already scanned.
    ``now`` must be timezone-aware.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    rules = _Rules.of(settings)
    gated = [rules.gate(c) for c in candidates]
    ranks = _ranks(((i, g.candidate) for i, g in enumerate(gated) if g.selected), settings.order_by)
    cutoff = created_cutoff(now, settings.created_within, settings.timezone)
    digests = _first_reference_per_digest(previously_scanned)
    decisions: list[Decision] = []
    for index, gate in enumerate(gated):
        decision = _condition(gate, settings, cutoff, ranks.get(index, 0))
        always = _first_match(rules.always, gate.candidate.repository, gate.candidate.tag)
        if always is not None:
            decision = Decision(gate.candidate, True, f"always: {always.text}")
        decisions.append(_rescan(decision, settings, previously_scanned, digests))
    return decisions


def _first_reference_per_digest(previously_scanned: Mapping[str, str]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for reference, digest in sorted(previously_scanned.items()):
        digests.setdefault(digest, reference)
    return digests


def _condition(gate: Decision, settings: PullSettings, cutoff: datetime | None, rank: int) -> Decision:
    if not gate.selected or settings.condition == "none":
        return gate
    if settings.condition == "created_within":
        return _within(gate.candidate, cutoff, settings.created_within)
    return _latest(gate.candidate, rank, settings)


def _rescan(
    decision: Decision, settings: PullSettings, previously_scanned: Mapping[str, str], digests: Mapping[str, str]
) -> Decision:
    if settings.rescan or not decision.selected:
        return decision
    reason = _already_scanned(decision.candidate, previously_scanned, digests)
    return decision if reason is None else Decision(decision.candidate, False, reason)
