"""The matrix as the table sees it: a :class:`Line` per (jax, flax) pair, and what the files say about it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class InputError(ValueError):
    """A file that is not one of the three kinds, or no usable file at all."""


@dataclass
class ToxRun:
    """One matrix env as tox's result file recorded it."""

    env: str
    source: str
    installed: bool
    install_error: str | None = None
    tests_exit: int | None = None
    tests_summary: str | None = None
    check_exit: int | None = None
    install_seconds: float = 0.0
    tests_seconds: float | None = None
    check_seconds: float | None = None
    python: str | None = None


@dataclass
class Line:
    """One column: a (jax, flax) pair and everything the files say about it."""

    jax: str
    flax: str
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject -> report
    tox: list[ToxRun] = field(default_factory=list)
    stubs: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        envs = list(dict.fromkeys(e.removesuffix("-check") for e in self.envs))
        return f"jax {self.jax}<br>flax {self.flax}" + (f"<br>({', '.join(envs)})" if envs else "")

    @property
    def name(self) -> str:
        return f"jax {self.jax} + flax {self.flax}"

    @property
    def report_envs(self) -> set[str]:
        """The tox envs the reports ran in (a report run by tox names it in the interpreter's path)."""
        names = set()
        for r in self.reports.values():
            m = re.search(
                r"[/\\]\.tox[/\\]([^/\\]+)[/\\]", str((r.get("environment") or {}).get("executable", ""))
            )
            if m:
                names.add(m.group(1))
        return names

    @property
    def envs(self) -> list[str]:
        names = {t.env for t in self.tox} | {str(s["env"]) for s in self.stubs if s.get("env")}
        return sorted(names | self.report_envs)

    @property
    def install_error(self) -> str | None:
        """The installer's error, if no file shows this line installed."""
        if self.reports or any(t.installed for t in self.tox):
            return None
        errors = [t.install_error or "" for t in self.tox if not t.installed]
        errors += [str(s.get("error", "")) for s in self.stubs if s.get("stage") == "install"]
        return next((e for e in errors if e), "(no error text recorded)") if errors else None

    @property
    def run_error(self) -> str | None:
        """Why an installed line has no report (a stub's error, or the check's exit code)."""
        if self.reports or self.install_error is not None:
            return None
        for s in self.stubs:
            if s.get("stage") != "install":
                return str(s.get("error", "")) or "(no error text recorded)"
        for t in self.tox:
            if t.check_exit is not None:
                return f"the check exited {t.check_exit} and wrote no report"
        return "no check report"

    def env_values(self, key: str) -> list[str]:
        values = {str(r["environment"].get(key)) for r in self.reports.values() if r.get("environment")}
        return sorted(v for v in values if v != "None")

    @property
    def full_tox(self) -> ToxRun | None:
        """The tox run that also ran the suite's own tests, else any."""
        runs = sorted(self.tox, key=lambda t: t.tests_exit is None)
        return runs[0] if runs else None


def version_key(version: str) -> tuple:
    """``0.4.31 < 0.4.38 < 0.5.0 < 0.10.2``; pre-release and dev suffixes sort before the release."""
    parts: list[tuple[int, int | str]] = []
    for piece in re.split(r"[.+]", version):
        m = re.match(r"(\d+)(.*)", piece)
        if m:
            parts.append((0, int(m.group(1))))
            if m.group(2):
                parts.append((-1, m.group(2)))
        else:
            parts.append((-1, piece))
    return tuple(parts) + ((0, -1),)
