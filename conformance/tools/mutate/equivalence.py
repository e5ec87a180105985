"""Whether a surviving mutant is likely equivalent: its outputs against the original's, bit for bit.

:func:`ci_examples` collects the calls the ``ci`` profile's properties make (the same
derandomized draws: plain calls, and the gradient and transform properties' cases under
VJP, JVP and ``jit``); :func:`outputs_differ` makes them on both and names the first call
whose output differs (the sign of a zero aside).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

#: One call to compare: the arguments, and the transform it runs under (None: a plain call).
Call = tuple[dict[str, Any], dict[str, Any] | None]


def ci_examples(subject: Any, profile: Any, properties: Iterable[Any]) -> list[Call]:
    """The calls the properties make in ``profile``, as the comparison of survivors makes them:
    the arguments every forward property draws (the same derandomized seeds as
    :func:`conformance.run.runner._search`: the whole domain, then each edge), plain; the
    gradient properties' cases under their VJP and JVP (a survivor may change only its
    gradient); the forward transform properties' cases under ``jax.jit``. Deduplicated."""
    from hypothesis import given, seed, settings

    from conformance.run.runner import (
        SUPPRESSED_HEALTH_CHECKS,
        case_strategy,
        examples_seed,
        search_examples,
        searches,
    )
    from conformance.subjects import StrategyConfig, args_key

    config = StrategyConfig(pool=profile.pool)
    found: dict[str, Call] = {}
    done: set[str] = set()

    def add(args: dict[str, Any], transform: dict[str, Any] | None) -> None:
        key = args_key(args) + (json.dumps(transform, sort_keys=True) if transform else "")
        found.setdefault(key, (args, transform))

    def collect(prop: Any, case: dict[str, Any]) -> None:
        kind = prop.cases.__name__
        if kind == "gradient_calls":
            from conformance.cases.codec import array_to_json as encode_direction
            from conformance.properties.transforms import direction_values

            args, x = case["args"], case["args"][subject.batch_arg]
            flat = (int(np.prod(subject.output_shape(args))),)
            cotangent = direction_values(case, flat, x.dtype)
            tangent = direction_values(case, x.shape, x.dtype)
            add(args, {"kind": "vjp", "arg": subject.batch_arg, "cotangent": encode_direction(cotangent)})
            add(args, {"kind": "jvp", "arg": subject.batch_arg, "tangent": encode_direction(tangent)})
        elif kind == "transform_calls":
            add(case["args"], {"kind": "jit", "arg": subject.batch_arg})
        elif prop.group == "forward":
            for key in ("args", "other_args"):
                if isinstance(case.get(key), dict):
                    add(case[key], None)

    for prop in properties:
        if prop.external == "strict" or prop.cases.__name__ in done:
            continue
        done.add(prop.cases.__name__)
        for edge in searches(prop, subject, config, profile):
            try:
                strategy = case_strategy(prop, subject, replace(config, edge=edge))
            except Exception:  # an edge this kind of case cannot reach
                continue
            n = search_examples(prop, profile, edge)

            test = given(case=strategy)(_collector(collect, prop))
            test = settings(
                max_examples=n,
                derandomize=profile.derandomize,
                database=None,
                deadline=None,
                suppress_health_check=list(SUPPRESSED_HEALTH_CHECKS),
            )(test)
            if profile.derandomize:
                test = seed(examples_seed(subject.name, prop, edge))(test)
            try:
                test()
            except Exception:  # filtered out entirely, an unreachable edge: nothing to add
                continue
    return list(found.values())


def _collector(collect: Callable[[Any, dict[str, Any]], None], prop: Any) -> Callable[[dict[str, Any]], None]:
    def body(case: dict[str, Any]) -> None:
        collect(prop, case)

    return body


def _fingerprint(result: Any) -> tuple[Any, ...]:
    """A call's output as bytes (its dtype and shape too), or its error's type. The sign of a zero
    is not kept: ``x @ w + 0`` and ``x @ w`` differ only there, and no tolerance can see it."""
    if result.status == "ok" and result.output is not None:
        out = np.asarray(result.output)
        if out.dtype.kind in "fc" or out.dtype.name == "bfloat16":
            out = np.where(out == 0, np.zeros_like(out), out)
        return ("ok", out.dtype.str, out.shape, out.tobytes())
    return (result.status, result.error_type)


def outputs_differ(subject: Any, original: Any, mutant: Any, calls: list[Call]) -> str | None:
    """The first call on which ``mutant``'s output differs from ``original``'s (bitwise), or None."""
    from conformance.run.runner import summarize

    for args, transform in calls:
        ordered = subject.ordered(args)
        a, b = original.call(ordered, transform), mutant.call(ordered, transform)
        if _fingerprint(a) != _fingerprint(b):
            where = ", ".join(f"{k}={v}" for k, v in summarize({"args": args}).items())
            under = f" under {transform['kind']}" if transform else ""
            return f"differs{under} on {where}"
    return None


class Remembered:
    """The original's worker (``executor``), each call made once for every survivor compared."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.lock = threading.Lock()
        self.results: dict[str, Any] = {}

    def call(self, args: Any, transform: dict[str, Any] | None = None) -> Any:
        from conformance.subjects import args_key

        key = args_key(args) + json.dumps(transform, sort_keys=True)
        with self.lock:
            if key not in self.results:
                self.results[key] = self.executor.call(args, transform)
            return self.results[key]
