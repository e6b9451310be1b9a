"""The grade store: one nbgrader course directory, and in it one database.

``gradebook.db`` is the truth. nbgrader's own tables hold the points of every test and
written answer (what the Formgrader shows and edits); the table ``lstmbook_result`` beside
them holds, for every student and chapter ever handed to the grader, the outcome of its last
run (status, note) and the details of its last graded run (each test's verdict and message,
the visible tests' errors, why a kernel died, the written answers' hashes). ``grades.csv``
and the feedback pages are derived from this database, never the other way round.

Only the trusted grader process writes here; nothing in the sandbox can reach this folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..sources import nbgrader_cmd, repo_root, source_notebook, without_hidden_setup
from .testmodel import written


class GradingError(RuntimeError):
    """The grading run cannot start (bad submissions folder, broken course setup, no sandbox,
    no data)."""


@dataclass
class Result:
    """The outcome for one student and one chapter."""

    student: str
    assignment: str
    status: str  # graded | kept | missing | corrupt | rejected | error
    score: float | None = None
    max_score: float | None = None
    note: str = ""
    failed: list[str] = field(default_factory=list)
    manual: bool = False
    pending: float = 0.0  # points of written answers that wait for the instructor
    feedback: Path | None = None
    review: str = ""  # code that touches the grader's instruments: what an instructor should read
    #: when the graded hand-in was submitted (UTC, ISO 8601), from nbgrader's timestamp.txt;
    #: kept in the graded run's details (the state JSON); "" when unknown (folders layout)
    submitted_at: str = ""

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
            "needs_review": self.review,
            "note": self.note,
            "submitted_at": self.submitted_at,  # last: scripts reading the older columns by position still work
        }


FIELDS = list(Result("", "", "").row())

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lstmbook_result (
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    state TEXT,
    updated TEXT NOT NULL,
    PRIMARY KEY (student, assignment)
)"""


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: a reader sees the old or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class Course:
    """An nbgrader course directory with this course's configuration and grade store."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        template = repo_root() / "autograder" / "nbgrader_config.py"
        shutil.copyfile(template, self.root / "nbgrader_config.py")
        self.db = self.root / "gradebook.db"
        self.db_url = f"sqlite:///{self.db}"
        self.reference_dir = self.root / "lstmbook" / "reference"
        if self.db.is_file():
            self._import_old_state()

    # ------------------------------------------------------------ nbgrader's side

    def nbgrader(self, *args: str, timeout: int = 1800) -> tuple[int, str]:
        cmd = nbgrader_cmd() + list(args) + [f"--CourseDirectory.root={self.root}"]
        env = dict(os.environ, LSTMBOOK_PROFILE="quick", MPLBACKEND="Agg")
        try:
            proc = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, f"stopped after {timeout} s"
        return proc.returncode, proc.stdout + proc.stderr

    def source(self, slug: str):
        return source_notebook(repo_root() / "solutions" / f"{slug}.md")

    def update_assignment(self, slug: str, source_nb) -> None:
        """Write the source notebook of ``slug`` and (re)build its gradebook entry; nothing to
        do when the source and the configuration are those of the last build, whose release
        and gradebook entry are still there (grading a chapter again skips nbgrader's run)."""
        src = self.root / "source" / slug
        src.mkdir(parents=True, exist_ok=True)
        text = nbformat.writes(without_hidden_setup(source_nb))
        digest = hashlib.sha256((text + (self.root / "nbgrader_config.py").read_text()).encode()).hexdigest()
        stamp = self.root / "lstmbook" / "assignments" / f"{slug}.sha256"
        if (stamp.is_file() and stamp.read_text() == digest and (src / f"{slug}.ipynb").is_file()
                and (src / f"{slug}.ipynb").read_text(encoding="utf-8") == text
                and (self.root / "release" / slug / f"{slug}.ipynb").is_file() and self._has_assignment(slug)):
            return
        stamp.unlink(missing_ok=True)
        (src / f"{slug}.ipynb").write_text(text, encoding="utf-8")
        rc, log = self.nbgrader("generate_assignment", slug, "--force", "--log-level=WARN")
        if rc != 0:
            raise GradingError(f"could not build the gradebook entry of {slug}: {_last_error(log)}")
        atomic_write(stamp, digest)

    def _has_assignment(self, slug: str) -> bool:
        if not self.db.is_file():
            return False
        with closing(self._connect()) as db:
            try:
                return db.execute("SELECT 1 FROM assignment WHERE name = ?", (slug,)).fetchone() is not None
            except sqlite3.Error:
                return False

    def graded_dir(self, student: str, slug: str) -> Path:
        return self.root / "autograded" / student / slug

    def feedback_file(self, student: str, slug: str) -> Path:
        return self.root / "feedback" / student / slug / f"{slug}.html"

    def scores(self, student: str, slug: str) -> dict | None:
        """Points from nbgrader's gradebook (the Formgrader's manual scores included)."""
        from nbgrader.api import Gradebook, MissingEntry

        if not self.db.is_file():
            return None
        with Gradebook(self.db_url) as gb:
            try:
                sub = gb.find_submission(slug, student)
            except MissingEntry:
                return None
            failed, pending, manual = [], 0.0, []
            for nb in sub.notebooks:
                for g in nb.grades:
                    if g.cell_type == "markdown":  # a written answer, graded by hand
                        if g.manual_score is None:
                            pending += g.max_score
                        manual.append({"name": g.name, "max": g.max_score, "score": g.manual_score,
                                       "comment": _comment(gb, g.name, nb.name, slug, student)})
                    else:
                        score = g.manual_score if g.manual_score is not None else g.auto_score
                        if score is None or score < g.max_score:
                            failed.append(g.name)
            return {"score": sub.score, "max_score": sub.max_score, "pending": pending,
                    "manual": pending > 0, "failed": sorted(failed), "written": manual}

    def write_gradebook(self, student: str, slug: str, src, verdicts: list[dict],
                        answers: dict[str, str]) -> None:
        """Write the scores into nbgrader's gradebook. Written answers graded by hand keep their
        score when the answer is unchanged; a changed answer waits for grading again."""
        import hashlib
        import warnings

        from nbgrader.api import Gradebook, MissingEntry

        old_answers = (self.state(student, slug) or {}).get("answers", {})
        with Gradebook(self.db_url) as gb, warnings.catch_warnings():
            # nbgrader 0.9's add_submission makes SQLAlchemy 2 warn about autoflush; harmless
            warnings.simplefilter("ignore")
            gb.update_or_create_student(student)
            try:
                gb.find_submission(slug, student)
            except MissingEntry:
                gb.add_submission(slug, student)
            for v in verdicts:
                g = gb.find_grade(v["test"], slug, slug, student)
                g.auto_score = v["points"] if v["passed"] else 0.0
                g.needs_manual_grade = g.manual_score is not None
            for gid in written(src):
                g = gb.find_grade(gid, slug, slug, student)
                text = answers.get(gid, "")
                if old_answers.get(gid) != hashlib.sha256(text.encode()).hexdigest():
                    g.manual_score = None
                if text.strip() in ("", "YOUR ANSWER HERE"):  # no answer: nothing to grade by hand
                    g.manual_score = 0.0
                g.auto_score = None
                g.needs_manual_grade = g.manual_score is None
            gb.db.commit()

    # ------------------------------------------------------------ our table beside nbgrader's

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db, timeout=60)
        db.execute(_SCHEMA)
        return db

    def state(self, student: str, slug: str) -> dict | None:
        """The details of the last graded run of ``student``'s ``slug``, or None."""
        if not self.db.is_file():
            return None
        with closing(self._connect()) as db:
            row = db.execute("SELECT state FROM lstmbook_result WHERE student = ? AND assignment = ?",
                             (student, slug)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def is_graded(self, student: str, slug: str) -> bool:
        return self.state(student, slug) is not None

    def save(self, res: Result, state: dict | None = None) -> None:
        """Store the outcome of a run (status, note) and, for a graded run, its details; an
        outcome without details keeps the details of the last graded run."""
        if not self.db.is_file():  # nbgrader makes the database (update_assignment) first
            raise GradingError(f"{self.root} has no gradebook yet")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO lstmbook_result (student, assignment, status, note, state, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (student, assignment) DO UPDATE SET "
                "status = excluded.status, note = excluded.note, updated = excluded.updated, "
                "state = COALESCE(excluded.state, lstmbook_result.state)",
                (res.student, res.assignment, res.status, res.note,
                 None if state is None else json.dumps(state), stamp))

    def results(self) -> list[Result]:
        """Every student and chapter in the store, with its last outcome and its points."""
        if not self.db.is_file():
            return []
        with closing(self._connect()) as db:
            rows = db.execute("SELECT student, assignment, status, note, state IS NOT NULL "
                              "FROM lstmbook_result ORDER BY assignment, student").fetchall()
        out = []
        for student, slug, status, note, graded in rows:
            res = Result(student, slug, status, note=note)
            out.append(self.fill(res) if graded else res)
        return out

    def fill(self, res: Result) -> Result:
        """``res`` with its points from the gradebook and its feedback page, when it has them."""
        s = self.scores(res.student, res.assignment)
        if s:
            res.score, res.max_score, res.manual, res.failed = s["score"], s["max_score"], s["manual"], s["failed"]
            res.pending = s["pending"]
            fb = self.feedback_file(res.student, res.assignment)
            res.feedback = fb if fb.is_file() else None
            state = self.state(res.student, res.assignment) or {}
            res.review = review_line(state.get("review") or [])
            res.submitted_at = state.get("submitted_at") or ""
        return res

    def _import_old_state(self) -> None:
        """A course graded before the store (one ``grading.json`` per student and chapter):
        move those details into the table once, so that nothing graded is lost."""
        old = self.root / "lstmbook"
        for path in sorted(old.glob("*/*/grading.json")) if old.is_dir() else []:
            student, slug = path.parent.parent.name, path.parent.name
            if not self.is_graded(student, slug):
                with open(path, encoding="utf-8") as fh:
                    self.save(Result(student, slug, "graded"), json.load(fh))
            path.rename(path.with_name("grading.json.imported"))

    # ------------------------------------------------------------ the reference records

    def reference_path(self, slug: str, fingerprint: str) -> Path:
        return self.reference_dir / f"{slug}-{fingerprint}.json"

    def cached_reference(self, slug: str, fingerprint: str) -> dict | None:
        path = self.reference_path(slug, fingerprint)
        if path.is_file():
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        return None

    def save_reference(self, slug: str, fingerprint: str, ref: dict) -> None:
        atomic_write(self.reference_path(slug, fingerprint), json.dumps(ref))


def review_line(flags: list[dict]) -> str:
    """The "needs review" flags of a run in one line (grades.csv, the summary)."""
    text = "; ".join(f"{f['name']} ({f['reason']}) at cell {f['cell']}, line {f['line']}" for f in flags[:10])
    return text + (f"; and {len(flags) - 10} more" if len(flags) > 10 else "")


def _comment(gb, name, notebook, slug, student) -> str:
    try:
        c = gb.find_comment(name, notebook, slug, student)
    except Exception:
        return ""
    return c.manual_comment or ""


def _last_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    hits = [ln for ln in lines if "Error" in ln or "ERROR" in ln]
    return ((hits or lines or ["no output"])[-1])[-300:]
