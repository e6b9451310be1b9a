"""The instructor's class report: how the class did, chapter by chapter, from the grade store.

:func:`class_report` writes three files into the course directory, all derived from the store
(never the other way round), and logs a short summary:

- ``report.html``: per chapter, the students, the score distribution (an inline SVG
  histogram), mean and median; per test, the share of graded students who lost it and the
  most common first differences, grouped (:func:`difference_group`); the notebooks that died
  or timed out, and in which cell; the median grading time; the outcomes that graded nothing
  (missing, corrupt, rejected, error). A static page: no script, no external resource, a
  Content-Security-Policy that allows its own inline style only; every string a student
  could shape (names, notes, messages) is HTML-escaped.
- ``report.csv``: long form, one row per student, chapter and test.
- ``report-wide.csv``: one row per student, one column per chapter, ``total`` and
  ``max_total``: ready for a spreadsheet or an LMS import.

A student "has a grade" in a chapter when the store holds a graded run of it: a later hand-in
that graded nothing (missing, corrupt, error) keeps the earlier grade, as in ``grades.csv``.
The per-test figures are the autograder's verdicts; points changed by hand in the
Formgrader are in the scores, not in the per-test table.
"""
from __future__ import annotations

import csv
import html
import io
import math
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .intake import printable
from .reports import csv_cell
from .store import Course, GradingError, Result, atomic_write

#: a static page: its own inline style (and inline SVG, which is markup, not a resource); no
#: script, image, font, frame or form
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
#: the outcomes of a run, in the order the report lists them; only the first two carry a grade
STATUSES = ("graded", "kept", "missing", "corrupt", "rejected", "error")
NOT_GRADED = ("missing", "corrupt", "rejected", "error")
LONG_FIELDS = ["student", "chapter", "test", "points", "max_points", "passed", "difference_group", "message"]
#: at most this many bars of one point each; more points make ten bars of equal width
MAX_POINT_BARS = 20
TOP_GROUPS = 5

# ------------------------------------------------------------------ grouping the messages

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_WHOLE_NUMBER = re.compile(_NUMBER)
_A_NUMBER = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w.])")
#: judge's message for a test with wrong results; the detail is one of compare's forms
_WRONG = re.compile(r"\d+ of \d+ hidden results wrong; first: (?P<key>.+?): "
                    r"(?P<what>(?:no result|expected |the text differs|a malformed array|shape |values differ).*)",
                    re.DOTALL)
_STOPPED = re.compile(r"no results: the check stopped with (?P<why>.*)", re.DOTALL)
_AT_CELL = re.compile(r" at cell \d+, line \d+")
_FORBIDDEN = re.compile(r"0 points: your code uses (?P<name>.+?) \(cell \d+, line \d+: .*\), "
                        r"which the exercise (?P<ex>.+) must not use", re.DOTALL)


def _no_numbers(text: str) -> str:
    """``text`` with every free-standing number (a cell, a seed, a magnitude) shown as N."""
    return _A_NUMBER.sub("N", text)


def key_name(key: str) -> str:
    """A record's key without its numeric parts: ``h/102`` and ``h/7`` are both ``h``,
    ``W/parameters after step 3`` is ``W/parameters after step N``."""
    parts = [_no_numbers(p) for p in key.split("/") if not _WHOLE_NUMBER.fullmatch(p.strip())]
    return "/".join(parts) or "a result"


def difference_group(message: str) -> str:
    """The group of a failed test's message, so that the same mistake made on different
    inputs counts once: the first difference's key without its numeric index and the kind of
    difference without its magnitude (``h/102: values differ (largest difference of order
    1e-1)`` -> ``h: values differ``; a shape mismatch is ``h: wrong shape``); a check that
    stopped grouped by why (its exception, without the cell and line); the "write it
    yourself" rule by what was used. '' for a passed test (no message)."""
    message = str(message or "").strip()
    if not message:
        return ""
    m = _WRONG.fullmatch(message)
    if m:
        what = m["what"]
        cut = what.find(" (the check stopped with ")
        what = what[:cut] if cut >= 0 else what
        if what.startswith("values differ"):
            what = "values differ"
        elif what.startswith("shape "):
            what = "wrong shape"
        return f"{key_name(m['key'])}: {what}"
    m = _STOPPED.fullmatch(message)
    if m:
        return "no results: the check stopped with " + _no_numbers(_AT_CELL.sub("", m["why"]))
    m = _FORBIDDEN.fullmatch(message[:500])  # bounded: the pattern backtracks on long text
    if m:
        return f"0 points: uses {m['name']}, which the exercise {m['ex']} must not use"
    return printable(_no_numbers(message), limit=150)


# ------------------------------------------------------------------ what a run stopped at

_CELL = re.compile(r"\bcell (\d+)")
_LINE = re.compile(r"\bline (\d+)")


@dataclass
class Death:
    """A notebook that died or timed out: where (the cell, 1-based, when the runner said)."""

    student: str
    kind: str  # "timed out" | "died"
    cell: int | None
    line: int | None
    text: str


def death(student: str, text: str) -> Death:
    """A graded run's ``died`` note (see :mod:`.verdicts`' runner forms and the sandbox's
    reasons) read as what happened and where."""
    kind = "timed out" if ("Timeout" in text or "time limit" in text) else "died"
    cell, line = _CELL.search(text), _LINE.search(text)
    return Death(student, kind, int(cell[1]) if cell else None, int(line[1]) if line else None, text)


# ------------------------------------------------------------------ the figures

@dataclass
class Bin:
    """One bar of a histogram: scores from ``lo`` up to ``hi`` (the last bar includes ``hi``)."""

    lo: float
    hi: float
    count: int
    label: str


def histogram(scores: list[float], max_score: float | None) -> list[Bin]:
    """The score distribution: one bar per point when the chapter has at most
    :data:`MAX_POINT_BARS` points and every score is whole, else ten bars of equal width over
    ``[0, max_score]``. A score outside that range counts in the nearest bar."""
    top = max_score if max_score and max_score > 0 else max(scores, default=0.0)
    whole = float(top).is_integer() and all(float(s).is_integer() for s in scores)
    if top <= 0:
        return [Bin(0.0, 0.0, len(scores), "0")]
    if whole and top <= MAX_POINT_BARS:
        bins = [Bin(k, k, 0, f"{k:g}") for k in range(int(top) + 1)]
        for s in scores:
            bins[min(max(int(s), 0), int(top))].count += 1
        return bins
    width = top / 10
    bins = [Bin(i * width, (i + 1) * width, 0, f"{i * width:.3g}–{(i + 1) * width:.3g}") for i in range(10)]
    for s in scores:
        bins[min(max(math.floor(s / width), 0), 9)].count += 1
    return bins


@dataclass
class PerTest:
    """One test of a chapter over the students with a grade."""

    test: str
    points: float
    graded: int = 0  # students whose graded run has a verdict of this test
    lost: int = 0
    groups: Counter = field(default_factory=Counter)  # difference group -> students
    examples: dict[str, str] = field(default_factory=dict)  # difference group -> a message

    @property
    def fraction(self) -> float:
        return self.lost / self.graded if self.graded else 0.0


@dataclass
class ChapterStats:
    """Everything the report says about one chapter."""

    slug: str
    results: list[Result]
    max_score: float | None
    scores: dict[str, float]  # student -> score, for the students with a grade
    tests: list[PerTest]
    died: list[Death]
    seconds: list[float]
    outcomes: Counter  # status -> students

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores.values()) if self.scores else None

    @property
    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def histogram(self) -> list[Bin]:
        return histogram(list(self.scores.values()), self.max_score)

    def most_lost(self) -> PerTest | None:
        """The test most students lost (of two lost by as many, the one worth more)."""
        lost = [t for t in self.tests if t.lost]
        return max(lost, key=lambda t: (t.lost, t.points)) if lost else None


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _assignment_max(course: Course, slug: str) -> float | None:
    """The chapter's maximum from nbgrader's gradebook (None when it does not know it)."""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(course.db_url) as gb:
            return float(gb.find_assignment(slug).max_score)
    except (MissingEntry, TypeError, ValueError):
        return None


def chapter_stats(course: Course, results: list[Result]) -> list[ChapterStats]:
    """The figures of every chapter in ``results`` (the store's), in course order (the
    chapters' ``NN_`` prefixes). Rows for a whole hand-in (chapter ``*``) are left out."""
    out = []
    for slug in sorted({r.assignment for r in results if r.assignment != "*"}):
        rows = sorted((r for r in results if r.assignment == slug), key=lambda r: r.student)
        scores, tests, died, seconds = {}, {}, [], []
        for r in rows:
            state = course.state(r.student, slug) if r.score is not None else None
            if state is None:
                continue
            scores[r.student] = float(r.score)
            if _number(state.get("seconds")):
                seconds.append(float(state["seconds"]))
            if state.get("died"):
                died.append(death(r.student, str(state["died"])))
            for v in state.get("verdicts") or []:
                if not isinstance(v, dict) or not isinstance(v.get("test"), str):
                    continue
                points = float(v["points"]) if _number(v.get("points")) else 0.0
                t = tests.setdefault(v["test"], PerTest(v["test"], points))
                t.graded += 1
                if not v.get("passed"):
                    t.lost += 1
                    group = difference_group(v.get("message", ""))
                    t.groups[group] += 1
                    t.examples.setdefault(group, str(v.get("message", "")))
        known = [r.max_score for r in rows if r.score is not None and r.max_score is not None]
        top = max(known) if known else _assignment_max(course, slug)
        out.append(ChapterStats(slug, rows, top, scores, list(tests.values()), died, seconds,
                                Counter(r.status for r in rows)))
    return out


# ------------------------------------------------------------------ the files

def _num(x: float | None) -> str:
    return "" if x is None else f"{x:.10g}"


def _seconds(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f} s" if x < 120 else f"{x / 60:.1f} min"


def long_rows(course: Course, chapters: list[ChapterStats]) -> list[dict]:
    """``report.csv``'s rows: every test of every graded run, with its difference group."""
    rows = []
    for ch in chapters:
        for student in ch.scores:
            for v in (course.state(student, ch.slug) or {}).get("verdicts") or []:
                if not isinstance(v, dict):
                    continue
                points = float(v["points"]) if _number(v.get("points")) else 0.0
                passed = bool(v.get("passed"))
                message = "" if passed else str(v.get("message", ""))
                rows.append({"student": student, "chapter": ch.slug, "test": str(v.get("test", "")),
                             "points": _num(points if passed else 0.0), "max_points": _num(points),
                             "passed": "yes" if passed else "no",
                             "difference_group": difference_group(message), "message": message})
    return rows


def wide_rows(chapters: list[ChapterStats]) -> tuple[list[str], list[dict]]:
    """``report-wide.csv``'s columns and rows: per student, the score of each chapter (empty
    without a grade), ``total`` (the sum of the scores there are) and ``max_total`` (the sum
    of every chapter's maximum, the same on every row: a chapter not handed in counts 0)."""
    columns = ["student"] + [c.slug for c in chapters] + ["total", "max_total"]
    max_total = sum(c.max_score or 0.0 for c in chapters)
    students = sorted({r.student for c in chapters for r in c.results})
    rows = []
    for s in students:
        row = {"student": s}
        for c in chapters:
            row[c.slug] = _num(c.scores.get(s))
        row["total"] = _num(sum(c.scores[s] for c in chapters if s in c.scores))
        row["max_total"] = _num(max_total)
        rows.append(row)
    return columns, rows


def _csv_text(columns: list[str], rows: list[dict]) -> str:
    """A CSV safe to open in a spreadsheet: every cell through :func:`.reports.csv_cell`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writerow({c: csv_cell(c) for c in columns})
    for row in rows:
        writer.writerow({c: csv_cell(str(row.get(c, ""))) for c in columns})
    return buf.getvalue()


def _e(text) -> str:
    """Student-controlled text for the page: control characters shown, markup escaped."""
    return html.escape(printable(str(text)), quote=True)


def histogram_svg(bins: list[Bin], slug: str) -> str:
    """An inline SVG bar chart of ``bins`` (no script, no external resource): each bar with
    its count above it, its scores below it, and a ``<title>`` that says both."""
    bar, gap, height, top_pad, bottom_pad = 36, 6, 120, 18, 22
    peak = max((b.count for b in bins), default=0) or 1
    width = len(bins) * (bar + gap) + gap
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="hist" width="{width}" '
             f'height="{height + top_pad + bottom_pad}" role="img" '
             f'aria-label="score distribution of {_e(slug)}">']
    for i, b in enumerate(bins):
        h = round(height * b.count / peak)
        x, y = gap + i * (bar + gap), top_pad + height - h
        word = "student" if b.count == 1 else "students"
        parts.append(f'<g><title>{b.count} {word} scored {_e(b.label)}</title>'
                     f'<rect x="{x}" y="{y}" width="{bar}" height="{h}"></rect>'
                     f'<text x="{x + bar / 2:g}" y="{y - 4}" class="count">{b.count}</text>'
                     f'<text x="{x + bar / 2:g}" y="{top_pad + height + 15}">{_e(b.label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}
td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}svg.hist rect{fill:#4a7ab5}svg.hist text{font-size:11px;text-anchor:middle}
small{color:#555}section{margin-top:2.5em}"""


def _chapter_html(ch: ChapterStats) -> str:
    e = _e
    n, graded = len(ch.results), len(ch.scores)
    head = f"<p>{n} student{'s' if n != 1 else ''}; {graded} with a grade"
    if graded:
        head += (f": mean {ch.mean:.3g} / {_num(ch.max_score)}, median {ch.median:.3g}. "
                 f"Median grading time {_seconds(ch.median_seconds)}")
    head += ".</p>"
    parts = [f'<section id="{e(ch.slug)}"><h2>{e(ch.slug)}</h2>', head]
    if graded:
        parts.append(histogram_svg(ch.histogram, ch.slug))
    if ch.tests:
        rows = []
        for t in ch.tests:
            groups = "".join(f"<li>{e(g)}: {c}<br><small>e.g. {e(t.examples.get(g, ''))}</small></li>"
                             for g, c in t.groups.most_common(TOP_GROUPS))
            more = len(t.groups) - TOP_GROUPS
            groups += f"<li>and {more} other group{'s' if more != 1 else ''}</li>" if more > 0 else ""
            rows.append(f"<tr><td><code>{e(t.test)}</code></td><td class=\"n\">{t.points:g}</td>"
                        f"<td class=\"n\">{t.lost} of {t.graded} ({t.fraction:.0%})</td>"
                        f"<td>{f'<ul>{groups}</ul>' if groups else ''}</td></tr>")
        parts.append("<h3>Tests</h3><table><tr><th>test</th><th class=\"n\">points</th>"
                     "<th class=\"n\">lost by</th><th>most common first differences</th></tr>"
                     + "".join(rows) + "</table>")
    if ch.died:
        rows = "".join(f"<tr><td>{e(d.student)}</td><td>{d.kind}</td>"
                       f"<td class=\"n\">{'' if d.cell is None else d.cell}</td>"
                       f"<td class=\"n\">{'' if d.line is None else d.line}</td><td>{e(d.text)}</td></tr>"
                       for d in ch.died)
        parts.append("<h3>Notebooks that died or timed out</h3><table><tr><th>student</th><th>what</th>"
                     "<th class=\"n\">cell</th><th class=\"n\">line</th><th>the runner said</th></tr>"
                     + rows + "</table>")
    other = [r for r in ch.results if r.status in NOT_GRADED]
    if other:
        rows = "".join(f"<tr><td>{e(r.student)}</td><td>{e(r.status)}</td><td>{e(r.note)}</td></tr>"
                       for r in other)
        parts.append("<h3>Hand-ins that graded nothing this time</h3><table><tr><th>student</th>"
                     "<th>outcome</th><th>note</th></tr>" + rows + "</table>")
    parts.append("</section>")
    return "\n".join(parts)


def report_html(course: Course, chapters: list[ChapterStats], whole: list[Result]) -> str:
    """The page. ``whole``: outcomes for a whole hand-in (chapter ``*``), counted apart."""
    e = _e
    counts = [(ch.slug, len(ch.results), ch.outcomes) for ch in chapters]
    if whole:
        counts.append(("(whole hand-in)", len(whole), Counter(r.status for r in whole)))
    rows = "".join(f"<tr><td>{e(slug)}</td><td class=\"n\">{n}</td>"
                   + "".join(f"<td class=\"n\">{c.get(s, 0)}</td>" for s in STATUSES) + "</tr>"
                   for slug, n, c in counts)
    outcomes = ("<h2>Outcomes</h2><table><tr><th>chapter</th><th class=\"n\">students</th>"
                + "".join(f"<th class=\"n\">{s}</th>" for s in STATUSES) + "</tr>" + rows + "</table>"
                "<p><small>graded: this run graded it; kept: graded before, left as it was; "
                "missing, corrupt, rejected, error: graded nothing this time (an earlier grade, "
                "if any, is kept and counts in the figures).</small></p>")
    refused = ""
    if whole:
        refused = ("<h3>Folders refused as a whole</h3><table><tr><th>student</th><th>outcome</th>"
                   "<th>note</th></tr>" + "".join(f"<tr><td>{e(r.student)}</td><td>{e(r.status)}</td>"
                                                  f"<td>{e(r.note)}</td></tr>" for r in whole) + "</table>")
    students = len({r.student for ch in chapters for r in ch.results})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Class report</title>
<style>{_STYLE}</style></head><body>
<h1>Class report</h1>
<p>{students} students, {len(chapters)} chapters, from the grade store of <code>{e(course.root)}</code>,
{time.strftime("%Y-%m-%d %H:%M")}.</p>
{outcomes}{refused}
{"".join(_chapter_html(ch) for ch in chapters)}
</body></html>
"""


def summary_lines(chapters: list[ChapterStats]) -> list[str]:
    """The terminal summary: per chapter, its mean score and the test most students lost."""
    lines = []
    for ch in chapters:
        line = f"{ch.slug}: {len(ch.scores)} of {len(ch.results)} with a grade"
        if ch.scores:
            line += f", mean {ch.mean:.3g}/{_num(ch.max_score)}"
        worst = ch.most_lost()
        if worst:
            line += f"; most lost: {worst.test} ({worst.lost} of {worst.graded}"
            group = worst.groups.most_common(1)[0][0] if worst.groups else ""
            line += f", mostly {group})" if group else ")"
        other = [f"{ch.outcomes[s]} {s}" for s in NOT_GRADED if ch.outcomes.get(s)]
        if other:
            line += "; " + ", ".join(other)
        lines.append(printable(line))
    return lines


def class_report(course_dir: Path, log=print) -> dict[str, Path]:
    """Write ``report.html``, ``report.csv`` and ``report-wide.csv`` into the course
    directory from its grade store, log a short summary, and return the files by name.
    Raises GradingError when the folder holds no gradebook or nothing graded or handed in."""
    root = Path(course_dir)
    if not (root / "gradebook.db").is_file():
        raise GradingError(f"{root.resolve()} has no gradebook (gradebook.db): nothing to report; "
                           f"grade first, or give the course directory that the grading run used")
    course = Course(root)
    results = course.results()
    if not results:
        raise GradingError(f"{course.root} has no results in its grade store: nothing to report; grade first")
    chapters = chapter_stats(course, results)
    whole = [r for r in results if r.assignment == "*"]
    columns, wide = wide_rows(chapters)
    files = {"report.html": course.root / "report.html", "report.csv": course.root / "report.csv",
             "report-wide.csv": course.root / "report-wide.csv"}
    atomic_write(files["report.html"], report_html(course, chapters, whole))
    atomic_write(files["report.csv"], _csv_text(LONG_FIELDS, long_rows(course, chapters)))
    atomic_write(files["report-wide.csv"], _csv_text(columns, wide))
    for line in summary_lines(chapters):
        log(line)
    log(f"class report: {files['report.html']} (and report.csv, report-wide.csv)")
    return files
