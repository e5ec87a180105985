"""Human-readable output: the implementation x property matrix and each failure's evidence."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.base.catalogue import by_group
from conformance.base.causes import causes_of, describe
from conformance.base.verdict import UNEXPECTED, Status, Verdict
from conformance.numerics.headroom import share
from conformance.run.results import RunReport

MARKS = {
    Status.PASS: "[green]pass[/]",
    Status.FAIL: "[bold red]FAIL[/]",
    Status.SKIP: "[dim]skip[/]",
    Status.INCOMPLETE: "[bold magenta]INCOMPLETE[/]",
    Status.ERROR: "[magenta]ERROR[/]",
    Status.XFAIL: "[yellow]xfail[/]",
    Status.XPASS: "[bold red]XPASS[/]",
}
#: An ``incomplete`` cell marked ``declaration_failed``: the subject's declaration failed there.
NO_VERDICT = "[bold magenta]NO VERDICT[/]"
VERDICTS = {
    Verdict.CONFORMS: "[green]conforms[/]",
    Verdict.KNOWN_NON_CONFORMANT: "[yellow]known non-conformant[/]",
    Verdict.DOES_NOT_CONFORM: "[bold red]does not conform[/]",
    Verdict.DECLARATION_FAILED: "[bold magenta]no verdict: declaration failed[/]",
    Verdict.INCOMPLETE: "[bold magenta]incomplete[/]",
    Verdict.LOAD_ERROR: "[red]load error[/]",
}


def print_report(report: RunReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    props: list[tuple[str, str]] = []
    for impl in report.implementations:
        for cell in impl.properties:
            if cell.property not in [p for p, _ in props]:
                props.append((cell.property, cell.claim))
    title = f"{report.subject}, profile {report.profile}"
    if report.signature:
        title = f"{report.signature}\nprofile {report.profile}"
    title += (", x64" if report.x64 else "") + (", strict" if report.strict else "")
    table = Table(title=title)
    table.add_column("property", min_width=max((len(p) for p, _ in props), default=8))
    for impl in report.implementations:
        table.add_column(impl.name, justify="center")
    for i, (group, names) in enumerate(by_group([p for p, _ in props]).items()):
        if i:
            table.add_section()
        table.add_row(f"[bold]{group}[/]", *[""] * len(report.implementations))
        for prop in names:
            row = []
            for impl in report.implementations:
                cell = next((c for c in impl.properties if c.property == prop), None)
                row.append(_mark(cell) if cell else "-")
            table.add_row(prop, *row)
    table.add_section()
    table.add_row("[bold]verdict[/]", *[VERDICTS[i.verdict] for i in report.implementations])
    console.print(table)
    if any(c.headroom for i in report.implementations for c in i.properties):
        console.print(
            "[dim]beside pass: the largest error seen, as a share of the allowed error (the bound); "
            "'!': beyond the probabilistic bound (JSON: headroom)[/]"
        )
    for impl in report.implementations:
        if impl.load_error:
            console.print(
                f"\n[bold red]{escape(impl.name)}[/] ({escape(impl.spec)}): could not be loaded: "
                f"{escape(impl.load_error)}"
            )
        failing = [c for c in impl.properties if c.status in UNEXPECTED]  # each with its evidence
        print_causes(console, impl, expected=False)
        for cell in failing:
            print_failure(console, impl.name, cell, "magenta" if cell.declaration_failed else "red")
    notes: dict[tuple[str, str], list[str]] = {}  # what passing cells say they checked
    for impl in report.implementations:
        for cell in impl.properties:
            if cell.status == Status.PASS and cell.message:
                notes.setdefault((cell.property, cell.message), []).append(impl.name)
    for (prop, message), impls in notes.items():
        console.print(f"\n[dim]{prop} ({escape(', '.join(impls))}): {escape(message)}[/]")
    skipped = [(i.name, c) for i in report.implementations for c in i.properties if c.status == Status.SKIP]
    for name, cell in skipped:
        console.print(f"\n[dim]{escape(name)} / {cell.property}: skipped: {escape(cell.message)}[/]")
    for impl in report.implementations:
        for cell in impl.properties:
            warning = (cell.headroom or {}).get("warning")
            if warning:
                console.print(
                    f"\n[bold yellow]warning: {escape(impl.name)} / {cell.property}[/]: {escape(warning)}"
                )
                where = cell.headroom.get("where") or {}
                example = ", ".join(f"{k} = {v}" for k, v in (where.get("example") or {}).items())
                if example:
                    console.print(f"  largest in the example {example}", markup=False)
    expected = [(i, c) for i in report.implementations for c in i.properties if c.status == Status.XFAIL]
    if expected:
        console.print("\n[bold yellow]Expected failures[/] (known non-conformant, the run stays green):")
        for impl in report.implementations:
            print_causes(console, impl, expected=True)
            for cell in impl.properties:
                if cell.status == Status.XFAIL:
                    print_failure(console, impl.name, cell, "yellow")
    counts = {s: 0 for s in Status}
    no_verdict = 0
    for impl in report.implementations:
        for cell in impl.properties:
            if cell.declaration_failed:
                no_verdict += 1
            else:
                counts[Status(cell.status)] += 1
    failed = counts[Status.FAIL] + counts[Status.ERROR] + counts[Status.XPASS] + counts[Status.INCOMPLETE]
    summary = f"{counts[Status.PASS]} passed, {failed} failed, {counts[Status.SKIP]} skipped"
    if counts[Status.INCOMPLETE]:
        summary += f" ({counts[Status.INCOMPLETE]} incomplete: ran no example)"
    if no_verdict:
        summary += (
            f", {no_verdict} without a verdict (the subject's declaration failed on a drawn input: "
            "fix make or call, or narrow the subject with dims= or dtypes=)"
        )
    if counts[Status.XFAIL] or counts[Status.XPASS]:
        summary += f", {counts[Status.XFAIL]} expected failures, {counts[Status.XPASS]} unexpected passes"
    loads = sum(1 for i in report.implementations if i.load_error)
    if loads:
        summary += f", {loads} could not be loaded"
    console.print(f"\n{report.elapsed_seconds:.1f} s. conformance: {summary}")


def _mark(cell: Any) -> str:
    """The cell's status, with its headroom beside it when it passed comparing numbers: ``pass 0.63%``
    (a failure's message says how far past the bound it went)."""
    mark = NO_VERDICT if cell.declaration_failed else MARKS[cell.status]
    if not cell.headroom or cell.status not in (Status.PASS, Status.XPASS):
        return mark
    text = share(cell.headroom.get("max"))
    if cell.headroom.get("warning"):
        return f"{mark} [bold yellow]{text}![/]"
    return f"{mark} [dim]{text}[/]"


def print_causes(console: Console, impl: Any, expected: bool) -> None:
    """One line per cause of ``impl``'s failing properties (expected ones, or the others), when
    there are several such properties; numbered as in the JSON report's ``causes``."""
    found = [(n, c) for n, c in enumerate(causes_of(impl), 1) if c.expected == expected and c.properties]
    count = sum(len(c.properties) for _, c in found)
    if count < 2:
        return
    colour = "yellow" if expected else "red"
    what = "expected failures" if expected else "failing properties"
    plural = "cause" if len(found) == 1 else "causes"
    console.print(f"\n[bold {colour}]{escape(impl.name)}[/]: {count} {what}, {len(found)} {plural}:")
    for n, cause in found:
        console.print(f"  {describe(n, cause)}", markup=False)


def print_failure(console: Console, impl: str, cell: Any, colour: str = "red") -> None:
    console.print(f"\n[bold {colour}]{escape(impl)} / {cell.property}[/]: {escape(cell.claim)}")
    if cell.expected_failure:
        console.print(f"  expected to fail: {escape(cell.expected_failure)}")
    console.print(f"  [{colour}]{escape(cell.message)}[/]")
    if cell.counterexample:
        edge = cell.counterexample.get("edge")
        where = f" (found by the search inside the edge '{edge}')" if edge else ""
        console.print(f"  minimal counterexample{escape(where)}:")
        for key, value in cell.counterexample["summary"].items():
            console.print(f"    {key} = {value}", markup=False)
    if cell.first_failure_seconds is not None:
        console.print(
            f"  first failure after {cell.first_failure_seconds:.1f} s, "
            f"minimal example {cell.shrink_seconds:.1f} s later ({cell.examples} examples)"
        )
    if cell.replay:
        console.print("  replay:")
        console.print(f"    {cell.replay}", markup=False, soft_wrap=True)
