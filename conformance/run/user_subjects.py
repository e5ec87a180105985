"""A user's per-sample subject in a run: its oracle worker, its :class:`Subject`, its panel.

``--subject file.py:attr`` (or ``module:attr``) names a :func:`conformance.per_sample`
declaration. Its code is the user's, so the runner never imports it: one worker per subject
(the *oracle worker*, :mod:`conformance.boundary.per_sample`) loads it, says what it declares
(plain data), and answers the float64 oracle, the float32 per-sample reference and the free
references of the panel (``loop``, ``nnx_vmap``, ``manual_lift``). A hang, an exit or garbage
in that worker is an :class:`~conformance.base.failures.OracleError` naming the subject, and
the run goes on.

Installed packages advertise declarations under the entry-point group
:data:`SUBJECT_ENTRY_POINTS`; :func:`advertised` reads the entry points alone (nothing is
imported). :func:`declared` is what ``python -m conformance subjects --subject SPEC`` shows of an
opened subject: the declaration's plain data and what the suite makes of it.
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.base.declaration import DEFAULT_DTYPES, FREE_REFERENCES, Dim
from conformance.base.failures import OracleError
from conformance.boundary.calls import CallResult
from conformance.boundary.executors import LOAD_TIMEOUT, Target, WorkerExecutor
from conformance.boundary.per_sample import ORACLE
from conformance.subjects import Subject
from conformance.subjects.per_sample import drawn_sizes, per_sample_subject
from impl.registry import Implementation, ImplementationLoadError, check_spec


class OracleWorker:
    """The worker that answers for one per-sample subject; one call at a time."""

    def __init__(self, spec: str, x64: bool, timeout: float, load_timeout: float) -> None:
        self.spec = spec
        self.executor = WorkerExecutor(Target(ORACLE, ORACLE, spec), x64, timeout, load_timeout)
        self.lock = threading.Lock()
        #: what the declaration says of itself (:meth:`describe`)
        self.description: dict[str, Any] = {}

    def call(self, args: dict[str, Any], request: str) -> CallResult:
        with self.lock:
            static = {k: v for k, v in args.items() if k not in ("seed", "x_batch")}  # after the request
            return self.executor.call(
                {"seed": args["seed"], "x_batch": args["x_batch"], "request": request, **static}
            )

    def ask(self, args: dict[str, Any], request: str) -> np.ndarray:
        """The answer to ``request`` for ``args``; OracleError saying why there is none."""
        result = self.call(args, request)
        if result.status != "ok" or result.output is None:
            raise OracleError(f"{_asked(request)} of {self.spec} {result.describe_failure()}")
        return result.output

    def describe(self) -> dict[str, Any]:
        """What the declaration says of itself, once it has run on a small batch; ImplementationLoadError
        in one line when it cannot be loaded or does not work."""
        try:
            self.executor.start()
        except ImplementationLoadError as e:
            raise ImplementationLoadError(f"--subject {self.spec}: {e}") from None
        x = np.zeros((0,), np.float32)
        result = self.call({"seed": 0, "x_batch": x}, "describe")
        if result.status != "ok" or result.output is None:
            raise ImplementationLoadError(f"--subject {self.spec}: {result.describe_failure()}")
        try:
            return json.loads(result.output.tobytes().decode())
        except (UnicodeDecodeError, ValueError) as e:
            raise ImplementationLoadError(
                f"--subject {self.spec}: its worker sent no description ({e})"
            ) from None

    def close(self) -> None:
        self.executor.close()


def _asked(request: Any) -> str:
    """What a request to the oracle worker asks for, in words."""
    if isinstance(request, dict):
        precision = "float64" if request.get("precision") == "oracle" else "float32 reference"
        return f"the {precision} {str(request.get('kind', '')).upper()}"
    if request == "oracle":
        return "the float64 oracle"
    if request == "reference":
        return "the float32 per-sample reference"
    if request == "make":
        return "make(seed, dims), building the model handed to the implementation,"
    return f"the free reference {request}"


class PanelMember:
    """A free reference of a per-sample subject, served by the subject's oracle worker."""

    healthy = False

    def __init__(self, worker: OracleWorker, name: str) -> None:
        self.worker = worker
        self.impl = Implementation(name, None, name, worker.spec, builtin=True)  # type: ignore[arg-type]

    @property
    def given_up(self) -> bool:
        return self.worker.executor.given_up

    @property
    def evidence(self) -> str:
        return self.worker.executor.evidence

    def start(self) -> None:
        self.worker.executor.start()

    def call(self, args: dict[str, Any], transform: dict[str, Any] | None = None) -> CallResult:
        if transform:
            raise ValueError("the panel of a per-sample subject answers plain calls only")
        return self.worker.call(args, self.impl.name)

    def close(self) -> None:  # the worker is the subject's, closed with it
        pass


#: The oracle worker of each per-sample subject opened in this process.
_WORKERS: dict[str, OracleWorker] = {}
_LOCK = threading.Lock()


#: The entry-point group under which installed packages advertise per-sample subjects, as they
#: advertise implementations: ``NAME = "package.module:declaration"``.
SUBJECT_ENTRY_POINTS = "nnx_conformance.subjects"


def advertised() -> dict[str, str]:
    """Per-sample subjects advertised by installed packages: name -> ``module:attr`` (nothing imported)."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=SUBJECT_ENTRY_POINTS)}


def user_spec(name: str) -> str | None:
    """The declaration's spec a subject name stands for: itself (``file.py:attr``, ``module:attr``),
    an advertised subject's, or None for a built-in subject's name."""
    name = name.strip()
    return name if ":" in name else advertised().get(name)


def is_user_subject(name: str) -> bool:
    return user_spec(name) is not None


def open_subject(
    spec: str, x64: bool = False, timeout: float = 60.0, load_timeout: float = LOAD_TIMEOUT
) -> Subject:
    """The subject declared at ``spec`` (or advertised under that name), its oracle worker started
    (one per spec and process)."""
    spec = user_spec(spec) or spec
    check_spec(spec)
    with _LOCK:
        worker = _WORKERS.get(spec)
        if worker is None or worker.executor.x64 != x64:
            if worker is not None:
                worker.close()
            worker = OracleWorker(spec, x64, timeout, load_timeout)
            worker.description = worker.describe()
            _WORKERS[spec] = worker
    return per_sample_subject(spec, worker.description, worker.ask)


def panel(subject: Subject) -> dict[str, PanelMember]:
    """The free references of a per-sample subject, as the panel of trusted witnesses."""
    worker = _WORKERS[subject.name]
    return {name: PanelMember(worker, name) for name in FREE_REFERENCES}


@dataclass(frozen=True)
class SampleDim:
    """One named dimension of a sample: the sizes it may take, and the few a search draws."""

    name: str
    min: int
    #: None: no limit declared
    max: int | None
    multiple_of: int
    #: the sizes drawn: the smallest two and the largest (every new shape costs a compilation)
    drawn: tuple[int, ...]


@dataclass(frozen=True)
class Declared:
    """What a per-sample declaration says of itself, and what the suite makes of it: plain data,
    from the subject's oracle worker (the declaration's code is never imported here)."""

    #: the declaration's spec (``file.py:attr`` or ``module:attr``): the subject's name in a run
    spec: str
    #: the entry-point name it is advertised under, if any
    advertised_as: str | None
    signature: str
    #: the declaration's summary, or the suite's words for a declaration without one
    summary: str
    dims: tuple[SampleDim, ...]
    #: the input dtypes drawn (float64 only under --x64)
    dtypes: tuple[str, ...]
    #: "different", "same", or None: the module draws no random numbers
    randomness: str | None
    tolerance_factor: float
    tolerance_floor: float
    #: the other arguments of ``make`` and the values each may take
    static: tuple[tuple[str, tuple[Any, ...]], ...]
    #: whether the declaration gives its own float64 oracle in place of its call's
    own_oracle: bool
    #: the references every per-sample subject gets (the panel of agrees_with_builtins)
    references: tuple[str, ...]
    #: the properties that apply, in report order
    properties: tuple[str, ...]


def declared(subject: Subject) -> Declared:
    """What the per-sample ``subject`` (opened by :func:`open_subject`) declares and gets."""
    with _LOCK:
        worker = _WORKERS.get(subject.name)
    if worker is None:
        raise KeyError(f"{subject.name!r} is not an opened per-sample subject")
    description = worker.description
    dims = []
    for name, drawn in drawn_sizes(description):
        d = Dim(**description["dims"][name])
        dims.append(SampleDim(name, d.min, d.max, d.multiple_of, drawn))
    names = {spec: name for name, spec in advertised().items()}
    return Declared(
        spec=subject.name,
        advertised_as=names.get(subject.name),
        signature=subject.signature,
        summary=subject.summary,
        dims=tuple(dims),
        dtypes=tuple(description.get("dtypes") or DEFAULT_DTYPES),
        randomness=description.get("randomness"),
        tolerance_factor=float(description["tolerance"]["factor"]),
        tolerance_floor=float(description["tolerance"]["floor"]),
        static=tuple((n, tuple(v)) for n, v in (description.get("static") or {}).items()),
        own_oracle=bool(description.get("own_oracle")),
        references=tuple(subject.builtins or FREE_REFERENCES),
        properties=tuple(subject.properties),
    )


def close_all() -> None:
    """End every oracle worker of this process (a subject used again starts its worker again)."""
    with _LOCK:
        workers = list(_WORKERS.values())
    for w in workers:
        w.close()
