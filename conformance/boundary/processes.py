"""The processes an implementation starts, found and ended: nothing it starts outlives its worker.

A worker leads its own process group, but a process started with ``start_new_session=True``
(or ``setsid``, or a double fork) leaves that group: killing the group does not reach it, and
when its parent dies it is reparented to init. So, on Linux:

- the worker makes itself a *child subreaper* (:func:`become_subreaper`): an orphaned
  descendant, detached or not, is reparented to the worker instead of init, and so stays in
  the worker's tree of descendants (:func:`descendants`, read from ``/proc``);
- after each call the worker ends (SIGKILL) and reaps every descendant the call left
  (:func:`end_new`), and when the worker ends, every descendant (:func:`end_all`);
- each worker's environment holds a token of its own (:data:`TOKEN_ENV`), which everything
  the implementation starts inherits: when a worker is killed before it could clean up (a
  crash, SIGKILL), its descendants go to init, and the runner finds them by that token in
  ``/proc/<pid>/environ`` (:func:`end_marked`).

Standard library only, and nothing is imported lazily: the worker's watchdog thread runs
these functions while the main thread may hold the import lock (in the middle of an import).
Elsewhere than Linux they find nothing, and a worker's process group is all that is ended.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable

#: The environment variable that marks everything a worker starts (its value: the worker's token).
TOKEN_ENV = "CONFORMANCE_WORKER_TOKEN"

#: prctl(2) option: orphaned descendants are reparented to this process, not to init.
PR_SET_CHILD_SUBREAPER = 36

#: Seconds spent, at most, killing and reaping what a call or a worker left.
END_WITHIN = 2.0

_PROC = "/proc"


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux 3.4+); False where it cannot be one."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc by that name, no prctl
        return False


def _read(path: str) -> bytes | None:
    """A /proc file's bytes, read with ``os.open``/``os.read`` (several times faster than ``open()``
    for many small files); None when it cannot be read (the process ended, no permission)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return b"".join(iter(lambda: os.read(fd, 1 << 16), b""))
    except OSError:
        return None
    finally:
        os.close(fd)


def children(pid: int | str = "self") -> set[int]:
    """The child processes of ``pid`` (all its threads' children), from
    ``/proc/<pid>/task/*/children``; empty when there is no such file."""
    try:
        tasks = os.listdir(f"{_PROC}/{pid}/task")
    except OSError:
        return set()
    out: set[int] = set()
    for task in tasks:
        data = _read(f"{_PROC}/{pid}/task/{task}/children")
        if data:
            out.update(map(int, data.split()))
    return out


def _has_children_files() -> bool:
    """Whether this kernel lists children in /proc (CONFIG_PROC_CHILDREN); if not, parents are read."""
    return os.path.exists(f"{_PROC}/self/task/{os.getpid()}/children")


_CHILDREN_FILES = _has_children_files()


def stat(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of a process, or None when it is gone. State ``Z``: a zombie."""
    data = _read(f"{_PROC}/{pid}/stat")
    if not data:
        return None
    fields = data.rsplit(b")", 1)[-1].split()  # the command name, in parentheses, may hold anything
    try:
        return fields[0].decode(), int(fields[1])
    except (IndexError, ValueError):
        return None


def running(pid: int) -> bool:
    """Alive: there, and neither a zombie nor dead."""
    st = stat(pid)
    return st is not None and st[0] not in ("Z", "X", "x")


def command(pid: int, width: int = 60, settle: float = 0.05) -> str:
    """A process's command line, shortened, for a report. A process just started may be in the
    middle of its exec (no command line yet): it gets up to ``settle`` seconds to finish it."""
    deadline = time.monotonic() + settle
    data = _read(f"{_PROC}/{pid}/cmdline")
    while not data and time.monotonic() < deadline and running(pid):
        time.sleep(0.002)
        data = _read(f"{_PROC}/{pid}/cmdline")
    data = data or _read(f"{_PROC}/{pid}/comm") or b"?"
    text = " ".join(data.decode(errors="replace").replace("\0", " ").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def descendants(root: int | None = None) -> set[int]:
    """Every process below ``root`` (this process by default): its children, theirs, and so on."""
    root = os.getpid() if root is None else root
    if not _CHILDREN_FILES:
        return _descendants_by_parent(root)
    out: set[int] = set()
    todo = list(children("self" if root == os.getpid() else root))
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(children(pid))
    return out


def _descendants_by_parent(root: int) -> set[int]:
    """:func:`descendants` from every process's parent (slower: one /proc/<pid>/stat per process)."""
    try:
        entries = [int(e) for e in os.listdir(_PROC) if e.isdigit()]
    except OSError:
        return set()
    below: dict[int, list[int]] = {}
    for pid in entries:
        st = stat(pid)
        if st is not None:
            below.setdefault(st[1], []).append(pid)
    out: set[int] = set()
    todo = list(below.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(below.get(pid, ()))
    return out


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those of ``pids`` that are this process's zombie children."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not (or no longer) a child of this process
            pass


def end_new(before: set[int], within: float = END_WITHIN) -> dict[int, str]:
    """Kill (SIGKILL) and reap every descendant of this process that is not in ``before``.

    What a killed process had started is reparented to this process (a subreaper), found by
    the next look, and killed too; this goes on until no new descendant runs (at most
    ``within`` seconds). Returns the ones found running, with their command lines (read
    before the kill): what the call left behind. Zombies among them (they ended, nobody
    waited for them) are reaped, and not reported.
    """
    found: dict[int, str] = {}
    deadline = time.monotonic() + within
    pause = 0.0005
    while True:
        new = descendants() - before
        live = [pid for pid in new if running(pid)]
        for pid in live:
            if pid not in found:
                found[pid] = command(pid)
        _kill(live)
        _reap(new)
        if not live or time.monotonic() > deadline:
            break
        time.sleep(pause)  # SIGKILL takes effect asynchronously: then the zombie, then its orphans
        pause = min(pause * 2, 0.05)
    _reap(descendants() - before)
    return found


def end_all(within: float = END_WITHIN) -> dict[int, str]:
    """Kill and reap every descendant of this process (the worker ends)."""
    return end_new(set(), within)


def end_marked(tokens: Iterable[str], within: float = END_WITHIN) -> set[int]:
    """Kill every process whose environment holds ``TOKEN_ENV=<one of tokens>`` (this one excepted),
    until none runs (at most ``within`` seconds): what a worker started, found after the worker
    itself was killed and its descendants went to init. Returns the pids killed.

    A process can only be found this way if it kept the environment it inherited (``env={}``
    hides it); the worker's own cleanup (:func:`end_new`, :func:`end_all`) does not need it.
    """
    marks = [f"\0{TOKEN_ENV}={token}\0".encode() for token in tokens]
    killed: set[int] = set()
    if not marks:
        return killed
    me = os.getpid()
    deadline = time.monotonic() + within
    while True:
        try:
            entries = [int(e) for e in os.listdir(_PROC) if e.isdigit()]
        except OSError:
            return killed
        hits = []
        for pid in entries:
            if pid == me:
                continue
            environ = _read(f"{_PROC}/{pid}/environ")
            if environ and any(mark in b"\0" + environ + b"\0" for mark in marks) and running(pid):
                hits.append(pid)
        _kill(hits)
        killed.update(hits)
        if not hits or time.monotonic() > deadline:
            return killed
        time.sleep(0.005)  # a process may have forked between the read and the kill: look again
