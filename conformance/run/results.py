"""A run's results: :class:`ImplResult` per implementation, :class:`RunReport` per subject.

Each cell is a :class:`conformance.run.runner.CellResult`; the verdicts, the exit code and
the report schema come from :mod:`conformance.base.verdict`, the causes from
:mod:`conformance.base.causes`. :meth:`RunReport.to_json` is the JSON report (schema
:data:`conformance.base.verdict.REPORT_SCHEMA`) that the faces write with
:func:`conformance.reporting.json_report.write_json`, and that the Markdown summary and the
tooling read back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.base import causes, verdict
from conformance.numerics.tolerance import LAMBDA
from conformance.run.runner import CellResult


@dataclass
class ImplResult:
    """One implementation's cells on one subject, or why it could not be loaded."""

    name: str
    spec: str
    builtin: bool
    properties: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    load_error: str | None = None

    @property
    def passed(self) -> bool:
        return verdict.passed([c.status for c in self.properties], self.load_error)

    @property
    def declaration_failed(self) -> bool:
        """Some cell has no verdict because the per-sample subject's declaration failed."""
        return any(c.declaration_failed for c in self.properties)

    @property
    def verdict(self) -> verdict.Verdict:
        return verdict.verdict([c.status for c in self.properties], self.load_error, self.declaration_failed)


@dataclass
class RunReport:
    """Every implementation checked on one subject, and what the run was."""

    subject: str
    profile: str
    strict: bool
    x64: bool
    environment: dict[str, Any]
    elapsed_seconds: float
    implementations: list[ImplResult]
    signature: str = ""
    #: the error model the numeric properties enforced
    tolerance: str = "rigorous"

    @property
    def passed(self) -> bool:
        return all(i.passed for i in self.implementations)

    def exit_code(self) -> int:
        return verdict.exit_code(
            ([c.status for c in i.properties], i.load_error, i.declaration_failed)
            for i in self.implementations
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON report: plain data (statuses as strings), causes grouped per implementation."""
        return {
            "schema": verdict.REPORT_SCHEMA,
            "subject": self.subject,
            "signature": self.signature,
            "profile": self.profile,
            "strict": self.strict,
            "x64": self.x64,
            "environment": self.environment,
            "elapsed_seconds": self.elapsed_seconds,
            "tolerance": {
                "model": self.tolerance,
                "lambda": LAMBDA if self.tolerance == "probabilistic" else None,
            },
            "passed": self.passed,
            "implementations": [
                {
                    **{k: v for k, v in asdict(i).items() if k != "properties"},
                    "passed": i.passed,
                    "verdict": str(i.verdict),
                    "causes": [c.to_json() for c in causes.causes_of(i)],
                    "properties": [
                        {**asdict(c), "status": str(c.status), "name": c.property} for c in i.properties
                    ],
                }
                for i in self.implementations
            ],
        }


__all__ = ["ImplResult", "RunReport"]
