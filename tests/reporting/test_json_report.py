"""The JSON files (conformance/reporting/json_report.py): written whole or not at all, one per subject."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conformance.reporting.json_report import json_path, write_json


def test_a_document_is_written_indented_with_a_final_newline_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json({"a": [1, 2], "b": {"c": None}}, str(path))
    text = path.read_text()
    assert json.loads(text) == {"a": [1, 2], "b": {"c": None}}
    assert text.endswith("}\n") and '\n  "a": [' in text
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_value_json_cannot_hold_is_written_as_its_text(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json({"where": tmp_path}, str(path))
    assert json.loads(path.read_text()) == {"where": str(tmp_path)}


def test_a_strict_document_refuses_nan_and_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    write_json({"peak": 1.0}, str(path), allow_nan=False)
    with pytest.raises(ValueError):
        write_json({"peak": math.nan}, str(path), allow_nan=False)
    assert json.loads(path.read_text()) == {"peak": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_one_report_per_subject_when_a_run_has_several() -> None:
    assert json_path("out/report.json", "vmap_anchored", several=False) == "out/report.json"
    assert json_path("out/report.json", "vmap_anchored", several=True) == "out/report.vmap_anchored.json"
    assert json_path("out/report", "vmap_anchored", several=True) == "out/report.vmap_anchored.json"
