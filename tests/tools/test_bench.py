"""``conformance.tools.bench``: the benchmark command, run in-process on tiny grids (``--quick``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance.base.environment import environment
from conformance.tools import bench

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = bench.main_bench(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "bench.json").read_text())


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    """One ``--quick`` run of the built-in ``broadcast``, shared by the tests that read its output."""
    out_dir = tmp_path_factory.mktemp("bench")
    code = bench.main_bench(["--quick", "--impl", "broadcast", "--out", str(out_dir), "--quiet"])
    return code, out_dir


# --------------------------------------------------------------------------- helpers


def test_gflops_is_flops_over_seconds_in_billions() -> None:
    assert bench.gflops(2e9, 1.0) == pytest.approx(2.0)
    assert bench.gflops(2 * 64 * 512 * 256, 1e-3) == pytest.approx(16.777216)
    assert bench.gflops(10, 0.0) is None
    assert bench.gflops(10, None) is None
    assert bench.gflops(10, float("nan")) is None


def test_fraction_of_peak() -> None:
    assert bench.fraction(25.0, 100.0) == pytest.approx(0.25)
    assert bench.fraction(None, 100.0) is None
    assert bench.fraction(1.0, None) is None
    assert bench.fraction(1.0, 0.0) is None


def test_best_peak_takes_the_best_rate_per_library() -> None:
    before = bench.Peak(256, 80.0, 120.0, 120.0, "xla")
    after = bench.Peak(512, 150.0, None, 150.0, "numpy", xla_error="RuntimeError: x")
    peak = bench.best_peak([before, after])
    assert (peak.numpy_gflops, peak.xla_gflops, peak.gflops, peak.source) == (150.0, 120.0, 150.0, "numpy")
    assert peak.size == 512  # where the best rate was measured
    assert peak.xla_error is None  # one measurement worked
    failed = bench.best_peak([bench.Peak(8, None, None, None, None, "E: a", "E: b")])
    assert failed.gflops is None and failed.numpy_error == "E: a"


def test_subject_flops_and_arguments() -> None:
    single = bench.BENCH_SUBJECTS["vmap_over_batch"]
    assert single.flops(8, 64, 16) == 2 * 8 * 64 * 16
    assert single.build_args(3, "x", 5) == (3, "x", 5)
    assert single.static_argnums == (0, 2)
    ensemble = bench.BENCH_SUBJECTS["vmap_over_ensemble"]
    assert ensemble.flops(8, 64, 16) == 2 * 4 * 8 * 64 * 16
    assert ensemble.build_args(3, "x", 5) == (3, "x", 5, 4)
    assert ensemble.static_argnums == (0, 2, 3)


@pytest.mark.parametrize(
    "text, expected", [("1,8,64", (1, 8, 64)), (" 4 , 2 ", (4, 2)), ("7", (7,)), ("2,2,3", (2, 3))]
)
def test_parse_int_list(text: str, expected: tuple[int, ...]) -> None:
    assert bench.parse_int_list(text, "--batch") == expected


@pytest.mark.parametrize("text", ["", "1,,2", "a", "1.5", "0", "-3", "8,0"])
def test_parse_int_list_rejects(text: str) -> None:
    with pytest.raises(bench.UsageError, match="--d-in"):
        bench.parse_int_list(text, "--d-in")


def test_time_point_counts_calls_and_medians() -> None:
    """One first call, one warm-up, ``repeats`` timed calls; a function ``jax.jit`` cannot trace."""
    calls = []

    def fn(seed: int, x: Any, features: int) -> np.ndarray:
        calls.append(seed)
        return np.asarray(x) @ np.ones((x.shape[1], features), np.float32)  # not traceable

    x = np.ones((4, 3), np.float32)
    row = bench.time_point(fn, "np", bench.BENCH_SUBJECTS["vmap_over_batch"], x, 2, 3, 100.0)
    assert row.error is None
    assert row.flops == 2 * 4 * 3 * 2
    assert row.first_s > 0 and row.steady_s > 0
    assert row.steady_gflops == pytest.approx(row.flops / row.steady_s / 1e9)
    assert row.steady_fraction_of_peak == pytest.approx(row.steady_gflops / 100.0)
    # np.asarray of a tracer fails: the jit is recorded as failing, with the reason, not raised
    assert row.jit_s is None and row.jit_gflops is None
    assert row.jit_error and "Error" in row.jit_error and "\n" not in row.jit_error
    assert len(calls) >= 1 + 1 + 3


# --------------------------------------------------------------------------- the command


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """``bench --help`` reads as a terminal shows it: no Sphinx roles, no reST literals."""
    assert bench.main_bench(["--help"]) == 0
    text = capsys.readouterr().out
    assert "Exit codes:" in text and "--peak-size" in text
    assert "`" not in text, text
    assert not re.search(r":[a-z]+:", text), re.search(r".{20}:[a-z]+:.{20}", text)


def test_parser_registers_bench_with_defaults() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    bench.add_parser(sub)
    args = parser.parse_args(["bench", "--impl", "a", "--impl", "b", "--batch", "1,2"])
    assert args.command == "bench"
    assert args.impl == ["a", "b"]
    assert args.batch == "1,2"
    assert args.subject == "vmap_over_batch"
    assert args.out == bench.DEFAULT_OUT
    assert not args.quick and not args.no_plot and not args.quiet


def test_quick_run_writes_json_with_schema(quick_run: tuple[int, Path]) -> None:
    code, out_dir = quick_run
    assert code == 0
    doc = read(out_dir)
    assert doc["schema"] == "nnx-conformance/bench/1"
    assert doc["subject"] == "vmap_over_batch"
    env = doc["environment"]
    assert env["jax"] and env["flax"] and env["machine"] and env["cpu_count"] >= 1
    # the one environment every report records (conformance.base.environment), nothing of its own
    assert set(env) == set(environment()) and env["backend"] and env["device_kind"]
    assert doc["grid"]["batch"] == list(bench.QUICK_BATCH)
    assert [s["name"] for s in doc["implementations"]] == ["broadcast"]
    rows = doc["rows"]
    assert len(rows) == len(bench.QUICK_BATCH) * len(bench.QUICK_D_IN) * len(bench.QUICK_FEATURES)
    assert {r["B"] for r in rows} == set(bench.QUICK_BATCH)


def test_quick_run_numbers_are_plausible(quick_run: tuple[int, Path]) -> None:
    doc = read(quick_run[1])
    peak = doc["peak"]
    assert peak["gflops"] > 0
    assert peak["gflops"] == max(v for v in (peak["numpy_gflops"], peak["xla_gflops"]) if v is not None)
    assert peak["gflops"] < 1e5  # 100 TFLOP/s on a CPU would be a units error
    assert len(peak["measurements"]) == 2  # before and after the grid
    assert peak["gflops"] == max(m["gflops"] for m in peak["measurements"])
    for r in doc["rows"]:
        assert r["error"] is None and r["jit_error"] is None, r
        assert r["flops"] == 2 * r["B"] * r["d_in"] * r["features"]
        for key in ("first_s", "steady_s", "jit_first_s", "jit_s"):
            assert 0 < r[key] < 60, (key, r)
        assert r["first_s"] > r["steady_s"]  # the first call compiles
        assert r["steady_gflops"] == pytest.approx(r["flops"] / r["steady_s"] / 1e9)
        assert r["jit_gflops"] == pytest.approx(r["flops"] / r["jit_s"] / 1e9)
        assert r["steady_fraction_of_peak"] == pytest.approx(r["steady_gflops"] / peak["gflops"])
        assert r["jit_fraction_of_peak"] == pytest.approx(r["jit_gflops"] / peak["gflops"])
    summary = doc["implementations"][0]
    assert summary["best_steady_gflops"] == max(r["steady_gflops"] for r in doc["rows"])
    assert summary["best_jit_fraction_of_peak"] == pytest.approx(summary["best_jit_gflops"] / peak["gflops"])


def test_quick_run_writes_png(quick_run: tuple[int, Path]) -> None:
    png = quick_run[1] / "bench.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 5000


def test_table_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "--quick", "--impl", "broadcast", "--batch", "2", "--d-in", "3", "--features", "5",
        "--repeats", "1", "--peak-size", "32,64", "--no-plot", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert "broadcast" in out and "GFLOP/s" in out and "peak" in out
    assert str(tmp_path / "bench.json") in out
    assert "bench vmap_over_batch: broadcast on 1" in err  # not --quiet: progress on stderr
    assert not (tmp_path / "bench.png").exists()
    peak = read(tmp_path)["peak"]
    assert [m["size"] for m in peak["measurements"]] == [32, 64, 32, 64]  # before and after the grid
    assert peak["size"] in (32, 64)


@pytest.mark.slow
def test_raising_implementation_is_an_error_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    boom = tmp_path / "boom.py"
    boom.write_text("def f(seed, x, features):\n    raise RuntimeError('boom')\n")
    code, out, err = run(
        capsys, "--quick", "--quiet", "--no-plot", "--impl", f"{boom}:f", "--impl", "broadcast",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err + out
    doc = read(tmp_path / "out")
    mine = [r for r in doc["rows"] if r["impl"] == "f"]
    assert len(mine) == len(bench.QUICK_BATCH)
    for r in mine:
        assert r["error"] == "RuntimeError: boom"
        assert r["first_s"] is None and r["steady_s"] is None and r["steady_gflops"] is None
    assert all(r["error"] is None for r in doc["rows"] if r["impl"] == "broadcast")
    assert [s["errors"] for s in doc["implementations"]] == [len(bench.QUICK_BATCH), 0]
    assert "raised RuntimeError: boom" in out


def test_implementation_that_cannot_be_jitted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    impl = tmp_path / "numpy_impl.py"
    impl.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def f(seed, x, features):
                w = np.random.default_rng(int(seed)).standard_normal((x.shape[1], int(features)))
                return (np.asarray(x) @ w.astype(np.float32)).reshape(-1)
            """
        )
    )
    code, out, err = run(
        capsys, "--quick", "--quiet", "--no-plot", "--impl", f"npy={impl}:f", "--out", str(tmp_path)
    )
    assert code == 0, err
    rows = read(tmp_path)["rows"]
    assert rows and all(r["error"] is None and r["steady_s"] > 0 for r in rows)
    assert all(r["jit_s"] is None and r["jit_gflops"] is None and r["jit_error"] for r in rows)
    assert "jit failed" in out


@pytest.mark.slow
def test_ensemble_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "--quick", "--subject", "vmap_over_ensemble", "--impl", "einsum", "--batch", "3",
        "--d-in", "2", "--features", "5", "--repeats", "1", "--peak-size", "64", "--quiet", "--no-plot",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    (row,) = read(tmp_path)["rows"]
    assert row["error"] is None and row["jit_error"] is None, row
    assert row["flops"] == 2 * 4 * 3 * 2 * 5


@pytest.mark.slow
def test_missing_matplotlib_is_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    argv = ["--quick", "--batch", "1", "--no-jit", "--quiet", "--impl", "broadcast", "--out", str(tmp_path)]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "needs matplotlib" in out
    assert (tmp_path / "bench.json").exists() and not (tmp_path / "bench.png").exists()
    (row,) = read(tmp_path)["rows"]
    assert row["jit_s"] is None and row["steady_s"] > 0


# --------------------------------------------------------------------------- usage errors


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("value", ["1,x", "0", "", "8,-1", "2.5"])
def test_bad_batch_list(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--batch", value, "--out", str(tmp_path))
    assert_usage_error(code, out, err, "--batch")
    assert not (tmp_path / "bench.json").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--d-in", "a"], "--d-in"),
        (["--features", "0"], "--features"),
        (["--repeats", "0"], "--repeats"),
        (["--repeats", "2,3"], "--repeats"),
        (["--peak-size", "0"], "--peak-size"),
        (["--peak-size", "x"], "--peak-size"),
        (["--impl", "no_such_impl"], "no_such_impl"),
        (["--impl", "missing_file.py:f"], "missing_file.py"),
        (["--subject", "no_such_subject"], "no_such_subject"),
    ],
)
def test_usage_errors(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv, "--out", str(tmp_path))
    assert_usage_error(code, out, err, needle)


def test_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    code, out, err = run(capsys, "--quick", "--out", str(a_file))
    assert_usage_error(code, out, err, "--out")


def test_subject_without_implementations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = bench.BenchSubject("unregistered_subject", lambda s, x, f: (s, x, f), lambda b, d, f: b, (0, 2))
    monkeypatch.setitem(bench.BENCH_SUBJECTS, subject.name, subject)
    code, out, err = run(capsys, "--subject", subject.name, "--quick", "--out", str(tmp_path))
    assert_usage_error(code, out, err, "no implementations registered for unregistered_subject")
