"""``python -m conformance.tools.compat_table``: read the files, write the page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.tools.compat_table.lines import InputError
from conformance.tools.compat_table.reading import load
from conformance.tools.compat_table.render import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.tools.compat_table",
        description="Write the implementation x JAX/Flax line x property table from the matrix's JSON files.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="check --json reports, tox --result-json files, line stubs, or folders of them",
    )
    parser.add_argument("--out", metavar="PATH", help="write the Markdown here (default: standard output)")
    parser.add_argument("--note", metavar="TEXT", help="a note shown at the top (e.g. that this is a trial)")
    args = parser.parse_args(argv)
    try:
        lines = load(args.paths)
    except InputError as e:
        print(f"compat_table: {e}", file=sys.stderr)
        return 2
    command = "python -m conformance.tools.compat_table " + " ".join(args.paths)
    text = render(lines, note=args.note, command=command)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"compat_table: {len(lines)} lines -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
