"""The ``lstmbook`` command line: check a chapter notebook before handing it in, fetch the
data; in the instructor's repository also build, grade and measure the course."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys


def _instructor():
    """The instructor's commands (:mod:`lstmbook.instructor.commands`) when they are installed,
    else None: the published student package has none, and imports nothing of them."""
    if importlib.util.find_spec("lstmbook.instructor") is None:
        return None
    return importlib.import_module("lstmbook.instructor.commands")


def _data(args) -> None:
    from . import data

    names = ["tang300", "tang_full"] if args.dataset == "all" else [args.dataset]
    for name in names:
        poems = data.load_poems(name)
        print(f"{name}: {data.summary(poems)}")


def _check(args) -> int:
    from . import check

    return check.main(args.notebooks, timeout=args.timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lstmbook", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="run a chapter notebook as the grader will and report its visible tests")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="e.g. 02_numpy_lstm.ipynb")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    p.set_defaults(func=_check)

    p = sub.add_parser("data", help="fetch, verify and prepare the poetry corpus")
    p.add_argument("--dataset", choices=["tang300", "tang_full", "all"], default="all")
    p.set_defaults(func=_data)

    instructor = _instructor()
    if instructor is not None:
        instructor.register(sub)
    args = parser.parse_args(argv)
    from .data import DataError

    errors: tuple = (DataError,)
    if instructor is not None:
        errors += instructor.errors()
    try:
        return args.func(args) or 0
    except errors as exc:
        print(f"lstmbook {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
