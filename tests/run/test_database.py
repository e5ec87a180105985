"""The example database of the ``fuzz`` profile: a directory, or a Redis server shared by many workers.

The Redis tests run against a real ``redis-server`` started here on a free
loopback port (and a Unix socket). Without ``redis-server`` they skip, except
under CI (``CI`` set), where they fail: CI must install it (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from conformance.run.database import KEY_PREFIX, PING_TIMEOUT, describe, open_database, open_database_cached

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD = 1000  # the search below fails on every n >= THRESHOLD; its minimal failure is THRESHOLD


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class RedisServer:
    port: int
    socket_path: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"


def _start(exe: str, folder: str) -> tuple[subprocess.Popen[bytes], RedisServer] | None:
    """One try at starting ``redis-server`` on a free port; None if the port was taken meanwhile."""
    server = RedisServer(_free_port(), os.path.join(folder, "redis.sock"))
    # fmt: off
    argv = [
        exe, "--port", str(server.port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--dir", folder, "--logfile", os.path.join(folder, "redis.log"),
        "--unixsocket", server.socket_path, "--unixsocketperm", "700",
    ]
    # fmt: on
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if _pings(server.port):
            return proc, server
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    log = Path(folder, "redis.log")
    pytest.fail(f"redis-server did not answer PING within 15 s: {log.read_text() if log.exists() else ''}")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    if exe is None:
        if _in_ci():
            pytest.fail("redis-server is not installed; CI must install it (apt-get install -y redis-server)")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        if _in_ci():
            pytest.fail("the redis package is not installed; CI installs it with '.[dev]'")
        pytest.skip("the redis package is not installed (pip install redis)")
    folder = tempfile.mkdtemp(prefix="nnxredis-")  # short: a Unix socket path has at most 107 bytes
    started = None
    for _ in range(5):  # another process may take the free port before redis-server binds it
        started = _start(exe, folder)
        if started is not None:
            break
    if started is None:
        log = Path(folder, "redis.log")
        pytest.fail(f"redis-server would not start: {log.read_text() if log.exists() else ''}")
    proc, server = started
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _key() -> bytes:
    return f"test-database/{uuid.uuid4().hex}".encode()


def _raw_client(server: RedisServer):  # redis is imported only where a server runs
    import redis

    return redis.Redis(host="127.0.0.1", port=server.port)


class Found(Exception):
    pass


def _search(db: ExampleDatabase, key: bytes) -> list[int]:
    """Run a Hypothesis search that fails on n >= THRESHOLD with ``db`` under ``key``; every n it tried."""
    calls: list[int] = []

    @settings(database=db, max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=0, max_value=10**6))
    def search(n: int) -> None:
        calls.append(n)
        if n >= THRESHOLD:
            raise Found(n)

    # A fresh function each time; the key is what ties the runs together, as in runner.py.
    search._hypothesis_internal_database_key = key
    with pytest.raises(Found):
        search()
    return calls


def _first_failure(calls: list[int]) -> int:
    """The 1-based number of the first call that failed."""
    return next(i for i, n in enumerate(calls, 1) if n >= THRESHOLD)


# -- the Redis database --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("via", ["tcp", "unix"])
def test_redis_save_fetch_delete_round_trip(redis_server: RedisServer, via: str) -> None:
    from hypothesis.extra.redis import RedisExampleDatabase

    url = redis_server.url if via == "tcp" else redis_server.unix_url
    db = open_database(url)
    assert isinstance(db, RedisExampleDatabase)
    key = _key()
    assert list(db.fetch(key)) == []
    db.save(key, b"one")
    db.save(key, b"two\x00\xff")
    assert sorted(db.fetch(key)) == [b"one", b"two\x00\xff"]
    db.delete(key, b"one")
    assert list(db.fetch(key)) == [b"two\x00\xff"]
    # Everything lands under the suite's own prefix, next to whatever else the server holds.
    raw = _raw_client(redis_server)
    assert raw.smembers(KEY_PREFIX + key) == {b"two\x00\xff"}
    raw.close()


@pytest.mark.slow
def test_redis_database_number_in_the_url_is_used(redis_server: RedisServer) -> None:
    key = _key()
    open_database(redis_server.url + "/3").save(key, b"in db 3")
    assert list(open_database(redis_server.url + "/3").fetch(key)) == [b"in db 3"]
    assert list(open_database(redis_server.url + "/0").fetch(key)) == []


@pytest.mark.slow
def test_two_workers_opening_the_same_url_share_examples(redis_server: RedisServer) -> None:
    worker_a = open_database(redis_server.url + "/0")
    worker_b = open_database(redis_server.url + "/0")
    assert worker_a.redis is not worker_b.redis  # two clients, as on two machines
    key = _key()
    worker_a.save(key, b"found by a")
    assert list(worker_b.fetch(key)) == [b"found by a"]
    worker_b.save(key, b"found by b")
    assert sorted(worker_a.fetch(key)) == [b"found by a", b"found by b"]
    worker_b.delete(key, b"found by a")
    assert list(worker_a.fetch(key)) == [b"found by b"]


def _locations(kind: str, server: RedisServer | None, tmp: Path) -> tuple[str, str]:
    """The locations two workers give, one that finds the failure and one that should replay it."""
    if kind == "directory":
        return str(tmp / "db"), str(tmp / "db")
    assert server is not None
    if kind == "redis":
        return server.url + "/0", server.url + "/0"
    if kind == "unix":
        return server.unix_url, server.url  # the same server, reached two ways
    # Each worker keeps a local directory of its own; the server is what they share.
    return f"multi:{tmp / 'local_a'},{server.url}", f"multi:{tmp / 'local_b'},{server.url}"


@pytest.mark.parametrize(
    "kind", [*(pytest.param(k, marks=pytest.mark.slow) for k in ("redis", "unix", "multi")), "directory"]
)
def test_a_failure_found_by_one_worker_replays_first_on_another(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    server = None if kind == "directory" else request.getfixturevalue("redis_server")
    finder, replayer = _locations(kind, server, tmp_path)
    key = _key()

    first = _search(open_database(finder), key)
    assert first[0] < THRESHOLD, "nothing was saved yet, so the first call should pass"
    assert first[-1] == THRESHOLD, "Hypothesis shrinks to the minimal failure and ends on it"
    assert _first_failure(first) > 1

    # A fresh test function and a freshly opened database: what another CI worker has.
    again = _search(open_database(replayer), key)
    assert _first_failure(again) == 1, f"the saved failure did not replay first: {again[:5]}"
    assert again[0] == THRESHOLD
    if kind == "multi":
        # Read-through: the second worker's local directory now holds the failure too.
        assert list(open_database(str(tmp_path / "local_b")).fetch(key)) != []


_WORKER = """
import json, sys
from hypothesis import HealthCheck, given, settings, strategies as st
from conformance.run.database import open_database

calls = []

@settings(database=open_database(sys.argv[1]), max_examples=300, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(min_value=0, max_value=10**6))
def search(n):
    calls.append(n)
    assert n < int(sys.argv[3])

search._hypothesis_internal_database_key = sys.argv[2].encode()
try:
    search()
except AssertionError:
    pass
print(json.dumps(calls))
"""


@pytest.mark.slow
def test_a_failure_found_here_replays_first_in_another_process(redis_server: RedisServer) -> None:
    key = _key()
    _search(open_database(redis_server.url), key)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", _WORKER, redis_server.url, key.decode(), str(THRESHOLD)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    calls = json.loads(out.stdout.strip().splitlines()[-1])
    assert calls[0] == THRESHOLD, f"the other process did not replay the saved failure first: {calls[:5]}"


@pytest.mark.slow
def test_readonly_reads_the_shared_database_but_never_writes_to_it(redis_server: RedisServer) -> None:
    key = _key()
    open_database(redis_server.url).save(key, b"from ci")
    db = open_database(f"readonly:{redis_server.url}")
    assert isinstance(db, ReadOnlyDatabase)
    assert list(db.fetch(key)) == [b"from ci"]
    db.save(key, b"from a laptop")
    db.delete(key, b"from ci")
    assert list(open_database(redis_server.url).fetch(key)) == [b"from ci"]


@pytest.mark.slow
def test_open_database_cached_opens_each_location_once(redis_server: RedisServer, tmp_path: Path) -> None:
    url = redis_server.url + "/0"
    assert open_database_cached(url) is open_database_cached(url)
    assert open_database_cached(str(tmp_path)) is not open_database_cached(url)


# -- errors: one line each, naming the location and the problem --------------------------------------


def test_an_unreachable_server_is_a_clear_error_within_seconds() -> None:
    pytest.importorskip("redis")
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(ValueError) as info:
        open_database(url)
    assert time.monotonic() - start < PING_TIMEOUT + 2
    message = str(info.value)
    assert "\n" not in message
    assert url in message and "cannot reach the Redis server" in message


def test_something_else_on_the_port_is_not_taken_for_a_redis_server() -> None:
    pytest.importorskip("redis")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ValueError, match=rf"redis://127\.0\.0\.1:{port}: .*not a Redis server"):
            open_database(f"redis://127.0.0.1:{port}")
    finally:
        thread.join(5)
        listener.close()


#: the least a Redis user needs to save and replay examples (docs/fuzzing.md gives this line)
MINIMAL_ACL = (
    "~nnx-conformance:* &hypothesis-changes +ping +select +sadd +srem +smembers +expire +publish +multi +exec"
)


def _add_user(server: RedisServer, name: str, rules: str) -> str:
    """A user ``name`` with password ``s3cret-pw`` and ``rules``; its URL."""
    raw = _raw_client(server)
    raw.execute_command("ACL", "SETUSER", name, "reset", "on", ">s3cret-pw", *rules.split())
    raw.close()
    return f"redis://{name}:s3cret-pw@127.0.0.1:{server.port}"


@pytest.mark.slow
def test_wrong_credentials_are_named_without_the_password(redis_server: RedisServer) -> None:
    url = _add_user(redis_server, "fuzzer", MINIMAL_ACL)
    key = _key()
    open_database(url).save(key, b"x")  # the minimal rights of the docs are enough
    assert list(open_database(redis_server.url).fetch(key)) == [b"x"]
    with pytest.raises(ValueError) as info:
        open_database(url.replace("s3cret-pw", "wrong-pw"))
    message = str(info.value)
    host = f"127.0.0.1:{redis_server.port}"
    assert f"redis://fuzzer:***@{host}" in message and "refused the credentials" in message
    assert "wrong-pw" not in message and "s3cret-pw" not in message


@pytest.mark.slow
@pytest.mark.parametrize(
    ("user", "rules"),
    [
        ("reader", "~* &* +@read +ping +select +multi +exec +expire"),  # may not write
        ("nochannel", "~* resetchannels +@all"),  # may not publish Hypothesis's change events
    ],
)
def test_a_user_who_may_not_save_is_caught_when_opened(
    redis_server: RedisServer, user: str, rules: str
) -> None:
    from hypothesis.extra.redis import RedisExampleDatabase

    if user == "nochannel" and not hasattr(RedisExampleDatabase, "_publish"):
        pytest.skip("this Hypothesis publishes no change events, so it needs no channel")
    url = _add_user(redis_server, user, rules)
    with pytest.raises(ValueError) as info:
        open_database(url)
    message = str(info.value)
    assert f"redis://{user}:***@" in message and "does not let this client save examples" in message
    assert "s3cret-pw" not in message
    # Reading is all 'readonly:' asks for.
    key = _key()
    open_database(redis_server.url).save(key, b"from ci")
    assert list(open_database(f"readonly:{url}").fetch(key)) == [b"from ci"]


@pytest.mark.slow
def test_a_database_number_the_server_does_not_have_is_a_clear_error(redis_server: RedisServer) -> None:
    with pytest.raises(ValueError, match=r"/999: the Redis server answered with an error: .*DB index"):
        open_database(redis_server.url + "/999")


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("redis://127.0.0.1:notaport", "not a valid Redis URL"),
        ("redis://127.0.0.1:6379/zero", "the database after the host must be a number"),
        ("reddis://127.0.0.1:6379", "unknown scheme 'reddis'"),
        ("http://127.0.0.1:6379", "unknown scheme 'http'"),
    ],
)
def test_bad_urls_are_clear_errors(location: str, problem: str) -> None:
    if location.startswith("redis"):
        pytest.importorskip("redis")
    with pytest.raises(ValueError) as info:
        open_database(location)
    assert location in str(info.value) and problem in str(info.value)


def test_a_redis_url_without_the_redis_package_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis now raises ImportError
    monkeypatch.delitem(sys.modules, "hypothesis.extra.redis", raising=False)
    with pytest.raises(ValueError) as info:
        open_database("redis://127.0.0.1:6379/0")
    message = str(info.value)
    assert "redis://127.0.0.1:6379/0" in message and "redis package is not installed" in message
    assert "pip install 'nnx-conformance[fuzz]'" in message and "pip install redis" in message


# -- the directory database ---------------------------------------------------------------------


def test_a_directory_is_created_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "db"
    db = open_database(str(path))
    assert isinstance(db, DirectoryBasedExampleDatabase)
    assert path.is_dir()
    key = _key()
    db.save(key, b"a")
    db.save(key, b"b")
    assert sorted(open_database(str(path)).fetch(key)) == [b"a", b"b"]
    db.delete(key, b"a")
    assert list(open_database(str(path)).fetch(key)) == [b"b"]


def test_a_file_where_the_directory_should_be_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match=rf"{path}: exists and is not a directory"):
        open_database(str(path))
    with pytest.raises(ValueError, match=rf"{path}/sub: cannot create it"):
        open_database(str(path / "sub"))


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("", "empty location"),
        ("   ", "empty location"),
        ("multi:", "'multi:' needs comma-separated locations"),
        ("multi:a,,b", "each part of 'multi:'"),
        ("readonly:", "'readonly:' needs a directory or a URL"),
    ],
)
def test_malformed_locations_are_clear_errors(location: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        open_database(location)


def test_multi_and_readonly_combine_directories(tmp_path: Path) -> None:
    shared, local = tmp_path / "shared", tmp_path / "local"
    key = _key()
    open_database(str(shared)).save(key, b"shared")
    db = open_database(f"multi:{local},readonly:{shared}")
    assert isinstance(db, MultiplexedDatabase)
    assert list(db.fetch(key)) == [b"shared"]
    db.save(key, b"mine")
    assert sorted(open_database(str(local)).fetch(key)) == [b"mine"]
    assert list(open_database(str(shared)).fetch(key)) == [b"shared"]


# -- describe ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        (".hypothesis/conformance", "directory .hypothesis/conformance"),
        ("redis://ci-redis:6379/0", "redis://ci-redis:6379/0"),
        ("redis://:hunter2@ci-redis:6379/0", "redis://:***@ci-redis:6379/0"),
        ("rediss://fuzz:hunter2@ci-redis:6380/1", "rediss://fuzz:***@ci-redis:6380/1"),
        ("redis://hunter2@ci-redis", "redis://***@ci-redis"),
        ("redis://ci-redis/0?password=hunter2&db=1", "redis://ci-redis/0?password=***&db=1"),
        ("unix://:hunter2@/run/redis.sock?db=2", "unix://:***@/run/redis.sock?db=2"),
        ("readonly:redis://:hunter2@h", "read-only redis://:***@h"),
        ("multi:.hyp,redis://:hunter2@h:1", "directory .hyp + redis://:***@h:1"),
    ],
)
def test_describe_names_the_location_and_masks_passwords(location: str, shown: str) -> None:
    assert describe(location) == shown
    assert "hunter2" not in describe(location)
