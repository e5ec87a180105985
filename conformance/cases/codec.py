"""Exact, JSON-safe encoding of arguments and property cases, for reports and replay.

Every value keeps its Python/numpy type: ``3``, ``3.7``, ``np.int32(3)`` and
``np.float32(3.7)`` are different inputs to ``int()``-based code, and a
``KindedArray`` keeps its dtype, kind and bytes (zlib + base64).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from typing import Any

import numpy as np

from strategies.arrays import np_dtype
from strategies.kinds import KindedArray


def encode(value: Any) -> Any:
    """A JSON-safe tagged form of ``value`` (see :func:`decode`)."""
    if value is None:
        return {"none": True}
    if isinstance(value, np.generic):  # before int/float: np.float64 is a float subclass
        if isinstance(value, np.bool_):
            return {"numpy": "bool", "value": bool(value)}
        if isinstance(value, np.floating) and np.isnan(value):
            return {"numpy": value.dtype.name, "value": "nan", "bits": value.tobytes().hex()}
        return {"numpy": value.dtype.name, "value": repr(value.item())}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        if value != value:  # keep a NaN's sign and payload
            return {"float": "nan", "bits": struct.pack("<d", value).hex()}
        return {"float": repr(value)}
    if isinstance(value, str):
        return {"str": str(value)}
    if isinstance(value, KindedArray):
        return {"array": {**array_to_json(value.values), "kind": value.kind, "label": value.label}}
    if isinstance(value, (list, tuple)):
        return {"list": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    raise TypeError(f"cannot encode {type(value).__name__} for a report")


def array_to_json(values: np.ndarray) -> dict[str, Any]:
    """An array as plain JSON-able data, exact: its dtype, shape and bytes (zlib + base64).

    The one place an array becomes text: a report's cases and a gradient's direction use it."""
    v = np.asarray(values)
    return {
        "dtype": v.dtype.name if v.dtype.name == "bfloat16" else v.dtype.str,
        "shape": list(v.shape),
        "data": base64.b64encode(zlib.compress(np.ascontiguousarray(v).tobytes(), 9)).decode(),
    }


def array_from_json(data: dict[str, Any]) -> np.ndarray:
    """The array :func:`array_to_json` encoded (a writable copy)."""
    raw = zlib.decompress(base64.b64decode(data["data"], validate=True))
    return np.frombuffer(raw, dtype=np_dtype(data["dtype"])).reshape(data["shape"]).copy()


def decode(data: Any) -> Any:
    """The value :func:`encode` encoded; ``ValueError`` for anything else."""
    try:
        return _decode(data)
    except ValueError:
        raise
    except (TypeError, KeyError, AttributeError, zlib.error, binascii.Error) as e:
        raise ValueError(f"not an encoded value ({type(e).__name__}: {e})") from None


def _decode(data: Any) -> Any:
    if not isinstance(data, dict) or len(data) == 0:
        raise ValueError(f"not an encoded value: {data!r}")
    if "none" in data:
        return None
    if "bool" in data:
        return bool(data["bool"])
    if "int" in data:
        return int(data["int"])
    if "float" in data:
        if "bits" in data:
            return struct.unpack("<d", bytes.fromhex(data["bits"]))[0]
        return float(data["float"])
    if "str" in data:
        return str(data["str"])
    if "numpy" in data:
        dtype = np_dtype(data["numpy"])
        if "bits" in data:
            return np.frombuffer(bytes.fromhex(data["bits"]), dtype=dtype)[0]
        raw = data["value"]
        if dtype == np.bool_:
            return np.bool_(raw)
        number = int(raw) if dtype.kind in "iu" else float(raw)
        return dtype.type(number)
    if "array" in data:
        a = data["array"]
        return KindedArray(array_from_json(a), a["kind"], a.get("label", ""))
    if "list" in data:
        return [_decode(v) for v in data["list"]]
    if "dict" in data:
        return {k: _decode(v) for k, v in data["dict"].items()}
    raise ValueError(f"unknown encoded value with keys {sorted(data)}")


def dumps(value: Any) -> str:
    return json.dumps(encode(value), separators=(",", ":"))


def loads(text: str) -> Any:
    return decode(json.loads(text))


def describe(value: Any, *, max_elements: int = 64) -> str:
    """Readable one-value summary; arrays show their values when small."""
    if isinstance(value, KindedArray):
        text = value.describe()
        if value.values.size <= max_elements:
            with np.printoptions(precision=8, threshold=max_elements, linewidth=100):
                shown = np.array2string(
                    value.values.astype(np.float64)
                    if value.dtype.kind == "f" or value.dtype.name == "bfloat16"
                    else value.values,
                    separator=", ",
                )
            text += " = " + " ".join(shown.split())
        return text
    if isinstance(value, np.generic):
        return f"np.{value.dtype.name}({value.item()!r})"
    return repr(value)
