"""The pytest face of the engine: the same properties, one test per subject x implementation x property.

Installed as a pytest plugin (entry point ``pytest11``); it only adds options and
parametrizes tests that ask for the ``conformance_cell`` fixture, such as those
in :mod:`conformance.suite`. Run the suite in your own CI with::

    pytest --pyargs conformance.suite --impl mypkg.mymod:my_impl --junitxml=report.xml

Every option of ``python -m conformance check`` is here (one table declares both,
:mod:`conformance.run.options`), spelled ``--conformance-NAME`` (``--impl`` and ``--subject``
keep their short names); ``--conformance-json`` writes the JSON report of the cells that
ran. Options are validated by the engine, as the CLI's are: a mistake is one line
(``ERROR: ...``), exit 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

#: The CLI's option -> this face's spelling (the words of a usage error name it).
SPELLING = {"--impl": "--impl", "--subject": "--subject"}


def spell(option: str) -> str:
    return SPELLING.get(option, "--conformance-" + option.lstrip("-"))


#: Where pytest stores each option: ``conformance_`` + the CLI's name for it.
DEST = "conformance_"


def pytest_addoption(parser: pytest.Parser) -> None:
    from conformance.run.options import CHECK, RUN, add_options

    group = parser.getgroup("conformance", "nnx conformance suite")
    add_options(group.addoption, CHECK + RUN, spell, DEST)


def _build(config: pytest.Config) -> Any:
    from conformance.run.engine import Engine
    from conformance.run.options import CHECK, RUN, build_kwargs
    from conformance.run.settings import EngineOptions, UsageError

    try:
        options = EngineOptions.build(**build_kwargs(config.getoption, CHECK + RUN, DEST), spell=spell)
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
    from impl.registry import DEFAULT_SUBJECT

    defaults = {DEST + "subject": DEFAULT_SUBJECT, DEST + "isolation": "process"}
    for name, value in vars(config.option).items():
        if name.startswith(DEST):
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
        from conformance.base.verdict import Status
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
    """The JSON report (--conformance-json) and the Markdown summary (--conformance-summary-md,
    or GitHub's) of the cells that ran."""
    import os

    config = session.config
    results = config.stash.get(_RESULTS, [])
    path = config.getoption(DEST + "summary_md") or os.environ.get("GITHUB_STEP_SUMMARY")
    json_out = config.getoption(DEST + "json")
    if not results or not (path or json_out) or _ENGINE not in config.stash:
        return
    from conformance.base.environment import environment
    from conformance.reporting import summary
    from conformance.reporting.json_report import json_path, write_json
    from conformance.run.results import ImplResult, RunReport

    engine = config.stash[_ENGINE]
    append = not config.getoption(DEST + "summary_md")
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
            engine.options.tolerance,
        )
        if json_out:
            write_json(report.to_json(), json_path(json_out, subject.name, engine.options.several))
        if path:
            summary.write(report.to_json(), path, append=append)
            append = True


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ENGINE in config.stash:
        config.stash[_ENGINE].close()
