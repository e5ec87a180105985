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
        "dims": {"L": Dim().to_json(), "C": {"min": 2, "max": None, "multiple_of": 1}},
        "dtypes": list(DEFAULT_DTYPES),
        "randomness": None,
        "tolerance": Tolerance().to_json(),
        "summary": "",
        "static": {},
        "own_oracle": False,
    }
    assert decl.dims_of((7, 3)) == {"L": 7, "C": 3}


def test_dims_give_their_sizes() -> None:
    assert conformance.dim(min=2, max=8, multiple_of=2).sizes() == (2, 4, 6, 8)
    assert conformance.dim(min=3, max=9, multiple_of=4).sizes() == (4, 8)
    assert Dim().sizes() == tuple(range(1, 17))
    assert conformance.dim(min=20).sizes() == (20,)  # no max: the search keeps to the smallest


def test_dims_give_the_sizes_around_a_tile_they_allow() -> None:
    assert Dim().around(1024) == (1023, 1025)
    assert conformance.dim(multiple_of=2).around(1024) == (1022, 1026)
    assert conformance.dim(multiple_of=3).around(129) == (126, 132)
    assert conformance.dim(max=1024).around(1024) == (1023,)
    assert conformance.dim(max=64).around(128) == ()


def _make_heads(seed: int, dims: dict[str, int], heads: int, causal: bool = True) -> object:
    return object()


def test_static_arguments_are_declared_with_their_values_and_reach_make_by_keyword() -> None:
    decl = conformance.per_sample(
        make=_make_heads, call=_call, sample=("L", "D"), static={"heads": (1, 2, 4), "causal": [True, False]}
    )
    assert decl.static == {"heads": (1, 2, 4), "causal": (True, False)}
    assert decl.describe()["static"] == {"heads": [1, 2, 4], "causal": [True, False]}
    assert decl.static_of((2, False)) == {"heads": 2, "causal": False}


@pytest.mark.parametrize(
    ("static", "words"),
    [
        ({"heads": (1, 2)}, "make must take the static arguments by keyword: make(seed, dims, heads)"),
        ({"seed": (1,)}, "must be an identifier other than the sample's dimensions"),
        ({"L": (1,)}, "must be an identifier other than the sample's dimensions"),
        ({"heads": ()}, "must be the values it may take"),
        ({"heads": 4}, "must be the values it may take"),
        ({"heads": "124"}, "must be the values it may take"),
        ({"heads": ((1, 2),)}, "distinct bools, ints, floats, strings or None"),
        ({"heads": (1, 1)}, "distinct bools, ints, floats, strings or None"),
        ([("heads", (1,))], "static must be a dict"),
    ],
)
def test_a_bad_static_argument_is_one_line(static: object, words: str) -> None:
    with pytest.raises(DeclarationError) as e:
        conformance.per_sample(make=_make, call=_call, sample=("L", "C"), static=static)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_an_oracle_must_be_callable() -> None:
    with pytest.raises(DeclarationError, match="oracle must be callables"):
        conformance.per_sample(make=_make, call=_call, sample=("L",), oracle=3.0)
    assert conformance.per_sample(make=_make, call=_call, sample=("L",), oracle=_call).describe()[
        "own_oracle"
    ]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"make": 3}, "make, call and oracle must be callables"),
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
