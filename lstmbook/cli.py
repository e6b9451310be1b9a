"""The ``lstmbook`` command line: check a chapter notebook before handing it in, fetch the
data; in the instructor's repository also build, grade and measure the course."""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def _instructor() -> bool:
    """Whether the instructor's tools are installed (the published student package has none)."""
    return importlib.util.find_spec("lstmbook.grading") is not None


def _data(args) -> None:
    from . import data

    names = ["tang300", "tang_full"] if args.dataset == "all" else [args.dataset]
    for name in names:
        poems = data.load_poems(name)
        print(f"{name}: {data.summary(poems)}")


def _check(args) -> int:
    from . import check

    return check.main(args.notebooks, timeout=args.timeout)


def _chapters(args) -> None:
    from . import build

    for path in build.build_chapters(only=args.only, run=not args.no_run):
        print(f"wrote {path}")


def _book(args) -> None:
    from . import build

    from . import publish

    index = build.build_book()
    made = publish.publish(index.parent, build.repo_root())
    print(f"book: {index}")
    print(f"published course: {index.parent} ({made['files']} files, {made['bytes'] / 2**20:.1f} MiB; "
          f"student package {made['wheel']}, {made['wheel_bytes'] / 2**10:.0f} KiB)")


def _grade(args) -> None:
    from . import build, grading

    course = Path(args.course) if args.course else build.repo_root() / "autograder" / "course"
    limits = {"wall": args.timeout, "cpu": args.timeout, "memory": args.memory * 2 ** 30}
    grading.grade(Path(args.submissions), course, force=args.force, only=args.chapter,
                  workers=args.workers, scheduler=args.scheduler, sandbox=not args.unsafe_no_sandbox,
                  limits=limits, progress=sys.stderr.isatty() or args.progress)


def _export(args) -> None:
    from . import build, grading

    course = Path(args.course) if args.course else build.repo_root() / "autograder" / "course"
    grading.export(course)


def _bench_grade(args) -> None:
    from . import bench

    bench.grade(students=args.students, chapter=args.chapter)


def _bench(args) -> None:
    from . import bench

    bench.main(quick=args.quick, compile_rung=not args.no_compile)


def _bench_lm(args) -> None:
    from . import bench

    bench.lm(profile=args.profile)


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

    if _instructor():
        _instructor_commands(sub)
    args = parser.parse_args(argv)
    from .data import DataError

    errors: tuple = (DataError,)
    if _instructor():
        from .build import BuildError
        from .grading import GradingError
        from .publish import PublishError

        errors += (BuildError, GradingError, PublishError)
    try:
        return args.func(args) or 0
    except errors as exc:
        print(f"lstmbook {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _instructor_commands(sub) -> None:
    p = sub.add_parser("chapters", help="regenerate chapters/ from solutions/")
    p.add_argument("--only", nargs="+", metavar="SLUG", help="only these chapters, e.g. 02_numpy_lstm")
    p.add_argument("--no-run", action="store_true", help="skip the reference run (no outputs)")
    p.set_defaults(func=_chapters)

    p = sub.add_parser("book", help="build the book from chapters/ and the published course in _build/html")
    p.set_defaults(func=_book)

    p = sub.add_parser("grade", help="autograde a folder of student submissions")
    p.add_argument("submissions", help="folder with one sub-folder per student")
    p.add_argument("--course", help="nbgrader course directory (default autograder/course)")
    p.add_argument("--chapter", nargs="+", metavar="SLUG", help="grade only these chapters")
    p.add_argument("--force", action="store_true", help="grade again students already graded")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per student and chapter")
    p.add_argument("--memory", type=float, default=8, help="GiB of address space per sandboxed process")
    p.add_argument("--workers", type=int, default=None,
                   help="notebooks graded at once on this machine (default: the number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a Dask cluster (e.g. tcp://host:8786; dask-jobqueue, dask-kubernetes)")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when not on a terminal")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="UNSAFE: run student code with your permissions when no sandbox can be made")
    p.set_defaults(func=_grade)

    p = sub.add_parser("export", help="after manual grading: final grades.csv and feedback")
    p.add_argument("--course", help="nbgrader course directory (default autograder/course)")
    p.set_defaults(func=_export)

    p = sub.add_parser("bench-grade", help="grade the same submissions with 1 and 2 workers, with and without the sandbox")
    p.add_argument("--students", type=int, default=4, help="submissions per run")
    p.add_argument("--chapter", default="02_numpy_lstm")
    p.set_defaults(func=_bench_grade)

    p = sub.add_parser("bench", help="chapter 4's speed ladder and the NumPy LSTM, as ratios measured in one run")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one short round (a smoke test)")
    p.add_argument("--no-compile", action="store_true", help="leave out the torch.compile rung")
    p.set_defaults(func=_bench)

    p = sub.add_parser("bench-lm", help="train chapter 8's poetry model and print dev perplexity per epoch")
    p.add_argument("--profile", choices=["quick", "book", "full"], default="full",
                   help="full: the scale of the original assignment (for a GPU)")
    p.set_defaults(func=_bench_lm)


if __name__ == "__main__":
    sys.exit(main())
