"""A per-sample declaration (conformance/base/declaration.py): what it accepts, and one clear line
for what it does not."""

from __future__ import annotations

import pytest

import conformance
from conformance.base.declaration import DEFAULT_DTYPES, DeclarationError, Dim, PerSample, Tolerance


def _make(seed: int, dims: dict[str, int]) -> object:
    return object()


def _call(model: object, x: object) -> object:
    return x


def test_a_declaration_in_a_few_lines_describes_itself_as_plain_data() -> None:
    decl = conformance.per_sample(
        make=_make, call=_call, sample=("L", "C"), dims={"C": conformance.dim(min=2)}
    )
    assert isinstance(decl, PerSample)
    assert decl.describe() == {
        "sample": ["L", "C"],
        "dims": {"L": Dim().to_json(), "C": {"min": 2, "max": 16, "multiple_of": 1}},
        "dtypes": list(DEFAULT_DTYPES),
        "randomness": None,
        "tolerance": Tolerance().to_json(),
        "summary": "",
    }
    assert decl.dims_of((7, 3)) == {"L": 7, "C": 3}


def test_dims_give_their_sizes() -> None:
    assert conformance.dim(min=2, max=8, multiple_of=2).sizes() == (2, 4, 6, 8)
    assert conformance.dim(min=3, max=9, multiple_of=4).sizes() == (4, 8)
    assert Dim().sizes() == tuple(range(1, 17))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"make": 3}, "make and call must be callables"),
        ({"sample": "LC"}, "sample must name one sample's dimensions"),
        ({"sample": ()}, "sample must name one sample's dimensions"),
        ({"sample": ("L", "L")}, "distinct identifiers"),
        ({"sample": ("L", "1x")}, "distinct identifiers"),
        ({"dims": {"D": Dim()}}, "dims names ['D'], which sample ('L', 'C') does not have"),
        ({"dims": {"C": (1, 4)}}, "must be conformance.dim(...)"),
        ({"dtypes": ("int8",)}, "dtypes must be among"),
        ({"dtypes": ()}, "dtypes must be among"),
        ({"randomness": "independent"}, "randomness must be None, 'different' or 'same'"),
        ({"tolerance": 10}, "tolerance must be conformance.tolerance"),
    ],
)
def test_a_bad_declaration_is_one_line_naming_the_problem(kwargs: dict, words: str) -> None:
    args = {"make": _make, "call": _call, "sample": ("L", "C"), **kwargs}
    with pytest.raises(DeclarationError) as e:
        conformance.per_sample(**args)
    assert words in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: conformance.dim(min=0), "at least 1"),
        (lambda: conformance.dim(min=5, max=4), "allows no size"),
        (lambda: conformance.dim(max=2.5), "max must be an int"),
        (lambda: conformance.tolerance(factor=0.5), "factor must be at least 1"),
        (lambda: conformance.tolerance(floor=float("nan")), "a finite number is needed"),
    ],
)
def test_bad_dims_and_tolerances_are_refused(call, words: str) -> None:
    with pytest.raises(DeclarationError) as e:
        call()
    assert words in str(e.value)


def test_a_tolerance_can_be_tightened_or_loosened() -> None:
    assert conformance.tolerance(factor=4, floor=2) == Tolerance(4.0, 2.0)
    decl = conformance.per_sample(
        make=_make, call=_call, sample=("D",), tolerance=conformance.tolerance(factor=64)
    )
    assert decl.describe()["tolerance"] == {"factor": 64.0, "floor": 8.0}
