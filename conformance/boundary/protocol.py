"""The worker protocol: what crosses the pipe from a worker, as plain data under a strict schema.

The worker runs the implementation under test, so everything it sends is untrusted.
Nothing from it is unpickled: each message is one JSON frame, and a call's output is
a second frame of raw bytes whose dtype, shape and length the JSON frame declares.
:func:`parse` checks every message against the schema below; anything else is a
:class:`ProtocolViolation`, which the runner turns into a failed property of that
implementation ("protocol violation: ..."), never an error of the suite.

Requests go the other way (runner to worker: trusted code to untrusted) and may be
pickles.

Messages from the worker::

    {"kind": "hello", "pid": int}                        # JAX imported, the spec not loaded yet
    {"kind": "ready", "impl": IMPL}                      # loaded: its registration, as data
    {"kind": "load_error", "message": str}
    {"kind": "result", "id": int, "status": "ok" | "raised", "output": ARRAY | null,
     "output_type": str, "error_type": str, "error_bases": [str], "error_message": str,
     "error_where": str, "input_changes": [str], "seconds": float,
     "side_effects": [str]}                              # + a bytes frame if ARRAY

    IMPL  = {"name": str, "spec": str, "subject": str, "builtin": bool, "known_failures": [[str, str]]}
    ARRAY = {"dtype": str, "shape": [int], "nbytes": int}
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any

import ml_dtypes
import numpy as np

#: Longest JSON frame accepted from a worker (bytes); a result is a few kilobytes.
MAX_HEADER = 1 << 20
#: Largest output accepted from a worker (bytes).
MAX_PAYLOAD = 1 << 30
#: Longest string kept from a worker, and most list items.
MAX_TEXT = 2000
MAX_ITEMS = 64

#: dtypes an output may have (names as numpy spells them).
DTYPES: dict[str, np.dtype] = {
    name: np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    )
}
DTYPES["bfloat16"] = np.dtype(ml_dtypes.bfloat16)


class ProtocolViolation(Exception):
    """A worker sent something the schema does not allow."""


def encode_json(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()


def encode_array(array: np.ndarray) -> tuple[dict[str, Any], memoryview]:
    """The ARRAY description and the array's bytes: a view of them when it is C-contiguous
    (a copy otherwise), so that an output is not copied once more on its way out."""
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        array = array.copy(order="C")
    name = array.dtype.name
    if name not in DTYPES:
        raise TypeError(f"dtype {name} cannot be sent")
    data = memoryview(array.reshape(-1).view(np.uint8))
    return {"dtype": name, "shape": list(array.shape), "nbytes": data.nbytes}, data


def parse(frame: bytes) -> dict[str, Any]:
    """One JSON frame from a worker, checked against the schema of its kind."""
    if len(frame) > MAX_HEADER:
        raise ProtocolViolation(f"a message of {len(frame)} bytes (at most {MAX_HEADER})")
    try:
        message = json.loads(frame.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolViolation(f"a message that is not JSON ({_short(e)})") from None
    if not isinstance(message, dict) or message.get("kind") not in _SCHEMAS:
        kind = message.get("kind") if isinstance(message, dict) else type(message).__name__
        raise ProtocolViolation(f"a message of unknown kind {_short(kind)}")
    schema = _SCHEMAS[message["kind"]]
    if set(message) != set(schema):
        extra, missing = sorted(set(message) - set(schema)), sorted(set(schema) - set(message))
        raise ProtocolViolation(f"a {message['kind']} message with fields {extra} extra, {missing} missing")
    return {key: check(message[key], f"{message['kind']}.{key}") for key, check in schema.items()}


def array_from(description: dict[str, Any], data: bytes) -> np.ndarray:
    """The output array from its checked description and its bytes frame."""
    if len(data) != description["nbytes"]:
        raise ProtocolViolation(f"an output of {len(data)} bytes, announced as {description['nbytes']}")
    return np.frombuffer(data, dtype=DTYPES[description["dtype"]]).reshape(description["shape"]).copy()


# --------------------------------------------------------------------------- field checks


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ProtocolViolation(f"{where} is a {type(value).__name__}, not a string")
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."


def _int(value: Any, where: str) -> int:
    if type(value) is not int:
        raise ProtocolViolation(f"{where} is a {type(value).__name__}, not an integer")
    return value


def _bool(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise ProtocolViolation(f"{where} is a {type(value).__name__}, not true or false")
    return value


def _seconds(value: Any, where: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise ProtocolViolation(f"{where} is {_short(value)}, not a duration")
    return float(value)


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ProtocolViolation(f"{where} is not a list of at most {MAX_ITEMS} strings")
    return [_text(v, where) for v in value]


def _status(value: Any, where: str) -> str:
    if value not in ("ok", "raised"):
        raise ProtocolViolation(f"{where} is {_short(value)}, not 'ok' or 'raised'")
    return value


def _pairs(value: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ProtocolViolation(f"{where} is not a list of pairs")
    out = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ProtocolViolation(f"{where} holds {_short(pair)}, not a [claim, reason] pair")
        out.append((_text(pair[0], where), _text(pair[1], where)))
    return out


def _impl(value: Any, where: str) -> dict[str, Any]:
    fields = {"name": _text, "spec": _text, "subject": _text, "builtin": _bool, "known_failures": _pairs}
    if not isinstance(value, dict) or set(value) != set(fields):
        raise ProtocolViolation(f"{where} does not describe an implementation")
    return {k: check(value[k], f"{where}.{k}") for k, check in fields.items()}


def _array(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "nbytes"}:
        raise ProtocolViolation(f"{where} does not describe an array")
    dtype = value["dtype"]
    if dtype not in DTYPES:
        raise ProtocolViolation(f"{where}.dtype is {_short(dtype)}, not a dtype the suite reads")
    shape = value["shape"]
    if not isinstance(shape, list) or len(shape) > 32 or any(type(s) is not int or s < 0 for s in shape):
        raise ProtocolViolation(f"{where}.shape is {_short(shape)}, not a shape")
    nbytes = _int(value["nbytes"], f"{where}.nbytes")
    expected = math.prod(shape) * DTYPES[dtype].itemsize
    if nbytes != expected or nbytes > MAX_PAYLOAD:
        raise ProtocolViolation(
            f"{where}.nbytes is {nbytes}; {dtype}{shape} takes {expected} (at most {MAX_PAYLOAD})"
        )
    return {"dtype": dtype, "shape": tuple(shape), "nbytes": nbytes}


_SCHEMAS: dict[str, dict[str, Any]] = {
    "hello": {"kind": _text, "pid": _int},
    "ready": {"kind": _text, "impl": _impl},
    "load_error": {"kind": _text, "message": _text},
    "result": {
        "kind": _text,
        "id": _int,
        "status": _status,
        "output": _array,
        "output_type": _text,
        "error_type": _text,
        "error_bases": _texts,
        "error_message": _text,
        "error_where": _text,
        "input_changes": _texts,
        "seconds": _seconds,
        "side_effects": _texts,
    },
}


# --------------------------------------------------------------------------- framing, with deadlines

_LENGTH = struct.Struct("!Q")


class Timeout(Exception):
    """The other end did not finish a frame in time."""


def write_frame(fd: int, data: bytes | memoryview, deadline: float | None = None) -> None:
    """Write one frame (8-byte length, then ``data``); Timeout past ``deadline`` (time.monotonic).
    ``data`` is written from where it is, not copied behind the length first."""
    data = memoryview(data).cast("B")
    for part in (memoryview(_LENGTH.pack(data.nbytes)), data):
        view = part
        while view:
            if deadline is not None:
                _wait(fd, deadline, write=True)
            view = view[os.write(fd, view[: 1 << 20]) :]


def read_frame(fd: int, limit: int, deadline: float | None = None) -> bytes:
    """Read one frame of at most ``limit`` bytes. EOFError when the writer is gone,
    ProtocolViolation for a longer frame, Timeout past ``deadline``."""
    (size,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, deadline))
    if size > limit:
        raise ProtocolViolation(f"a frame of {size} bytes announced (at most {limit})")
    return _read_exactly(fd, size, deadline)


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    parts, left = [], n
    while left:
        if deadline is not None:
            _wait(fd, deadline, write=False)
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the pipe was closed")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _wait(fd: int, deadline: float, write: bool) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout
    ready = select.select([], [fd], [], left) if write else select.select([fd], [], [], left)
    if not any(ready):
        raise Timeout
