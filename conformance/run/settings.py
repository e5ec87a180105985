"""A run's settings: :class:`EngineOptions`, built and validated once, and what they name.

:meth:`EngineOptions.build` turns what a user typed into options, or raises a
:class:`UsageError` naming the first problem, so the CLI, the pytest plugin and the
tooling reject the same bad options with the same words. Every check that needs no
implementation's code runs here, before a worker starts: the subjects, the profile and
its example database, the limits, the isolation, the tolerance model, the specs (as text:
:func:`impl.registry.check_spec`), the properties and groups (:func:`applicable_properties`),
the regression corpus, the expected-failure file, and the output paths
(:func:`prepare_output`). :func:`targets` names the implementations a run checks, one
unique name each. :func:`subjects_option` reads ``--subject`` alone, in the same words, for
the ``subjects`` command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from conformance.base.declaration import FREE_REFERENCES
from conformance.boundary.executors import LOAD_TIMEOUT, Target
from conformance.cases import corpus
from conformance.cases.expectations import Expectation, ExpectationFileError, parse_file
from conformance.numerics.tolerance import TOLERANCES
from conformance.properties import GROUPS, PROPERTIES
from conformance.run.profiles import Profile, get_profile
from conformance.run.user_subjects import is_user_subject, open_subject
from conformance.subjects import SUBJECTS, Subject, get_subject
from impl.registry import (
    DEFAULT_SUBJECT,
    ImplementationLoadError,
    check_spec,
    entry_point_specs,
    load,
    names,
    spec_name,
)


class UsageError(ValueError):
    """An option or an input file is wrong: one line, exit 2, the same words on every face."""


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """Everything a run needs to know, validated by :meth:`build`."""

    subjects: tuple[Subject, ...]
    profile: Profile
    #: implementation specs as the user typed them (empty: every registered implementation)
    specs: tuple[str, ...] = ()
    #: only these properties (empty: all that apply to each subject)
    properties: tuple[str, ...] = ()
    #: only the properties of these groups (empty: every group), e.g. ("forward",) for an
    #: implementation accepted as forward-only
    groups: tuple[str, ...] = ()
    strict: bool = False
    x64: bool = False
    #: seconds one call may take (default: the profile's)
    timeout: float | None = None
    #: seconds an implementation's module may take to load in its worker
    load_timeout: float = LOAD_TIMEOUT
    #: "process" (a worker per implementation), "none" (this process: built-ins only), or, from the
    #: Python API alone, "trusted" (this process, any code: the suite's own tests vouch for their zoo)
    isolation: str = "process"
    compile_cache: str | None = None
    jobs: int = 1
    corpus: str | None = None
    expectations: tuple[Expectation, ...] = ()
    #: the error model the numeric properties enforce (conformance.numerics.tolerance.TOLERANCES)
    tolerance: str = "rigorous"
    #: stop checking an implementation at its first failed property (the mutate tool: a mutant is
    #: killed once; the properties after it are not run and not reported)
    stop_at_first_failure: bool = False

    @classmethod
    def build(
        cls,
        *,
        subject: str = DEFAULT_SUBJECT,
        profile: str | None = None,
        max_examples: int | None = None,
        impls: Iterable[str] = (),
        properties: Iterable[str] = (),
        groups: Iterable[str] = (),
        strict: bool = False,
        x64: bool = False,
        timeout: float | None = None,
        load_timeout: float | None = None,
        isolation: str = "process",
        compile_cache: str | None = None,
        jobs: int | None = None,
        corpus_dir: str | None = None,
        expect: str | None = None,
        json_path: str | None = None,
        summary_md: str | None = None,
        tolerance: str | None = None,
        spell: Callable[[str], str] = str,
    ) -> EngineOptions:
        """Options from what a user typed; :class:`UsageError` naming the first problem.

        ``spell`` maps the CLI's option names to the face's own (the pytest plugin's
        ``--conformance-...``), so both faces say the same words about the same mistake.
        """
        try:
            if max_examples is not None and max_examples < 1:
                raise UsageError(f"{spell('--max-examples')} must be at least 1")
            chosen = get_profile(profile).with_examples(max_examples)
            if isolation == "none" and is_user_subject(subject):
                raise UsageError(
                    f"{spell('--isolation')} none runs code in this process, and a per-sample subject's "
                    f"code runs only in workers (use {spell('--isolation')} process)"
                )
            subjects = tuple(
                parse_subjects(subject, x64, timeout or chosen.timeout, load_timeout or LOAD_TIMEOUT)
            )
            if chosen.use_database and not chosen.derandomize:
                from conformance.run.database import open_database_cached

                open_database_cached(chosen.database_path)  # a bad location is a usage error, now
            for option, value in (("--timeout", timeout), ("--load-timeout", load_timeout)):
                if value is not None and not value > 0:
                    raise UsageError(f"{spell(option)} must be positive")
            if jobs is not None and jobs < 1:
                raise UsageError(f"{spell('--jobs')} must be at least 1")
            if isolation not in ("process", "none"):
                raise UsageError(f"{spell('--isolation')} must be process or none, got {isolation!r}")
            tolerance = tolerance or TOLERANCES[0]
            if tolerance not in TOLERANCES:
                raise UsageError(
                    f"{spell('--tolerance')} must be {' or '.join(TOLERANCES)}, got {tolerance!r}"
                )
            specs = tuple(s.strip() for s in impls)
            if any(not s for s in specs):
                raise UsageError(
                    f"{spell('--impl')} needs a spec: a name, module:attr, path/file.py:attr or NAME=SPEC"
                )
            for s in specs:  # what can be checked without importing the implementation's code
                for subj in subjects:
                    if not is_builtin_spec(s, subj.name):
                        check_spec(s, subj.name)
            if isolation == "none":
                for s in specs:
                    _builtin_or_usage_error(s, subjects, spell)
            props, chosen_groups = tuple(properties), tuple(dict.fromkeys(groups))
            for g in chosen_groups:
                if g not in GROUPS:
                    raise UsageError(
                        f"unknown group {g!r} for {spell('--group')}; known: {', '.join(GROUPS)}"
                    )
            for s in subjects:
                applicable_properties(s, props, among=subjects, groups=chosen_groups)
            if corpus_dir and not os.path.isdir(corpus_dir):
                raise UsageError(f"{spell('--corpus')} {corpus_dir}: no such folder")
            corpus_dir = corpus_dir or corpus.DEFAULT_DIR
            for s in subjects:
                for p in applicable_properties(s, props, among=subjects, groups=chosen_groups):
                    corpus.load_pinned(corpus_dir, s.name, p, x64)  # a corrupt file is a usage error
            options = cls(
                subjects=subjects,
                profile=chosen,
                specs=specs,
                properties=props,
                groups=chosen_groups,
                strict=strict,
                x64=x64,
                timeout=timeout,
                load_timeout=load_timeout or LOAD_TIMEOUT,
                isolation=isolation,
                compile_cache=compile_cache,
                jobs=jobs or default_jobs(),
                corpus=corpus_dir,
                tolerance=tolerance,
            )
            options = replace(options, expectations=_expectations(expect, options, spell))
            if json_path:
                prepare_output(json_path, spell)
            if summary_md:
                prepare_output(summary_md, spell, "--summary-md")
            return options
        except UsageError:
            raise
        except (ValueError, KeyError, OSError, ExpectationFileError, ImplementationLoadError) as e:
            raise UsageError(_message(e)) from None

    @property
    def several(self) -> bool:
        return len(self.subjects) > 1


def _message(e: BaseException) -> str:
    """A KeyError's str() is its repr; every other error's str() is its message."""
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def parse_subjects(
    spec: str, x64: bool = False, timeout: float = 60.0, load_timeout: float = LOAD_TIMEOUT
) -> list[Subject]:
    """``NAME``, ``A,B``, ``all`` or a per-sample declaration's ``file.py:attr`` / ``module:attr``
    -> the subjects (KeyError naming an unknown one; a declaration's oracle worker is started)."""
    if spec.strip() == "all":
        return list(SUBJECTS.values())
    out = []
    for name in [n.strip() for n in spec.split(",") if n.strip()] or [spec]:
        out.append(
            open_subject(name, x64, timeout, load_timeout) if is_user_subject(name) else get_subject(name)
        )
    return out


def subjects_option(spec: str, timeout: float = 60.0, load_timeout: float = LOAD_TIMEOUT) -> list[Subject]:
    """The subjects ``--subject`` names, read as :meth:`EngineOptions.build` reads it (a
    declaration's oracle worker is started); :class:`UsageError` in the same words for a bad one."""
    try:
        return parse_subjects(spec, False, timeout, load_timeout)
    except (ValueError, KeyError, OSError, ImplementationLoadError) as e:
        raise UsageError(_message(e)) from None


def applicable_properties(
    subject: Subject,
    chosen: Iterable[str] = (),
    among: Iterable[Subject] = (),
    groups: Iterable[str] = (),
) -> list[str]:
    """``chosen`` (default: all of the subject's properties) that apply to ``subject``, in
    ``groups`` (default: every group).

    A chosen property must exist, and apply to ``subject`` or to one of ``among``
    (a run over several subjects checks each where it applies), and be in ``groups``.
    """
    chosen, groups = tuple(chosen), tuple(groups)
    if groups:
        for p in chosen:
            if p in PROPERTIES and PROPERTIES[p].group not in groups:
                raise UsageError(
                    f"property {p!r} is in the group {PROPERTIES[p].group!r}, not in the chosen "
                    f"group{'s' * (len(groups) > 1)} {', '.join(groups)}"
                )
        return [p for p in applicable_properties(subject, chosen, among) if PROPERTIES[p].group in groups]
    if not chosen:
        return list(subject.properties)
    others = [s for s in among if s is not subject]
    for p in chosen:
        if p not in PROPERTIES:
            raise UsageError(f"unknown property {p!r}; known: {', '.join(PROPERTIES)}")
        if p not in subject.properties and not any(p in s.properties for s in others):
            raise UsageError(
                f"property {p!r} does not apply to {subject.name}; its properties: "
                f"{', '.join(subject.properties)}"
            )
    return [p for p in chosen if p in subject.properties]


def _builtin_or_usage_error(spec: str, subjects: Iterable[Subject], spell: Callable[[str], str]) -> None:
    for s in subjects:
        try:
            if load(spec, s.name).builtin:
                continue
        except ImplementationLoadError:
            pass
        raise UsageError(
            f"{spell('--isolation')} none runs code in this process, which only the built-ins may do; "
            f"{spec!r} is not a built-in (use {spell('--isolation')} process)"
        )


def _expectations(
    path: str | None, options: EngineOptions, spell: Callable[[str], str]
) -> tuple[Expectation, ...]:
    """The user's expected-failure file, its names checked against what exists."""
    if not path:
        return ()
    from conformance.cases.expectations import unknown_names

    if not os.path.isfile(path):
        raise UsageError(f"{spell('--expect')} {path}: no such file")
    entries = parse_file(path)
    every = {**SUBJECTS, **{s.name: s for s in options.subjects}}
    impls = {t.name for s in every.values() for t, _ in targets(s, options.specs)}
    impls |= {t.name for s in every.values() for t, _ in targets(s, ())}
    problems = unknown_names(entries, impls, set(PROPERTIES), set(every))
    if problems:
        raise UsageError("; ".join(problems))
    return tuple(entries)


def prepare_output(path: str, spell: Callable[[str], str] = str, option: str = "--json") -> None:
    """Make sure a report can be written before spending minutes on the run."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{spell(option)} {path}: cannot create {folder}: {e.strerror}") from None
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        raise UsageError(f"{spell(option)} {path}: not a writable file path")


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def targets(subject: Subject | str, specs: Iterable[str]) -> list[tuple[Target, str]]:
    """``(target, origin)`` for each spec (default: the built-ins and the advertised ones).

    Names come from the specs alone; a name already taken gets a suffix (``name_2``), so
    every column, test id and report entry is unique.
    """
    subject_name = subject if isinstance(subject, str) else subject.name
    specs = list(specs)
    if not specs:
        specs = builtin_names(subject_name)
        if not is_user_subject(subject_name):
            specs += [s for s in entry_point_specs() if spec_name(s) not in specs]
    out: list[tuple[Target, str]] = []
    taken: set[str] = set()
    for spec in specs:
        base = spec_name(spec)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out.append(
            (Target(name, spec if name == base else f"{name}={_target_part(spec)}", subject_name), spec)
        )
    return out


def _target_part(spec: str) -> str:
    label, eq, rest = spec.partition("=")
    return rest.strip() if eq and label.strip().isidentifier() else spec


def builtin_names(subject: str) -> list[str]:
    """The built-ins of ``subject``: the registry's, or a per-sample subject's free references."""
    return list(FREE_REFERENCES) if is_user_subject(subject) else names(subject, builtin_only=True)


def is_builtin_spec(spec: str, subject: str) -> bool:
    """Does ``spec`` (``NAME`` or ``LABEL=NAME``) name one of ``subject``'s built-ins? By this
    process's registry, without loading anything."""
    return _target_part(spec) in builtin_names(subject)


__all__ = [
    "EngineOptions",
    "UsageError",
    "applicable_properties",
    "default_jobs",
    "is_builtin_spec",
    "parse_subjects",
    "prepare_output",
    "subjects_option",
    "targets",
]
