"""The compatibility table, on synthetic matrix files (no JAX needed, no env installed)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from conformance.base.verdict import PASSING, Status, Verdict
from conformance.tools import compat_table as ct

PROPS = ("output_contract", "agrees_with_oracle", "seed_sensitivity")


def report(
    jax, flax, statuses=None, *, subject="vmap_over_batch", profile="ci", load_error=None, message=None, **env
):
    """A report for one line; ``statuses`` maps (impl, property) to a status, default pass."""
    statuses = statuses or {}
    impls = []
    for name in ("nnx_vmap", "broadcast"):
        props = [
            {
                "name": p,
                "property": p,
                "status": statuses.get((name, p), "pass"),
                "message": message or f"{name} {p} broke: got 1.0, expected 2.0\nsecond line"
                if statuses.get((name, p), "pass") != "pass"
                else "",
            }
            for p in PROPS
        ]
        impls.append(
            {
                "name": name,
                "spec": f"impl.{name}:vmap_over_batch",
                "builtin": True,
                "load_error": load_error if name == "broadcast" else None,
                "passed": all(c["status"] in ("pass", "skip", "xfail") for c in props),
                "properties": [] if (load_error and name == "broadcast") else props,
            }
        )
    environment = {
        "python": "3.11.7",
        "jax": jax,
        "flax": flax,
        "numpy": "2.4.6",
        "hypothesis": "6.170.17",
        "backend": "cpu",
        "machine": "x86_64",
        "system": "Linux",
        "cpu_count": 2,
        "executable": f"/work/main/.tox/jax{jax.replace('.', '')}/bin/python",
    }
    environment.update(env)
    return {
        "schema": "nnx-conformance/report/2",
        "subject": subject,
        "signature": f"{subject}(seed, x_batch, features)",
        "profile": profile,
        "strict": False,
        "x64": False,
        "environment": environment,
        "implementations": impls,
    }


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def table(text: str, subject: str = "vmap_over_batch") -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """The subject's table as (column headers, {(impl, property): cells})."""
    section = text.split(f"## {subject}\n", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("|")]
    header = [re.sub(r"<br>\(.*\)$", "", c.strip()) for c in rows[0].strip("|").split("|")][2:]
    cells: dict[tuple[str, str], list[str]] = {}
    impl = ""
    for r in rows[2:]:
        parts = [c.strip() for c in r.strip("|").split("|")]
        impl = parts[0].strip("`") or impl
        cells[(impl, parts[1])] = parts[2:]
    return header, cells


def render(paths, **kw) -> str:
    return ct.render(ct.load(paths), now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC), **kw)


def test_columns_are_sorted_by_version_not_by_text(tmp_path):
    paths = [
        write(tmp_path, "a.json", report("0.10.2", "0.12.8")),
        write(tmp_path, "b.json", report("0.5.0", "0.10.2")),
        write(tmp_path, "c.json", report("0.4.38", "0.10.2")),
        write(tmp_path, "d.json", report("0.4.31", "0.9.0")),
    ]
    header, _ = table(render(paths))
    assert header == [
        "jax 0.4.31<br>flax 0.9.0",
        "jax 0.4.38<br>flax 0.10.2",
        "jax 0.5.0<br>flax 0.10.2",
        "jax 0.10.2<br>flax 0.12.8",
    ]


def test_version_key_orders_releases_and_prereleases():
    order = ["0.4.9", "0.4.31", "0.5.0rc1", "0.5.0", "0.9.0", "0.9.0.1", "0.10.2"]
    assert sorted(reversed(order), key=ct.version_key) == order


def test_every_status_is_shown_as_recorded(tmp_path):
    statuses = {
        ("nnx_vmap", "output_contract"): "fail",
        ("nnx_vmap", "agrees_with_oracle"): "xfail",
        ("nnx_vmap", "seed_sensitivity"): "skip",
        ("broadcast", "output_contract"): "error",
        ("broadcast", "agrees_with_oracle"): "xpass",
    }
    _, cells = table(render([write(tmp_path, "r.json", report("0.4.31", "0.9.0", statuses))]))
    assert cells[("nnx_vmap", "output_contract")] == ["**FAIL**"]
    assert cells[("nnx_vmap", "agrees_with_oracle")] == ["xfail"]
    assert cells[("nnx_vmap", "seed_sensitivity")] == ["skip"]
    assert cells[("broadcast", "output_contract")] == ["**error**"]
    assert cells[("broadcast", "agrees_with_oracle")] == ["**XPASS**"]
    assert cells[("broadcast", "seed_sensitivity")] == ["pass"]
    assert cells[("nnx_vmap", "*verdict*")] == ["**does not conform**"]


def test_verdicts():
    ok = {"properties": [{"status": "pass"}, {"status": "skip"}]}
    known = {"properties": [{"status": "pass"}, {"status": "xfail"}]}
    stale = {"properties": [{"status": "xpass"}]}
    assert ct.verdict(ok) == "conforms"
    assert ct.verdict(known) == "known non-conformant"
    assert ct.verdict(stale) == "**does not conform**"
    assert ct.verdict({"load_error": "boom", "properties": []}) == "load error"


def test_statuses_and_verdicts_follow_the_shared_rule():
    """Every status has its text, loud exactly when it fails a run; the verdict is verdict.py's."""
    assert set(ct.STATUS_TEXT) == set(Status)
    loud = {s for s, text in ct.STATUS_TEXT.items() if text.startswith("**")}
    assert loud == set(Status) - PASSING
    assert set(ct.VERDICT_TEXT) == set(Verdict)
    incomplete = {"properties": [{"status": "pass"}, {"status": "incomplete"}, {"status": "xfail"}]}
    assert ct.verdict(incomplete) == "**incomplete**"
    assert (
        ct.verdict({"properties": [{"status": "incomplete"}, {"status": "fail"}]}) == "**does not conform**"
    )
    assert ct.verdict({"properties": [{"status": "pass"}, {"status": "brand-new"}]}) == "**does not conform**"
    assert ct.verdict({"load_error": "boom", "properties": [{"status": "brand-new"}]}) == "load error"


def test_what_changes_names_the_row_and_the_two_lines(tmp_path):
    broke = {("broadcast", "agrees_with_oracle"): "fail"}
    paths = [
        write(tmp_path, "a.json", report("0.4.31", "0.9.0")),
        write(tmp_path, "b.json", report("0.4.38", "0.10.2")),
        write(tmp_path, "c.json", report("0.5.0", "0.10.2", broke)),
        write(tmp_path, "d.json", report("0.10.2", "0.12.8", broke)),
    ]
    text = render(paths)
    section = text.split("## What changes between lines\n", 1)[1].split("\n## ", 1)[0]
    items = [line for line in section.splitlines() if line.startswith("- ")]
    assert items == [
        "- `broadcast` (vmap_over_batch) from jax 0.4.38 + flax 0.10.2 to jax 0.5.0 + flax 0.10.2: "
        "conforms → **does not conform**; `agrees_with_oracle`: pass → **FAIL**",
    ]
    # the evidence quotes the report's message, first line only
    assert "`broadcast` / `agrees_with_oracle` (fail): broadcast agrees_with_oracle broke" in text
    assert "second line" not in text


def test_nothing_changes_says_so(tmp_path):
    paths = [write(tmp_path, f"{j}.json", report(j, "0.10.2")) for j in ("0.4.38", "0.5.0")]
    assert "Nothing: every implementation has the same status" in render(paths)


def test_header_has_date_machine_and_profile(tmp_path):
    paths = [write(tmp_path, "a.json", report("0.4.31", "0.9.0", cpu_count=2))]
    text = render(paths, note="TRIAL: not the final run")
    assert text.startswith("# Compatibility")
    assert "> TRIAL: not the final run" in text
    assert "- Generated: 2026-11-25 12:00 UTC" in text
    assert re.search(r"- Files written: \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "- Machine: Linux x86_64, 2 CPUs, backend cpu" in text
    assert "- Profile: ci\n" in text
    assert "| jax 0.4.31 + flax 0.9.0 | 3.11.7 | 2.4.6 | 6.170.17 | jax0431 | ok |" in text


def test_mixed_profiles_are_flagged(tmp_path):
    paths = [
        write(tmp_path, "a.json", report("0.4.31", "0.9.0", profile="dev")),
        write(tmp_path, "b.json", report("0.5.0", "0.10.2", profile="ci")),
    ]
    assert "- Profile: ci, dev  **(mixed: columns are not comparable)**" in render(paths)


def test_a_stub_line_is_a_column_that_says_not_installed(tmp_path):
    stub = {
        "schema": ct.STUB_SCHEMA,
        "env": "jax0431-flax085",
        "jax": "0.4.31",
        "flax": "0.8.5",
        "stage": "install",
        "error": "Resolving...\n  × No solution found: flax==0.8.5 and nnx-conformance needs flax>=0.9.0",
    }
    paths = [write(tmp_path, "s.json", stub), write(tmp_path, "a.json", report("0.4.31", "0.9.0"))]
    text = render(paths)
    header, cells = table(text)
    assert header == ["jax 0.4.31<br>flax 0.8.5", "jax 0.4.31<br>flax 0.9.0"]
    assert cells[("nnx_vmap", "output_contract")] == ["not installed", "pass"]
    assert (
        "- **jax 0.4.31 + flax 0.8.5** could not be installed: `× No solution found: flax==0.8.5 "
        "and nnx-conformance needs flax>=0.9.0`" in text
    )
    assert "## Lines that did not run" in text and "Resolving..." in text
    # a line that did not run is no evidence of a change: the rows still read as unchanged
    assert "→" not in text


def test_a_run_stub_line_says_no_report(tmp_path):
    stub = {
        "schema": ct.STUB_SCHEMA,
        "jax": "0.4.31",
        "flax": "0.8.5",
        "stage": "run",
        "error": "TypeError: vmap() missing 1 required positional argument: 'f'",
    }
    header, cells = table(
        render([write(tmp_path, "s.json", stub), write(tmp_path, "a.json", report("0.4.31", "0.9.0"))])
    )
    assert cells[("broadcast", "*verdict*")] == ["no report", "conforms"]


def tox_result(*envs):
    return {"reportversion": "1", "toxversion": "4.67.15", "platform": "linux", "testenvs": dict(envs)}


def tox_env(jax, flax, *, install_ok=True, tests_rc=0, check_rc=0, installed=True):
    setup = [
        {"command": ["uv", "venv", "/x"], "output": "", "err": "", "retcode": 0, "elapsed": 0.1},
        {
            "command": ["uv", "pip", "install", f"flax=={flax}", f"jax=={jax}", f"jaxlib=={jax}", "-e", "."],
            "output": "",
            "err": ""
            if install_ok
            else "  × No solution found when resolving dependencies:\n  ╰─▶ jaxlib==9.9 unavailable",
            "retcode": 0 if install_ok else 1,
            "elapsed": 3.4,
        },
    ]
    info = {"setup": setup, "result": {"success": install_ok and tests_rc == 0 and check_rc == 0}}
    if install_ok:
        if installed:
            info["installed_packages"] = [f"flax=={flax}", f"jax=={jax}", f"jaxlib=={jax}", "numpy==2.4.6"]
        info["python"] = {"version_info": [3, 11, 7, "final", 0]}
        info["test"] = [
            {"command": ["python", "-c", "print(1)"], "output": "1\n", "retcode": 0, "elapsed": 1.0},
            {
                "command": ["python", "-m", "pytest"],
                "output": "....\n=========== 3 failed, 745 passed in 471.20s (0:07:51) ===========\n"
                if tests_rc
                else "....\n=========== 748 passed in 470.00s (0:07:50) ===========\n",
                "retcode": tests_rc,
                "elapsed": 472.5,
            },
            {
                "command": ["python", "-m", "conformance", "check", "--profile", "ci"],
                "output": "",
                "retcode": check_rc,
                "elapsed": 140.2,
            },
        ]
    return info


def test_tox_result_gives_install_errors_own_tests_and_timings(tmp_path):
    tox = tox_result(
        ("jax0431", tox_env("0.4.31", "0.9.0")),
        ("jax050", tox_env("0.5.0", "0.10.2", tests_rc=1, check_rc=1)),
        ("jax099", tox_env("9.9", "0.12.8", install_ok=False)),
        ("lint", {"setup": [], "result": {"success": True}, "installed_packages": ["ruff==0.17.6"]}),
        ("py311", {"python": {}}),  # listed, not run
    )
    broke = {("nnx_vmap", "agrees_with_oracle"): "fail"}
    paths = [
        write(tmp_path, "tox-result.json", tox),
        write(tmp_path, "jax0431.json", report("0.4.31", "0.9.0")),
        write(tmp_path, "jax050.json", report("0.5.0", "0.10.2", broke)),
    ]
    lines = ct.load(paths)
    assert [(ln.jax, ln.flax) for ln in lines] == [
        ("0.4.31", "0.9.0"),
        ("0.5.0", "0.10.2"),
        ("9.9", "0.12.8"),
    ]
    text = ct.render(lines)
    assert (
        "| jax 0.4.31 + flax 0.9.0 | 3.11.7 | 2.4.6 | 6.170.17 | jax0431 | ok "
        "| pass: 748 passed in 470.00s (0:07:50) | 0 | 4 / 472 / 140 |" in text
    )
    assert (
        "| jax 0.5.0 + flax 0.10.2 |" in text and "**FAIL** (exit 1): 3 failed, 745 passed in 471.20s" in text
    )
    row = next(r for r in text.splitlines() if r.startswith("| jax 9.9 + flax 0.12.8 |"))
    assert "**failed**" in row and "not installed" in row
    assert (
        "- the suite's own tests: pass on jax 0.4.31 + flax 0.9.0 "
        "→ **FAIL** (exit 1) on jax 0.5.0 + flax 0.10.2" in text
    )
    assert "- **jax 9.9 + flax 0.12.8** could not be installed: `╰─▶ jaxlib==9.9 unavailable`" in text
    _, cells = table(text)
    assert cells[("nnx_vmap", "agrees_with_oracle")] == ["pass", "**FAIL**", "not installed"]
    assert "lint" not in text.split("## The lines", 1)[1].split("##", 1)[0]


def test_tox_env_that_installed_but_wrote_no_report(tmp_path):
    tox = tox_result(("jax0438", tox_env("0.4.38", "0.10.2", check_rc=2, installed=False)))
    text = render([write(tmp_path, "t.json", tox)])
    assert (
        "**jax 0.4.38 + flax 0.10.2** installed but produced no report: "
        "`the check exited 2 and wrote no report`" in text
    )


def test_a_check_only_env_and_a_full_env_of_one_line_are_one_column(tmp_path):
    only_check = tox_env("0.4.31", "0.9.0")
    only_check["test"] = [t for t in only_check["test"] if "pytest" not in t["command"]]
    tox = tox_result(("jax0431-check", only_check), ("jax0431", tox_env("0.4.31", "0.9.0")))
    lines = ct.load([write(tmp_path, "t.json", tox), write(tmp_path, "r.json", report("0.4.31", "0.9.0"))])
    assert len(lines) == 1
    assert lines[0].envs == ["jax0431", "jax0431-check"]
    assert ct.tests_cell(lines[0]).startswith("pass: 748 passed")


def test_several_subjects_get_a_table_each(tmp_path):
    paths = [
        write(tmp_path, "a.json", report("0.4.31", "0.9.0")),
        write(tmp_path, "b.json", report("0.4.31", "0.9.0", subject="vmap_over_ensemble")),
    ]
    text = render(paths)
    assert "## vmap_over_batch\n" in text and "## vmap_over_ensemble\n" in text
    assert "- Subjects: vmap_over_batch, vmap_over_ensemble" in text


def test_load_error_shows_in_cells_and_evidence(tmp_path):
    text = render(
        [write(tmp_path, "a.json", report("0.4.31", "0.9.0", load_error="ImportError: no nnx.vmap"))]
    )
    _, cells = table(text)
    assert cells[("broadcast", "*verdict*")] == ["load error"]
    assert "`broadcast` could not be loaded: ImportError: no nnx.vmap" in text


def test_later_file_wins_a_tie(tmp_path, capsys):
    first = write(tmp_path, "a.json", report("0.4.31", "0.9.0", {("nnx_vmap", "output_contract"): "fail"}))
    second = write(tmp_path, "b.json", report("0.4.31", "0.9.0"))
    _, cells = table(render([first, second]))
    assert cells[("nnx_vmap", "output_contract")] == ["pass"]
    assert "replaces an earlier vmap_over_batch report" in capsys.readouterr().err


def test_cli_writes_the_page_and_reads_a_folder(tmp_path):
    folder = tmp_path / "matrix"
    folder.mkdir()
    write(folder, "jax0431.json", report("0.4.31", "0.9.0"))
    write(folder, "jax0102.json", report("0.10.2", "0.12.8"))
    out = tmp_path / "docs" / "compatibility.md"
    assert ct.main([str(folder), "--out", str(out), "--note", "TRIAL"]) == 0
    text = out.read_text()
    header, _ = table(text)
    assert header == ["jax 0.4.31<br>flax 0.9.0", "jax 0.10.2<br>flax 0.12.8"]
    assert f"by `python -m conformance.tools.compat_table {folder}`" in text


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "cannot read it as JSON"),
        (json.dumps({"schema": "something/else"}), "not a report"),
        (json.dumps([1, 2]), "not a report"),
        (json.dumps({"schema": "nnx-conformance/report/2", "environment": {}}), "names no jax/flax"),
        (json.dumps({"schema": ct.STUB_SCHEMA, "jax": "0.4.31"}), "needs 'jax' and 'flax'"),
    ],
)
def test_cli_refuses_what_it_cannot_read(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert ct.main([str(path)]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_an_empty_folder(tmp_path, capsys):
    assert ct.main([str(tmp_path)]) == 2
    assert "no JSON files" in capsys.readouterr().err


def test_changes_group_properties_that_move_together(tmp_path):
    broken = {("nnx_vmap", p): "fail" for p in ("output_contract", "agrees_with_oracle")}
    skipped = {("broadcast", "seed_sensitivity"): "skip"}
    paths = [
        write(tmp_path, "a.json", report("0.4.31", "0.8.5", broken)),
        write(tmp_path, "b.json", report("0.4.31", "0.9.0", skipped)),
    ]
    text = render(paths)
    section = text.split("## What changes between lines\n", 1)[1].split("\n## ", 1)[0]
    assert [line for line in section.splitlines() if line.startswith("- ")] == [
        "- `nnx_vmap` (vmap_over_batch) from jax 0.4.31 + flax 0.8.5 to jax 0.4.31 + flax 0.9.0: "
        "**does not conform** → conforms; `output_contract`, `agrees_with_oracle`: **FAIL** → pass",
        "- `broadcast` (vmap_over_batch) from jax 0.4.31 + flax 0.8.5 to jax 0.4.31 + flax 0.9.0: "
        "still conforms; `seed_sensitivity`: pass → skip",
    ]
    assert text.count("jax 0.4.31 + flax 0.8.5, `nnx_vmap`") == 2  # two messages: two items


def test_evidence_groups_properties_with_one_message(tmp_path):
    broken = {("nnx_vmap", p): "fail" for p in ("output_contract", "agrees_with_oracle")}
    msg = "the call raised TypeError: vmap() missing 1 required positional argument: 'f'"
    text = render([write(tmp_path, "a.json", report("0.4.31", "0.8.5", broken, message=msg))])
    evidence = [line for line in text.split("## Evidence", 1)[1].splitlines() if line.startswith("- ")]
    assert evidence == [
        f"- jax 0.4.31 + flax 0.8.5, `nnx_vmap` / `output_contract`, `agrees_with_oracle` (fail): {msg}"
    ]


def test_column_label_names_the_tox_env(tmp_path):
    only_check = tox_env("0.4.31", "0.8.5")
    tox = tox_result(("flax085-check", only_check))
    text = render([write(tmp_path, "t.json", tox), write(tmp_path, "r.json", report("0.4.31", "0.8.5"))])
    assert "| implementation | property | jax 0.4.31<br>flax 0.8.5<br>(flax085, jax0431) |" in text


def test_a_tox_env_goes_where_its_report_ran_not_where_tox_saw_the_pins(tmp_path):
    # flax085 installs flax 0.9.0, then downgrades to 0.8.5: tox's record names 0.9.0
    tox = tox_result(("flax085-check", tox_env("0.4.31", "0.9.0", check_rc=1)))
    downgraded = report("0.4.31", "0.8.5", {("nnx_vmap", "output_contract"): "fail"})
    downgraded["environment"]["executable"] = "/work/main/.tox/flax085-check/bin/python"
    lines = ct.load([write(tmp_path, "t.json", tox), write(tmp_path, "r.json", downgraded)])
    assert [(ln.jax, ln.flax, ln.envs) for ln in lines] == [("0.4.31", "0.8.5", ["flax085-check"])]
    assert [t.check_exit for t in lines[0].tox] == [1]


# --------------------------------------------------------------------------- groups and NNX modes

MODES_RAN = (
    "NNX modes checked: graph mode with graph_updates=True, graph mode with graph_updates=False, "
    "tree mode with graph_updates=False"
)
MODES_SKIPPED = "the installed Flax offers no NNX modes (nnx.set_graph_mode arrived in Flax 0.12.5)"


def grouped_report(jax, flax, cells, *, subject="vmap_over_batch"):
    """A report whose implementations have the given cells: impl -> [(property, status, message)]."""
    base = report(jax, flax, subject=subject)
    base["implementations"] = [
        {
            "name": name,
            "spec": f"impl.{name}:{subject}",
            "builtin": True,
            "load_error": None,
            "properties": [{"name": p, "property": p, "status": st, "message": msg} for p, st, msg in props],
        }
        for name, props in cells.items()
    ]
    return base


def forward_and_transform(transform_status="pass", modes_status="pass", modes_message=MODES_RAN):
    return [
        ("output_contract", "pass", ""),
        ("agrees_with_oracle", "pass", ""),
        (
            "jit_agrees_with_oracle",
            transform_status,
            "" if transform_status == "pass" else "got 0.0 under jit",
        ),
        ("nnx_modes", modes_status, modes_message),
    ]


def test_each_group_has_its_own_verdict_row(tmp_path):
    cells = {
        "good": forward_and_transform(),
        "host_code": forward_and_transform(transform_status="fail"),
        "known": forward_and_transform(transform_status="xfail"),
    }
    text = render([write(tmp_path, "a.json", grouped_report("0.10.2", "0.12.8", cells))])
    _, rows = table(text)
    assert rows[("good", "*forward claims*")] == ["conforms"]
    assert rows[("good", "*transform claims*")] == ["conforms"]
    assert rows[("host_code", "*forward claims*")] == ["conforms"]
    assert rows[("host_code", "*transform claims*")] == ["**does not conform**"]
    assert rows[("host_code", "*verdict*")] == ["**does not conform**"]
    assert rows[("known", "*transform claims*")] == ["known non-conformant"]
    assert rows[("host_code", "jit_agrees_with_oracle")] == ["**FAIL**"]
    # forward properties first, under their heading; the transform heading right before its own
    section = text.split("## vmap_over_batch\n", 1)[1]
    order = [
        r.strip("|").split("|")[1].strip()
        for r in section.splitlines()
        if r.startswith("| `good`") or r.startswith("|  |")
    ][:6]
    assert order == [
        "*forward claims*",
        "output_contract",
        "agrees_with_oracle",
        "*transform claims*",
        "jit_agrees_with_oracle",
        "nnx_modes",
    ]
    assert "- *transform*: claims under JAX transforms" in text


def test_an_old_line_without_transform_properties_shows_none(tmp_path):
    old = write(tmp_path, "a.json", report("0.9.2", "0.12.6"))  # forward properties only
    new = write(tmp_path, "b.json", grouped_report("0.10.2", "0.12.8", {"nnx_vmap": forward_and_transform()}))
    text = render([old, new])
    _, rows = table(text)
    assert rows[("nnx_vmap", "*transform claims*")] == [ct.ABSENT, "conforms"]
    assert rows[("nnx_vmap", "*forward claims*")] == ["conforms", "conforms"]
    assert rows[("nnx_vmap", "nnx_modes")] == [ct.ABSENT, "pass"]
    modes = text.split("## NNX modes\n", 1)[1].split("\n## ", 1)[0]
    assert (
        "| jax 0.9.2 + flax 0.12.6 | all 2 implementations of 1 subject | – (no nnx_modes in the report) |"
        in modes
    )


def test_a_one_group_table_has_no_group_rows(tmp_path):
    text = render([write(tmp_path, "a.json", report("0.4.31", "0.9.0"))])
    assert "claims*" not in text and "## NNX modes" not in text


def test_nnx_modes_section_lists_the_modes_that_ran_per_line(tmp_path):
    skipped = {n: forward_and_transform(modes_status="skip", modes_message=MODES_SKIPPED) for n in ("a", "b")}
    ran = {n: forward_and_transform() for n in ("a", "b")}
    paths = [
        write(tmp_path, "old.json", grouped_report("0.4.31", "0.9.0", skipped)),
        write(tmp_path, "new.json", grouped_report("0.10.2", "0.12.8", ran)),
        write(tmp_path, "new2.json", grouped_report("0.10.2", "0.12.8", ran, subject="vmap_anchored")),
    ]
    text = render(paths)
    modes = text.split("## NNX modes\n", 1)[1].split("\n## ", 1)[0]
    assert (
        f"| jax 0.4.31 + flax 0.9.0 | all 2 implementations of 1 subject | none: skipped ({MODES_SKIPPED}) |"
        in modes
    )
    assert (
        "| jax 0.10.2 + flax 0.12.8 | all 4 implementations of 2 subjects | "
        + MODES_RAN.removeprefix("NNX modes checked: ")
        + " |"
        in modes
    )
    # the change from skip to pass is a change between the lines
    assert "`nnx_modes`: skip → pass" in text


def test_nnx_modes_that_differ_between_implementations_get_a_row_each(tmp_path):
    cells = {
        "graph_only": forward_and_transform(
            modes_status="fail",
            modes_message="under NNX tree mode (modes checked: ...), the call raised",
        ),
        "good": forward_and_transform(),
        "good_too": forward_and_transform(),
        "loose": forward_and_transform(modes_status="pass", modes_message=""),
    }
    text = render([write(tmp_path, "a.json", grouped_report("0.10.2", "0.12.8", cells))])
    rows = [
        r
        for r in text.split("## NNX modes\n", 1)[1].split("\n## ", 1)[0].splitlines()
        if r.startswith("| jax")
    ]
    assert rows == [
        "| jax 0.10.2 + flax 0.12.8 | vmap_over_batch: `graph_only` | **FAIL**: under NNX tree mode "
        "(modes checked: ...), the call raised |",
        "| jax 0.10.2 + flax 0.12.8 | vmap_over_batch: `good`, `good_too` | "
        + MODES_RAN.removeprefix("NNX modes checked: ")
        + " |",
        "| jax 0.10.2 + flax 0.12.8 | vmap_over_batch: `loose` | pass (the report names no mode) |",
    ]


def test_nnx_modes_of_a_line_that_did_not_install(tmp_path):
    stub = {
        "schema": ct.STUB_SCHEMA,
        "jax": "9.9",
        "flax": "0.12.8",
        "stage": "install",
        "error": "no jaxlib 9.9",
    }
    paths = [
        write(tmp_path, "s.json", stub),
        write(tmp_path, "a.json", grouped_report("0.10.2", "0.12.8", {"a": forward_and_transform()})),
    ]
    assert "| jax 9.9 + flax 0.12.8 |  | not installed |" in render(paths)
