"""``conformance.cases.corpus``: counterexamples pinned from a report or a replay command, read back first.

A pinned case comes back exactly (codec round trip), once per case however often it
is pinned, filtered by subject, property and x64; a corrupt file is an error that
names it; and pinned cases given to Hypothesis as explicit examples run before any
generated one.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from conformance.base.verdict import REPORT_SCHEMA, ReplayCommand
from conformance.cases import codec, corpus
from conformance.tools import pin
from impl import registry
from strategies.kinds import KindedArray

SUBJECT = "vmap_over_batch"


def case_of(seed: int, values: list[list[float]], dtype: str = "float32", features: int = 1) -> dict:
    x = KindedArray(np.asarray(values, dtype=dtype), "numpy_fortran", "ordinary")
    return {"args": {"seed": seed, "x_batch": x, "features": features}}


def cell(prop: str, status: str = "pass", message: str = "", counterexample: dict | None = None) -> dict:
    """One property's cell as a JSON report (``check --json``) writes it."""
    return {
        "property": prop,
        "name": prop,
        "claim": f"the claim of {prop}",
        "status": status,
        "examples": 3,
        "message": message,
        "counterexample": counterexample,
        "replay": None,
    }


def failing_cell(prop: str, case: dict, status: str = "fail") -> dict:
    example = {"summary": {}, "details": {}, "case": codec.encode(case), "edge": None}
    return cell(prop, status, f"{prop} broke", example)


def write_report(path: Path, cells_by_impl: dict[str, list[dict]], x64: bool = False) -> Path:
    """A JSON report in the engine's layout (only what pinning reads is filled in with care)."""
    report = {
        "schema": REPORT_SCHEMA,
        "subject": SUBJECT,
        "profile": "ci",
        "strict": False,
        "x64": x64,
        "environment": {"jax": "0.10.2"},
        "implementations": [
            {"name": name, "spec": f"{name}=my_impl.py:f", "builtin": False, "properties": cells}
            for name, cells in cells_by_impl.items()
        ],
    }
    path.write_text(json.dumps(report, indent=2))
    return path


def replay_command(impl: str, prop: str, case: dict, *, x64: bool = False, strict: bool = False) -> str:
    """A replay command as a report prints it; a long case goes to a file (``--case @path``)."""
    text = codec.dumps(case)
    if len(text) > 1500:
        folder = Path(os.environ.get("CONFORMANCE_CASE_DIR", ".conformance/cases"))
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{prop}-{zlib.crc32(text.encode()):08x}.json"
        file.write_text(text)
        text = f"@{file}"
    return str(ReplayCommand(SUBJECT, impl, prop, text, x64, strict))


def same(a: object, b: object) -> bool:
    return codec.dumps(a) == codec.dumps(b)


A = case_of(0, [[0.25]])
B = case_of(2**32 + 7, [[1.0, -2.0], [0.5, 3.0]], "bfloat16", features=3)


def test_pin_from_report_writes_one_file_per_counterexample(tmp_path: Path) -> None:
    report = write_report(
        tmp_path / "report.json",
        {
            "bad": [
                failing_cell("agrees_with_oracle", A),
                cell("output_contract"),
                cell("inputs_untouched", "error", "internal error"),
                failing_cell("seed_sensitivity", B, status="xfail"),
            ],
        },
    )
    root = tmp_path / "corpus"
    paths = pin.pin_from_report(report, root)
    assert len(paths) == 2
    oracle, seeds = paths
    assert oracle.parent == root / SUBJECT / "agrees_with_oracle"
    assert seeds.parent == root / SUBJECT / "seed_sensitivity"
    assert len(oracle.stem) == corpus.HASH_DIGITS and oracle.suffix == ".json"
    entry = json.loads(oracle.read_text())
    assert entry["schema"] == corpus.SCHEMA
    assert (entry["subject"], entry["property"], entry["x64"]) == (SUBJECT, "agrees_with_oracle", False)
    assert entry["implementation"] == "bad" and entry["spec"] == "bad=my_impl.py:f"
    assert entry["message"] == "agrees_with_oracle broke"
    # paths stored relative to the corpus folder's parent (the report's given absolute here)
    assert entry["pinned"][:2] == "20" and entry["source"] == "report report.json"
    # the case is the codec's encoding: the JSON a replay command's --case carries
    assert entry["case"] == json.loads(codec.dumps(A))
    (back,) = corpus.load_pinned(root, SUBJECT, "agrees_with_oracle", False)
    assert same(back, A)
    assert back["args"]["x_batch"].kind == "numpy_fortran"
    assert type(back["args"]["seed"]) is int


def test_pinning_again_finds_the_same_file_and_leaves_it(tmp_path: Path) -> None:
    report = write_report(
        tmp_path / "report.json",
        {"bad": [failing_cell("agrees_with_oracle", A)], "worse": [failing_cell("agrees_with_oracle", A)]},
    )
    root = tmp_path / "corpus"
    first = pin.pin_from_report(report, root)
    assert len(first) == 1  # the same case on two implementations: one pin
    before = first[0].read_text()
    assert pin.pin_from_report(report, root) == first
    assert first[0].read_text() == before  # not rewritten: same date, same implementation
    assert json.loads(before)["implementation"] == "bad"
    assert len(list(root.rglob("*.json"))) == 1


def test_pin_from_replay_inline_and_from_a_case_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONFORMANCE_CASE_DIR", str(tmp_path / "cases"))
    root = tmp_path / "corpus"
    inline = replay_command("bad=my_impl.py:f", "agrees_with_oracle", A)
    assert "--case @" not in inline
    path = pin.pin_from_replay(inline, root)
    entry = json.loads(path.read_text())
    assert entry["implementation"] == "bad" and entry["spec"] == "bad=my_impl.py:f"
    assert entry["x64"] is False and entry["source"] == "replay command"
    assert same(corpus.load_pinned(root, SUBJECT, "agrees_with_oracle", False)[0], A)

    big = case_of(5, np.linspace(-1, 1, 2000).reshape(10, 200).tolist())
    from_file = replay_command("bad=my_impl.py:f", "batch_independence", big, x64=True, strict=True)
    assert "--case @" in from_file
    path = pin.pin_from_replay(from_file, root)
    entry = json.loads(path.read_text())
    assert entry["x64"] is True and entry["strict"] is True
    assert corpus.load_pinned(root, SUBJECT, "batch_independence", False) == []
    (back,) = corpus.load_pinned(root, SUBJECT, "batch_independence", True)
    assert same(back, big)


def test_a_case_pinned_from_a_report_and_from_its_replay_is_one_pin(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (from_report,) = pin.pin_from_report(
        write_report(tmp_path / "r.json", {"bad": [failing_cell("agrees_with_oracle", B)]}), root
    )
    command = replay_command("other_impl", "agrees_with_oracle", B).replace("python", "/usr/bin/python3", 1)
    assert pin.pin_from_replay(command, root) == from_report
    # x64 is part of a pin's identity
    x64_report = write_report(
        tmp_path / "r64.json", {"bad": [failing_cell("agrees_with_oracle", B)]}, x64=True
    )
    (other,) = pin.pin_from_report(x64_report, root)
    assert other != from_report


def test_a_pinned_spec_is_relative_to_the_corpus_parent_and_still_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report records the resolved (absolute) path of a file spec: the corpus, checked in and
    shared, stores it relative to its folder's parent, from where the replay loads it again."""
    project = tmp_path / "project"
    (project / "impls").mkdir(parents=True)
    source = project / "impls" / "my_impl.py"
    source.write_text("def f(*args, **kwargs):\n    return None\n")
    report = tmp_path / "elsewhere" / "report.json"
    report.parent.mkdir()
    write_report(report, {"bad": [failing_cell("agrees_with_oracle", A)]})
    data = json.loads(report.read_text())
    data["implementations"][0]["spec"] = f"{source}:f"  # as the runner writes it: absolute
    report.write_text(json.dumps(data))
    root = project / "conformance-corpus"
    (path,) = pin.pin_from_report(report, root)
    assert json.loads(path.read_text())["spec"] == "impls/my_impl.py:f"
    assert json.loads(path.read_text())["source"] == "report ../elsewhere/report.json"
    assert str(tmp_path) not in path.read_text()

    (entry,) = corpus.load_entries(root, SUBJECT, "agrees_with_oracle", False)
    command = entry.replay_command()
    assert command is not None and command.impl == "impls/my_impl.py:f"
    assert (command.subject, command.property, command.x64) == (SUBJECT, "agrees_with_oracle", False)
    assert same(codec.loads(command.case), A)
    assert ReplayCommand.parse(str(command)) == command
    monkeypatch.chdir(project)  # the replay runs from the corpus folder's parent
    loaded = registry.load(command.impl)
    assert Path(loaded.fn.__code__.co_filename).resolve() == source.resolve()
    assert pin.pin_from_replay(str(command), "conformance-corpus") == path.relative_to(project)

    # through a replay command: an absolute path is made relative, a relative one kept as given
    absolute = replay_command(f"mine={source}:f", "output_contract", B)
    pinned = pin.pin_from_replay(absolute, root)
    assert pinned is not None and json.loads(pinned.read_text())["spec"] == "mine=impls/my_impl.py:f"
    for spec in ("mine=../shared/impl.py:f", "pkg.module:f", "nnx_vmap"):
        assert pin.stored_spec(spec, root) == spec
    assert pin.stored_spec(f"{source}:f", tmp_path / "deep" / "corpus") == "../project/impls/my_impl.py:f"


def test_golden_cases_are_not_pinned_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The golden property's cases are the checked-in goldens: pin skips them with a one-line note."""
    monkeypatch.chdir(tmp_path)
    golden = {"golden": "g0", **case_of(0, [[0.25]])}
    report = write_report(
        tmp_path / "report.json",
        {
            "bad": [failing_cell("golden", golden), failing_cell("agrees_with_oracle", A)],
            "worse": [failing_cell("golden", golden)],
        },
    )
    (only,) = pin.pin_from_report(report, tmp_path / "corpus")
    assert only.parent.name == "agrees_with_oracle"
    assert not (tmp_path / "corpus" / SUBJECT / "golden").exists()

    assert pin.cmd_pin(parser().parse_args(["pin", str(report), "--corpus", "pins"])) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "golden" in line]
    assert notes == [f"not pinned: 2 cases of {SUBJECT}/golden: {pin.NOT_PINNED['golden']}"]
    assert "1 new, 0 already pinned, 2 not pinned, in pins" in out

    command = replay_command("nnx_vmap", "golden", golden)
    assert pin.pin_from_replay(command, tmp_path / "corpus") is None
    assert pin.cmd_pin(parser().parse_args(["pin", "--replay", command, "--corpus", "pins"])) == 0
    out = capsys.readouterr().out
    assert f"not pinned: 1 case of {SUBJECT}/golden: " in out and "0 new" in out
    assert not list((tmp_path / "pins").rglob("golden/*.json"))


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("python -m conformance check --impl x", "not a replay command"),
        ("python -m conformance replay --impl x --property p", "missing --case"),
        ("python -m conformance replay --property p --case '{}'", "missing --impl"),
        ("python -m conformance replay --impl x --property p --case 'not json'", "--case is not JSON"),
        ("python -m conformance replay --impl x --property p --case '{\"oops\": 1}'", "not a recorded case"),
        ('python -m conformance replay --impl x --property p --case \'{"int": "1"}\'', "a case is a dict"),
        ("python -m conformance replay --impl x --property p --case @/nonexistent/c.json", "cannot read"),
        ("python -m conformance replay --impl x --property 'a b' --case '{\"int\": \"1\"}'", "not a name"),
        ("python -m conformance replay --impl 'x", "not a replay command"),
    ],
)
def test_a_bad_replay_command_is_a_value_error(tmp_path: Path, command: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pin.pin_from_replay(command, tmp_path)
    assert not any(tmp_path.rglob("*.json"))


def test_load_filters_by_subject_property_and_x64_and_sorts_by_file(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    cases = [case_of(s, [[float(s)]]) for s in range(6)]
    for c in cases:
        pin.pin(root, SUBJECT, "agrees_with_oracle", False, codec.encode(c))
    pin.pin(root, SUBJECT, "agrees_with_oracle", True, codec.encode(case_of(99, [[1.0]])))
    pin.pin(root, SUBJECT, "seed_sensitivity", False, codec.encode(case_of(98, [[1.0]])))
    pin.pin(root, "vmap_over_ensemble", "agrees_with_oracle", False, codec.encode(case_of(97, [[1.0]])))
    entries = corpus.load_entries(root, SUBJECT, "agrees_with_oracle", False)
    assert [e.path.name for e in entries] == sorted(e.path.name for e in entries)
    assert sorted(e.case["args"]["seed"] for e in entries) == list(range(6))
    again = corpus.load_pinned(root, SUBJECT, "agrees_with_oracle", False)
    assert [codec.dumps(c) for c in again] == [codec.dumps(e.case) for e in entries]
    assert [c["args"]["seed"] for c in corpus.load_pinned(root, SUBJECT, "agrees_with_oracle", True)] == [99]
    assert [c["args"]["seed"] for c in corpus.load_pinned(root, SUBJECT, "seed_sensitivity", False)] == [98]
    assert corpus.load_pinned(root, SUBJECT, "output_contract", False) == []
    assert corpus.load_pinned(tmp_path / "no-such-dir", SUBJECT, "agrees_with_oracle", False) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "corrupt corpus entry"),
        ('{"schema": "something else"}', "not of schema"),
        (
            json.dumps({"schema": corpus.SCHEMA, "subject": SUBJECT, "property": "p", "x64": False}),
            "no 'case'",
        ),
        (
            json.dumps(
                {"schema": corpus.SCHEMA, "subject": SUBJECT, "property": "p", "x64": False, "case": {}}
            ),
            "not an encoded value",
        ),
        (
            json.dumps(
                {"schema": corpus.SCHEMA, "subject": "other", "property": "p", "x64": False, "case": {}}
            ),
            "it is for other/p but lies in vmap_over_batch/p",
        ),
    ],
)
def test_a_corrupt_file_is_a_value_error_naming_it(tmp_path: Path, content: str, message: str) -> None:
    folder = tmp_path / SUBJECT / "p"
    folder.mkdir(parents=True)
    bad = folder / "0123456789abcdef.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        corpus.load_pinned(tmp_path, SUBJECT, "p", False)
    assert str(info.value).startswith(f"{bad}: ")


def test_a_report_that_is_not_one_is_a_value_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    with pytest.raises(ValueError, match="not a conformance JSON report"):
        pin.pin_from_report(bad, tmp_path)
    bad.write_text("[1, 2")
    with pytest.raises(ValueError, match="not a JSON report"):
        pin.pin_from_report(bad, tmp_path)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m conformance")
    sub = p.add_subparsers(dest="command", required=True)
    pin.add_parser(sub)
    return p


def test_the_pin_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    report = write_report(tmp_path / "report.json", {"bad": [failing_cell("agrees_with_oracle", A)]})
    args = parser().parse_args(["pin", str(report), "--corpus", "pins"])
    assert pin.cmd_pin(args) == 0
    out = capsys.readouterr().out
    assert f"pinned {SUBJECT}/agrees_with_oracle, found on bad: pins/{SUBJECT}/agrees_with_oracle/" in out
    assert "1 new, 0 already pinned, in pins" in out
    assert pin.cmd_pin(args) == 0
    assert "already pinned" in capsys.readouterr().out

    command = replay_command("nnx_vmap", "output_contract", B)
    assert pin.cmd_pin(parser().parse_args(["pin", "--replay", command])) == 0  # default corpus dir
    assert f"{corpus.DEFAULT_DIR}/{SUBJECT}/output_contract/" in capsys.readouterr().out
    assert len(corpus.load_pinned(corpus.DEFAULT_DIR, SUBJECT, "output_contract", False)) == 1

    monkeypatch.setattr(
        "sys.stdin", io.StringIO(command.replace("output_contract", "seed_determinism") + "\n")
    )
    assert pin.cmd_pin(parser().parse_args(["pin", "--replay", "-"])) == 0
    assert f"pinned {SUBJECT}/seed_determinism, found on nnx_vmap" in capsys.readouterr().out

    empty = write_report(tmp_path / "empty.json", {"good": [cell("output_contract")]})
    assert pin.cmd_pin(parser().parse_args(["pin", str(empty)])) == 0
    assert "nothing to pin" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["pin"], ["pin", "r.json", "--replay", "x"], ["pin", "missing.json"], ["pin", "--replay", "ls -l"]],
)
def test_the_pin_command_refuses_bad_input_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert pin.cmd_pin(parser().parse_args(argv)) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_pinned_cases_as_explicit_examples_run_first(tmp_path: Path) -> None:
    """The runner's recipe: ``example(case=c)`` for each pinned case, applied in reverse order."""
    root = tmp_path / "corpus"
    for s in (3, 1, 2):
        pin.pin(root, SUBJECT, "p", False, codec.encode({"seed": s}))
    pinned = corpus.load_pinned(root, SUBJECT, "p", False)
    seen: list[dict] = []

    def body(case: dict) -> None:
        seen.append(case)

    test = given(case=st.fixed_dictionaries({"seed": st.integers(100, 200)}))(body)
    for case in reversed(pinned):
        test = example(case=case)(test)
    settings(max_examples=5, database=None, phases=[Phase.explicit, Phase.generate], derandomize=True)(test)()
    assert seen[: len(pinned)] == pinned
    assert all(100 <= c["seed"] <= 200 for c in seen[len(pinned) :])
