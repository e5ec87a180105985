"""``python -m conformance plot REPORT.json [REPORT.json ...] [--out PNG]``: the error headroom, drawn.

One panel per report (a subject), one column per numeric property, one marker group per
implementation: a bar from the median to the 99th percentile of the per-example largest
error-to-allowed ratios, and a marker at the largest. The y axis is logarithmic with the
bound at 1 (a ratio above it is a failure, drawn in red); a ratio of zero (bitwise equal to
what it was compared with) sits on the floor of the axis, one past 10**4 (or infinite, from
a NaN output) on its ceiling with its value written below it. Reads ``headroom`` from
reports written by ``check --json`` (a tool on the report, never imported by the engine).
Matplotlib's Agg backend: no display needed.

Public API::

    load_reports(paths) -> list[dict]          # ValueError naming the file and what is wrong
    write_plot(reports, path) -> None
    add_parser(subparsers) / cmd_plot(args) -> int
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from conformance.base.verdict import EXIT_OK, EXIT_USAGE, REPORT_SCHEMA_PREFIX

#: Ratios below this are drawn on the floor of the axis (zero included).
FLOOR = 1e-6
#: Ratios above this (and infinite ones) are drawn at it, as a ^ with their value written beside.
CEILING = 1e4
DEFAULT_OUT = "headroom.png"


def _ratio(x: Any) -> float:
    if x is None:
        return math.nan
    return math.inf if x == "inf" else float(x)


def load_reports(paths: list[str]) -> list[dict[str, Any]]:
    """The reports at ``paths``; ValueError (one line naming the file) for a file that is not one,
    or when no report holds a single headroom record."""
    reports = []
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
        except OSError as e:
            raise ValueError(f"{path}: {e.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not a JSON report: {e}") from None
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith(REPORT_SCHEMA_PREFIX):
            raise ValueError(f"{path}: not a conformance JSON report (no schema {REPORT_SCHEMA_PREFIX}N)")
        if not isinstance(doc.get("implementations"), list):
            raise ValueError(f"{path}: the report lists no implementations")
        reports.append(doc)
    if not any(_cells(r) for r in reports):
        raise ValueError(
            f"{', '.join(paths)}: no headroom to plot (no numeric property ran, or the report predates "
            "headroom records)"
        )
    return reports


def _cells(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    """``(implementation, property, headroom, status)`` of every cell that has a headroom record."""
    out = []
    for impl in report.get("implementations", []):
        for cell in impl.get("properties") or []:
            record = cell.get("headroom")
            if isinstance(record, dict) and "max" in record:
                out.append((impl.get("name", "?"), cell.get("property", "?"), record, cell.get("status", "")))
    return out


def _height(r: float) -> float:
    return min(max(r, FLOOR), CEILING)


def write_plot(reports: list[dict[str, Any]], path: str) -> None:
    """Draw every report's headroom into one PNG at ``path`` (a panel per report)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [r for r in reports if _cells(r)]
    widths = [max(4.0, 1.1 * len({p for _, p, _, _ in _cells(r)})) for r in panels]
    fig = Figure(figsize=(max(7.0, max(widths) + 2.5), 4.2 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, report in zip((a[0] for a in axes), panels, strict=True):
        cells = _cells(report)
        props = list(dict.fromkeys(p for _, p, _, _ in cells))
        impls = list(dict.fromkeys(i for i, _, _, _ in cells))
        step = 0.8 / max(1, len(impls))
        for k, name in enumerate(impls):
            colour = f"C{k % 10}"
            for j, prop in enumerate(props):
                found = [(h, s) for i, p, h, s in cells if i == name and p == prop]
                if not found:
                    continue
                record, status = found[0]
                x = j - 0.4 + step * (k + 0.5)
                high = _ratio(record.get("max"))
                low, p99 = _ratio(record.get("median")), _ratio(record.get("p99"))
                if not (math.isnan(low) or math.isnan(p99)):
                    ax.plot([x, x], [_height(low), _height(p99)], color=colour, lw=3, alpha=0.45)
                failed = high > 1 or status in ("fail", "xfail")
                marker = "^" if high > CEILING else ("v" if high < FLOOR else "o")
                ax.scatter(
                    [x], [_height(high)], marker=marker, s=36, color="red" if failed else colour, zorder=3,
                    edgecolors=colour, linewidths=1.2,
                )  # fmt: skip
                if high > CEILING:
                    label = "inf" if math.isinf(high) else f"{high:.0e}".replace("e+", "e")
                    ax.annotate(label, (x, CEILING), xytext=(0, -4), textcoords="offset points", rotation=90,
                                ha="center", va="top", fontsize=6, color="red")  # fmt: skip
            ax.scatter([], [], marker="o", color=colour, label=name)
        ax.axhline(1.0, color="black", lw=1.2)
        ax.text(len(props) - 0.45, 1.12, "bound", ha="right", va="bottom", fontsize="small")
        ax.set_yscale("log")
        ax.set_ylim(FLOOR / 2, CEILING * 2)
        ax.set_xlim(-0.5, len(props) - 0.5)
        ax.set_xticks(range(len(props)))
        ax.set_xticklabels(props, rotation=25, ha="right", fontsize="small")
        ax.set_ylabel("|error| / allowed (largest per example)")
        ax.grid(True, axis="y", which="major", alpha=0.3)
        env = report.get("environment") or {}
        tol = (report.get("tolerance") or {}).get("model", "rigorous")
        ax.set_title(
            f"{report.get('subject', '?')}, profile {report.get('profile', '?')}, {tol} tolerance"
            + (f" (jax {env['jax']}, flax {env['flax']})" if "jax" in env and "flax" in env else ""),
            fontsize="medium",
        )
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.005, 1.0))
    fig.suptitle(
        "Error headroom: dot = largest ratio over the examples (red: past the bound; ^: off the scale, "
        "value written below it), bar = median to p99",
        fontsize="small",
    )
    fig.savefig(path, dpi=110)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``plot`` to the subparsers ``sub`` of ``python -m conformance``; returns the parser."""
    p = sub.add_parser(
        "plot",
        help="draw the error headroom of JSON reports (ratios to the bound, log scale) as a PNG",
        description=__doc__.split("\n\n")[1].replace("``", "") if __doc__ else None,
    )
    p.add_argument("reports", nargs="+", metavar="REPORT.json", help="reports written by check --json")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="PNG", help=f"the picture (default {DEFAULT_OUT})")
    return p


def cmd_plot(args: argparse.Namespace) -> int:
    """Run ``plot``: 0 when the picture was written, 2 (one ``error:`` line) for bad input."""
    try:
        reports = load_reports(list(args.reports))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_plot(reports, args.out)
    except ImportError:
        print("error: plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"error: --out {args.out}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE
    cells = sum(len(_cells(r)) for r in reports)
    print(f"wrote {args.out} ({cells} cells with headroom)")
    return EXIT_OK
