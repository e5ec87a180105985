"""The pytest face of the engine: the same properties, one test per subject x implementation x property.

Installed as a pytest plugin (entry point ``pytest11``); it only adds options and
parametrizes tests that ask for the ``conformance_cell`` fixture, such as those
in :mod:`conformance.suite`. Run the suite in your own CI with::

    pytest --pyargs conformance.suite --impl mypkg.mymod:my_impl --junitxml=report.xml

Every option of ``python -m conformance check`` is here, spelled ``--conformance-NAME``
(``--impl`` and ``--subject`` keep their short names). Options are validated by the
engine, as the CLI's are: a mistake is one line (``ERROR: ...``), exit 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

#: The CLI's option -> this face's spelling (the words of a usage error name it).
SPELLING = {"--impl": "--impl", "--subject": "--subject"}


def spell(option: str) -> str:
    return SPELLING.get(option, "--conformance-" + option.lstrip("-"))


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
        help="the subject to check: a name, A,B or all (see python -m conformance subjects)",
    )
    group.addoption("--conformance-profile", default=None, help="dev (default), ci or fuzz")
    group.addoption(
        "--conformance-max-examples",
        type=int,
        default=None,
        help="examples per property (default: the profile's)",
    )
    group.addoption(
        "--conformance-property",
        action="append",
        default=[],
        metavar="NAME",
        help="only these properties (repeatable)",
    )
    group.addoption(
        "--conformance-group",
        action="append",
        default=[],
        metavar="NAME",
        help="only the properties of this group, forward or transform (repeatable)",
    )
    group.addoption(
        "--conformance-strict",
        action="store_true",
        help="also require external implementations to reject invalid input clearly",
    )
    group.addoption("--conformance-x64", action="store_true", help="enable jax_enable_x64")
    group.addoption(
        "--conformance-timeout", type=float, default=None, help="seconds one call may take (default 60)"
    )
    group.addoption(
        "--conformance-load-timeout",
        type=float,
        default=None,
        help="seconds an implementation may take to load (default 60)",
    )
    group.addoption(
        "--conformance-isolation",
        default="process",
        help="process (default) or none (built-ins only)",
    )
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
    group.addoption(
        "--conformance-summary-md",
        default=None,
        metavar="PATH",
        help="write a Markdown summary of the cells that ran here "
        "(default: appended to $GITHUB_STEP_SUMMARY when set)",
    )
    group.addoption(
        "--conformance-tolerance",
        default=None,
        metavar="MODEL",
        help="rigorous (default) or probabilistic: the error bound numeric properties enforce",
    )
    group.addoption(
        "--conformance-jobs",
        type=int,
        default=None,
        help="accepted for parity with the CLI; tests run one by one",
    )


def _build(config: pytest.Config) -> Any:
    from conformance.engine import Engine, EngineOptions, UsageError

    opt = config.getoption
    try:
        options = EngineOptions.build(
            subject=opt("conformance_subject"),
            profile=opt("--conformance-profile"),
            max_examples=opt("--conformance-max-examples"),
            impls=opt("--impl"),
            properties=opt("--conformance-property"),
            groups=opt("--conformance-group"),
            strict=opt("--conformance-strict"),
            x64=opt("--conformance-x64"),
            timeout=opt("--conformance-timeout"),
            load_timeout=opt("--conformance-load-timeout"),
            isolation=opt("--conformance-isolation"),
            compile_cache=opt("--conformance-compile-cache"),
            jobs=opt("--conformance-jobs"),
            corpus_dir=opt("--conformance-corpus"),
            expect=opt("--conformance-expect"),
            summary_md=opt("--conformance-summary-md"),
            tolerance=opt("--conformance-tolerance"),
            spell=spell,
        )
        return Engine(options)
    except (UsageError, ValueError) as e:
        raise pytest.UsageError(str(e)) from None


_ENGINE = pytest.StashKey[Any]()
_RESULTS = pytest.StashKey[list]()


def _engine(config: pytest.Config) -> Any:
    if _ENGINE not in config.stash:
        config.stash[_ENGINE] = _build(config)
    return config.stash[_ENGINE]


def _asked_for(config: pytest.Config) -> bool:
    """Whether this pytest run was given any of the suite's options."""
    defaults = {"conformance_subject": "vmap_over_batch", "conformance_isolation": "process"}
    for name, value in vars(config.option).items():
        if name == "impl" or name.startswith("conformance_"):
            unset = value is None or value is False or value == [] or value == defaults.get(name)
            if not unset:  # (0 is a value: `0 in (False,)` would call it unset)
                return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    # Validate the suite's options before collection, so a mistake is one line, not a traceback.
    if _asked_for(config):
        _engine(config)


@dataclass
class Cell:
    """One subject x implementation x property, run by :meth:`run` inside a test."""

    engine: Any
    subject: Any
    target: Any
    origin: str
    prop: Any
    #: where each result goes for the Markdown summary: (subject, target, result or load error)
    sink: list[tuple[Any, Any, Any]] | None = None

    def run(self) -> Any:
        from conformance.verdict import Status
        from impl.registry import ImplementationLoadError

        try:
            result = self.engine.cell(self.subject, self.target, self.origin, self.prop)
        except ImplementationLoadError as e:
            if self.sink is not None:
                self.sink.append((self.subject, self.target, str(e)))
            pytest.fail(f"{self.target.name} could not be loaded: {e}", pytrace=False)
        if self.sink is not None:
            self.sink.append((self.subject, self.target, result))
        if result.status == Status.SKIP:
            pytest.skip(result.message)
        if result.status == Status.XFAIL:
            pytest.xfail(f"{result.expected_failure}: {result.message}")
        if result.status != Status.PASS:
            lines = [f"{self.target.name} / {self.prop.name}: {result.status}: {result.message}"]
            if result.counterexample:
                lines.append("minimal counterexample:")
                lines += [f"  {k} = {v}" for k, v in result.counterexample["summary"].items()]
            if result.replay:
                lines += ["replay:", f"  {result.replay}"]
            pytest.fail("\n".join(lines), pytrace=False)
        return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_cell" not in metafunc.fixturenames:
        return
    engine = _engine(metafunc.config)
    several = engine.options.several
    sink = metafunc.config.stash.setdefault(_RESULTS, [])
    cells, ids = [], []
    for subject in engine.options.subjects:
        for target, origin in engine.targets(subject):
            for prop in engine.properties(subject):
                cells.append(Cell(engine, subject, target, origin, prop, sink))
                ids.append((f"{subject.name}-" if several else "") + f"{target.name}-{prop.name}")
    metafunc.parametrize("conformance_cell", cells, ids=ids)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The Markdown summary of the cells that ran (--conformance-summary-md, or GitHub's)."""
    import os

    config = session.config
    results = config.stash.get(_RESULTS, [])
    path = config.getoption("--conformance-summary-md") or os.environ.get("GITHUB_STEP_SUMMARY")
    if not results or not path or _ENGINE not in config.stash:
        return
    from conformance import summary
    from conformance.engine import ImplResult, RunReport
    from conformance.environment import environment

    engine = config.stash[_ENGINE]
    append = not config.getoption("--conformance-summary-md")
    for subject in engine.options.subjects:
        impls: dict[str, Any] = {}
        for subj, target, result in results:
            if subj.name != subject.name:
                continue
            impl = impls.setdefault(target.name, ImplResult(target.name, target.spec, False))
            if isinstance(result, str):
                impl.load_error = result
            elif all(c.property != result.property for c in impl.properties):
                impl.properties.append(result)
        if not impls:
            continue
        report = RunReport(
            subject.name,
            engine.options.profile.name,
            engine.options.strict,
            engine.options.x64,
            environment(engine.options.x64),
            round(sum(c.seconds for i in impls.values() for c in i.properties), 3),  # the cells' own time
            list(impls.values()),
            subject.signature,
        )
        summary.write(report.to_json(), path, append=append)
        append = True


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ENGINE in config.stash:
        config.stash[_ENGINE].close()
