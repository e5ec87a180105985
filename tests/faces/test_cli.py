"""The command line (conformance/cli.py): ``python -m conformance`` end to end in subprocesses, and
``cli.main()`` in this process for the cheap cases (usage errors, entry points, the report folder).
The pytest plugin is tested in ``test_pytest_plugin.py``.

Runs are kept tiny (``--max-examples 2`` and a few ``--property`` selections);
the expensive ones are module-scoped fixtures shared by several tests.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flax
import jax
import pytest

import impl
from conformance import cli
from conformance.properties import PROPERTIES
from impl import registry
from impl.nnx_vmap import TREE_MODE
from tests.faces.helpers import BROKEN, Run, run

ROOT = Path(__file__).resolve().parents[2]
#: nnx_vmap_tree: registered where Flax's nnx.vmap takes ``graph`` (tree mode)
BUILTINS = ["nnx_vmap", *(["nnx_vmap_tree"] if TREE_MODE else []), "manual_lift", "broadcast"]
#: Correct on valid input, no argument checks at all.
UNVALIDATED = "unval=tests/zoo/broken.py:seed_text_unvalidated"
STATUSES = {"pass", "fail", "skip", "error"}


def conformance(env: dict[str, str], *args: str) -> Run:
    return run([sys.executable, "-m", "conformance", *args], env)


def run_json(env: dict[str, str], path: Path, *args: str) -> tuple[Run, dict[str, Any]]:
    result = conformance(env, "check", "--max-examples", "2", "--json", str(path), *args)
    assert path.exists(), str(result)
    return result, json.loads(path.read_text())


def cells(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["name"], c["name"]): c for i in report["implementations"] for c in i["properties"]}


def summary_counts(stdout: str) -> tuple[int, int]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    match = re.search(r"conformance: (\d+) passed, (\d+) failed", lines[-1])
    assert match, f"no final 'conformance: N passed, M failed' line in:\n{stdout}"
    return int(match.group(1)), int(match.group(2))


# --------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def runs(
    cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Run, dict[str, Any]]]:
    """The three check runs every other test reads, started together (they mostly wait on imports)."""
    out = tmp_path_factory.mktemp("reports")
    jobs = {
        "builtins": ("--property", "output_contract", "--property", "invalid_input_rejected"),
        "broken": (
            "--impl",
            BROKEN,
            "--property",
            "agrees_with_oracle",
            "--property",
            "invalid_input_rejected",
        ),
        "strict": (
            "--strict",
            "--impl",
            BROKEN,
            "--impl",
            UNVALIDATED,
            "--property",
            "invalid_input_rejected",
        ),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {k: pool.submit(run_json, cli_env, out / f"{k}.json", *a) for k, a in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


@pytest.fixture(scope="module")
def broken_failure(runs: dict[str, tuple[Run, dict[str, Any]]]) -> dict[str, Any]:
    _, report = runs["broken"]
    return cells(report)[("vmap_over_batch", "agrees_with_oracle")]


@pytest.fixture(scope="module")
def replays(cli_env: dict[str, str], broken_failure: dict[str, Any]) -> dict[str, Run]:
    """The failure's replay command as recorded, and the same case replayed on nnx_vmap."""
    argv = shlex.split(broken_failure["replay"])
    assert argv[:4] == ["python", "-m", "conformance", "replay"], argv
    argv[0] = sys.executable  # the same interpreter the recorded `python` means here
    on_builtin = list(argv)
    on_builtin[on_builtin.index("--impl") + 1] = "nnx_vmap"
    with ThreadPoolExecutor(2) as pool:
        recorded, builtin = pool.map(lambda a: run(a, cli_env), [argv, on_builtin])
    return {"recorded": recorded, "nnx_vmap": builtin}


# --------------------------------------------------------------------------- check


def test_check_builtins_passes_and_prints_the_matrix(runs: dict[str, tuple[Run, dict[str, Any]]]) -> None:
    result, report = runs["builtins"]
    assert result.returncode == 0, str(result)
    for name in [*BUILTINS, "output_contract", "invalid_input_rejected"]:
        assert name in result.stdout, f"{name} missing from:\n{result.stdout}"
    assert "FAIL" not in result.stdout
    passed, failed = summary_counts(result.stdout)
    assert (passed, failed) == (len(BUILTINS) * 2, 0)
    assert [i["name"] for i in report["implementations"]] == BUILTINS
    assert report["passed"] is True
    # Built-ins are held to invalid_input_rejected even without --strict.
    assert {c["status"] for c in cells(report).values()} == {"pass"}


def test_check_broken_impl_fails_with_counterexample_and_replay(
    runs: dict[str, tuple[Run, dict[str, Any]]], broken_failure: dict[str, Any]
) -> None:
    result, report = runs["broken"]
    assert result.returncode == 1, str(result)
    assert "FAIL" in result.stdout
    assert report["passed"] is False
    assert broken_failure["status"] == "fail"
    assert "minimal counterexample" in result.stdout
    summary = broken_failure["counterexample"]["summary"]
    assert set(summary) >= {"seed", "x_batch", "features"}
    for key, value in summary.items():
        assert f"{key} = {value}" in result.stdout
    assert "replay" in result.stdout
    assert broken_failure["replay"] in result.stdout  # printed whole, on one line
    assert broken_failure["message"] in result.stdout
    assert summary_counts(result.stdout) == (0, 1)


def test_replay_of_the_recorded_failure_fails(
    replays: dict[str, Run], broken_failure: dict[str, Any]
) -> None:
    result = replays["recorded"]
    assert result.returncode == 1, str(result)
    assert "FAIL" in result.stdout
    assert "PASS" not in result.stdout
    for key, value in broken_failure["counterexample"]["summary"].items():
        assert f"{key} = {value}" in result.stdout


def test_replay_of_the_same_case_on_a_builtin_passes(replays: dict[str, Run]) -> None:
    result = replays["nnx_vmap"]
    assert result.returncode == 0, str(result)
    assert "PASS" in result.stdout
    assert "FAIL" not in result.stdout


def test_failure_messages_are_printed_verbatim(cli_env: dict[str, str], tmp_path: Path) -> None:
    """An implementation's error text is data: square brackets in it are neither dropped nor parsed."""
    report_path = tmp_path / "brackets.json"
    spec = "tests/fixtures/bracket_error.py:vmap_over_batch"
    result = conformance(
        cli_env,
        "check",
        "--impl",
        spec,
        "--property",
        "output_contract",
        "--max-examples",
        "2",
        "--json",
        str(report_path),
    )
    assert "Traceback" not in result.stderr, str(result)
    assert result.returncode == 1, str(result)
    assert report_path.exists()
    message = cells(json.loads(report_path.read_text()))[("vmap_over_batch", "output_contract")]["message"]
    assert "[batch, features]" in message and "[/see docs]" in message
    assert message in result.stdout


# --------------------------------------------------------------------------- the JSON report


def test_json_report_schema(runs: dict[str, tuple[Run, dict[str, Any]]]) -> None:
    for key, (result, report) in runs.items():
        assert isinstance(report["schema"], str) and report["schema"], key
        assert report["subject"] == "vmap_over_batch"
        assert report["profile"] == "dev"
        assert report["strict"] is (key == "strict")
        assert report["x64"] is False
        env = report["environment"]
        assert isinstance(env, dict)
        assert env["python"] == platform.python_version()
        assert env["jax"] == jax.__version__
        assert env["flax"] == flax.__version__
        assert isinstance(env["backend"], str) and env["backend"]
        assert env["x64"] is False
        assert isinstance(report["elapsed_seconds"], float) and report["elapsed_seconds"] > 0
        assert isinstance(report["passed"], bool)
        assert isinstance(report["implementations"], list) and report["implementations"]
        for entry in report["implementations"]:
            assert isinstance(entry["name"], str) and entry["name"]
            assert isinstance(entry["spec"], str) and entry["spec"]
            assert isinstance(entry["passed"], bool)
            assert isinstance(entry["properties"], list) and entry["properties"]
            for cell in entry["properties"]:
                assert cell["name"] in PROPERTIES
                assert cell["status"] in STATUSES
                if cell["status"] == "fail":
                    assert isinstance(cell["message"], str) and cell["message"]
                    example = cell["counterexample"]
                    assert isinstance(example, dict)
                    assert isinstance(example["summary"], dict) and example["summary"]
                    assert all(isinstance(v, str) for v in example["summary"].values())
                    assert isinstance(example["case"], dict) and example["case"]
                    assert isinstance(cell["replay"], str) and cell["replay"].startswith(
                        "python -m conformance"
                    )
            statuses = {c["status"] for c in entry["properties"]}
            assert entry["passed"] is (statuses <= {"pass", "skip"})
        assert report["passed"] is all(i["passed"] for i in report["implementations"])
        assert result.returncode == (0 if report["passed"] else 1)


def test_json_report_specs(runs: dict[str, tuple[Run, dict[str, Any]]]) -> None:
    _, report = runs["builtins"]
    for entry in report["implementations"]:
        assert entry["spec"] == impl.get(entry["name"]).spec
    _, report = runs["broken"]
    assert report["implementations"][0]["spec"] == f"{ROOT / BROKEN.partition(':')[0]}:vmap_over_batch"


def test_json_case_replays_through_the_codec(broken_failure: dict[str, Any]) -> None:
    from conformance.cases import codec

    case = codec.decode(broken_failure["counterexample"]["case"])
    assert set(case["args"]) == {"seed", "x_batch", "features"}
    argv = shlex.split(broken_failure["replay"])
    text = argv[argv.index("--case") + 1]
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    assert codec.dumps(codec.loads(text)) == codec.dumps(case)


# --------------------------------------------------------------------------- --strict


def test_external_impl_skips_invalid_input_without_strict(
    runs: dict[str, tuple[Run, dict[str, Any]]],
) -> None:
    result, report = runs["broken"]
    cell = cells(report)[("vmap_over_batch", "invalid_input_rejected")]
    assert cell["status"] == "skip"
    assert "--strict" in cell["message"]
    assert "skip" in result.stdout


def test_strict_runs_invalid_input_on_external_impls(runs: dict[str, tuple[Run, dict[str, Any]]]) -> None:
    result, report = runs["strict"]
    assert result.returncode == 1, str(result)
    by_cell = cells(report)
    # The broken one validates its input like the built-ins: the property runs and holds.
    assert by_cell[("vmap_over_batch", "invalid_input_rejected")]["status"] == "pass"
    failure = by_cell[("unval", "invalid_input_rejected")]
    assert failure["status"] == "fail"
    assert "--strict" in shlex.split(failure["replay"])
    assert "unval=" in failure["replay"]
    assert summary_counts(result.stdout) == (1, 1)


# --------------------------------------------------------------------------- usage errors: exit 2


#: args -> text the one-line error must contain. The first ones also run as subprocesses.
USAGE_ERRORS = {
    "missing file": (["check", "--impl", "nope.py:f"], "nope.py:f"),
    "import raises, two-line message": (
        ["check", "--impl", "tests/fixtures/raises_multiline_on_import.py:f"],
        "raises_multiline_on_import.py:f",
    ),
    "unknown profile": (["check", "--profile", "no_such_profile"], "no_such_profile"),
    "unknown property": (["check", "--property", "no_such_property"], "no_such_property"),
    "zero examples": (["check", "--max-examples", "0"], "--max-examples"),
    "import raises": (["check", "--impl", "tests/fixtures/raises_on_import.py:f"], "raises_on_import.py:f"),
    "no such module": (["check", "--impl", "no_such_module_xyz:f"], "no_such_module_xyz:f"),
    "not callable": (["check", "--impl", "tests.fixtures.good:NOT_CALLABLE"], "NOT_CALLABLE"),
    "unknown name": (["check", "--impl", "no_such_impl_xyz"], "no_such_impl_xyz"),
    "bad label": (["check", "--impl", "1bad=impl.nnx_vmap:vmap_over_batch"], "1bad"),
    "negative examples": (["check", "--max-examples", "-3"], "--max-examples"),
    "zero timeout": (["check", "--timeout", "0"], "--timeout"),
    "unknown subject": (["check", "--subject", "no_such_subject"], "no_such_subject"),
    "replay: unknown property": (
        ["replay", "--impl", "nnx_vmap", "--property", "no_such_property", "--case", "{}"],
        "no_such_property",
    ),
    "replay: bad case": (
        ["replay", "--impl", "nnx_vmap", "--property", "output_contract", "--case", "not json"],
        "--case",
    ),
    "replay: missing case file": (
        ["replay", "--impl", "nnx_vmap", "--property", "output_contract", "--case", "@no_such_case.json"],
        "no_such_case.json",
    ),
    "--json is a directory": (["check", "--json", "tests", "--impl", "nnx_vmap"], "--json tests"),
    "replay: bad spec": (
        ["replay", "--impl", "nope.py:f", "--property", "output_contract", "--case", '{"dict": {}}'],
        "nope.py:f",
    ),
}
SUBPROCESS_USAGE_ERRORS = list(USAGE_ERRORS)[:5]

#: Rejected by argparse itself (usage line on stderr).
ARGPARSE_ERRORS = {
    "unknown subcommand": ["frobnicate"],
    "unknown flag": ["check", "--frobnicate"],
    "non-integer examples": ["check", "--max-examples", "two"],
    "no subcommand": [],
    "replay without --case": ["replay", "--impl", "nnx_vmap", "--property", "output_contract"],
}
SUBPROCESS_ARGPARSE_ERRORS = ["unknown subcommand", "unknown flag"]


@pytest.fixture(scope="module")
def usage_runs(cli_env: dict[str, str]) -> dict[str, Run]:
    argvs = {k: USAGE_ERRORS[k][0] for k in SUBPROCESS_USAGE_ERRORS}
    argvs |= {k: ARGPARSE_ERRORS[k] for k in SUBPROCESS_ARGPARSE_ERRORS}
    with ThreadPoolExecutor(3) as pool:
        results = pool.map(lambda a: conformance(cli_env, *a), argvs.values())
        return dict(zip(argvs, results, strict=True))


def assert_one_line_error(returncode: int, stdout: str, stderr: str, needle: str) -> None:
    assert returncode == 2
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr is not one line:\n{stderr}"
    assert needle in lines[0]
    assert stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_USAGE_ERRORS)
def test_usage_error_exits_2_with_one_line(usage_runs: dict[str, Run], case: str) -> None:
    result = usage_runs[case]
    assert result.returncode == 2, str(result)
    assert_one_line_error(result.returncode, result.stdout, result.stderr, USAGE_ERRORS[case][1])


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_ARGPARSE_ERRORS)
def test_argparse_error_exits_2(usage_runs: dict[str, Run], case: str) -> None:
    result = usage_runs[case]
    assert result.returncode == 2, str(result)
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.main() in this process: the registry, sys.path and cwd are restored afterwards."""
    registry.names()
    monkeypatch.setattr(registry, "_REGISTRY", {s: dict(t) for s, t in registry._REGISTRY.items()})
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_usage_error_in_process(in_process: None, capsys: pytest.CaptureFixture[str], case: str) -> None:
    """The same usage errors through cli.main() (cheap, so every one of them)."""
    args, needle = USAGE_ERRORS[case]
    code = cli.main(list(args))
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.out, captured.err, needle)


@pytest.mark.parametrize("case", list(ARGPARSE_ERRORS))
def test_argparse_error_in_process(capsys: pytest.CaptureFixture[str], case: str) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(list(ARGPARSE_ERRORS[case]))
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --------------------------------------------------------------------------- list


def test_json_report_folder_is_created(
    in_process: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "not" / "yet" / "there.json"
    argv = ["check", "--impl", "nnx_vmap", "--property", "output_contract", "--max-examples", "1"]
    code = cli.main([*argv, "--quiet", "--json", str(path)])
    capsys.readouterr()
    assert code == 0
    assert json.loads(path.read_text())["passed"] is True


def test_list_shows_builtins_and_properties(cli_env: dict[str, str]) -> None:
    result = conformance(cli_env, "list")
    assert result.returncode == 0, str(result)
    for name in BUILTINS:
        assert re.search(rf"\b{name}\b.*built-in", result.stdout), name
    for name in PROPERTIES:
        assert name in result.stdout
    positions = [result.stdout.index(f"implementation {n}") for n in BUILTINS]
    assert positions == sorted(positions)


class FakeEntryPoints:
    def __init__(self, name: str, value: str) -> None:
        self.point = importlib.metadata.EntryPoint(name=name, value=value, group=impl.ENTRY_POINT_GROUP)

    def __call__(self, **kwargs: Any) -> list[importlib.metadata.EntryPoint]:
        return [self.point] if kwargs.get("group") == self.point.group else []


@pytest.fixture
def broken_entry_point(in_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        importlib.metadata, "entry_points", FakeEntryPoints("broken_ep", "no_such_module_xyz:f")
    )


def test_broken_entry_point_is_a_load_error_and_the_built_ins_still_get_their_verdicts(
    broken_entry_point: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """An installed entry point that cannot load is loaded in its worker, not here: a one-line
    load error naming it, exit 2, and every other implementation checked all the same."""
    code = cli.main(["check", "--property", "output_contract", "--max-examples", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 2
    assert re.search(
        r"broken_ep \(broken_ep=no_such_module_xyz:f\): could not be loaded: .*no_such_module_xyz", out
    )
    assert "conforms" in out  # the built-ins' verdicts


def test_list_names_a_broken_entry_point_without_importing_it(
    broken_entry_point: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["list"]) == 0
    assert re.search(
        r"implementation broken_ep\s+external\s+broken_ep=no_such_module_xyz:f", capsys.readouterr().out
    )
