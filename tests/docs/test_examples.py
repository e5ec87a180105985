"""The documentation's examples are real.

* Every ```python block of README.md and docs/*.md runs, in a fresh interpreter, in a
  temporary folder. A block whose first line names a file (``# my_impl.py``) is a user's
  module: it is written there under that name (so later blocks of the same page can import
  it) and run as a script; any other block is run as it stands.
* Every ``python -m conformance ...`` command of a ```bash or ```sh block is accepted by
  the CLI's own parser, and every ``python -m conformance.tools.NAME`` module exists.
* Every page in docs/ is in mkdocs.yml's nav, and every relative link of README.md points
  at a file of the repository or a page of the nav.

A fragment that cannot run on its own belongs in a ```text block, not a ```python one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
#: seconds one example may take (it imports JAX and may compile a few shapes)
TIMEOUT = 300

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")
_MODULE_NAME = re.compile(r"^#\s*([\w/]+\.py)\s*$")
_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?:#[^)\s]*)?\)")


def blocks(text: str) -> Iterator[tuple[str, str]]:
    """``(language, code)`` of every fenced block, its indentation removed."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and set(lines[i].strip()) == {fence[0]}
        ):
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        yield opening["lang"].lower(), "\n".join(body) + "\n"
        i += 1


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def module_name(code: str) -> str | None:
    """The file name a block declares on its first line (``# my_impl.py``), if any."""
    first = code.lstrip("\n").split("\n", 1)[0]
    match = _MODULE_NAME.match(first)
    return match[1] if match else None


def python_blocks(page: Path) -> list[str]:
    return [code for lang, code in blocks(page.read_text()) if lang in ("python", "py")]


EXAMPLES = [(page, i) for page in PAGES for i in range(len(python_blocks(page)))]


def test_the_docs_have_python_examples() -> None:
    assert any(page.name == "README.md" for page, _ in EXAMPLES)
    assert sum(1 for page, _ in EXAMPLES if page.parent == DOCS) >= 3


@pytest.mark.parametrize(("page", "index"), EXAMPLES, ids=[f"{name(p)}-{i}" for p, i in EXAMPLES])
def test_python_example_runs(page: Path, index: int, tmp_path: Path) -> None:
    codes = python_blocks(page)
    for code in codes:  # the page's modules, for the blocks that import them
        if (module := module_name(code)) is not None:
            (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / module).write_text(code)
    code = codes[index]
    script = tmp_path / (module_name(code) or f"example_{index}.py")
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, (
        f"{name(page)}, python block {index} exited {done.returncode}:\n{code}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def shell_commands(page: Path) -> Iterator[list[str]]:
    """The tokens of every shell command line that runs ``python -m conformance...``."""
    for lang, code in blocks(page.read_text()):
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        for line in code.replace("\\\n", " ").splitlines():
            if "-m conformance" not in line:
                continue
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            yield list(lexer)


def conformance_commands(page: Path) -> Iterator[tuple[str, list[str]]]:
    """``(module, arguments)`` of every ``python -m conformance[.x.y] ...`` command."""
    separators = {";", "&&", "||", "|", "&", ">", ">>", "<", "(", ")"}
    for tokens in shell_commands(page):
        for i in range(len(tokens) - 2):
            if tokens[i].startswith("python") and tokens[i + 1] == "-m":
                module = tokens[i + 2]
                if module == "conformance" or module.startswith("conformance."):
                    rest = tokens[i + 3 :]
                    end = next((j for j, t in enumerate(rest) if t in separators), len(rest))
                    yield module, rest[:end]


COMMAND_PAGES = [page for page in PAGES if any(conformance_commands(page))]


def test_the_docs_have_commands() -> None:
    assert ROOT / "README.md" in COMMAND_PAGES
    assert len(COMMAND_PAGES) >= 5


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=[name(p) for p in COMMAND_PAGES])
def test_every_command_is_accepted_by_the_cli(page: Path) -> None:
    errors = []
    for module, argv in conformance_commands(page):
        if module != "conformance":
            if importlib.util.find_spec(module) is None:
                errors.append(f"python -m {module}: no such module")
            continue
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(argv)
        except SystemExit as e:
            if e.code:
                errors.append(f"python -m conformance {shlex.join(argv)}: {err.getvalue().strip()}")
    assert errors == []


def nav_pages(node: Any) -> Iterator[str]:
    """Every page file named anywhere in a mkdocs nav."""
    if isinstance(node, str):
        if node.endswith(".md"):
            yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from nav_pages(value)
    elif isinstance(node, list):
        for item in node:
            yield from nav_pages(item)


def load_nav() -> set[str]:
    import yaml  # a dependency of mkdocs (and of Flax)

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs"
    return set(nav_pages(config["nav"]))


def test_every_docs_page_is_in_the_nav() -> None:
    pages = {p.name for p in DOCS.glob("*.md")}
    missing = sorted(pages - load_nav())
    assert missing == [], f"pages of docs/ missing from mkdocs.yml's nav: {missing}"


def test_every_relative_link_of_the_readme_resolves() -> None:
    nav = {f"docs/{page}" for page in load_nav()}
    broken = []
    for match in _LINK.finditer((ROOT / "README.md").read_text()):
        target = match["target"]
        if re.match(r"^[a-z]+:", target):  # https:, mailto:, ...
            continue
        if not (ROOT / target).exists() and target not in nav:
            broken.append(target)
    assert broken == []
