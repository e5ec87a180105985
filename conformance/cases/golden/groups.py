"""The golden groups: which settings decide the numbers a seed draws, and why numbers move.

On every supported JAX line three settings decide which numbers
``nnx.Linear(..., rngs=nnx.Rngs(seed))`` draws:

* the PRNG implementation, ``jax_default_prng_impl`` (env ``JAX_DEFAULT_PRNG_IMPL``):
  ``threefry2x32`` (the default on every line), ``rbg`` or ``unsafe_rbg`` (common on TPUs).
  Each draws other parameters for the same seed. ``rbg`` and ``unsafe_rbg`` take their
  bits from XLA's RngBitGenerator, whose algorithm XLA defines per backend and does not
  promise across compiler versions: their goldens are recorded on CPU, where they are the
  same run to run (see :data:`BACKEND_DEFINED`).
* ``jax_threefry_partitionable``: False by default before jax 0.5.0, True since. The same
  seed then draws other initial parameters (with ``threefry2x32``; with ``rbg`` too, whose
  key split is threefry's, so ensembles move; ``unsafe_rbg`` ignores the flag).
  ``JAX_THREEFRY_PARTITIONABLE=0`` (or ``1``) set before importing jax reproduces either
  side (bit for bit within one jax; between jax lines a few parameters differ by 1-2
  ulps, see :data:`conformance.cases.golden.verdict.PARAM_ULPS`).
* ``jax_enable_x64``: without it ``nnx.Rngs`` reduces a seed modulo 2**32 (``Rngs(2**32 + 7)
  == Rngs(7)``, ``Rngs(-1) == Rngs(2**32 - 1)``); with it the whole int64 seed counts, so
  seeds outside ``[0, 2**32)`` draw other parameters.

A *group* is one combination of the three: ``threefry_partitionable/x32``,
``threefry_partitionable/x64``, ``threefry_legacy/x32``, ``threefry_legacy/x64``, the same
four with ``rbg`` in place of ``threefry`` (``rbg_legacy/x32`` ...), and ``unsafe_rbg/x32``,
``unsafe_rbg/x64``. :data:`CAUSES` says, per setting, why two groups' numbers differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax

#: The PRNG implementation jax uses unless ``jax_default_prng_impl`` says otherwise (every line).
DEFAULT_PRNG_IMPL = "threefry2x32"
#: The PRNG implementations with goldens, and whether ``jax_threefry_partitionable`` changes
#: their numbers: ``rbg`` splits keys with threefry's split (an ensemble's members move with
#: the flag), ``unsafe_rbg`` with RngBitGenerator itself (the flag moves nothing).
PRNG_IMPLS: dict[str, bool] = {"threefry2x32": True, "rbg": True, "unsafe_rbg": False}
#: PRNG implementations whose bits come from XLA's RngBitGenerator. XLA defines its algorithm
#: per backend (TPUs have their own) and does not promise it across compiler versions, so
#: these goldens are recorded on CPU, where they are bit for bit the same run to run, with
#: the jax and jaxlib named in the golden file. On another backend or another jax
#: line an output that matches no group is not held against the implementation: the
#: verdict says the goldens do not apply (``comparable=False``) and why, and the ``golden``
#: property checks the case against the oracle of the parameters drawn in its process instead.
BACKEND_DEFINED: frozenset[str] = frozenset({"rbg", "unsafe_rbg"})


@dataclass(frozen=True)
class Group:
    """One group: a setting of the switches that decide the numbers."""

    name: str
    #: None when the flag does not change this group's PRNG implementation (``unsafe_rbg``)
    threefry_partitionable: bool | None
    x64: bool
    #: where this group is what you get without setting anything else
    default_on: str
    prng_impl: str = DEFAULT_PRNG_IMPL

    @property
    def env(self) -> dict[str, str]:
        """Environment that reproduces this group (set before importing jax)."""
        env = {} if self.prng_impl == DEFAULT_PRNG_IMPL else {"JAX_DEFAULT_PRNG_IMPL": self.prng_impl}
        if self.threefry_partitionable is not None:
            env["JAX_THREEFRY_PARTITIONABLE"] = "1" if self.threefry_partitionable else "0"
        env["JAX_ENABLE_X64"] = "1" if self.x64 else "0"
        return env


def group_name(partitionable: bool | None, x64: bool, prng_impl: str = DEFAULT_PRNG_IMPL) -> str:
    """The name of a group, e.g. ``threefry_partitionable/x32`` (``partitionable`` ignored where
    the flag changes nothing: ``unsafe_rbg/x64``)."""
    stem = "threefry" if prng_impl == DEFAULT_PRNG_IMPL else prng_impl
    if PRNG_IMPLS.get(prng_impl, True):
        stem += "_partitionable" if partitionable else "_legacy"
    return f"{stem}/{'x64' if x64 else 'x32'}"


def _make_group(prng_impl: str, partitionable: bool, x64: bool) -> Group:
    flag = partitionable if PRNG_IMPLS[prng_impl] else None
    where = "every jax" if flag is None else ("jax>=0.5.0" if flag else "jax>=0.4.31,<0.5.0")
    if prng_impl != DEFAULT_PRNG_IMPL:
        where += f" with JAX_DEFAULT_PRNG_IMPL={prng_impl}"
        where += " and jax_enable_x64 (--x64)" if x64 else ", without jax_enable_x64"
    else:
        where += " with jax_enable_x64 (--x64)" if x64 else " without jax_enable_x64"
    return Group(group_name(flag, x64, prng_impl), flag, x64, where, prng_impl)


GROUPS: tuple[Group, ...] = tuple(
    _make_group(impl, p, x)
    for impl, uses_flag in PRNG_IMPLS.items()
    for p in ((True, False) if uses_flag else (True,))
    for x in (False, True)
)
GROUPS_BY_NAME: dict[str, Group] = {g.name: g for g in GROUPS}

#: Why numbers differ between groups, one text per switch.
CAUSES: dict[str, str] = {
    "prng": (
        "the PRNG implementation is {drawn}, these goldens were recorded with {recorded}: each PRNG "
        "implementation draws other initial parameters for the same seed (the suite compares with the "
        "goldens of its own jax_default_prng_impl); set JAX_DEFAULT_PRNG_IMPL={drawn} before importing "
        "jax (or jax.config.update('jax_default_prng_impl', '{drawn}')) to compare with the goldens of "
        "{drawn}, or let the implementation draw with the process's PRNG implementation"
    ),
    "threefry": (
        "jax's default jax_threefry_partitionable changed (False before jax 0.5.0, True since), so the "
        "same seed draws other initial parameters; set JAX_THREEFRY_PARTITIONABLE={other} before "
        "importing jax (or jax.config.update('jax_threefry_partitionable', {other_bool})) to reproduce "
        "the other side"
    ),
    "x64": (
        "jax_enable_x64 differs: without it nnx.Rngs reduces a seed modulo 2**32, with it the whole "
        "int64 seed counts, so seeds outside [0, 2**32) draw other parameters; set JAX_ENABLE_X64={other} "
        "({flag}) to reproduce the other side"
    ),
}


#: The first JAX release whose default ``jax_threefry_partitionable`` is True.
PARTITIONABLE_SINCE = (0, 5, 0)


def _jax_version() -> tuple[int, ...]:
    return tuple(int(p) for p in jax.__version__.split(".")[:3] if p.isdigit())


def default_partitionable() -> bool:
    """This JAX line's default for ``jax_threefry_partitionable``."""
    return _jax_version() >= PARTITIONABLE_SINCE


def prng_impl() -> str:
    """This process's PRNG implementation (``jax_default_prng_impl``, env ``JAX_DEFAULT_PRNG_IMPL``)."""
    return str(getattr(jax.config, "jax_default_prng_impl", None) or DEFAULT_PRNG_IMPL)


def current_group() -> str:
    """The group to compare with: this process's PRNG implementation and x64, its JAX line's threefry default.

    The golden to match is the one of the running *version*: a process that flips
    ``jax_threefry_partitionable`` by hand draws other numbers than its JAX line does,
    and :func:`flag_note` says so. The PRNG implementation, like x64, is a setting of
    the process: its goldens are the ones to match.
    """
    return group_name(default_partitionable(), bool(jax.config.jax_enable_x64), prng_impl())


def process_group() -> str:
    """The group this process actually draws from: its own PRNG, threefry and x64 settings."""
    partitionable = bool(getattr(jax.config, "jax_threefry_partitionable", False))
    return group_name(partitionable, bool(jax.config.jax_enable_x64), prng_impl())


def flag_note() -> str:
    """A sentence when this process's threefry setting is not its JAX line's default, else ''."""
    actual = bool(getattr(jax.config, "jax_threefry_partitionable", False))
    default = default_partitionable()
    if actual == default or not PRNG_IMPLS.get(prng_impl(), True):
        return ""
    return (
        f" This process runs with jax_threefry_partitionable={actual}, while the default of jax "
        f"{jax.__version__} is {default} (was JAX_THREEFRY_PARTITIONABLE set by hand?); unset it to "
        "compare with the goldens of this jax line."
    )


def cause_keys(a: Group, b: Group) -> tuple[str, ...]:
    """The switches (keys of :data:`CAUSES`) whose settings separate groups ``a`` and ``b``."""
    flags = (a.threefry_partitionable, b.threefry_partitionable)
    differs = {
        "prng": a.prng_impl != b.prng_impl,
        "threefry": None not in flags and flags[0] != flags[1],
        "x64": a.x64 != b.x64,
    }
    return tuple(k for k in CAUSES if differs[k])


def cause_texts(current: Group, other: Group) -> list[str]:
    """The known causes that separate ``other`` from ``current``, as sentences."""
    out = []
    for key in cause_keys(current, other):
        if key == "prng":
            out.append(CAUSES["prng"].format(drawn=other.prng_impl, recorded=current.prng_impl))
        elif key == "threefry":
            v = bool(other.threefry_partitionable)
            out.append(CAUSES["threefry"].format(other=int(v), other_bool=v))
        else:
            flag = "the suite's --x64" if other.x64 else "no --x64"
            out.append(CAUSES["x64"].format(other=int(other.x64), flag=flag))
    return out


def distance(a: Group, b: Group) -> int:
    """How many switches separate groups ``a`` and ``b``: the nearest group explains best."""
    return len(cause_keys(a, b))
