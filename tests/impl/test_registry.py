"""The implementation registry: load() specs, register(), names(), discover()."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import impl
import impl.broadcast
import impl.manual_lift
import impl.nnx_vmap
import tests.fixtures.good as good
from impl import registry

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
#: The tree-mode form of the canonical one is registered where Flax's nnx.vmap takes ``graph``.
TREE = ["nnx_vmap_tree"] if impl.nnx_vmap.TREE_MODE else []
BUILTIN_ORDER = ["nnx_vmap", *TREE, "manual_lift", "broadcast"]
BUILTIN_FUNCTIONS = {
    "nnx_vmap": impl.nnx_vmap.vmap_over_batch,
    "nnx_vmap_tree": impl.nnx_vmap.nnx_vmap_tree,
    "manual_lift": impl.manual_lift.vmap_over_batch,
    "broadcast": impl.broadcast.vmap_over_batch,
}


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees the built-ins and leaves the registry, sys.path and the cwd as it found them."""
    registry.names()  # import the built-ins before taking the copy
    monkeypatch.setattr(registry, "_REGISTRY", {s: dict(t) for s, t in registry._REGISTRY.items()})
    monkeypatch.setattr(registry, "_discovered", registry._discovered)
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading a file puts its folder on sys.path
    monkeypatch.chdir(ROOT)


def load_error(spec: Any) -> str:
    """The message of the ImplementationLoadError that load(spec) raises, checked to be one line."""
    with pytest.raises(impl.ImplementationLoadError) as info:
        impl.load(spec)
    message = str(info.value)
    assert message, "empty error message"
    assert "\n" not in message and "\r" not in message, f"message is not one line: {message!r}"
    return message


# --------------------------------------------------------------------------- load(): errors


@pytest.mark.parametrize(
    "spec",
    [
        "nope.py:f",  # missing file
        "tests/fixtures/no_such_file.py:vmap_over_batch",  # missing file in an existing folder
        "no_such_module_xyz:f",  # no such module
        "tests.fixtures.no_such_module_xyz:f",  # no such submodule of an existing package
        "tests.fixtures.good:no_such_attr",  # missing attribute
        "tests.fixtures.good:Impls.no_such_method",  # missing dotted attribute
        "tests/fixtures/good.py:no_such_attr",  # missing attribute of a file
        "tests.fixtures.good:NOT_CALLABLE",  # attribute is not callable
        "tests/fixtures/good.py:NOT_CALLABLE",
        "impl.validation:INT64_MAX",
        "1bad=impl.nnx_vmap:vmap_over_batch",  # label is not an identifier
        "bad-label=nnx_vmap",
        "=nnx_vmap",
        "no_such_impl_xyz",  # unknown registered name
        "label=no_such_impl_xyz",
        ":vmap_over_batch",  # nothing before the colon
        "tests.fixtures.good:",  # nothing after the colon
        "tests/fixtures/raises_on_import.py:f",  # import raises
        "tests.fixtures.raises_on_import:f",
    ],
)
def test_load_error_is_one_line_and_names_the_spec(spec: str) -> None:
    message = load_error(spec)
    assert spec in message


@pytest.mark.parametrize("spec", ["", "   ", "\t\n"])
def test_load_empty_spec(spec: str) -> None:
    message = load_error(spec)
    assert repr(spec) in message


def test_load_missing_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = load_error("nope.py:f")
    assert "nope.py" in message and "file" in message


def test_load_missing_module_names_it() -> None:
    assert "no_such_module_xyz" in load_error("no_such_module_xyz:f").replace("'no_such_module_xyz:f'", "")


def test_load_missing_attribute_names_it() -> None:
    message = load_error("tests.fixtures.good:no_such_attr")
    assert "no_such_attr" in message.replace("'tests.fixtures.good:no_such_attr'", "")


def test_load_non_callable_says_what_it_is() -> None:
    message = load_error("tests.fixtures.good:NOT_CALLABLE")
    assert type(good.NOT_CALLABLE).__name__ in message and "callable" in message


def test_load_import_failure_shows_the_exception() -> None:
    message = load_error("tests/fixtures/raises_on_import.py:f")
    assert "RuntimeError" in message and "fails on purpose" in message


def test_load_import_failure_is_repeatable() -> None:
    """A failed import is not cached as a half-initialised module."""
    first = load_error("tests/fixtures/raises_on_import.py:f")
    assert load_error("tests/fixtures/raises_on_import.py:f") == first


def test_load_import_failure_with_multiline_message_is_one_line() -> None:
    """The exception raised on import has a two-line message; the load error must still be one line."""
    spec = "tests/fixtures/raises_multiline_on_import.py:f"
    message = load_error(spec)
    assert spec in message and "first line of the failure" in message


def test_load_unknown_name_lists_known_ones() -> None:
    message = load_error("no_such_impl_xyz")
    for name in BUILTIN_ORDER:
        assert name in message


def test_load_bad_label_names_the_label() -> None:
    message = load_error("1bad=impl.nnx_vmap:vmap_over_batch")
    assert "'1bad'" in message


def test_load_error_is_not_chained_to_a_traceback() -> None:
    with pytest.raises(impl.ImplementationLoadError) as info:
        impl.load("no_such_module_xyz:f")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- load(): successes


@pytest.mark.parametrize("name", BUILTIN_ORDER)
def test_load_builtin_name(name: str) -> None:
    loaded = impl.load(name)
    assert isinstance(loaded, impl.Implementation)
    assert loaded.name == name
    assert loaded.fn is BUILTIN_FUNCTIONS[name]
    assert loaded.builtin is True
    assert loaded.subject == impl.DEFAULT_SUBJECT
    # The spec loads the same callable again (that is how a worker process gets it).
    assert ":" in loaded.spec
    again = impl.load(loaded.spec)
    assert again.fn is loaded.fn and again.builtin is True


@pytest.mark.parametrize("spec", ["ref=nnx_vmap", " ref = nnx_vmap "])
def test_load_labelled_builtin(spec: str) -> None:
    loaded = impl.load(spec)
    assert loaded.name == "ref"
    assert loaded.fn is impl.nnx_vmap.vmap_over_batch
    assert loaded.builtin is True
    assert loaded.spec == impl.load("nnx_vmap").spec


def test_load_builtin_by_module_attr() -> None:
    loaded = impl.load("impl.manual_lift:vmap_over_batch")
    assert loaded.fn is impl.manual_lift.vmap_over_batch
    assert loaded.builtin is True
    assert loaded.name == "vmap_over_batch"


def test_load_module_attr() -> None:
    loaded = impl.load("tests.fixtures.good:vmap_over_batch")
    assert loaded.fn is good.vmap_over_batch
    assert loaded.name == "vmap_over_batch"
    assert loaded.spec == "tests.fixtures.good:vmap_over_batch"
    assert loaded.builtin is False
    assert callable(loaded)


def test_load_labelled_module_attr() -> None:
    loaded = impl.load("mine=tests.fixtures.good:vmap_over_batch")
    assert loaded.name == "mine"
    assert loaded.fn is good.vmap_over_batch
    assert loaded.spec == "tests.fixtures.good:vmap_over_batch"
    assert loaded.builtin is False


def test_load_dotted_attr() -> None:
    loaded = impl.load("tests.fixtures.good:Impls.forward")
    assert loaded.fn is good.Impls.forward
    assert loaded.name == "forward"
    assert loaded.builtin is False
    assert impl.load(loaded.spec).fn is loaded.fn


@pytest.mark.parametrize("relative", [True, False])
def test_load_file_path_records_absolute_spec(relative: bool) -> None:
    path = "tests/fixtures/good.py" if relative else str(FIXTURES / "good.py")
    loaded = impl.load(f"{path}:vmap_over_batch")
    expected_path = os.path.abspath(path)
    assert loaded.spec == f"{expected_path}:vmap_over_batch"
    assert os.path.isabs(loaded.spec.rpartition(":")[0])
    assert loaded.name == "vmap_over_batch"
    assert loaded.builtin is False
    assert callable(loaded.fn) and loaded.fn.__name__ == "vmap_over_batch"
    # The recorded spec loads the same callable again, from any working directory.
    assert impl.load(loaded.spec).fn is loaded.fn


def test_load_file_path_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = impl.load(f"{FIXTURES / 'good.py'}:Impls.forward")
    monkeypatch.chdir(tmp_path)
    assert impl.load(loaded.spec).fn is loaded.fn
    assert loaded.name == "forward"


def test_load_labelled_file_path() -> None:
    loaded = impl.load("mine=tests/fixtures/good.py:vmap_over_batch")
    assert loaded.name == "mine"
    assert loaded.spec == f"{FIXTURES / 'good.py'}:vmap_over_batch"
    assert loaded.builtin is False


def test_load_builtin_file_by_path() -> None:
    """A built-in's own file, loaded by path, is just a Python file with a callable in it."""
    path = ROOT / "impl" / "nnx_vmap.py"
    loaded = impl.load(f"{path}:vmap_over_batch")
    assert callable(loaded.fn)
    assert loaded.spec == f"{path}:vmap_over_batch"


def test_builtin_flag_only_for_builtins() -> None:
    builtins = {n: impl.get(n) for n in impl.names(builtin_only=True)}
    assert list(builtins) == BUILTIN_ORDER
    assert all(i.builtin for i in builtins.values())
    for spec in (
        "tests.fixtures.good:vmap_over_batch",
        "tests.fixtures.good:Impls.forward",
        "tests/fixtures/good.py:vmap_over_batch",
        "nnx_vmap_copy=tests.fixtures.good:vmap_over_batch",
    ):
        assert impl.load(spec).builtin is False, spec


def test_load_other_subject_does_not_see_builtins() -> None:
    with pytest.raises(impl.ImplementationLoadError) as info:
        impl.load("nnx_vmap", subject="no_such_subject")
    message = str(info.value)
    assert "'nnx_vmap'" in message and "\n" not in message


# --------------------------------------------------------------------------- register()


def custom_impl(seed: Any, x_batch: Any, features: Any) -> Any:
    return good.vmap_over_batch(seed, x_batch, features)


def other_custom_impl(seed: Any, x_batch: Any, features: Any) -> Any:
    return good.vmap_over_batch(seed, x_batch, features)


def test_register_returns_function_unchanged_and_registers_it() -> None:
    returned = impl.register("zz_custom")(custom_impl)
    assert returned is custom_impl
    got = impl.get("zz_custom")
    assert got.fn is custom_impl
    assert got.name == "zz_custom"
    assert got.subject == impl.DEFAULT_SUBJECT
    assert got.builtin is False
    assert got.spec == f"{custom_impl.__module__}:{custom_impl.__qualname__}"
    # Its spec loads it again; its name too.
    assert impl.load(got.spec).fn is custom_impl
    loaded = impl.load("zz_custom")
    assert loaded.fn is custom_impl and loaded.name == "zz_custom" and loaded.builtin is False


def test_register_as_decorator() -> None:
    @impl.register("decorated_custom")
    def fn(seed: Any, x_batch: Any, features: Any) -> Any:
        return None

    assert callable(fn) and fn.__name__ == "fn"
    assert impl.get("decorated_custom").fn is fn
    assert "decorated_custom" in impl.names()


def test_register_for_another_subject() -> None:
    impl.register("elsewhere", subject="other_subject")(custom_impl)
    assert impl.names("other_subject") == ["elsewhere"]
    assert "elsewhere" not in impl.names()
    assert impl.get("elsewhere", "other_subject").subject == "other_subject"
    with pytest.raises(KeyError):
        impl.get("elsewhere")


def test_register_same_function_twice_is_idempotent() -> None:
    impl.register("twice")(custom_impl)
    impl.register("twice")(custom_impl)
    assert impl.get("twice").fn is custom_impl


def test_register_rejects_a_taken_name() -> None:
    impl.register("taken")(custom_impl)
    with pytest.raises(ValueError, match="taken"):
        impl.register("taken")(other_custom_impl)
    assert impl.get("taken").fn is custom_impl
    with pytest.raises(ValueError, match="nnx_vmap"):
        impl.register("nnx_vmap")(custom_impl)
    assert impl.get("nnx_vmap").fn is impl.nnx_vmap.vmap_over_batch


@pytest.mark.parametrize("name", ["1bad", "with-dash", "two words", "", "a.b", 3, None])
def test_register_rejects_non_identifier_names(name: Any) -> None:
    before = {s: dict(t) for s, t in registry._REGISTRY.items()}
    with pytest.raises(ValueError, match="identifier"):
        impl.register(name)
    assert registry._REGISTRY == before


@pytest.mark.parametrize("obj", [42, "impl.nnx_vmap:vmap_over_batch", None])
def test_register_rejects_non_callables(obj: Any) -> None:
    decorator = impl.register("not_callable_impl")
    with pytest.raises(TypeError, match="callable"):
        decorator(obj)
    assert "not_callable_impl" not in impl.names()


def test_names_builtins_first_in_order_then_others_sorted() -> None:
    assert impl.names() == BUILTIN_ORDER
    assert impl.names(builtin_only=True) == BUILTIN_ORDER
    impl.register("zz_custom")(custom_impl)
    impl.register("aa_custom")(other_custom_impl)
    assert impl.names() == [*BUILTIN_ORDER, "aa_custom", "zz_custom"]
    assert impl.names(builtin_only=True) == BUILTIN_ORDER
    assert impl.names("no_such_subject") == []


def test_registry_is_restored_between_tests() -> None:
    """The autouse fixture undid the registrations of the other tests."""
    assert impl.names() == BUILTIN_ORDER


def test_get_unknown_name_is_a_key_error_listing_known_ones() -> None:
    with pytest.raises(KeyError) as info:
        impl.get("no_such_impl_xyz")
    message = info.value.args[0]
    assert "no_such_impl_xyz" in message
    for name in BUILTIN_ORDER:
        assert name in message


# --------------------------------------------------------------------------- discover()


class FakeEntryPoints:
    """Stands in for importlib.metadata.entry_points, recording the groups asked for."""

    def __init__(self, *points: tuple[str, str]) -> None:
        self.points = [
            importlib.metadata.EntryPoint(name=n, value=v, group=impl.ENTRY_POINT_GROUP) for n, v in points
        ]
        self.groups: list[Any] = []

    def __call__(self, **kwargs: Any) -> list[importlib.metadata.EntryPoint]:
        group = kwargs.get("group")
        self.groups.append(group)
        return [ep for ep in self.points if ep.group == group]


def test_discover_registers_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEntryPoints(
        ("fixture_good", "tests.fixtures.good:vmap_over_batch"),
        ("fixture_dotted", "tests.fixtures.good:Impls.forward"),
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    assert "fixture_good" not in impl.names()
    found = impl.discover()
    assert sorted(found) == ["fixture_dotted", "fixture_good"]
    assert impl.ENTRY_POINT_GROUP in fake.groups
    assert impl.names() == [*BUILTIN_ORDER, "fixture_dotted", "fixture_good"]
    got = impl.get("fixture_good")
    assert got.fn is good.vmap_over_batch
    assert got.name == "fixture_good"
    assert got.builtin is False
    assert impl.load(got.spec).fn is good.vmap_over_batch
    assert impl.get("fixture_dotted").fn is good.Impls.forward
    # Once discovered, the name is a spec.
    assert impl.load("fixture_good").fn is good.vmap_over_batch


def test_discover_other_group_sees_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        importlib.metadata, "entry_points", FakeEntryPoints(("fixture_good", "tests.fixtures.good:f"))
    )
    assert impl.discover("some.other.group") == []
    assert impl.names() == BUILTIN_ORDER


def test_discover_without_entry_points_keeps_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", FakeEntryPoints())
    assert impl.discover() == []
    assert impl.names() == BUILTIN_ORDER


@pytest.mark.parametrize(
    "value",
    [
        "tests.fixtures.raises_on_import:vmap_over_batch",
        "no_such_module_xyz:vmap_over_batch",
        "tests.fixtures.good:no_such_attr",
        "tests.fixtures.good:NOT_CALLABLE",
        "no_such_registered_impl",
    ],
)
def test_discover_broken_entry_point_names_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", FakeEntryPoints(("fixture_broken", value)))
    with pytest.raises(impl.ImplementationLoadError) as info:
        impl.discover()
    message = str(info.value)
    assert "fixture_broken" in message
    assert value in message
    assert "\n" not in message
    assert "fixture_broken" not in impl.names()
