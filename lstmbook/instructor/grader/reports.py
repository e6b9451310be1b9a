"""What the instructor reads: ``grades.csv`` (derived from the grade store after every run),
the terminal summary, and ``export`` after manual grading in the Formgrader."""
from __future__ import annotations

import csv
import io
import time
import unicodedata
from pathlib import Path

from .feedback import write_feedback
from .intake import printable
from .store import FIELDS, Course, GradingError, Result, atomic_write


def write_csv(course: Course, extra: list[Result] = (), order: list[str] | None = None) -> Path:
    """``grades.csv`` and a timestamped copy, each written atomically: every student and
    chapter in the grade store (whatever run graded it), plus ``extra`` rows that are not
    stored (refused folders of this run). Returns the timestamped copy."""
    rows = course.results() + list(extra)
    rank = {s: i for i, s in enumerate(order or [])}
    rows.sort(key=lambda r: (rank.get(r.assignment, len(rank)), r.assignment, r.student))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: csv_cell(v) for k, v in r.row().items()})
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = course.root / f"grades-{stamp}.csv"
    atomic_write(target, buf.getvalue())
    atomic_write(course.root / "grades.csv", buf.getvalue())
    return target


def csv_cell(value: str) -> str:
    """A CSV cell safe to open: no control characters, and no text a spreadsheet would run as
    a formula (a leading = + - @ gets a quote, as OWASP advises)."""
    value = printable(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export(course_dir: Path, log=print) -> list[Result]:
    """After manual grading in the Formgrader: every feedback page regenerated with the
    written answers' scores and comments, and ``grades.csv`` with the final totals."""
    course = Course(Path(course_dir))
    if not course.db.is_file():
        raise GradingError(f"{course.root} has no gradebook; grade first")
    results = course.results()
    for res in results:
        if course.is_graded(res.student, res.assignment):
            res.feedback = write_feedback(course, res.student, res.assignment)
    write_csv(course)
    log(summary_table(results))
    return results


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def summary_table(results: list[Result]) -> str:
    """A plain-text table: one line per student and chapter."""
    head = ("student", "chapter", "score", "status", "note")
    rows = []
    for r in results:
        score = "-" if r.score is None else f"{r.score:g}/{r.max_score:g}"
        notes = [r.note] if r.note else []
        if r.failed:
            notes.append("failed: " + ", ".join(r.failed))
        if r.review:
            notes.append("NEEDS REVIEW: " + r.review)
        if r.manual:
            what = f"{r.pending:g} points of written answers" if r.pending else "written answers"
            notes.append(f"{what} wait for manual grading (nbgrader formgrader, then lstmbook export)")
        rows.append(tuple(printable(x) for x in (r.student, r.assignment, score, r.status, "; ".join(notes))))
    widths = [max(_width(str(x)) for x in col) for col in zip(head, *rows)]
    widths[-1] = 0
    line = lambda cells: "  ".join(str(c) + " " * (w - _width(str(c))) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    tail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return "\n".join([line(head), line(["-" * w for w in widths[:-1]] + ["-" * 4])]
                     + [line(r) for r in rows] + [f"{len(results)} submissions: {tail}"])
