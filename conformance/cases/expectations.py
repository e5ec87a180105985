"""Expected failures owned by the user: a plain text file, one entry per line.

Format (fields separated by whitespace; the reason follows `` -- ``)::

    # IMPLEMENTATION  PROPERTY  [CONDITION ...]  -- REASON
    mine        seed_sensitivity   jax>=0.5,<0.7 flax>=0.10   -- truncates seeds on the 0.5/0.6 lines
    *           agrees_with_oracle subject=vmap_anchored      -- nobody handles the anchored row yet
    legacy_impl output_contract    python<3.12                -- returns a list; fixed upstream in v2

* ``IMPLEMENTATION`` is an implementation name as the report shows it (``nnx_vmap``,
  ``mine`` for ``--impl mine=...``), or ``*`` for every implementation (each one that
  passes is then reported as an unexpected pass).
* ``PROPERTY`` is one property name (no wildcard: a whole implementation is not
  "expected to fail").
* A ``CONDITION`` is ``subject=NAME`` or a version range ``PACKAGE SPECIFIERS`` written
  without spaces, e.g. ``jax>=0.4.31,<0.5`` or ``flax==0.10.*`` (PEP 440 specifiers, as
  pip reads them; pre-releases count as inside a range). ``PACKAGE`` is one of
  :data:`PACKAGES`. A range may be wrapped in brackets: ``[jax>=0.5]``. Without
  conditions an entry applies everywhere.
* ``REASON`` is required: it is shown in the report next to the expected failure.
* Blank lines and lines whose first non-blank character is ``#`` are ignored.
  Everything after the first `` -- `` is the reason, ``#`` included.
* Two entries with the same implementation, property and conditions are an error
  (``duplicate entry``), whatever their reasons.
* A reason that still holds :data:`PLACEHOLDER` (written by ``python -m conformance
  expect`` for the user to replace) is an error: ``--expect`` refuses the file until
  every reason says why.

A listed failure inside its range does not fail the run (``xfail``); a listed property
that holds is an unexpected pass (``xpass``), which does, so stale entries surface.

Public API::

    parse_file(path, placeholders=False) -> list[Expectation]   # ExpectationFileError("path:LINE: ...")
    parse_text(text, path="<text>", placeholders=False) -> list[Expectation]
    match(entries, subject, impl, property, versions) -> Expectation | None
    unknown_names(entries, impls, properties, subjects=None) -> list[str]
    installed_versions() -> dict[str, str]
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from conformance.base.environment import versions

#: What :func:`conformance.base.environment.versions` says of a package that is not installed.
NOT_INSTALLED = "not installed"

#: Packages a version range may name.
PACKAGES = ("jax", "jaxlib", "flax", "numpy", "python")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A subject's name as reports give it: a built-in subject's (an identifier), or a per-sample
#: declaration's spec (``module:attr``, ``path/to/file.py:attr``).
_SUBJECT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[^\s:]+:[A-Za-z_][A-Za-z0-9_.]*)$")
_RANGE = re.compile(r"^(?P<package>[A-Za-z_][A-Za-z0-9_.-]*?)(?P<specifiers>(?:[<>=!~]).*)$")
_REASON = re.compile(r"(?:^|\s)--(?:\s|$)")

#: Marks a reason ``python -m conformance expect`` left for the user to write.
PLACEHOLDER = "TODO(expect)"


class ExpectationFileError(ValueError):
    """A bad line in an expected-failures file; the message is ``path:LINE: what is wrong``."""


@dataclass(frozen=True)
class Expectation:
    """One entry: ``impl`` may be ``*``; ``subject`` None means any subject."""

    impl: str
    property: str
    reason: str
    #: (package, specifier set) pairs, in the order written
    ranges: tuple[tuple[str, SpecifierSet], ...] = ()
    subject: str | None = None
    path: str = "<text>"
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def conditions(self) -> str:
        """The conditions as written back, e.g. ``subject=vmap_over_batch jax<0.5,>=0.4.31``."""
        parts = [f"subject={self.subject}"] if self.subject else []
        parts += [f"{pkg}{spec}" for pkg, spec in self.ranges]
        return " ".join(parts)

    def describe(self) -> str:
        """One line for a report: what was expected, where it was written, and why."""
        cond = self.conditions()
        return f"{self.impl} {self.property}{' ' + cond if cond else ''} ({self.where}): {self.reason}"

    def applies(self, subject: str, impl: str, property: str, versions: Mapping[str, str]) -> bool:
        """Whether this entry covers ``impl`` / ``property`` on ``subject`` with these versions.

        ``versions`` maps package names to installed versions (see :func:`installed_versions`);
        a range naming a package missing from it is a ``ValueError``.
        """
        if self.impl not in ("*", impl) or self.property != property:
            return False
        if self.subject is not None and self.subject != subject:
            return False
        for package, spec in self.ranges:
            if package not in versions:
                raise ValueError(f"{self.where}: no version of {package} given to check {package}{spec}")
            try:
                version = Version(str(versions[package]))
            except InvalidVersion:
                raise ValueError(
                    f"{package} version {versions[package]!r} is not a PEP 440 version"
                ) from None
            if not spec.contains(version, prereleases=True):
                return False
        return True

    def _key(self) -> tuple[str, str, str | None, frozenset[tuple[str, str]]]:
        return (self.impl, self.property, self.subject, frozenset((p, str(s)) for p, s in self.ranges))


def _error(path: str, line: int, message: str) -> ExpectationFileError:
    return ExpectationFileError(f"{path}:{line}: {message}")


def _parse_condition(token: str, path: str, line: int) -> tuple[str, str | SpecifierSet]:
    """``("subject", name)`` or ``(package, SpecifierSet)``."""
    raw = token
    if token.startswith("[") and token.endswith("]"):
        token = token[1:-1]
    if token.startswith("subject="):
        name = token[len("subject=") :]
        if not _SUBJECT.match(name):
            raise _error(
                path,
                line,
                f"subject name {name!r} in {raw!r} is neither an identifier nor a declaration's "
                "module:attr or file.py:attr",
            )
        return "subject", name
    m = _RANGE.match(token)
    if m is None:
        if token.lower() in PACKAGES:
            raise _error(
                path,
                line,
                f"{raw!r} is a package without a range; write it without spaces, e.g. {token}>=0.5,<0.7",
            )
        if any(c in token for c in "<>=!~"):
            raise _error(path, line, f"unknown range syntax {raw!r}; expected e.g. jax>=0.5,<0.7")
        raise _error(
            path,
            line,
            f"unexpected field {raw!r}: after IMPLEMENTATION and PROPERTY only conditions "
            f"(subject=NAME, or a range such as jax>=0.5,<0.7) may come before ' -- REASON'",
        )
    package = m.group("package").lower()
    if package not in PACKAGES:
        raise _error(path, line, f"unknown package {package!r} in {raw!r}; known: {', '.join(PACKAGES)}")
    try:
        spec = SpecifierSet(m.group("specifiers"))
    except InvalidSpecifier as e:
        raise _error(path, line, f"unknown range syntax {raw!r}: {e}") from None
    return package, spec


def _parse_line(text: str, path: str, line: int, placeholders: bool = False) -> Expectation | None:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    parts = _REASON.split(stripped, maxsplit=1)
    if len(parts) < 2:
        raise _error(
            path,
            line,
            "missing ' -- REASON' (every entry needs a reason: IMPLEMENTATION PROPERTY ... -- why)",
        )
    head, reason = parts[0].split(), parts[1].strip()
    if len(head) < 2:
        raise _error(
            path,
            line,
            f"missing fields: expected IMPLEMENTATION PROPERTY [CONDITIONS] -- REASON, got {len(head)} "
            f"field(s) before ' -- '",
        )
    if not reason:
        raise _error(path, line, "empty reason after ' -- ' (say why this failure is expected)")
    if PLACEHOLDER in reason and not placeholders:
        raise _error(
            path,
            line,
            f"the reason is still the {PLACEHOLDER} placeholder written by 'python -m conformance "
            "expect': replace it with why this failure is expected",
        )
    impl, prop = head[0], head[1]
    if impl != "*" and not _NAME.match(impl):
        raise _error(path, line, f"implementation {impl!r} is not a name (an identifier, or * for all)")
    if not _NAME.match(prop):
        raise _error(path, line, f"property {prop!r} is not a property name (no wildcards)")
    subject: str | None = None
    ranges: list[tuple[str, SpecifierSet]] = []
    for token in head[2:]:
        key, value = _parse_condition(token, path, line)
        if key == "subject":
            if subject is not None:
                raise _error(path, line, f"subject given twice ({subject} and {value})")
            subject = str(value)
            continue
        if any(p == key for p, _ in ranges):
            raise _error(path, line, f"two ranges for {key}: join them with a comma, e.g. {key}>=0.5,<0.7")
        assert isinstance(value, SpecifierSet)
        ranges.append((key, value))
    return Expectation(impl, prop, reason, tuple(ranges), subject, path, line)


def parse_text(text: str, path: str = "<text>", placeholders: bool = False) -> list[Expectation]:
    """The entries of an expected-failures text (see the module docstring for the format);
    ``placeholders`` accepts reasons still holding :data:`PLACEHOLDER` (for the ``expect`` tool)."""
    entries: list[Expectation] = []
    seen: dict[tuple, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        entry = _parse_line(line, path, number, placeholders)
        if entry is None:
            continue
        key = entry._key()
        if key in seen:
            raise _error(path, number, f"duplicate entry: the same as line {seen[key]}")
        seen[key] = number
        entries.append(entry)
    return entries


def parse_file(path: str | os.PathLike[str], placeholders: bool = False) -> list[Expectation]:
    """The entries of the expected-failures file at ``path``.

    Raises :class:`ExpectationFileError` (``path:LINE: what is wrong``) for a bad line,
    and ``ExpectationFileError`` (``path: ...``) when the file cannot be read.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ExpectationFileError(f"{name}: cannot read the expected-failures file: {reason}") from None
    return parse_text(text, name, placeholders)


def match(
    entries: Iterable[Expectation], subject: str, impl: str, property: str, versions: Mapping[str, str]
) -> Expectation | None:
    """The first entry that applies (entries naming ``impl`` win over ``*``), or None."""
    found = [e for e in entries if e.applies(subject, impl, property, versions)]
    if not found:
        return None
    named = [e for e in found if e.impl != "*"]
    return (named or found)[0]


def unknown_names(
    entries: Iterable[Expectation],
    impls: set[str],
    properties: set[str],
    subjects: set[str] | None = None,
) -> list[str]:
    """Messages ``path:LINE: ...`` for entries naming an unknown implementation, property or subject."""
    out = []
    for e in entries:
        if e.impl != "*" and e.impl not in impls:
            out.append(f"{e.where}: unknown implementation {e.impl!r}; known: {', '.join(sorted(impls))}")
        if e.property not in properties:
            out.append(f"{e.where}: unknown property {e.property!r}; known: {', '.join(sorted(properties))}")
        if subjects is not None and e.subject is not None and e.subject not in subjects:
            out.append(f"{e.where}: unknown subject {e.subject!r}; known: {', '.join(sorted(subjects))}")
    return out


def installed_versions() -> dict[str, str]:
    """The versions the ranges are checked against: every package of :data:`PACKAGES` installed.

    Read by :func:`conformance.base.environment.versions`, as every report records them; a
    package that is not installed is left out (a range naming it cannot be checked).
    """
    packages = tuple(p for p in PACKAGES if p != "python")
    found = {name: v for name, v in versions(packages).items() if v != NOT_INSTALLED}
    return {"python": platform.python_version(), **found}
