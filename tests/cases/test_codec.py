"""``conformance.cases.codec``: recorded cases come back exactly (same types, same bits);
garbage is refused.

A case is replayed from its JSON text, so ``loads(dumps(v))`` must give back a value
that ``int()``-based code cannot tell from ``v``: ``3``, ``3.0``, ``np.int32(3)`` and
``np.float64(3.7)`` are different inputs, and an array keeps its dtype, kind, label
and bytes.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import strategies as S
from conformance.cases.codec import decode, describe, dumps, encode, loads

#: Derandomized, and no shrinking: a failure (a codec bug) is reported fast, as drawn.
FAST = settings(
    derandomize=True,
    max_examples=100,
    database=None,
    suppress_health_check=list(HealthCheck),
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
)


def float_bits(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


def assert_identical(got: Any, want: Any, where: str = "value") -> None:
    """``got`` is ``want``: same type, same value, same bits (recursively)."""
    assert type(got) is type(want), f"{where}: type {type(got).__name__}, want {type(want).__name__}"
    if isinstance(want, S.KindedArray):
        assert got.kind == want.kind, f"{where}: kind"
        assert got.label == want.label, f"{where}: label"
        assert got.values.dtype == want.values.dtype, f"{where}: dtype {got.values.dtype}"
        assert got.values.shape == want.values.shape, f"{where}: shape {got.values.shape}"
        assert got.values.tobytes() == want.values.tobytes(), f"{where}: bytes differ"
    elif isinstance(want, np.generic):
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype}, want {want.dtype}"
        assert got.tobytes() == want.tobytes(), f"{where}: {got!r} != {want!r} (bitwise)"
    elif isinstance(want, float):
        assert float_bits(got) == float_bits(want), f"{where}: {got!r} != {want!r} (bitwise)"
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: length"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_identical(g, w, f"{where}[{i}]")
    elif isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)}, want {list(want)}"
        for k in want:
            assert_identical(got[k], want[k], f"{where}[{k!r}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def round_trip(value: Any) -> Any:
    text = dumps(value)
    # JSON-safe: plain JSON, no NaN/Infinity tokens that strict parsers refuse.
    json.dumps(json.loads(text), allow_nan=False)
    return loads(text)


def nan_with_bits(bits: int) -> float:
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    assert math.isnan(value)
    return value


# --- Python scalars -----------------------------------------------------------------------------

PYTHON_SCALARS = [
    0,
    1,
    -1,
    7,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**70,
    -(2**70),
    0.0,
    -0.0,
    3.7,
    -3.7,
    0.1,
    1e300,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    None,
    "",
    "seed",
    'quotes " and \\ backslash\n and ünïcödé',
]


@pytest.mark.parametrize("value", PYTHON_SCALARS, ids=repr)
def test_python_scalars_round_trip_exactly(value: Any) -> None:
    got = round_trip(value)
    assert_identical(got, value)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got)


def test_bool_is_not_confused_with_int() -> None:
    assert type(round_trip(True)) is bool
    assert type(round_trip(1)) is int
    assert round_trip([True, 1, 1.0]) == [True, 1, 1.0]
    assert [type(v) for v in round_trip([True, 1, 1.0])] == [bool, int, float]


@FAST
@given(st.integers() | st.integers(-(2**200), 2**200))
def test_any_int_round_trips(value: int) -> None:
    assert_identical(round_trip(value), value)


@FAST
@given(st.floats(allow_nan=False, allow_infinity=True, allow_subnormal=True))
def test_any_non_nan_float64_round_trips_bitwise(value: float) -> None:
    assert_identical(round_trip(value), value)


@FAST
@given(st.floats(allow_nan=True))
def test_nan_stays_nan(value: float) -> None:
    got = round_trip(value)
    assert type(got) is float
    assert math.isnan(got) == math.isnan(value)


@FAST
@given(st.floats(allow_nan=True))
def test_any_float64_round_trips_bitwise_nan_payloads_included(value: float) -> None:
    # The codec promises exact encoding; a NaN's sign and payload are part of its bits.
    assert_identical(round_trip(value), value)


@pytest.mark.parametrize("bits", [0xFFF8000000000000, 0x7FF8000000000001, 0x7FF0000000000001], ids=hex)
def test_nan_sign_and_payload_round_trip(bits: int) -> None:
    value = nan_with_bits(bits)
    assert float_bits(round_trip(value)) == bits


@FAST
@given(st.text())
def test_any_str_round_trips(value: str) -> None:
    assert_identical(round_trip(value), value)


# --- numpy scalars ------------------------------------------------------------------------------

NUMPY_SCALARS = [
    np.int32(0),
    np.int32(-7),
    np.int32(2**31 - 1),
    np.int32(-(2**31)),
    np.int64(3),
    np.int64(2**63 - 1),
    np.int64(-(2**63)),
    np.uint32(0),
    np.uint32(2**32 - 1),
    np.uint64(2**64 - 1),
    np.uint64(2**63),
    np.float32(3.7),
    np.float32(-0.0),
    np.float32(1e-45),
    np.float32(3.4028235e38),
    np.float32("inf"),
    np.float32("nan"),
    np.float64(3.7),
    np.float64(-3.7),
    np.float64(0.5),
    np.float64(-0.0),
    np.float64(2**40),
    np.float64("-inf"),
    np.bool_(True),
    np.bool_(False),
]


@pytest.mark.parametrize("value", NUMPY_SCALARS, ids=lambda v: f"{type(v).__name__}({v!r})")
def test_numpy_scalars_keep_their_type_and_bits(value: np.generic) -> None:
    assert_identical(round_trip(value), value)


@FAST
@given(st.floats(width=32, allow_nan=False))
def test_any_float32_round_trips_bit_identically(value: float) -> None:
    scalar = np.float32(value)
    assert_identical(round_trip(scalar), scalar)


@FAST
@given(st.floats(allow_nan=False))
def test_any_numpy_float64_round_trips_bit_identically(value: float) -> None:
    scalar = np.float64(value)
    assert_identical(round_trip(scalar), scalar)


@FAST
@given(
    st.one_of(
        st.integers(-(2**31), 2**31 - 1).map(np.int32),
        st.integers(-(2**63), 2**63 - 1).map(np.int64),
        st.integers(0, 2**32 - 1).map(np.uint32),
        st.integers(0, 2**64 - 1).map(np.uint64),
        st.booleans().map(np.bool_),
    )
)
def test_any_numpy_integer_or_bool_round_trips(value: np.generic) -> None:
    assert_identical(round_trip(value), value)


def test_drawn_arguments_round_trip() -> None:
    """What the suite actually records: argument dicts drawn by the strategies."""

    @settings(FAST, max_examples=150)
    @given(S.vmap_over_batch_args(x64=True))
    def check(args: dict[str, Any]) -> None:
        case = {"args": args, "other": [args["seed"], args["features"]]}
        assert_identical(round_trip(case), case)

    check()


# --- containers ---------------------------------------------------------------------------------


def test_lists_and_nested_dicts_round_trip() -> None:
    value = {
        "args": {
            "seed": np.int64(-5),
            "x_batch": S.KindedArray(
                np.arange(6, dtype=np.float32).reshape(2, 3), "numpy_fortran", "ordinary"
            ),
            "features": 3.7,
        },
        "rows": [0, 2, [1, [np.uint32(7), None, "x"]]],
        "empty_list": [],
        "empty_dict": {},
        "nested": {"a": {"b": {"c": [True, np.bool_(False), -0.0]}}},
    }
    assert_identical(round_trip(value), value)


def test_tuples_come_back_as_lists_with_the_same_items() -> None:
    assert round_trip((1, np.int32(2), "3")) == [1, np.int32(2), "3"]
    assert type(round_trip((1,))) is list


def test_dict_key_order_is_preserved() -> None:
    value = {"zeta": 1, "alpha": 2, "mid": {"y": 1, "b": 2, "x": 3}, "": 0}
    got = round_trip(value)
    assert list(got) == ["zeta", "alpha", "mid", ""]
    assert list(got["mid"]) == ["y", "b", "x"]


@settings(FAST, max_examples=50)
@given(st.dictionaries(st.text(), st.integers() | st.floats(allow_nan=False) | st.none(), max_size=12))
def test_any_str_keyed_dict_keeps_its_key_order(value: dict[str, Any]) -> None:
    got = round_trip(value)
    assert list(got) == list(value)
    assert_identical(got, value)


# --- arrays -------------------------------------------------------------------------------------

ARRAY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float64": np.float64,
    "bool": np.bool_,
    "complex64": np.complex64,
    "<U1": "<U1",
}


def sample_array(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "U":
        values = np.array([chr(ord("a") + i % 26) for i in range(n)], dtype=dt)
    elif dt.kind == "b":
        values = (np.arange(n) % 3 == 0).astype(dt)
    elif dt.kind == "c":
        values = (np.linspace(-2, 2, n) + 1j * np.linspace(3, -1, n)).astype(dt)
    else:
        values = np.linspace(-3.7, 1e3, n).astype(dt)
        if n >= 3:
            values[0], values[1], values[2] = -0.0, np.inf, np.nan
    return values.reshape(shape)


@pytest.mark.parametrize("shape", [(2, 3), (0, 3), (3, 0), (4,), ()], ids=str)
@pytest.mark.parametrize("dtype", list(ARRAY_DTYPES), ids=str)
def test_kinded_arrays_round_trip_bytes_dtype_kind_and_label(dtype: str, shape: tuple[int, ...]) -> None:
    for kind, label in zip(S.ARRAY_KINDS, ["ordinary", "", "zéro rows", "large", "x"], strict=True):
        value = S.KindedArray(sample_array(ARRAY_DTYPES[dtype], shape), kind, label)
        got = round_trip(value)
        assert_identical(got, value, f"{dtype}{list(shape)} {kind}")
        assert got.values.flags.c_contiguous and got.values.flags.writeable
        assert not np.shares_memory(got.values, value.values)


@FAST
@given(
    hnp.arrays(
        st.sampled_from([np.float16, np.float32, np.float64]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        elements={"allow_nan": True, "allow_subnormal": True},
    ),
    st.sampled_from(S.ARRAY_KINDS),
)
def test_any_float_array_round_trips_bitwise(values: np.ndarray, kind: str) -> None:
    value = S.KindedArray(np.ascontiguousarray(values), kind, "any")
    assert_identical(round_trip(value), value)


def test_bfloat16_array_keeps_every_bit_pattern() -> None:
    values = np.arange(2**16, dtype=np.uint16).view(ml_dtypes.bfloat16).reshape(256, 256)
    value = S.KindedArray(values, "jax", "all bfloat16 bit patterns")
    assert_identical(round_trip(value), value)


def test_array_bytes_are_compressed() -> None:
    value = S.KindedArray(np.zeros((100, 200), np.float32), "numpy", "zeros")
    assert len(dumps(value)) < 2_000


# --- errors -------------------------------------------------------------------------------------


def test_unencodable_values_raise_type_error() -> None:
    for value in (object(), {1, 2}, b"bytes", np.zeros(3)):
        with pytest.raises(TypeError):
            encode(value)


def _array_data(**changes: Any) -> dict[str, Any]:
    good = json.loads(dumps(S.KindedArray(np.arange(6, dtype=np.float32).reshape(2, 3), "numpy", "ok")))
    good["array"].update(changes)
    return good


GARBAGE_TEXT = {
    "not JSON": "this is not json",
    "truncated JSON": dumps({"a": [1, 2]})[:-3],
    "JSON null": "null",
    "JSON number": "3",
    "JSON string": '"seed"',
    "JSON list": "[1, 2]",
    "empty object": "{}",
    "unknown tag": '{"complex": "1+2j"}',
    "bad int text": '{"int": "12abc"}',
    "bad float text": '{"float": "three"}',
    "garbage inside a list": '{"list": [{"int": "1"}, {"nope": 1}]}',
    "garbage inside a dict": '{"dict": {"a": 7}}',
    "array of the wrong size": json.dumps(_array_data(shape=[4, 4])),
    "array of an unknown kind": json.dumps(_array_data(kind="cupy")),
    "array data not base64": json.dumps(_array_data(data="%%% not base64 %%%")),
}


@pytest.mark.parametrize("text", list(GARBAGE_TEXT.values()), ids=list(GARBAGE_TEXT))
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


# Well-formed JSON with a known tag but a corrupted body: what a hand-edited or truncated
# report gives ``nnx-conformance replay --case``, which turns only ValueError (and KeyError)
# into a usage error.
CORRUPTED = {
    "array data not zlib": _array_data(data=base64.b64encode(b"definitely not zlib").decode()),
    "array data truncated": _array_data(data=_array_data()["array"]["data"][:8]),
    "array of an unknown dtype": _array_data(dtype="float33"),
    "array without data": {"array": {"dtype": "<f4", "shape": [1], "kind": "numpy"}},
    "numpy scalar of an unknown dtype": {"numpy": "float33", "value": "1.0"},
    "numpy scalar without a value": {"numpy": "int32"},
    "list that is not a list": {"list": 5},
    "dict that is not a dict": {"dict": 3},
}


@pytest.mark.parametrize("data", list(CORRUPTED.values()), ids=list(CORRUPTED))
def test_corrupted_encodings_are_a_value_error(data: dict[str, Any]) -> None:
    try:
        decode(data)
    except ValueError:
        return
    except Exception as e:  # any other exception is the bug being reported
        name = f"{type(e).__module__}.{type(e).__qualname__}".removeprefix("builtins.")
        pytest.fail(f"decode raised {name}: {e}, not ValueError")
    pytest.fail("decode accepted a corrupted encoding")


def test_decode_refuses_non_dicts() -> None:
    for data in (None, 3, "int", [], [{"int": "1"}], {}):
        with pytest.raises(ValueError, match="not an encoded value"):
            decode(data)


# --- describe -----------------------------------------------------------------------------------


def test_describe_shows_the_values_of_small_arrays() -> None:
    value = S.KindedArray(np.array([[1.5, -2.25, 0.0]], np.float32), "numpy_readonly", "ordinary")
    text = describe(value)
    assert text.startswith("float32[1, 3] (numpy_readonly, ordinary)")
    assert " = " in text
    assert "1.5" in text and "-2.25" in text


def test_describe_shows_bfloat16_and_bool_values() -> None:
    bf = S.KindedArray(np.array([[1.5, -3.0]], ml_dtypes.bfloat16), "jax", "")
    assert describe(bf).startswith("bfloat16[1, 2] (jax)")
    assert "1.5" in describe(bf) and "-3." in describe(bf)
    flags = S.KindedArray(np.array([True, False]), "numpy", "")
    assert "True" in describe(flags) and "False" in describe(flags)


def test_describe_hides_the_values_of_big_arrays() -> None:
    values = np.full((10, 20), 1.25, np.float32)
    text = describe(S.KindedArray(values, "numpy", "ordinary"))
    assert text == "float32[10, 20] (numpy, ordinary)"
    assert "1.25" not in text


def test_describe_threshold_is_max_elements() -> None:
    at = S.KindedArray(np.full((8, 8), 0.5, np.float32), "numpy", "")
    above = S.KindedArray(np.full((5, 13), 0.5, np.float32), "numpy", "")
    assert "0.5" in describe(at)
    assert "0.5" not in describe(above) and " = " not in describe(above)
    small = S.KindedArray(np.full((2, 3), 0.5, np.float32), "numpy", "")
    assert " = " not in describe(small, max_elements=5)
    assert "0.5" in describe(small, max_elements=6)


def test_describe_is_one_line() -> None:
    values = np.linspace(-1, 1, 60, dtype=np.float32).reshape(6, 10)
    text = describe(S.KindedArray(values, "numpy", ""))
    assert "\n" not in text and " = " in text


def test_describe_scalars() -> None:
    assert describe(np.int32(3)) == "np.int32(3)"
    assert describe(np.float64(0.5)) == "np.float64(0.5)"
    assert describe(3.7) == "3.7"
    assert describe(None) == "None"
    assert describe("seed") == "'seed'"
