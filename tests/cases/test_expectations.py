"""``conformance.cases.expectations``: the user's expected-failures file.

Entries parse with their line numbers; version ranges decide where they apply
(jax 0.4.31 and 0.10.2 on either side of a range); bad lines are errors that name
the file and the line; comments and blank lines are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cases.expectations import (
    PACKAGES,
    Expectation,
    ExpectationFileError,
    installed_versions,
    match,
    parse_file,
    parse_text,
    unknown_names,
)

OLD = {"jax": "0.4.31", "flax": "0.9.0", "python": "3.11.7"}
NEW = {"jax": "0.10.2", "flax": "0.12.8", "python": "3.11.7"}

GOOD = """\
# expected failures of my implementations
   # an indented comment

mine     seed_sensitivity  jax>=0.5,<0.7 flax>=0.10   -- truncates seeds on the 0.5/0.6 lines
mine     agrees_with_oracle [jax<0.5.0]                -- old PRNG: see issue #12 -- really
*        golden            subject=vmap_over_ensemble  -- ensemble goldens pending
other    output_contract                               -- returns a list
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text(text)
    return path


def test_a_good_file_parses_with_line_numbers_and_reasons(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    entries = parse_file(path)
    assert [(e.impl, e.property, e.line) for e in entries] == [
        ("mine", "seed_sensitivity", 4),
        ("mine", "agrees_with_oracle", 5),
        ("*", "golden", 6),
        ("other", "output_contract", 7),
    ]
    first, second, third, fourth = entries
    assert first.reason == "truncates seeds on the 0.5/0.6 lines"
    assert [(p, str(s)) for p, s in first.ranges] == [("jax", "<0.7,>=0.5"), ("flax", ">=0.10")]
    assert second.reason == "old PRNG: see issue #12 -- really"  # the first ' -- ' splits
    assert [p for p, _ in second.ranges] == ["jax"]  # [brackets] are allowed
    assert third.subject == "vmap_over_ensemble" and third.ranges == ()
    assert fourth.ranges == () and fourth.subject is None
    assert first.where == f"{path}:4"
    assert first.describe().startswith("mine seed_sensitivity ")
    assert first.describe().endswith(f"({path}:4): truncates seeds on the 0.5/0.6 lines")


def test_comments_and_blank_lines_only_give_no_entries() -> None:
    assert parse_text("\n# nothing here\n   \n\t# still nothing\n") == []


@pytest.mark.parametrize(
    ("versions", "applies"),
    [(NEW, False), ({**NEW, "jax": "0.5.0"}, True), ({**NEW, "jax": "0.6.2"}, True), (OLD, False)],
)
def test_a_range_applies_inside_and_not_outside(versions: dict[str, str], applies: bool) -> None:
    (entry,) = parse_text("mine seed_sensitivity jax>=0.5,<0.7 -- why")
    assert entry.applies("vmap_over_batch", "mine", "seed_sensitivity", versions) is applies


def test_old_and_new_jax_on_either_side_of_0_5() -> None:
    """0.10.2 is after 0.5 (versions compare as numbers, not as text)."""
    old_only, new_only = parse_text("a p jax<0.5 -- old\nb p jax>=0.5 -- new")
    assert old_only.applies("s", "a", "p", OLD) and not old_only.applies("s", "a", "p", NEW)
    assert new_only.applies("s", "b", "p", NEW) and not new_only.applies("s", "b", "p", OLD)


def test_every_range_must_hold_and_prereleases_count() -> None:
    (entry,) = parse_text("mine p jax>=0.5 flax<0.12 -- both")
    assert entry.applies("s", "mine", "p", {"jax": "0.6.2", "flax": "0.10.7"})
    assert not entry.applies("s", "mine", "p", {"jax": "0.6.2", "flax": "0.12.8"})
    assert entry.applies("s", "mine", "p", {"jax": "0.7.0.dev20250101", "flax": "0.11.0rc1"})


def test_impl_property_and_subject_must_match() -> None:
    named, star, scoped = parse_text(
        "mine p -- named\n* q -- any implementation\nmine r subject=vmap_over_batch -- scoped"
    )
    assert named.applies("s", "mine", "p", NEW)
    assert not named.applies("s", "theirs", "p", NEW)
    assert not named.applies("s", "mine", "q", NEW)
    assert star.applies("s", "anyone", "q", NEW)
    assert scoped.applies("vmap_over_batch", "mine", "r", NEW)
    assert not scoped.applies("vmap_over_ensemble", "mine", "r", NEW)


def test_match_returns_the_applicable_entry_named_before_star() -> None:
    entries = parse_text(
        "* p -- everyone\nmine p jax<0.5 -- mine on old jax\nmine p jax>=0.5 -- mine on new jax"
    )
    assert match(entries, "s", "mine", "p", OLD).reason == "mine on old jax"
    assert match(entries, "s", "mine", "p", NEW).reason == "mine on new jax"
    assert match(entries, "s", "theirs", "p", NEW).reason == "everyone"
    assert match(entries, "s", "mine", "other_property", NEW) is None
    assert match([], "s", "mine", "p", NEW) is None


def test_a_range_naming_a_package_without_a_version_is_a_value_error() -> None:
    (entry,) = parse_text("mine p numpy>=2 -- why")
    with pytest.raises(ValueError, match="no version of numpy"):
        entry.applies("s", "mine", "p", NEW)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mine -- no property", "missing fields: expected IMPLEMENTATION PROPERTY"),
        ("-- nothing at all", "missing fields"),
        ("mine seed_sensitivity", "missing ' -- REASON'"),
        ("mine seed_sensitivity jax>=0.5", "missing ' -- REASON'"),
        ("mine seed_sensitivity --", "empty reason"),
        ("mine seed_sensitivity --    ", "empty reason"),
        ("mine seed_sensitivity jax=>0.5 -- why", "unknown range syntax 'jax=>0.5'"),
        ("mine seed_sensitivity jax>=0.5,< -- why", "unknown range syntax"),
        ("mine seed_sensitivity jax >=0.5 -- why", "'jax' is a package without a range"),
        ("mine seed_sensitivity jaxx>=0.5 -- why", "unknown package 'jaxx'"),
        ("mine seed_sensitivity sometimes -- why", "unexpected field 'sometimes'"),
        ("mine seed_sensitivity jax>=0.5 jax<0.7 -- why", "two ranges for jax"),
        ("mine seed_sensitivity subject=a subject=b -- why", "subject given twice"),
        ("mine seed_sensitivity subject=a-b -- why", "subject name 'a-b'"),
        ("my-impl seed_sensitivity -- why", "implementation 'my-impl' is not a name"),
        ("mine * -- why", "property '*' is not a property name"),
    ],
)
def test_bad_lines_are_errors_naming_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, f"# header\n\nmine agrees_with_oracle -- fine\n{line}\n")
    with pytest.raises(ExpectationFileError) as info:
        parse_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}:4: "), text
    assert message in text, text


def test_a_duplicate_entry_names_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mine p jax>=0.5,<0.7 -- first\n# between\nmine p jax<0.7,>=0.5 -- same entry, other reason\n",
    )
    with pytest.raises(ExpectationFileError, match=r":3: duplicate entry: the same as line 1"):
        parse_file(path)
    # other conditions are other entries
    assert len(parse_text("mine p jax>=0.5 -- a\nmine p jax>=0.6 -- b\nmine p -- c")) == 3


def test_an_unreadable_file_is_an_expectation_file_error(tmp_path: Path) -> None:
    with pytest.raises(ExpectationFileError, match="cannot read the expected-failures file"):
        parse_file(tmp_path / "missing.txt")


def test_unknown_names_are_reported_with_line_numbers(tmp_path: Path) -> None:
    entries = parse_file(write(tmp_path, "mine p -- a\n\n* nope -- b\nghost p subject=nowhere -- c\n"))
    messages = unknown_names(entries, {"mine", "nnx_vmap"}, {"p"}, subjects={"vmap_over_batch"})
    assert messages == [
        f"{tmp_path / 'expected.txt'}:3: unknown property 'nope'; known: p",
        f"{tmp_path / 'expected.txt'}:4: unknown implementation 'ghost'; known: mine, nnx_vmap",
        f"{tmp_path / 'expected.txt'}:4: unknown subject 'nowhere'; known: vmap_over_batch",
    ]
    assert unknown_names(entries[:1], {"mine"}, {"p"}) == []


def test_installed_versions_covers_jax_flax_and_python() -> None:
    versions = installed_versions()
    assert {"jax", "flax", "python"} <= set(versions) <= set(PACKAGES)
    (entry,) = parse_text("mine p jax>=0.4.31 flax>=0.9 python>=3.11 -- always here")
    assert entry.applies("s", "mine", "p", versions)


def test_an_expectation_can_be_built_directly() -> None:
    e = Expectation("mine", "p", "why")
    assert e.applies("s", "mine", "p", {}) and e.conditions() == ""
