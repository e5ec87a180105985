"""``python -m conformance plot`` (conformance/tools/plot.py): a PNG of every cell with headroom in
a JSON report, and a one-line error for a report it cannot draw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import cli


def _write(path: Path, doc: object) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def _doc_with(records: list[tuple[str, str, str, dict | None]]) -> dict:
    impls: dict[str, list[dict]] = {}
    for impl, prop, status, record in records:
        impls.setdefault(impl, []).append({"property": prop, "status": status, "headroom": record})
    return {
        "schema": "nnx-conformance/report/3",
        "subject": "vmap_over_batch",
        "profile": "ci",
        "tolerance": {"model": "rigorous", "lambda": None},
        "environment": {"jax": "0.10.2", "flax": "0.12.8"},
        "implementations": [{"name": n, "properties": cells} for n, cells in impls.items()],
    }


def test_plot_draws_a_png_of_every_cell_with_headroom(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ok = {"max": 0.0063, "median": 0.0, "p99": 0.004, "examples": 30}
    bad = {"max": 350.0, "median": 12.0, "p99": 300.0, "examples": 5}
    nan = {"max": "inf", "median": "inf", "p99": "inf", "examples": 1}
    report = _write(
        tmp_path / "r.json",
        _doc_with(
            [
                ("nnx_vmap", "agrees_with_oracle", "pass", ok),
                ("nnx_vmap", "seed_determinism", "pass", None),
                ("bfloat16_matmul", "agrees_with_oracle", "fail", bad),
                ("bfloat16_matmul", "jit_agrees_with_oracle", "fail", nan),
            ]
        ),
    )
    out = tmp_path / "h.png"
    assert cli.main(["plot", report, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert capsys.readouterr().out.strip() == f"wrote {out} (3 cells with headroom)"


@pytest.mark.parametrize("problem", ["missing", "not json", "not a report", "no headroom"])
def test_plot_rejects_a_bad_report_in_one_line(
    problem: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = str(tmp_path / "missing.json")
    if problem == "not json":
        path = _write(tmp_path / "r.json", {}).replace("r.json", "t.json")
        Path(path).write_text("{not json")
    elif problem == "not a report":
        path = _write(tmp_path / "r.json", {"schema": "something/else", "implementations": []})
    elif problem == "no headroom":
        path = _write(tmp_path / "r.json", _doc_with([("a", "seed_determinism", "pass", None)]))
    out = tmp_path / "h.png"
    assert cli.main(["plot", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}"), err
    expected = {
        "missing": "No such file",
        "not json": "not a JSON report",
        "not a report": "not a conformance JSON report",
        "no headroom": "no headroom to plot",
    }
    assert expected[problem] in err[0] and not out.exists()
