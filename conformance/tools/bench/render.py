"""What a bench shows: the table on the terminal and the PNG plot, both from the JSON document."""

from __future__ import annotations

from typing import Any

from conformance.tools.bench.timing import gflops

#: the ``(D_in, features)`` panels the plot shows at most (the largest ones, by D_in * features)
MAX_PLOT_PANELS = 6


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}" if ms >= 1 else f"{ms:.3f}"


def _num(value: float | None, fmt: str | None = None) -> str:
    """A rate: three significant digits, no exponent down to 0.001."""
    if value is None:
        return "-"
    if fmt is not None:
        return format(value, fmt)
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def _pct(value: float | None) -> str:
    """A fraction of the peak, in percent."""
    if value is None:
        return "-"
    pct = value * 100
    return f"{pct:.0f}" if pct >= 10 else f"{pct:.2g}" if pct >= 0.01 else "<0.01"


def print_table(doc: dict[str, Any], console: Any) -> None:
    """The rows, the peak, and each implementation's best steady and jit rate as % of the peak."""
    from rich.table import Table

    peak = doc["peak"]
    table = Table(
        title=f"bench {doc['subject']}: ms per call (steady, jit: median of {doc['grid']['repeats']}), "
        "GFLOP/s of the matmul, % of the float32 GEMM peak"
    )
    headers = ("impl", "B", "D_in", "features", "first\nms", "steady\nms", "jit\nms")
    headers += ("steady\nGFLOP/s", "jit\nGFLOP/s", "steady\n% peak", "jit\n% peak")
    for header in headers:
        table.add_column(header, justify="left" if header == "impl" else "right")
    for r in doc["rows"]:
        if r["error"]:
            cells = ["error"] + ["-"] * 6
        else:
            cells = [
                _ms(r["first_s"]),
                _ms(r["steady_s"]),
                _ms(r["jit_s"]) if r["jit_error"] is None else "fails",
                _num(r["steady_gflops"]),
                _num(r["jit_gflops"]),
                _pct(r["steady_fraction_of_peak"]),
                _pct(r["jit_fraction_of_peak"]),
            ]
        table.add_row(r["impl"], str(r["B"]), str(r["d_in"]), str(r["features"]), *cells)
    console.print(table)
    sources = ", ".join(
        f"{k} {_num(peak[f'{k}_gflops'], '.1f')}" for k in ("numpy", "xla") if peak[f"{k}_gflops"] is not None
    )
    sizes = ", ".join(dict.fromkeys(f"{m['size']}x{m['size']}" for m in peak["measurements"]))
    console.print(
        f"float32 GEMM peak: {_num(peak['gflops'], '.1f')} GFLOP/s, {peak['source'] or 'none'} at "
        f"{peak['size']}x{peak['size']} (best of {sizes}: {sources or 'not measured'})"
    )
    for s in doc["implementations"]:
        console.print(
            f"  {s['name']}: best steady {_num(s['best_steady_gflops'])} GFLOP/s "
            f"({_pct(s['best_steady_fraction_of_peak'])}% of peak), best jit {_num(s['best_jit_gflops'])} "
            f"GFLOP/s ({_pct(s['best_jit_fraction_of_peak'])}% of peak)"
        )
    fractions = [r[k] for r in doc["rows"] for k in ("steady_fraction_of_peak", "jit_fraction_of_peak")]
    if any(f is not None and f > 1 for f in fractions):
        console.print(
            "  note: some rates exceed the measured peak: the CPUs were busier while the peak was measured "
            "than during those calls, or the square GEMM is not this library's best shape; rerun on an idle "
            "machine, or with other --peak-size values"
        )
    for r in doc["rows"]:
        if r["error"] or (r["jit_error"] and r["jit_error"] != "not measured (--no-jit)"):
            what = f"raised {r['error']}" if r["error"] else f"jit failed: {r['jit_error']}"
            console.print(
                f"  {r['impl']} at B={r['B']} D_in={r['d_in']} features={r['features']}: {what}",
                markup=False,
            )


MODES = (("first", "first_s", ":"), ("steady", "steady_s", "-"), ("jit", "jit_s", "--"))


def write_plot(doc: dict[str, Any], path: str) -> None:
    """Two rows of panels, one column per ``(D_in, features)``: time per call and GFLOP/s against B.

    Raises ImportError when matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = doc["rows"]
    pairs = sorted({(r["d_in"], r["features"]) for r in rows})
    if len(pairs) > MAX_PLOT_PANELS:
        pairs = sorted(sorted(pairs, key=lambda p: p[0] * p[1])[-MAX_PLOT_PANELS:])
    names = list(dict.fromkeys(r["impl"] for r in rows))
    colors = {n: f"C{i % 10}" for i, n in enumerate(names)}
    peak = doc["peak"]["gflops"]
    fig = Figure(figsize=(4.2 * len(pairs) + 1.5, 7.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(pairs), squeeze=False)
    for col, (d_in, features) in enumerate(pairs):
        t_ax, g_ax = axes[0][col], axes[1][col]
        for name in names:
            here = [r for r in rows if r["impl"] == name and (r["d_in"], r["features"]) == (d_in, features)]
            mine = sorted(here, key=lambda r: r["B"])
            for mode, key, style in MODES:
                points = [(r["B"], r[key]) for r in mine if r[key] is not None]
                if points:
                    bs, ts = zip(*points, strict=True)
                    t_ax.plot(bs, [t * 1e3 for t in ts], style, marker="o", ms=3, color=colors[name],
                              label=f"{name} {mode}")  # fmt: skip
                    if mode != "first":
                        g_ax.plot(bs, [gflops(r["flops"], r[key]) for r in mine if r[key] is not None], style,
                                  marker="o", ms=3, color=colors[name], label=f"{name} {mode}")  # fmt: skip
        if peak:
            g_ax.axhline(peak, color="black", lw=1, label=f"float32 GEMM peak {peak:.0f}")
        t_ax.set(xscale="log", yscale="log", title=f"D_in={d_in}, features={features}", ylabel="ms per call")
        g_ax.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="GFLOP/s (matmul)")
        for ax in (t_ax, g_ax):
            ax.grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize="x-small")
    axes[1][0].legend(fontsize="x-small")
    env = doc["environment"]
    cpus = env["cpus_usable"] or env["cpu_count"]
    fig.suptitle(
        f"{doc['subject']}: jax {env['jax']}, flax {env['flax']}, {cpus} CPUs ({env['machine']})",
        fontsize="medium",
    )
    fig.savefig(path, dpi=110)
