"""Where the ``fuzz`` profile keeps the failures it found: Hypothesis's example database.

A *location* (``CONFORMANCE_DATABASE``) is one of:

* a directory, e.g. ``.hypothesis/conformance`` (the default): one machine;
* a Redis URL, ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...``
  (TLS) or ``unix:///path/to/redis.sock[?db=N]``: Hypothesis's own
  :class:`~hypothesis.extra.redis.RedisExampleDatabase`, shared by every worker
  that names the same server, so a failure found by one replays first on all;
  needs the ``redis`` package (``pip install 'nnx-conformance[fuzz]'``);
* ``readonly:LOCATION``: reads ``LOCATION`` but never writes to it (a developer
  replaying what CI found without adding to it);
* ``multi:LOCATION,LOCATION,...``: all of them at once (Hypothesis's
  :class:`~hypothesis.database.MultiplexedDatabase`): every failure is saved to
  each writable one and replayed from any, e.g.
  ``multi:.hypothesis/conformance,redis://ci-redis:6379/0`` keeps a local copy
  of what the shared server holds.

:func:`open_database` checks the location when it is opened (a Redis server must
answer a PING within a few seconds and, unless read-only, accept a write; a
directory must be creatable and writable),
so a typo is a one-line :class:`ValueError` before a long run, not a silent
run without a database. :func:`describe` names a location for reports without
its password.
"""

from __future__ import annotations

import functools
import os
import re
from urllib.parse import urlsplit

from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from impl.registry import one_line

#: every key this suite writes to a Redis server starts with this
KEY_PREFIX = b"nnx-conformance:"
#: the key (after the prefix) :func:`open_database` writes to and clears to check it may write
PROBE_KEY = b"open-database-check"
#: seconds to connect to, and to wait for the PING of, a Redis server when it is opened
PING_TIMEOUT = 3.0
#: seconds one Redis command may take during the run (a ``?socket_timeout=`` in the URL wins)
COMMAND_TIMEOUT = 30.0
REDIS_SCHEMES = ("redis", "rediss", "unix")
MULTI = "multi:"
READONLY = "readonly:"
INSTALL_HINT = "pip install 'nnx-conformance[fuzz]' or pip install redis"


def _scheme(location: str) -> str | None:
    """The URL scheme of ``location`` (lower case), or None for a path."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", location)
    return match.group(1).lower() if match else None


def _mask(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user info and in ``?password=``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        # Without a colon the lone word may be a password written in the user's place.
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    masked = parts._replace(netloc=netloc).geturl()
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", masked)


def describe(location: str) -> str:
    """How reports name ``location``: the kind of database and where it is, passwords masked."""
    location = location.strip()
    if location.startswith(MULTI):
        return " + ".join(describe(p) for p in location[len(MULTI) :].split(",") if p.strip())
    if location.startswith(READONLY):
        return f"read-only {describe(location[len(READONLY) :])}"
    if _scheme(location) is not None:
        return _mask(location)
    return f"directory {location}"


def open_database(location: str) -> ExampleDatabase:
    """The example database at ``location`` (see the module's docstring), checked to be usable.

    Raises :class:`ValueError` with a one-line message naming the location and the
    problem: an empty location, an unknown URL scheme, a Redis URL without the
    ``redis`` package, a Redis server that cannot be reached, refuses the credentials or
    the write of one probe value, a path that exists but is not a directory, a directory
    that cannot be created or written. Passwords are masked in every message.
    """
    return _open(location.strip(), writable=True)


@functools.cache
def open_database_cached(location: str) -> ExampleDatabase:
    """:func:`open_database`, opened (and checked) once per process and location.

    For a runner that builds settings for every search: one connection pool and
    one PING per location, not one per search. Errors are not cached.
    """
    return open_database(location)


def _open(location: str, *, writable: bool) -> ExampleDatabase:
    if not location:
        raise ValueError("example database: empty location; give a directory or a redis:// URL")
    if location.startswith(MULTI):
        parts = [p.strip() for p in location[len(MULTI) :].split(",")]
        if not any(parts):
            raise ValueError(f"example database {location!r}: 'multi:' needs comma-separated locations")
        for part in parts:
            if not part or part.startswith(MULTI):
                raise ValueError(
                    f"example database {describe(location)}: each part of 'multi:' must be a directory,"
                    " a URL or readonly:LOCATION"
                )
        return MultiplexedDatabase(*(_open(p, writable=writable) for p in parts))
    if location.startswith(READONLY):
        inner = location[len(READONLY) :].strip()
        if not inner or inner.startswith(MULTI):
            raise ValueError(f"example database {location!r}: 'readonly:' needs a directory or a URL")
        return ReadOnlyDatabase(_open(inner, writable=False))
    scheme = _scheme(location)
    if scheme is None:
        return _open_directory(location, writable=writable)
    if scheme in REDIS_SCHEMES:
        return _open_redis(location, writable=writable)
    raise ValueError(
        f"example database {_mask(location)}: unknown scheme {scheme!r}; "
        "give a directory or a redis://, rediss:// or unix:// URL"
    )


def _open_directory(location: str, *, writable: bool) -> ExampleDatabase:
    path = os.path.expanduser(location)
    name = f"example database directory {location}"
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{name}: exists and is not a directory")
    if writable:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"{name}: cannot create it: {e.strerror or one_line(e, with_type=True)}"
            ) from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{name}: not writable, so no failure could be saved")
    return DirectoryBasedExampleDatabase(path)


def _open_redis(url: str, *, writable: bool) -> ExampleDatabase:
    name = f"example database {_mask(url)}"
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise ValueError(f"{name}: the redis package is not installed; {INSTALL_HINT}") from None
    parts = urlsplit(url)
    if parts.scheme.lower() != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ValueError(f"{name}: the database after the host must be a number, as in /0")
    try:
        # A client of its own for the check: no retries, a short timeout, so a wrong
        # host or port is an error within seconds.
        probe = redis.Redis.from_url(
            url,
            socket_connect_timeout=PING_TIMEOUT,
            socket_timeout=PING_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        client = redis.Redis.from_url(
            url, socket_connect_timeout=PING_TIMEOUT, socket_timeout=COMMAND_TIMEOUT
        )
    except ValueError as e:
        raise ValueError(f"{name}: not a valid Redis URL: {one_line(e, with_type=True)}") from None
    try:
        probe.ping()
    except redis.exceptions.AuthenticationError as e:
        raise ValueError(
            f"{name}: the server refused the credentials: {one_line(e, with_type=True)}"
        ) from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
        raise ValueError(f"{name}: cannot reach the Redis server: {one_line(e, with_type=True)}") from None
    except redis.exceptions.InvalidResponse as e:
        raise ValueError(
            f"{name}: what answers there is not a Redis server: {one_line(e, with_type=True)}"
        ) from None
    except redis.exceptions.RedisError as e:
        raise ValueError(
            f"{name}: the Redis server answered with an error: {one_line(e, with_type=True)}"
        ) from None
    finally:
        probe.close()
    db = RedisExampleDatabase(client, key_prefix=KEY_PREFIX)
    if writable:
        # Write and remove one value the way a found failure is saved, so a read-only
        # replica or a user without write rights fails here, not at the first failure.
        try:
            db.save(PROBE_KEY, b"open_database")
            db.delete(PROBE_KEY, b"open_database")
        except redis.exceptions.RedisError as e:
            raise ValueError(
                f"{name}: the server does not let this client save examples: {one_line(e, with_type=True)}"
            ) from None
    return db
