"""The score of a mutation run: each mutant's result, the report as JSON, and the printed summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = "nnx-conformance/mutation/1"
#: Statuses of a mutant.
KILLED, SURVIVED, TIMED_OUT, LOAD_ERROR, ERROR = "killed", "survived", "timed out", "load error", "error"


@dataclass
class MutantResult:
    id: int
    operator: str
    description: str
    line: int
    status: str = SURVIVED
    killed_by: str | None = None
    message: str = ""
    seconds: float = 0.0
    likely_equivalent: bool | None = None
    difference: str | None = None
    diff: str = ""


@dataclass
class MutationReport:
    spec: str
    subject: str
    profile: str
    source: str
    functions: list[str]
    properties: list[str]
    baseline_seconds: float
    baseline_excluded: dict[str, str]
    calls_compared: int
    mutants_found: int
    results: list[MutantResult]
    elapsed_seconds: float = 0.0
    jobs: int = 1
    strict: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def equivalent(self) -> int:
        return sum(bool(r.likely_equivalent) for r in self.results)

    @property
    def detected(self) -> int:
        return sum(r.status in (KILLED, TIMED_OUT, LOAD_ERROR) for r in self.results)

    @property
    def score(self) -> float | None:
        denominator = len(self.results) - self.equivalent
        return self.detected / denominator if denominator else None

    def to_json(self) -> dict[str, Any]:
        from conformance.base.environment import environment

        return {
            "schema": SCHEMA,
            "spec": self.spec,
            "subject": self.subject,
            "profile": self.profile,
            "source": self.source,
            "functions": self.functions,
            "properties": self.properties,
            "environment": environment(False),
            "jobs": self.jobs,
            "strict": self.strict,
            "elapsed_seconds": self.elapsed_seconds,
            "baseline_seconds": self.baseline_seconds,
            "baseline_excluded": self.baseline_excluded,
            "calls_compared": self.calls_compared,
            "mutants_found": self.mutants_found,
            "counts": {
                "mutants": len(self.results),
                "killed": self.count(KILLED),
                "timed_out": self.count(TIMED_OUT),
                "load_error": self.count(LOAD_ERROR),
                "error": self.count(ERROR),
                "survived": self.count(SURVIVED),
                "likely_equivalent": self.equivalent,
            },
            "score": self.score,
            "mutants": [asdict(r) for r in self.results],
        }


def print_report(report: MutationReport) -> None:
    n = len(report.results)
    print(
        f"mutate {report.spec} on {report.subject}, profile {report.profile}: "
        f"{n} mutants of {', '.join(report.functions)} ({report.source})"
    )
    print(f"properties, in order: {', '.join(report.properties)}")
    for status in (KILLED, TIMED_OUT, LOAD_ERROR, ERROR, SURVIVED):
        print(f"  {status:<11} {report.count(status)}")
    print(
        f"  likely equivalent (outputs bitwise identical on all {report.calls_compared} ci calls): "
        f"{report.equivalent}"
    )
    killers: dict[str, int] = {}
    for r in report.results:
        if r.killed_by:
            killers[r.killed_by] = killers.get(r.killed_by, 0) + 1
    if killers:
        print(
            "first property to fail: "
            + ", ".join(f"{p} {k}" for p, k in sorted(killers.items(), key=lambda kv: -kv[1]))
        )
    score = report.score
    denominator = n - report.equivalent
    print(
        f"score: {report.detected}/{denominator} = {score:.1%} of the non-equivalent mutants killed"
        if score is not None
        else "score: none (every mutant is likely equivalent)"
    )
    print(
        f"time: {report.elapsed_seconds:.0f} s ({report.jobs} jobs; "
        f"the original's check {report.baseline_seconds:.0f} s)"
    )
    for r in report.results:
        if r.status != SURVIVED:
            continue
        kind = "likely equivalent" if r.likely_equivalent else f"NOT equivalent: {r.difference}"
        print(f"\nsurvivor: mutant {r.id}, line {r.line}, {r.operator}: {r.description} ({kind})")
        print(r.diff.rstrip("\n"))
