"""Human-readable output: the implementation x property matrix and each failure's evidence."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.runner import RunReport

MARKS = {
    "pass": "[green]pass[/]",
    "fail": "[bold red]FAIL[/]",
    "skip": "[dim]skip[/]",
    "error": "[magenta]ERROR[/]",
    "xfail": "[yellow]xfail[/]",
    "xpass": "[bold red]XPASS[/]",
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
    table.add_column("property")
    for impl in report.implementations:
        table.add_column(impl.name, justify="center")
    for prop, _ in props:
        row = []
        for impl in report.implementations:
            cell = next((c for c in impl.properties if c.property == prop), None)
            row.append(MARKS[cell.status] if cell else "-")
        table.add_row(prop, *row)
    table.add_section()
    table.add_row("[bold]verdict[/]", *[_verdict(i) for i in report.implementations])
    console.print(table)
    for impl in report.implementations:
        if impl.load_error:
            console.print(
                f"\n[bold red]{escape(impl.name)}[/]: could not be loaded: {escape(impl.load_error)}"
            )
        for cell in impl.properties:
            if cell.status in ("fail", "error", "xpass"):
                print_failure(console, impl.name, cell)
    expected = [(i.name, c) for i in report.implementations for c in i.properties if c.status == "xfail"]
    if expected:
        console.print("\n[bold yellow]Expected failures[/] (known non-conformant, the run stays green):")
        for name, cell in expected:
            print_failure(console, name, cell, "yellow")
    counts = {s: 0 for s in ("pass", "fail", "error", "skip", "xfail", "xpass")}
    for impl in report.implementations:
        for cell in impl.properties:
            counts[cell.status] += 1
    failed = counts["fail"] + counts["error"] + counts["xpass"]
    summary = f"{counts['pass']} passed, {failed} failed, {counts['skip']} skipped"
    if counts["xfail"] or counts["xpass"]:
        summary += f", {counts['xfail']} expected failures, {counts['xpass']} unexpected passes"
    console.print(f"\n{report.elapsed_seconds:.1f} s. conformance: {summary}")


def _verdict(impl) -> str:  # noqa: ANN001
    if impl.load_error:
        return "[red]load error[/]"
    if not impl.passed:
        return "[bold red]does not conform[/]"
    if any(c.status == "xfail" for c in impl.properties):
        return "[yellow]known non-conformant[/]"
    return "[green]conforms[/]"


def print_failure(console: Console, impl: str, cell, colour: str = "red") -> None:  # noqa: ANN001
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
