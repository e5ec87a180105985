"""Profiles: how hard to look. Chosen with ``--profile`` or the ``CONFORMANCE_PROFILE`` variable.

* ``dev``  -- quick, random; the default.
* ``ci``   -- derandomized (the same examples every run): a search over the whole
  domain, then two examples inside each edge of it (each seed bucket, dtype,
  array kind, value family and spelling of ``features``; ``B`` = 0, 1, small,
  above 64; ``D_in`` = 1, above 128; ``features`` = 1, above 64; square layers),
  so every corner is reached by construction, not by luck (the first example
  of a search is its simplest, often zeros: the second one draws freely); and one
  example at each size just below and above the tile sizes 128, 256, 512 and 1024.
* ``fuzz`` -- long, random, shapes drawn freely, with Hypothesis's example
  database so failures found once replay first next time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import strategies as S

PROFILE_ENV = "CONFORMANCE_PROFILE"
DATABASE_ENV = "CONFORMANCE_DATABASE"


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    derandomize: bool
    use_database: bool
    pool: S.ShapePool | S.FreeShapes
    #: seconds from the first failure to the reported minimal example (shrinking budget)
    shrink_seconds: float
    #: examples spent inside each edge of the domain after the main search (0: none)
    edge_examples: int = 0
    #: default per-call timeout, seconds (a call that compiles a new shape takes ~0.5 s)
    timeout: float = 60.0
    #: where fuzz failures are saved: a directory, a redis:// URL, multi:A,B (see conformance/run/database.py)
    database_path: str = ".hypothesis/conformance"

    def with_examples(self, n: int | None) -> Profile:
        return self if n is None else replace(self, max_examples=n)


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        "dev",
        max_examples=10,
        derandomize=False,
        use_database=False,
        pool=S.DEFAULT_POOL,
        shrink_seconds=10.0,
    ),
    "ci": Profile(
        "ci",
        max_examples=30,
        derandomize=True,
        use_database=False,
        pool=S.COMPACT_POOL,
        shrink_seconds=10.0,
        edge_examples=2,
    ),
    "fuzz": Profile(
        "fuzz",
        max_examples=1000,
        derandomize=False,
        use_database=True,
        pool=S.FreeShapes(),
        shrink_seconds=60.0,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The named profile, else ``$CONFORMANCE_PROFILE``, else ``dev``."""
    name = name or os.environ.get(PROFILE_ENV) or "dev"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    profile = PROFILES[name]
    if profile.use_database and os.environ.get(DATABASE_ENV):
        profile = replace(profile, database_path=os.environ[DATABASE_ENV])
    return profile
