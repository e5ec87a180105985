"""The options of a run, declared once for both faces.

Each :class:`Option` is one keyword of :meth:`conformance.run.settings.EngineOptions.build`,
with the argparse settings and the help text that ``python -m conformance check``
(``--NAME``) and the pytest plugin (``--conformance-NAME``; ``--impl`` and ``--subject``
keep their names) both give it. So the plugin offers everything ``check`` does, and a
mistake gets the same words on both (the engine validates; argparse only converts).
Nothing heavy (the standard library, and the default subject's name from
:mod:`impl.registry`): the engine, the CLI and the plugin all read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from impl.registry import DEFAULT_SUBJECT


@dataclass(frozen=True)
class Option:
    """One option: its CLI flag, the ``EngineOptions.build`` keyword it fills, its help."""

    flag: str
    key: str
    help: str
    #: argparse settings (``type``, ``default``, ``action``, ``metavar``)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        """The attribute argparse stores it under on the CLI."""
        return self.flag.lstrip("-").replace("-", "_")


def _repeatable(metavar: str) -> dict[str, Any]:
    return {"action": "append", "default": [], "metavar": metavar}


#: The options of every run of implementations (``check`` and ``replay``).
RUN: tuple[Option, ...] = (
    Option(
        "--subject",
        "subject",
        "the function under test: a built-in subject (see 'subjects'), or a per-sample declaration "
        "as file.py:NAME or module:NAME; check also takes A,B or 'all'",
        {"default": DEFAULT_SUBJECT},
    ),
    Option("--x64", "x64", "enable jax_enable_x64 (adds float64 inputs)", {"action": "store_true"}),
    Option(
        "--strict",
        "strict",
        "also require external implementations to reject invalid input clearly",
        {"action": "store_true"},
    ),
    Option(
        "--timeout",
        "timeout",
        "seconds one call may take before it counts as a hang (default 60; after a first "
        "hang, later calls get 10 times the slowest good call, at least 5 s)",
        {"type": float, "default": None, "metavar": "S"},
    ),
    Option(
        "--load-timeout",
        "load_timeout",
        "seconds an implementation may take to load in its worker (default 60)",
        {"type": float, "default": None, "metavar": "S"},
    ),
    Option(
        "--compile-cache",
        "compile_cache",
        "JAX's persistent compilation cache, shared with the workers "
        "(default $CONFORMANCE_COMPILE_CACHE or ~/.cache/nnx-conformance/jax; 'off' disables it)",
        {"default": None, "metavar": "DIR"},
    ),
    Option(
        "--tolerance",
        "tolerance",
        "the error bound numeric properties enforce: rigorous (default: worst case, never accuses a "
        "correct implementation) or probabilistic (Higham and Mary: about 10*sqrt(n)*u instead of n*u; "
        "see docs/tolerance.md)",
        {"default": None, "metavar": "MODEL"},
    ),
    Option(
        "--isolation",
        "isolation",
        "process (default: each implementation in its own worker process) or none (this process, "
        "built-ins only: for debugging the suite)",
        {"default": "process", "metavar": "MODE"},
    ),
)

#: The options of ``check`` (and of the pytest plugin) beyond :data:`RUN`.
CHECK: tuple[Option, ...] = (
    Option(
        "--impl",
        "impls",
        "name, module:attr, path/file.py:attr, or NAME=SPEC (repeatable); "
        "default: every registered implementation",
        _repeatable("SPEC"),
    ),
    Option("--profile", "profile", "dev (default), ci or fuzz", {"default": None}),
    Option(
        "--max-examples",
        "max_examples",
        "examples per property (default: the profile's)",
        {"type": int, "default": None, "metavar": "N"},
    ),
    Option("--property", "properties", "only these properties (repeatable)", _repeatable("NAME")),
    Option(
        "--group",
        "groups",
        "only the properties of this group, forward or transform (repeatable); "
        "--group forward accepts a forward-only implementation",
        _repeatable("NAME"),
    ),
    Option(
        "--expect",
        "expect",
        "your expected failures: IMPL PROPERTY [jax>=A,<B] [flax...] -- reason, one per line "
        "('python -m conformance expect --from REPORT.json' writes one)",
        {"default": None, "metavar": "FILE"},
    ),
    Option(
        "--corpus",
        "corpus_dir",
        "regression corpus whose pinned cases run first (default: ./conformance-corpus if present)",
        {"default": None, "metavar": "DIR"},
    ),
    Option(
        "--jobs",
        "jobs",
        "worker processes at once: one per implementation, and a slot with none left to start "
        "helps one still running with a second worker (default: the CPU count, at most 4; "
        "the pytest plugin runs its tests one by one)",
        {"type": int, "default": None, "metavar": "N"},
    ),
    Option(
        "--json",
        "json_path",
        "write a JSON report here (one per subject, NAME.SUBJECT.json, when several are checked)",
        {"default": None, "metavar": "PATH"},
    ),
    Option(
        "--summary-md",
        "summary_md",
        "write a Markdown summary here (verdict table, causes, each failure's minimal "
        "counterexample and replay command); default: appended to $GITHUB_STEP_SUMMARY when set",
        {"default": None, "metavar": "PATH"},
    ),
)


def add_options(
    add: Callable[..., Any], options: tuple[Option, ...], spell: Callable[[str], str] = str, dest: str = ""
) -> None:
    """Declare ``options`` with ``add`` (argparse's ``add_argument``, pytest's ``addoption``),
    each flag spelled by ``spell`` and stored under ``dest`` + its :attr:`Option.dest`."""
    for option in options:
        add(spell(option.flag), dest=dest + option.dest, help=option.help, **option.settings)


def build_kwargs(value: Callable[[str], Any], options: tuple[Option, ...], dest: str = "") -> dict[str, Any]:
    """The keywords of ``EngineOptions.build`` from the parsed values (``value(dest)``)."""
    return {option.key: value(dest + option.dest) for option in options}
