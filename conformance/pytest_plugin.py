"""The pytest face of the runner: the same properties, one test per implementation x property.

Installed as a pytest plugin (entry point ``pytest11``); it only adds options and
parametrizes tests that ask for the ``conformance_cell`` fixture, such as those
in :mod:`conformance.suite`. Run the suite in your own CI with::

    pytest --pyargs conformance.suite --impl mypkg.mymod:my_impl --junitxml=report.xml
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "nnx conformance suite")
    group.addoption(
        "--impl",
        action="append",
        default=[],
        metavar="SPEC",
        help="implementation to check (name, module:attr, file.py:attr, NAME=SPEC); "
        "repeatable; default: every registered one",
    )
    group.addoption(
        "--subject",
        "--conformance-subject",
        dest="conformance_subject",
        default="vmap_over_batch",
        help="the subject to check (see python -m conformance subjects)",
    )
    group.addoption("--conformance-profile", default=None, help="dev, ci or fuzz")
    group.addoption("--conformance-max-examples", type=int, default=None)
    group.addoption("--conformance-strict", action="store_true")
    group.addoption("--conformance-x64", action="store_true")
    group.addoption("--conformance-timeout", type=float, default=None)
    group.addoption("--conformance-isolation", choices=("process", "none"), default="process")
    group.addoption("--conformance-expect", default=None, metavar="FILE", help="your expected failures")
    group.addoption(
        "--conformance-corpus",
        default=None,
        metavar="DIR",
        help="regression corpus run first (default ./conformance-corpus if present)",
    )
    group.addoption(
        "--conformance-compile-cache",
        default=None,
        metavar="DIR",
        help="JAX's persistent compilation cache folder, or 'off'",
    )


@dataclass
class Cell:
    """One implementation x property, run by :meth:`run` inside a test."""

    session: Any
    impl: Any
    origin: str
    prop: str

    def run(self) -> Any:
        return self.session.run(self)


class _Session:
    """Per-pytest-session state: options, the shared oracle cache and the executors."""

    def __init__(self, config: pytest.Config) -> None:
        from conformance import corpus
        from conformance.expectations import ExpectationFileError, parse_file
        from conformance.profiles import get_profile
        from conformance.runner import RunOptions, configure_jax
        from conformance.subjects import get_subject

        opt = config.getoption
        try:
            profile = get_profile(opt("--conformance-profile"))
            profile = profile.with_examples(opt("--conformance-max-examples"))
            if profile.use_database and not profile.derandomize:
                from conformance.database import open_database_cached

                open_database_cached(profile.database_path)
            self.options = RunOptions(
                get_subject(opt("conformance_subject")),
                profile,
                opt("--conformance-strict"),
                opt("--conformance-x64"),
                opt("--conformance-timeout"),
                opt("--conformance-isolation"),
                compile_cache=opt("--conformance-compile-cache"),
                corpus=opt("--conformance-corpus") or corpus.DEFAULT_DIR,
                expectations=tuple(parse_file(opt("--conformance-expect")))
                if opt("--conformance-expect")
                else (),
            )
            configure_jax(self.options.x64, self.options.compile_cache)
        except (KeyError, ValueError, ExpectationFileError, OSError) as e:
            raise pytest.UsageError(str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
        self._contexts: dict[str, Any] = {}
        self._panel: Any = None
        self._cache: Any = None

    def context(self, cell: Cell) -> Any:
        from conformance.context import SharedCache
        from conformance.runner import make_context, reference_panel

        if self._panel is None:
            self._panel = reference_panel(self.options.subject)
            self._cache = SharedCache()
        if cell.impl.name not in self._contexts:
            ctx = make_context(cell.impl, self.options, self._panel, self._cache)
            ctx.executor.start()
            self._contexts[cell.impl.name] = ctx
        return self._contexts[cell.impl.name]

    def run(self, cell: Cell) -> Any:
        from conformance.properties import PROPERTIES
        from conformance.runner import (
            apply_expectation,
            expected_failure,
            pinned_cases,
            replay_prefix,
            run_cell,
        )
        from impl.registry import ImplementationLoadError

        try:
            ctx = self.context(cell)
        except ImplementationLoadError as e:
            pytest.fail(f"{cell.impl.name} could not be loaded: {e}", pytrace=False)
        prop = PROPERTIES[cell.prop]
        result = run_cell(
            ctx,
            prop,
            self.options.profile,
            replay_prefix(cell.impl, self.options, cell.origin),
            pinned_cases(self.options, prop),
        )
        result = apply_expectation(result, expected_failure(cell.impl, cell.prop, self.options))
        if result.status == "skip":
            pytest.skip(result.message)
        if result.status == "xfail":
            pytest.xfail(f"{result.expected_failure}: {result.message}")
        if result.status != "pass":
            lines = [f"{cell.impl.name} / {cell.prop}: {result.message}"]
            if result.counterexample:
                lines.append("minimal counterexample:")
                lines += [f"  {k} = {v}" for k, v in result.counterexample["summary"].items()]
            if result.replay:
                lines += ["replay:", f"  {result.replay}"]
            pytest.fail("\n".join(lines), pytrace=False)
        return result

    def close(self) -> None:
        for ctx in self._contexts.values():
            ctx.executor.close()


_SESSION_KEY = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session:
    if _SESSION_KEY not in config.stash:
        config.stash[_SESSION_KEY] = _Session(config)
    return config.stash[_SESSION_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_cell" not in metafunc.fixturenames:
        return
    from conformance.cli import _load_impls
    from conformance.runner import subject_properties
    from impl.registry import ImplementationLoadError

    session = _session(metafunc.config)
    try:
        impls = _load_impls(metafunc.config.getoption("--impl"), session.options.subject.name)
    except ImplementationLoadError as e:
        raise pytest.UsageError(str(e)) from None
    props = subject_properties(session.options.subject)
    cells = [Cell(session, impl, origin, p) for impl, origin in impls for p in props]
    metafunc.parametrize("conformance_cell", cells, ids=[f"{c.impl.name}-{c.prop}" for c in cells])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_KEY in config.stash:
        config.stash[_SESSION_KEY].close()
