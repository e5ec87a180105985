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
}


def print_report(report: RunReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    props: list[tuple[str, str]] = []
    for impl in report.implementations:
        for cell in impl.properties:
            if cell.property not in [p for p, _ in props]:
                props.append((cell.property, cell.claim))
    title = f"{report.subject}, profile {report.profile}"
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
            if cell.status in ("fail", "error"):
                print_failure(console, impl.name, cell)
    failed = sum(1 for i in report.implementations for c in i.properties if c.status in ("fail", "error"))
    passed = sum(1 for i in report.implementations for c in i.properties if c.status == "pass")
    skipped = sum(1 for i in report.implementations for c in i.properties if c.status == "skip")
    console.print(
        f"\n{report.elapsed_seconds:.1f} s. conformance: {passed} passed, {failed} failed, {skipped} skipped"
    )


def _verdict(impl) -> str:  # noqa: ANN001
    if impl.load_error:
        return "[red]load error[/]"
    return "[green]conforms[/]" if impl.passed else "[bold red]does not conform[/]"


def print_failure(console: Console, impl: str, cell) -> None:  # noqa: ANN001
    console.print(f"\n[bold red]{escape(impl)} / {cell.property}[/]: {escape(cell.claim)}")
    console.print(f"  [red]{escape(cell.message)}[/]")
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
