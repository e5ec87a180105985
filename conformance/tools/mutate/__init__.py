"""``python -m conformance mutate``: how much the suite's verdict is worth on an implementation's own code.

Mutation testing, with the suite as the test: small changes (*mutants*) are made to the
implementation's own source file, and each mutant is checked like any external
implementation, in the suite's own worker processes, by the :mod:`conformance.run.engine`.
A mutant that fails a property is *killed*; one that passes every property *survived*.
The score is the share of mutants killed among those that are not equivalent to the
original.

Steps of a run (:func:`run`), one module each:

1. The source (:mod:`.source`): the file that defines the implementation (a registered
   name, a ``module:attr`` or a ``path/file.py:attr``; found without importing user code),
   and in it the target function and the module-level functions and classes it reaches by
   name (:func:`reachable`). Only those are mutated, never their docstrings, annotations,
   ``raise`` statements or registration decorators.
2. The mutants (:func:`make_mutants`, in :mod:`.mutants`, with the operators of
   :mod:`.operators` and the syntax helpers of :mod:`.syntax`): the standard library's
   :mod:`ast` finds the places, each mutant is one edit spliced into the original text (so
   the rest of the file, its comments included, is unchanged and a mutant's diff is one
   hunk), and mutants whose syntax tree equals the original's or an earlier mutant's are
   dropped. The operators are listed in :data:`OPERATORS`.
3. A copy of the original file runs first (the *baseline*, in :mod:`.running`): every
   property, so the run knows which properties the original passes (only those can kill a
   mutant) and what each costs. Each file is written to a temporary folder with its
   ``register("name")`` calls renamed (``register("_mutant_name")``), so a copy never
   clashes with or replaces the real registration, and keeps its known failures.
4. Every mutant is checked in its own worker (``--jobs`` at once), the cheap properties
   first, with the engine's ``stop_at_first_failure``: a mutant is killed once, so nothing
   after its first failed property runs; shrinking is off (the verdict, not a minimal
   counterexample, is what counts here).
5. Survivors are compared with the original on the calls the ``ci`` profile's properties
   make (:mod:`.equivalence`: the same derandomized draws: plain calls, and the gradient
   and transform properties' cases under VJP, JVP and ``jit``; :func:`ci_examples`): called
   in workers, outputs compared bit for bit (the sign of a zero aside). A survivor whose
   every output is identical is *likely equivalent* and leaves the score's denominator; any
   other survivor is a blind spot of the suite, shown as a unified diff.
6. The score and the report (:mod:`.report`); the command line (:mod:`.command`).

Public API::

    resolve_source(spec, subject) -> Source           # MutateUsageError when there is no source file
    make_mutants(text, attr, operators=None) -> list[Mutant]
    run(spec, subject=..., profile=..., ...) -> MutationReport
    add_parser(subparsers) / cmd_mutate(args) -> int  # `python -m conformance mutate`
"""

from conformance.tools.mutate.command import DESCRIPTION, EXIT_OK, EXIT_USAGE, add_parser, cmd_mutate, main
from conformance.tools.mutate.equivalence import Call, ci_examples, outputs_differ
from conformance.tools.mutate.mutants import (
    MUTANT_PREFIX,
    Mutant,
    make_mutants,
    renamed_registrations,
    spread,
)
from conformance.tools.mutate.operators import OPERATORS, Operator
from conformance.tools.mutate.report import (
    ERROR,
    KILLED,
    LOAD_ERROR,
    SCHEMA,
    SURVIVED,
    TIMED_OUT,
    MutantResult,
    MutationReport,
    print_report,
)
from conformance.tools.mutate.running import FIRST, run
from conformance.tools.mutate.source import MutateUsageError, Source, reachable, resolve_source, with_package
from conformance.tools.mutate.syntax import Edit, Env

__all__ = [
    "DESCRIPTION",
    "ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "FIRST",
    "KILLED",
    "LOAD_ERROR",
    "MUTANT_PREFIX",
    "OPERATORS",
    "SCHEMA",
    "SURVIVED",
    "TIMED_OUT",
    "Call",
    "Edit",
    "Env",
    "MutantResult",
    "MutateUsageError",
    "Mutant",
    "MutationReport",
    "Operator",
    "Source",
    "add_parser",
    "ci_examples",
    "cmd_mutate",
    "main",
    "make_mutants",
    "outputs_differ",
    "print_report",
    "reachable",
    "renamed_registrations",
    "resolve_source",
    "run",
    "spread",
    "with_package",
]
