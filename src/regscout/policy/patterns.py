"""Patterns the policy engine matches with: scope patterns built on the pull rules' (regscout.selection), path
globs as Trivy's ignore files write them, and package URLs compared the way Trivy compares them.

Scope patterns use the pull rules' syntax unchanged: ``*`` is any run of characters, ``\\x`` a literal ``x``.

- repository patterns are pull-rule patterns as they are: ``name``, ``:tag`` or ``name:tag``;
- registry patterns and name patterns (package and licence names) cover one name, so ``:`` in them is literal
  (``localhost:5000``, Maven's ``group:artifact``);
- tag patterns cover a tag, which holds no ``:`` or ``/``.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from ..registries.reference import DOCKER_HUB_HOSTS
from ..selection import Pattern, parse_pattern, pattern_matches

__all__ = [
    "Pattern",
    "canonical_registry",
    "compile_glob",
    "literal_name",
    "name_matches",
    "name_pattern",
    "parse_purl",
    "purl_matches",
    "registry_hosts",
    "registry_matches",
    "registry_pattern",
    "repository_matches",
    "repository_pattern",
    "strip_pattern",
    "tag_matches",
    "tag_pattern",
]

_DOCKER_HUB = "docker.io"


def _escape_colons(text: str) -> str:
    """Every unescaped ``:`` escaped, so the pull-rule parser keeps the whole text as one name."""
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            out.append(ch if nxt is None else ch + nxt)  # a lone backslash stays, for parse_pattern to refuse
        else:
            out.append("\\:" if ch == ":" else ch)
    return "".join(out)


def strip_pattern(text: str) -> str:
    """Surrounding whitespace removed, except an escaped last character (``a\\ `` stays: its space is literal)."""
    head = text.lstrip()
    body = head.rstrip()
    if len(body) < len(head):
        backslashes = len(body) - len(body.rstrip("\\"))
        if backslashes % 2:
            body += head[len(body)]
    return body


def name_pattern(text: str) -> Pattern:
    """One name with ``*`` wildcards; ValueError with the reason when it is empty or malformed."""
    return parse_pattern(_escape_colons(strip_pattern(text)))


def name_matches(pattern: Pattern, name: str) -> bool:
    return pattern_matches(pattern, name, "")


def literal_name(text: str) -> str | None:
    """The name a pattern stands for when it has no ``*`` (escapes resolved), else None: a dictionary lookup
    then does what a scan over every name would."""
    out: list[str] = []
    chars = iter(strip_pattern(text))
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                return None
            out.append(nxt)
        elif ch == "*":
            return None
        else:
            out.append(ch)
    return "".join(out)


def repository_pattern(text: str) -> Pattern:
    """A pull-rule pattern: ``name`` (every tag of it), ``:tag`` (that tag under any name), ``name:tag``."""
    return parse_pattern(strip_pattern(text))


def repository_matches(pattern: Pattern, repository: str, tag: str) -> bool:
    return pattern_matches(pattern, repository, tag)


def tag_pattern(text: str) -> Pattern:
    stripped = strip_pattern(text)
    if not stripped:
        raise ValueError("pattern is empty")
    if ":" in stripped or "/" in stripped:
        raise ValueError(
            f"tag pattern {text!r} holds ':' or '/', which no tag does; repository patterns go in repositories"
        )
    return parse_pattern(":" + stripped)


def tag_matches(pattern: Pattern, tag: str) -> bool:
    return pattern.tag is not None and pattern.tag.fullmatch(tag) is not None


def registry_pattern(text: str) -> Pattern:
    """Registry hosts compare case-insensitively, so the pattern is lower-cased like the hosts it meets."""
    return name_pattern(text.lower())


def registry_hosts(host: str) -> tuple[str, ...]:
    """The names a registry host goes by: itself lower-cased; every Docker Hub alias for Docker Hub, docker.io first."""
    host = host.strip().lower()
    if host in DOCKER_HUB_HOSTS:
        return (_DOCKER_HUB, *sorted(DOCKER_HUB_HOSTS - {_DOCKER_HUB}))
    return (host,)


def canonical_registry(host: str) -> str:
    return registry_hosts(host)[0]


def registry_matches(pattern: Pattern, host: str) -> bool:
    return any(name_matches(pattern, name) for name in registry_hosts(host))


# ---------------------------------------------------------------------------------------------------- path globs


def _char_class(text: str, start: int, pattern: str) -> tuple[str, int]:
    """``[...]`` at ``start``: the regex class and the index after it. ``!`` or ``^`` first negates."""
    i = start + 1
    negate = i < len(text) and text[i] in "!^"
    if negate:
        i += 1
    first = i
    while i < len(text) and (text[i] != "]" or i == first):
        i += 1
    if i >= len(text):
        raise ValueError(f"path pattern {pattern!r} has an unclosed '['")
    body = "".join(ch if ch == "-" else re.escape(ch) for ch in text[first:i])
    # A class never matches the path separator, as in doublestar.
    return ("[^/" + body + "]" if negate else "(?!/)[" + body + "]"), i + 1


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A doublestar glob (the syntax of Trivy's ignore-file ``paths``) as a regex for ``fullmatch``.

    ``**`` as a whole path segment is any number of segments, ``*`` any run within a segment, ``?`` one character
    but ``/``, ``[...]`` a class, ``{a,b}`` alternatives, ``\\x`` a literal ``x``. A leading ``/`` is dropped:
    image paths are relative to the root. ValueError when the pattern is malformed."""
    text = pattern.strip().lstrip("/")
    if not text:
        raise ValueError("path pattern is empty")
    out: list[str] = []
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 == n:
                raise ValueError(f"path pattern {pattern!r} ends with a lone backslash")
            out.append(re.escape(text[i + 1]))
            i += 2
        elif text.startswith("**", i):
            end = i + 2
            whole_segment = (i == 0 or text[i - 1] == "/") and (end == n or text[end] == "/")
            if whole_segment and end < n:
                out.append("(?:[^/]*/)*")  # "**/": zero or more directories
                i = end + 1
            else:
                out.append(".*" if whole_segment else "[^/]*")
                i = end
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            regex, i = _char_class(text, i, pattern)
            out.append(regex)
        elif ch == "{":
            depth += 1
            out.append("(?:")
            i += 1
        elif ch == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        elif ch == "," and depth:
            out.append("|")
            i += 1
        else:
            out.append(re.escape(ch))
            i += 1
    if depth:
        raise ValueError(f"path pattern {pattern!r} has an unclosed '{{'")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:  # a class like [z-a]
        raise ValueError(f"path pattern {pattern!r} is malformed: {exc}") from None


# ---------------------------------------------------------------------------------------------------- purls


def parse_purl(text: str) -> PackageURL:
    """A package URL; ValueError naming it when it is not one."""
    try:
        return PackageURL.from_string(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a package URL: {exc}") from None


def purl_matches(constraint: PackageURL, target: PackageURL) -> bool:
    """Trivy's rule (pkg/purl Match): type, namespace and name equal; the version and subpath when the constraint
    gives them; every qualifier of the constraint present with the same value in the target."""
    if (constraint.type, constraint.namespace, constraint.name) != (target.type, target.namespace, target.name):
        return False
    if constraint.version and constraint.version != target.version:
        return False
    if constraint.subpath and constraint.subpath != target.subpath:
        return False
    wanted = _qualifiers(constraint)
    if not wanted:
        return True
    have = _qualifiers(target)
    return all(have.get(key) == value for key, value in wanted.items())


def _qualifiers(purl: PackageURL) -> dict[str, str]:
    qualifiers = purl.qualifiers
    if isinstance(qualifiers, dict):
        return {str(k): str(v) for k, v in qualifiers.items()}
    if isinstance(qualifiers, str) and qualifiers:
        pairs = (item.partition("=") for item in qualifiers.split("&"))
        return {key: value for key, _, value in pairs}
    return {}
