"""The autograder: a folder of submissions in, grades, feedback and a summary out.

``SUBMISSIONS/<student>/<NN_slug>.ipynb`` -> nbgrader course directory (``autograder/course``
by default): the gradebook is built or updated from ``solutions/``, every student's notebook
is autograded in the ``quick`` profile, feedback HTML is written per student, and a grades
CSV and a summary table report every (student, chapter) with a score or the reason it has
none. One student's broken notebook never stops the others, and an existing grade is only
replaced with ``force``.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import build

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".git"}


class GradingError(RuntimeError):
    """The grading run cannot start (bad submissions folder, broken course setup)."""


@dataclass
class Result:
    """The outcome for one student and one chapter."""

    student: str
    assignment: str
    status: str  # graded | kept | missing | corrupt | error
    score: float | None = None
    max_score: float | None = None
    note: str = ""
    failed: list[str] = field(default_factory=list)
    manual: bool = False
    pending: float = 0.0  # points of written answers that wait for the instructor
    feedback: Path | None = None

    def row(self) -> dict:
        return {
            "student": self.student,
            "assignment": self.assignment,
            "score": "" if self.score is None else f"{self.score:g}",
            "max_score": "" if self.max_score is None else f"{self.max_score:g}",
            "status": self.status,
            "needs_manual_grading": "yes" if self.manual else "no",
            "manual_points_pending": f"{self.pending:g}" if self.pending else "",
            "failed_tests": " ".join(self.failed),
            "note": self.note,
        }


def _grade_ids(nb) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if not SKIP_DIRS.intersection(p.relative_to(folder).parts))


def _read(path: Path):
    """Read a notebook or raise ValueError with a short reason."""
    try:
        nb = nbformat.read(path, as_version=4)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except Exception as exc:  # nbformat raises several kinds
        raise ValueError(f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc})") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path.name} has no list of cells")
    return nb


def locate(student_dir: Path, slug: str, expected_ids: set[str]):
    """Find a student's notebook for ``slug``: ``(path, note)``, or ``(None, reason)``.

    A notebook under another name (``02_numpy_lstm (1).ipynb``, ``my_lstm.ipynb``) is
    accepted when it is the only one holding most of the chapter's graded cells; the note
    says so. Raises ValueError when the notebook exists but cannot be read.
    """
    found = _notebooks(student_dir)
    exact = [p for p in found if p.name == f"{slug}.ipynb"]
    if exact:
        _read(exact[0])
        return exact[0], ""
    matches = []
    for p in found:
        try:
            ids = _grade_ids(_read(p))
        except ValueError:
            continue
        if len(ids & expected_ids) * 2 > len(expected_ids):
            matches.append(p)
    if len(matches) == 1:
        rel = matches[0].relative_to(student_dir)
        return matches[0], f"graded {rel} (expected the name {slug}.ipynb)"
    names = ", ".join(str(p.relative_to(student_dir)) for p in found) or "no notebooks"
    if len(matches) > 1:
        return None, f"several notebooks look like {slug}: {names}; keep one"
    return None, f"no {slug}.ipynb (found: {names})"


def _run(cmd: list[str], cwd: Path, timeout: int) -> tuple[int, str]:
    env = dict(os.environ, LSTMBOOK_PROFILE="quick", MPLBACKEND="Agg")
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, f"stopped after {timeout} s"
    return proc.returncode, proc.stdout + proc.stderr


def _reason(log: str) -> str:
    """The most telling line of an nbgrader log."""
    if "DeadKernelError" in log or "Kernel died" in log:
        return "the kernel died while running the notebook (its code exits or crashes Python)"
    if "CellTimeoutError" in log or "TimeoutError" in log:
        return "a cell ran past the time limit of autograder/nbgrader_config.py"
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for key in ("ERROR", "Error"):
        hits = [ln for ln in lines if key in ln]
        if hits:
            return hits[0][-300:]
    return (lines[-1] if lines else "nbgrader gave no output")[-300:]


class Course:
    """An nbgrader course directory with this course's configuration and gradebook."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        template = build.repo_root() / "autograder" / "nbgrader_config.py"
        shutil.copyfile(template, self.root / "nbgrader_config.py")
        self.db = self.root / "gradebook.db"

    def nbgrader(self, *args: str, timeout: int = 1800) -> tuple[int, str]:
        cmd = build.nbgrader_cmd() + list(args) + [f"--CourseDirectory.root={self.root}"]
        return _run(cmd, self.root, timeout)

    def update_assignment(self, slug: str) -> set[str]:
        """Write the source notebook of ``slug`` from solutions/ and (re)build its gradebook
        entry. Returns the chapter's grade ids."""
        md = build.repo_root() / "solutions" / f"{slug}.md"
        nb = build.source_notebook(md)
        src = self.root / "source" / slug
        src.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, src / f"{slug}.ipynb")
        rc, log = self.nbgrader("generate_assignment", slug, "--force")
        if rc != 0:
            raise GradingError(f"could not build the gradebook entry of {slug}: {_reason(log)}")
        return _grade_ids(nb)

    def graded_dir(self, student: str, slug: str) -> Path:
        return self.root / "autograded" / student / slug

    def feedback_file(self, student: str, slug: str) -> Path:
        return self.root / "feedback" / student / slug / f"{slug}.html"

    def scores(self, student: str, slug: str) -> dict | None:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(f"sqlite:///{self.db}") as gb:
            try:
                sub = gb.find_submission(slug, student)
            except MissingEntry:
                return None
            failed, pending = [], 0.0
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.cell_type == "markdown":  # a written answer, graded by hand
                        if g.needs_manual_grade:
                            pending += g.max_score
                    elif g.auto_score is not None and g.auto_score < g.max_score:
                        failed.append(g.name)
            return {"score": sub.score, "max_score": sub.max_score, "pending": pending,
                    "manual": bool(sub.needs_manual_grade), "failed": sorted(failed)}


def grade(submissions: Path, course_dir: Path, force: bool = False,
          only: list[str] | None = None, timeout: int = 1800, log=print) -> list[Result]:
    """Autograde every student folder in ``submissions``; returns one Result per student and
    chapter, and writes ``grades.csv`` (and a timestamped copy) into the course directory."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder of student folders")
    students = sorted(p for p in submissions.iterdir()
                      if p.is_dir() and p.name not in SKIP_DIRS and not p.name.startswith("."))
    for stray in sorted(submissions.glob("*.ipynb")):
        log(f"warning: {stray} is not inside a student folder; ignored")
    if not students:
        raise GradingError(f"{submissions} holds no student folders (expected {submissions}/<student>/<chapter>.ipynb)")
    slugs = [p.stem for p in build.chapter_sources()]
    if only:
        unknown = sorted(set(only) - set(slugs))
        if unknown:
            raise GradingError(f"unknown chapter(s) {unknown}; the course has {slugs}")
        slugs = [s for s in slugs if s in only]
    else:  # the chapters that anybody handed in
        names = {p.name for s in students for p in _notebooks(s)}
        slugs = [s for s in slugs if f"{s}.ipynb" in names] or slugs

    course = Course(Path(course_dir))
    log(f"course directory: {course.root}")
    results: list[Result] = []
    for slug in slugs:
        log(f"[{slug}] building the gradebook entry from solutions/{slug}.md")
        ids = course.update_assignment(slug)
        for sdir in students:
            results.append(_grade_one(course, sdir, slug, ids, force, timeout, log))

    _write_csv(course.root, results)
    log(summary_table(results))
    return results


def _grade_one(course: Course, sdir: Path, slug: str, ids: set[str], force: bool,
               timeout: int, log) -> Result:
    student = sdir.name
    res = Result(student, slug, "missing")
    try:
        path, note = locate(sdir, slug, ids)
    except ValueError as exc:
        res.status, res.note = "corrupt", str(exc)
        return _keep_old(course, res)
    if path is None:
        res.note = note
        return _keep_old(course, res)
    res.note = note
    if course.graded_dir(student, slug).exists() and not force:
        res.status = "kept"
        res.note = "already graded; grade again with --force (FORCE=1)"
        return _fill(course, res)
    dest = course.root / "submitted" / student / slug
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(path, dest / f"{slug}.ipynb")
    log(f"[{slug}] grading {student} ...")
    start = time.perf_counter()
    rc, out = course.nbgrader("autograde", slug, f"--student={student}", "--force", timeout=timeout)
    if rc != 0 or not (course.graded_dir(student, slug) / f"{slug}.ipynb").is_file():
        res.status = "error"
        res.note = "; ".join(filter(None, [note, f"autograding failed: {_reason(out)}"]))
        return res
    rc, out = course.nbgrader("generate_feedback", slug, f"--student={student}", "--force", timeout=timeout)
    if rc != 0 or not course.feedback_file(student, slug).is_file():
        res.note = "; ".join(filter(None, [res.note, f"no feedback: {_reason(out)}"]))
    res.status = "graded"
    log(f"[{slug}] {student} done in {time.perf_counter() - start:.0f} s")
    return _fill(course, res)


def _fill(course: Course, res: Result) -> Result:
    s = course.scores(res.student, res.assignment)
    if s:
        res.score, res.max_score, res.manual, res.failed = s["score"], s["max_score"], s["manual"], s["failed"]
        res.pending = s["pending"]
        fb = course.feedback_file(res.student, res.assignment)
        res.feedback = fb if fb.is_file() else None
    return res


def _keep_old(course: Course, res: Result) -> Result:
    """A bad new submission never erases an earlier grade: report it next to the reason."""
    if course.graded_dir(res.student, res.assignment).exists():
        _fill(course, res)
        res.note += "; the earlier grade is kept"
    return res


def _write_csv(root: Path, results: list[Result]) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = root / f"grades-{stamp}.csv"
    fields = list(Result("", "", "").row())
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for r in results:
            writer.writerow(r.row())
    shutil.copyfile(target, root / "grades.csv")
    return target


def summary_table(results: list[Result]) -> str:
    """A plain-text table: one line per student and chapter."""
    head = ("student", "chapter", "score", "status", "note")
    rows = []
    for r in results:
        score = "-" if r.score is None else f"{r.score:g}/{r.max_score:g}"
        notes = [r.note] if r.note else []
        if r.failed:
            notes.append("failed: " + ", ".join(r.failed))
        if r.manual:
            what = f"{r.pending:g} points of written answers" if r.pending else "written answers"
            notes.append(f"{what} wait for manual grading (nbgrader formgrader)")
        rows.append((r.student, r.assignment, score, r.status, "; ".join(notes)))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    widths[-1] = 0
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    counts = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    tail = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return "\n".join([line(head), line(["-" * w for w in widths[:-1]] + ["-" * 4])]
                     + [line(r) for r in rows] + [f"{len(results)} submissions: {tail}"])
