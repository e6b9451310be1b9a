"""The instructor's ``lstmbook`` subcommands: build the chapters and the book, grade, export,
measure. The student command line (:mod:`lstmbook.cli`) adds them when this subpackage is
installed (the instructor's repository), through :func:`register` and :func:`errors`."""
from __future__ import annotations

import sys
from pathlib import Path


def errors() -> tuple[type[Exception], ...]:
    """The instructor's errors that the command line reports as one line and exit code 1."""
    from .book.assets import AssetError
    from .book.publish import PublishError
    from .grader import GradingError
    from .sources import BuildError

    return (BuildError, GradingError, PublishError, AssetError)


def _course(args) -> Path:
    from .sources import repo_root

    return Path(args.course) if args.course else repo_root() / "autograder" / "course"


def _chapters(args) -> None:
    from .pipeline import build_chapters

    for path in build_chapters(only=args.only, run=not args.no_run):
        print(f"wrote {path}")


def _book(args) -> None:
    from .book import publish, site
    from .sources import repo_root

    index = site.build_book()
    made = publish.publish(index.parent, repo_root())
    print(f"book: {index}")
    print(f"published course: {index.parent} ({made['files']} files, {made['bytes'] / 2**20:.1f} MiB; "
          f"student package {made['wheel']}, {made['wheel_bytes'] / 2**10:.0f} KiB)")


def _grade(args) -> None:
    from . import grader

    course = _course(args)
    limits = {"wall": args.timeout, "cpu": args.timeout, "memory": args.memory * 2 ** 30}
    grader.grade(Path(args.submissions), course, force=args.force, only=args.chapter,
                 workers=args.workers, scheduler=args.scheduler, sandbox=not args.unsafe_no_sandbox,
                 limits=limits, progress=sys.stderr.isatty() or args.progress, layout=args.layout)


def _export(args) -> None:
    from . import grader

    grader.export(_course(args))


def _release(args) -> None:
    from .grader import Course
    from .sources import chapter_sources

    known = [p.stem for p in chapter_sources()]
    unknown = sorted(set(args.slugs) - set(known))
    if unknown:
        from .grader import GradingError

        raise GradingError(f"unknown chapter(s) {unknown}; the course has {known}")
    course = Course(_course(args))
    for slug in args.slugs:
        course.update_assignment(slug, course.source(slug))
        print(f"{slug}: {course.root / 'release' / slug / (slug + '.ipynb')}")
    print(f"next, for nbgrader's exchange: cd {course.root} && nbgrader release_assignment "
          f"{' '.join(args.slugs)}")


def _report(args) -> None:
    from .grader.classreport import class_report

    class_report(_course(args))


def _similarity(args) -> None:
    from .grader.similarity import similarity

    if not 0 < args.threshold <= 1:  # NaN fails this too
        from .grader import GradingError

        raise GradingError(f"--threshold {args.threshold}: give a share above 0 and at most 1, e.g. 0.5")
    similarity(_course(args), chapters=args.chapter, threshold=args.threshold)


def _bench_grade(args) -> None:
    from . import bench

    bench.grade(students=args.students, chapter=args.chapter)


def _bench(args) -> None:
    from . import bench

    bench.main(quick=args.quick, compile_rung=not args.no_compile)


def _bench_lm(args) -> None:
    from . import bench

    bench.lm(profile=args.profile)


def register(sub) -> None:
    """Add the instructor's subcommands to the ``lstmbook`` parser's ``sub``."""
    p = sub.add_parser("chapters", help="regenerate chapters/ from solutions/")
    p.add_argument("--only", nargs="+", metavar="SLUG", help="only these chapters, e.g. 02_numpy_lstm")
    p.add_argument("--no-run", action="store_true", help="skip the reference run (no outputs)")
    p.set_defaults(func=_chapters)

    p = sub.add_parser("book", help="build the book from chapters/ and the published course in _build/html")
    p.set_defaults(func=_book)

    p = sub.add_parser("grade", help="autograde a folder of student submissions")
    p.add_argument("submissions", help="folder with one sub-folder per student: DIR/<student>/<chapter>.ipynb, "
                   "or nbgrader's <course>/submitted after nbgrader collect")
    p.add_argument("--layout", choices=["auto", "folders", "nbgrader"], default="auto",
                   help="how the hand-ins are laid out: folders (<student>/<chapter>.ipynb), nbgrader "
                        "(submitted/<student>/<chapter>/<chapter>.ipynb and timestamp.txt) or auto (default)")
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

    p = sub.add_parser("release", help="build chapters' student notebooks in the course directory "
                       "(source/ and release/), ready for nbgrader release_assignment")
    p.add_argument("slugs", nargs="+", metavar="SLUG", help="chapters, e.g. 02_numpy_lstm")
    p.add_argument("--course", help="nbgrader course directory (default autograder/course)")
    p.set_defaults(func=_release)

    p = sub.add_parser("report", help="the class report: score distributions, the tests most lost and how, "
                       "notebooks that died (report.html, report.csv, report-wide.csv in the course)")
    p.add_argument("--course", help="nbgrader course directory (default autograder/course)")
    p.set_defaults(func=_report)

    p = sub.add_parser("similarity", help="compare the students' exercise code pair by pair (winnowing "
                       "fingerprints, as MOSS): similarity.html and similarity.csv in the course")
    p.add_argument("--course", help="nbgrader course directory (default autograder/course)")
    p.add_argument("--chapter", nargs="+", metavar="SLUG", help="only these chapters")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="share of one student's own code (outside the reference's) that marks a pair (default 0.5)")
    p.set_defaults(func=_similarity)

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
