"""Statuses, the verdict rule, the report schema and the replay command, as plain data.

This module imports nothing of the suite, JAX or Hypothesis (only the default subject's
name, from the standard-library-only :mod:`impl.registry`): the engine, the report, the
cause grouping, the corpus and the tooling all read their statuses, which of them fail,
their verdicts and their replay commands from here, so there is one writer and one parser
of each.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from impl.registry import DEFAULT_SUBJECT

REPORT_SCHEMA_PREFIX = "nnx-conformance/report/"
#: report/3: statuses ``incomplete``; examples per edge; load errors keep their place.
#: report/4: each implementation's failures grouped by cause (``causes``, see conformance.base.causes).
#: report/5: each property's ``headroom`` and the run's ``tolerance`` (see conformance.numerics.headroom).
#: report/6: each property's ``declaration_failed``, and the verdict ``no verdict: declaration failed``.
REPORT_SCHEMA = REPORT_SCHEMA_PREFIX + "6"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Status(StrEnum):
    """The outcome of one cell (an implementation x a property)."""

    PASS = "pass"  # held on every example it ran
    FAIL = "fail"  # broke the claim: a counterexample and a replay command
    SKIP = "skip"  # does not apply here; the reason says why
    #: ran no example (or none inside some edge), or the subject's declaration failed on a drawn
    #: input (the cell is marked ``declaration_failed``): nothing was shown
    INCOMPLETE = "incomplete"
    ERROR = "error"  # an internal error of the suite, never the implementation's fault
    XFAIL = "xfail"  # failed as expected (a known non-conformant reference, or the user's file)
    XPASS = "xpass"  # expected to fail, but held: a stale expectation


#: Statuses that do not fail a run.
PASSING = frozenset({Status.PASS, Status.SKIP, Status.XFAIL})
#: Statuses that fail a run: every status not in :data:`PASSING`. The reports list these cells
#: as failures, and the cause grouping groups them apart from the expected ones (``xfail``).
UNEXPECTED = frozenset(Status) - PASSING
#: Statuses that show an implementation does not conform: :data:`UNEXPECTED` but ``incomplete``
#: (a cell that ran no example shows nothing). The verdict rule reads them, and the engine's
#: ``stop_at_first_failure`` stops at the first of them.
FAILING = frozenset({Status.FAIL, Status.ERROR, Status.XPASS})


class Verdict(StrEnum):
    """What a run says of one implementation."""

    CONFORMS = "conforms"
    KNOWN_NON_CONFORMANT = "known non-conformant"
    DOES_NOT_CONFORM = "does not conform"
    #: no verdict on some property: the per-sample subject's declaration (the user's ``make`` or
    #: ``call``) raised, hung, died or answered garbage on a drawn input; the implementation is
    #: not blamed, and the run exits with :data:`EXIT_USAGE`
    DECLARATION_FAILED = "no verdict: declaration failed"
    INCOMPLETE = "incomplete"
    LOAD_ERROR = "load error"


def verdict(
    statuses: Iterable[str], load_error: str | None = None, declaration_failed: bool = False
) -> Verdict:
    """The verdict rule: a load error, then a failure, then a cell with no verdict because the
    subject's declaration failed (``declaration_failed``: some cell is marked so), then a cell
    that ran nothing, then xfails."""
    if load_error:
        return Verdict.LOAD_ERROR
    found = {Status(s) for s in statuses}
    if found & FAILING:
        return Verdict.DOES_NOT_CONFORM
    if declaration_failed:
        return Verdict.DECLARATION_FAILED
    if Status.INCOMPLETE in found:
        return Verdict.INCOMPLETE
    if Status.XFAIL in found:
        return Verdict.KNOWN_NON_CONFORMANT
    return Verdict.CONFORMS


def passed(statuses: Iterable[str], load_error: str | None = None) -> bool:
    return load_error is None and all(Status(s) in PASSING for s in statuses)


def exit_code(implementations: Iterable[tuple[Iterable[str], str | None, bool]]) -> int:
    """For ``(statuses, load error, declaration failed)`` per implementation: 2 if any could not
    be loaded or has a cell with no verdict because the subject's declaration failed (the user's
    input, not the implementation nor the suite, is at fault), 3 for an internal error, 1 for a
    failure."""
    code = EXIT_OK
    for statuses, load_error, declaration_failed in implementations:
        statuses = [Status(s) for s in statuses]
        if load_error or declaration_failed:
            return EXIT_USAGE
        if Status.ERROR in statuses:
            code = EXIT_INTERNAL
        elif code == EXIT_OK and not passed(statuses):
            code = EXIT_FAILED
    return code


def worst_exit(codes: Iterable[int]) -> int:
    """The most serious of several runs' exit codes: a load error, an internal error, a failure."""
    codes = set(codes)
    return next((c for c in (EXIT_USAGE, EXIT_INTERNAL, EXIT_FAILED) if c in codes), EXIT_OK)


# --------------------------------------------------------------------------- the replay command


@dataclass(frozen=True)
class ReplayCommand:
    """``python -m conformance replay ...``: one property of one implementation on one case.

    ``case`` is the case's JSON (conformance.cases.codec) or ``@path`` of a file holding it.
    """

    subject: str
    impl: str
    property: str
    case: str
    x64: bool = False
    strict: bool = False
    python: str = "python"
    #: the error model of the run that found the case (only a non-default one is spelled out)
    tolerance: str = "rigorous"

    def argv(self) -> list[str]:
        out = [self.python, "-m", "conformance", "replay", "--subject", self.subject, "--impl", self.impl]
        out += ["--x64"] * self.x64 + ["--strict"] * self.strict
        out += ["--tolerance", self.tolerance] * (self.tolerance != "rigorous")
        return [*out, "--property", self.property, "--case", self.case]

    def __str__(self) -> str:
        return " ".join(shlex.quote(p) for p in self.argv())

    @classmethod
    def parse(cls, text: str) -> ReplayCommand:
        """The command back from its text; ``ValueError`` saying what is missing or wrong."""
        try:
            tokens = shlex.split(text.strip())
        except ValueError as e:
            raise ValueError(f"not a replay command: {e}") from None
        if "replay" not in tokens:
            raise ValueError(
                "not a replay command: expected '... -m conformance replay --subject S --impl I ...'"
            )
        at = tokens.index("replay")
        args, _ = _PARSER.parse_known_args(tokens[at + 1 :])
        missing = [f"--{k}" for k in ("impl", "property", "case") if getattr(args, k) is None]
        if missing:
            raise ValueError(f"not a replay command: missing {', '.join(missing)}")
        python = tokens[0] if at >= 2 and tokens[at - 2 : at] == ["-m", "conformance"] else "python"
        return cls(
            args.subject, args.impl, args.property, args.case, args.x64, args.strict, python, args.tolerance
        )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ValueError(f"not a replay command: {message}")


_PARSER = _Parser(prog="replay", add_help=False)
_PARSER.add_argument("--subject", default=DEFAULT_SUBJECT)
_PARSER.add_argument("--impl")
_PARSER.add_argument("--property")
_PARSER.add_argument("--case")
_PARSER.add_argument("--x64", action="store_true")
_PARSER.add_argument("--strict", action="store_true")
_PARSER.add_argument("--tolerance", default="rigorous")
