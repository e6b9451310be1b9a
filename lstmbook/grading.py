"""The autograder: a folder of submissions in, grades, feedback and a summary out.

``SUBMISSIONS/<student>/<NN_slug>.ipynb`` -> an nbgrader course directory
(``autograder/course`` by default). The pipeline, and who is trusted for what:

1. Pre-flight (trusted): a sandbox can be made, the chapters' data is there, the gradebook
   entry of each chapter is built from ``solutions/``.
2. Intake (trusted): each student's notebook is found and read without following links,
   with size and format limits; a bad file gets a reason, never stops the run.
3. Execution (untrusted, :mod:`lstmbook.sandbox`): the student's notebook, then the hidden
   checks, which record results. In parallel on this machine (``workers``) or on a Dask
   cluster (``scheduler``). The reference solution goes through the same, once per chapter.
4. Verdicts (trusted, :mod:`lstmbook.autograde`): each test passes when the student's records
   match the reference's. Only this process writes the gradebook, ``grades.csv`` (atomically)
   and the feedback; a grade already in the gradebook is kept unless ``force``, so an
   interrupted run resumes where it stopped.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import autograde, build
from .check import first_error

SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", ".git"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")
MAX_NOTEBOOK_BYTES = 20 * 2 ** 20
MAX_FILES = 200
UNSAFE_FLAG = "--unsafe-no-sandbox"


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


FIELDS = list(Result("", "", "").row())


# ---------------------------------------------------------------- intake (trusted)

def _grade_ids(nb) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict)
            and isinstance(c.metadata["nbgrader"].get("grade_id"), str)}


def _scan(folder: Path, depth: int = 0) -> tuple[list[Path], list[str]]:
    """Notebook files under ``folder`` (no links followed) and reasons for what was refused."""
    found, refused = [], []
    if depth > 3:
        return found, refused
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        return found, [f"cannot read {folder.name}: {exc.strerror}"]
    for entry in entries[:MAX_FILES]:
        if entry.name in SKIP_DIRS or entry.name.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if entry.name.endswith(".ipynb"):
                refused.append(f"{entry.name} is a symbolic link (refused)")
            continue
        if stat.S_ISDIR(st.st_mode):
            sub, why = _scan(Path(entry.path), depth + 1)
            found += sub
            refused += why
        elif entry.name.endswith(".ipynb"):
            if not stat.S_ISREG(st.st_mode):
                refused.append(f"{entry.name} is not a regular file (refused)")
            elif st.st_size > MAX_NOTEBOOK_BYTES:
                refused.append(f"{entry.name} is {st.st_size >> 20} MiB, more than "
                               f"{MAX_NOTEBOOK_BYTES >> 20} MiB (refused)")
            else:
                found.append(Path(entry.path))
    return found, refused


def _read(path: Path):
    """Read a notebook without following links or blocking; ValueError with a reason."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"{path.name} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path.name} is not a regular file")
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ValueError(f"{path.name} is nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError(f"{path.name} has no list of cells")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        raise ValueError(f"{path.name} is not a readable notebook ({type(exc).__name__})") from None
    for cell in nb.cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), (str, list)):
            raise ValueError(f"{path.name} has a malformed cell")
        if not isinstance(cell.get("metadata", {}), dict):
            raise ValueError(f"{path.name} has a cell with malformed metadata")
    return nb


def locate(student_dir: Path, slug: str, expected_ids: set[str]):
    """Find and read a student's notebook for ``slug``: ``(path, notebook, note)``, or
    ``(None, None, reason)``.

    A notebook under another name (``02_numpy_lstm (1).ipynb``) is accepted when it is the
    only one holding most of the chapter's graded cells; the note says so. Raises
    ValueError when the notebook exists but cannot be read or is refused.
    """
    found, refused = _scan(student_dir)
    exact = [p for p in found if p.name == f"{slug}.ipynb"]
    refused_exact = [r for r in refused if r.startswith(f"{slug}.ipynb ")]
    if refused_exact:
        raise ValueError(refused_exact[0])
    if exact:
        return exact[0], _read(exact[0]), ""
    matches = []
    for p in found:
        try:
            nb = _read(p)
        except ValueError:
            continue  # another chapter's broken notebook is not this chapter's problem
        if len(_grade_ids(nb) & expected_ids) * 2 > len(expected_ids):
            matches.append((p, nb))
    if len(matches) == 1:
        rel = matches[0][0].relative_to(student_dir)
        return matches[0][0], matches[0][1], f"graded {rel} (expected the name {slug}.ipynb)"
    names = ", ".join(str(p.relative_to(student_dir)) for p in found) or "no notebooks"
    if len(matches) > 1:
        return None, None, f"several notebooks look like {slug}: {names}; keep one"
    extra = f"; {'; '.join(refused)}" if refused else ""
    return None, None, f"no {slug}.ipynb (found: {names}){extra}"


def students_of(submissions: Path, log) -> tuple[list[Path], list[Result]]:
    """Student folders, and a result for every entry that is refused (links, odd names)."""
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder of student folders")
    good, bad = [], []
    for entry in sorted(os.scandir(submissions), key=lambda e: e.name):
        if entry.name in SKIP_DIRS or entry.name.startswith("."):
            continue
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISREG(st.st_mode) and entry.name.endswith(".ipynb"):
            log(f"warning: {submissions / entry.name} is not inside a student folder; ignored")
            continue
        if not stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            if stat.S_ISLNK(st.st_mode):
                bad.append(Result(_display(entry.name), "*", "rejected",
                                  note="the student folder is a symbolic link (refused)"))
            continue
        if not NAME.match(entry.name):
            bad.append(Result(_display(entry.name), "*", "rejected",
                              note="the folder name is not a usable student id (letters, digits, . _ - @ +)"))
            continue
        good.append(Path(entry.path))
    return good, bad


def _display(name: str) -> str:
    return ascii(name)[1:-1][:60]


# ---------------------------------------------------------------- the course directory

class Course:
    """An nbgrader course directory with this course's configuration and gradebook."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        template = build.repo_root() / "autograder" / "nbgrader_config.py"
        shutil.copyfile(template, self.root / "nbgrader_config.py")
        self.db = self.root / "gradebook.db"
        self.db_url = f"sqlite:///{self.db}"
        self.reference_dir = self.root / "lstmbook" / "reference"

    def nbgrader(self, *args: str, timeout: int = 1800) -> tuple[int, str]:
        cmd = build.nbgrader_cmd() + list(args) + [f"--CourseDirectory.root={self.root}"]
        env = dict(os.environ, LSTMBOOK_PROFILE="quick", MPLBACKEND="Agg")
        try:
            proc = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, f"stopped after {timeout} s"
        return proc.returncode, proc.stdout + proc.stderr

    def source(self, slug: str):
        return build.source_notebook(build.repo_root() / "solutions" / f"{slug}.md")

    def update_assignment(self, slug: str, source_nb) -> None:
        """Write the source notebook of ``slug`` and (re)build its gradebook entry."""
        src = self.root / "source" / slug
        src.mkdir(parents=True, exist_ok=True)
        nbformat.write(source_nb, src / f"{slug}.ipynb")
        rc, log = self.nbgrader("generate_assignment", slug, "--force", "--log-level=WARN")
        if rc != 0:
            raise GradingError(f"could not build the gradebook entry of {slug}: {_last_error(log)}")

    def graded_dir(self, student: str, slug: str) -> Path:
        return self.root / "autograded" / student / slug

    def feedback_file(self, student: str, slug: str) -> Path:
        return self.root / "feedback" / student / slug / f"{slug}.html"

    def state_file(self, student: str, slug: str) -> Path:
        return self.root / "lstmbook" / student / slug / "grading.json"

    def is_graded(self, student: str, slug: str) -> bool:
        return self.state_file(student, slug).is_file()

    def scores(self, student: str, slug: str) -> dict | None:
        from nbgrader.api import Gradebook, MissingEntry

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


# ---------------------------------------------------------------- pre-flight

def preflight_data() -> tuple[str | None, str]:
    """Make sure the chapters' data is prepared; returns the data folder and the manifest
    the sandbox reads. Stops the run (GradingError) when the data is unavailable."""
    from . import data

    try:
        data.load_poems("tang300")
    except data.DataError as exc:
        raise GradingError(f"the chapters' data is unavailable, so no notebook would run: {exc}") from None
    return str(data.data_dir()), str(data.manifest_path())


def _executor(workers: int | None, scheduler: str | None):
    """``(submit, as_completed, close)`` over a local thread pool or a Dask cluster."""
    from . import sandbox

    if scheduler:
        from distributed import Client, as_completed as dask_completed

        client = scheduler if not isinstance(scheduler, str) else Client(scheduler, timeout="60s")

        def submit(job):
            return client.submit(sandbox.run_job, job, pure=False)

        def close():
            if isinstance(scheduler, str):
                client.close()
        return submit, dask_completed, close
    pool = ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1))
    return (lambda job: pool.submit(sandbox.run_job, job)), as_completed, pool.shutdown


# ---------------------------------------------------------------- the run

def grade(submissions: Path, course_dir: Path, force: bool = False,
          only: list[str] | None = None, workers: int | None = None, scheduler=None,
          sandbox: bool = True, limits: dict | None = None, log=print,
          progress: bool = False, reference_dir: Path | None = None) -> list[Result]:
    """Autograde every student folder in ``submissions``; returns one Result per student and
    chapter, and writes ``grades.csv`` (and a timestamped copy) into the course directory.

    ``workers``: parallel notebooks on this machine (default: the number of cores);
    ``scheduler``: a Dask scheduler address (or a ``distributed.Client``) to run them on.
    ``sandbox=False`` runs student code with your permissions (``--unsafe-no-sandbox``).
    ``reference_dir``: where the reference records are cached (default: in the course).
    """
    from . import sandbox as sbx

    submissions = Path(submissions)
    students, results = students_of(submissions, log)
    if not students and not results:
        raise GradingError(f"{submissions} holds no student folders "
                           f"(expected {submissions}/<student>/<chapter>.ipynb)")
    if sandbox:
        try:
            sbx.check_available()
        except sbx.SandboxUnavailable as exc:
            raise GradingError(f"{exc}. Refusing to run student code unsandboxed; pass "
                               f"{UNSAFE_FLAG} only on a throw-away machine.") from None
    else:
        log("WARNING: grading WITHOUT a sandbox: student code runs with your permissions")
    slugs = [p.stem for p in build.chapter_sources()]
    if only:
        unknown = sorted(set(only) - set(slugs))
        if unknown:
            raise GradingError(f"unknown chapter(s) {unknown}; the course has {slugs}")
        slugs = [s for s in slugs if s in only]
    else:  # the chapters that anybody handed in
        names = {p.name for s in students for p in _scan(s)[0]}
        slugs = [s for s in slugs if f"{s}.ipynb" in names] or slugs
    data_dir, manifest = preflight_data()

    course = Course(Path(course_dir))
    if reference_dir is not None:
        course.reference_dir = Path(reference_dir)
    log(f"course directory: {course.root}")
    sources, refs, jobs = {}, {}, {}
    for slug in slugs:
        src = course.source(slug)
        sources[slug] = src
        log(f"[{slug}] building the gradebook entry from solutions/{slug}.md")
        course.update_assignment(slug, src)
        refs[slug] = _cached_reference(course, slug, src)
    base = {"sandbox": sandbox, "limits": limits or {}, "data_dir": data_dir, "manifest": manifest}

    pending_results: dict[tuple[str, str], Result] = {}
    for slug in slugs:
        ids = _grade_ids(sources[slug])
        for sdir in students:
            student = sdir.name
            res = Result(student, slug, "missing")
            try:
                path, nb, note = locate(sdir, slug, ids)
            except ValueError as exc:
                res.status, res.note = "corrupt", str(exc)
                results.append(_keep_old(course, res))
                continue
            if path is None:
                res.note = note
                results.append(_keep_old(course, res))
                continue
            res.note = note
            if course.is_graded(student, slug) and not force:
                res.status = "kept"
                res.note = "already graded; grade again with --force (FORCE=1)"
                results.append(_fill(course, res))
                continue
            job = dict(base, key=[student, slug], checks=autograde.checks(sources[slug]),
                       notebook=nbformat.writes(autograde.grading_notebook(nb, sources[slug])))
            jobs[(student, slug)] = job
            pending_results[(student, slug)] = res

    submit, completed, close = _executor(workers, scheduler)
    try:
        ref_futures = {submit(dict(base, key=["(reference)", slug], checks=autograde.checks(sources[slug]),
                                   notebook=nbformat.writes(autograde.reference_notebook(sources[slug])))): slug
                       for slug in slugs if refs[slug] is None}
        futures = {submit(job): key for key, job in jobs.items()}
        for fut in completed(list(ref_futures)):
            slug = ref_futures[fut]
            refs[slug] = _store_reference(course, slug, sources[slug], fut.result())
        bar = _bar(len(futures), progress)
        for fut in completed(list(futures)):
            key = futures[fut]
            res = pending_results[key]
            try:
                out = fut.result()
            except Exception as exc:  # a worker lost, a Dask error: this student only
                out = {"ok": False, "reason": f"the worker failed: {type(exc).__name__}: {exc}",
                       "log": "", "seconds": 0.0}
            results.append(_record(course, res, sources[key[1]], refs[key[1]], out, log))
            bar.update(1)
        bar.close()
    finally:
        close()
    order = {s: i for i, s in enumerate(slugs)}
    results.sort(key=lambda r: (order.get(r.assignment, -1), r.student))
    write_csv(course.root, results)
    log(summary_table(results))
    return results


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled or total == 0,
                file=sys.stderr)


def _reference_path(course: Course, slug: str, src) -> Path:
    return course.reference_dir / f"{slug}-{autograde.fingerprint(src)}.json"


def _cached_reference(course: Course, slug: str, src) -> dict | None:
    path = _reference_path(course, slug, src)
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return None


def _store_reference(course: Course, slug: str, src, out: dict) -> dict:
    """Check the reference run (every test recorded something) and cache it."""
    if not out.get("ok"):
        raise GradingError(f"the reference solution of {slug} did not run: {out.get('reason')}\n"
                           f"{out.get('log', '')[-2000:]}")
    res = out["result"]
    records = res.get("records", {})
    for test in autograde.tests(src):
        parsed, problem = autograde.parse_records(records.get(test.grade_id))
        if problem or not parsed:
            why = res.get("check_errors", {}).get(test.grade_id) or problem or "no records"
            raise GradingError(f"the reference solution of {slug} recorded nothing usable in "
                               f"{test.grade_id}: {why}")
    ref = {"records": records}
    path = _reference_path(course, slug, src)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, json.dumps(ref))
    return ref


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- verdicts and records

def _verdicts(src, ref: dict, result: dict) -> list[dict]:
    records = result.get("records") if isinstance(result.get("records"), dict) else {}
    errors = result.get("check_errors") if isinstance(result.get("check_errors"), dict) else {}
    out = []
    for test in autograde.tests(src):
        got = records.get(test.grade_id)
        err = errors.get(test.grade_id)
        err = err[:300] if isinstance(err, str) else ""
        passed, message = autograde.judge(ref["records"][test.grade_id], got, err)
        out.append({"test": test.grade_id, "points": test.points, "passed": passed,
                    "message": message})
    return out


def _record(course: Course, res: Result, src, ref: dict, out: dict, log) -> Result:
    """Judge one sandbox run and write the gradebook, the autograded notebook, the feedback."""
    if not out.get("ok"):
        res.status = "error"
        res.note = "; ".join(filter(None, [res.note, f"not graded: {out.get('reason')}"]))
        return _keep_old(course, res)
    result = out["result"]
    try:
        executed = nbformat.reads(result["notebook"], as_version=4)
    except Exception:
        executed = None
    verdicts = _verdicts(src, ref, result)
    died = result.get("died") if isinstance(result.get("died"), str) else ""
    answers = _written_answers(executed, src) if executed is not None else {}
    _write_gradebook(course, res.student, res.assignment, src, verdicts, answers)
    state = {"verdicts": verdicts, "died": died[:300], "seconds": out.get("seconds"),
             "visible_errors": _visible_errors(executed, src) if executed is not None else {},
             "answers": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in answers.items()}}
    if executed is not None:
        target = course.graded_dir(res.student, res.assignment) / f"{res.assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, nbformat.writes(_for_formgrader(executed, src)))
    _atomic_write(course.state_file(res.student, res.assignment), json.dumps(state))
    res.status = "graded"
    if died:
        res.note = "; ".join(filter(None, [res.note, died]))
    _fill(course, res)
    write_feedback(course, res.student, res.assignment)
    res.feedback = course.feedback_file(res.student, res.assignment)
    log(f"[{res.assignment}] {res.student}: {res.score:g}/{res.max_score:g} "
        f"in {out.get('seconds', 0):.0f} s")
    return res


def _official_meta(src) -> dict[str, dict]:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in src.cells
            if "nbgrader" in c.metadata}


def _written_answers(executed, src) -> dict[str, str]:
    manual = autograde.written(src)
    out = {}
    for cell in executed.cells:
        gid = autograde._meta(cell).get("grade_id")
        if cell.cell_type == "markdown" and gid in manual and gid not in out:
            out[gid] = cell.source
    return out


def _visible_errors(executed, src) -> dict[str, str]:
    """The error each visible test printed in the student's own run (their message to fix)."""
    ids = {t.grade_id for t in autograde.tests(src)}
    out = {}
    for cell in executed.cells:
        gid = autograde._meta(cell).get("grade_id")
        error = first_error(cell.get("outputs", [])) if cell.cell_type == "code" and gid in ids else None
        if error:
            out[gid] = f"{error.get('ename', '')}: {error.get('evalue', '')}"[:500]
    return out


SAFE_MIME = ("text/plain", "image/png")


def _for_formgrader(executed, src):
    """The executed notebook for nbgrader's Formgrader, made safe to open in the
    instructor's browser: the official nbgrader metadata (what the student's metadata claims
    is ignored), outputs reduced to text and PNG images (no HTML or JavaScript a student
    could plant), HTML in markdown shown as text, output size bounded."""
    meta = _official_meta(src)
    for cell in executed.cells:
        gid = autograde._meta(cell).get("grade_id")
        cell.metadata = {}
        if gid in meta:
            cell.metadata["nbgrader"] = dict(meta[gid])
        cell.pop("attachments", None)
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("<", "&lt;")
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", [])[:50]:
            kind = out.get("output_type")
            if kind == "stream":
                outputs.append(nbformat.v4.new_output("stream", name=str(out.get("name", "stdout"))[:6],
                                                      text=str(out.get("text", ""))[:20000]))
            elif kind in ("display_data", "execute_result"):
                data = {k: v for k, v in out.get("data", {}).items()
                        if k in SAFE_MIME and isinstance(v, (str, list))}
                if data:
                    outputs.append(nbformat.v4.new_output("display_data", data=data))
            elif kind == "error":
                outputs.append(nbformat.v4.new_output(
                    "error", ename=str(out.get("ename", ""))[:200], evalue=str(out.get("evalue", ""))[:2000],
                    traceback=[str(t)[:2000] for t in out.get("traceback", [])[:30]]))
        cell.outputs = outputs
    executed.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return executed


def _write_gradebook(course: Course, student: str, slug: str, src, verdicts, answers) -> None:
    """Write the scores into nbgrader's gradebook. Written answers graded by hand keep their
    score when the answer is unchanged; a changed answer waits for grading again."""
    from nbgrader.api import Gradebook, MissingEntry

    old_state = {}
    if course.state_file(student, slug).is_file():
        with open(course.state_file(student, slug), encoding="utf-8") as fh:
            old_state = json.load(fh).get("answers", {})
    import warnings

    with Gradebook(course.db_url) as gb, warnings.catch_warnings():
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
        for gid in autograde.written(src):
            g = gb.find_grade(gid, slug, slug, student)
            text = answers.get(gid, "")
            same = old_state.get(gid) == hashlib.sha256(text.encode()).hexdigest()
            if not same:
                g.manual_score = None
            if text.strip() in ("", "YOUR ANSWER HERE"):  # no answer: nothing to grade by hand
                g.manual_score = 0.0
            g.auto_score = None
            g.needs_manual_grade = g.manual_score is None
        gb.db.commit()


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
    if course.is_graded(res.student, res.assignment):
        _fill(course, res)
        res.note += "; the earlier grade is kept"
    return res


# ---------------------------------------------------------------- feedback

def write_feedback(course: Course, student: str, slug: str) -> Path | None:
    """The student's feedback page: each test's name, points and what was wrong, the visible
    test's own message, and the written answers' scores and comments. No hidden test code,
    no hidden inputs or expected values, no math (so it renders offline)."""
    s = course.scores(student, slug)
    state_path = course.state_file(student, slug)
    if s is None or not state_path.is_file():
        return None
    with open(state_path, encoding="utf-8") as fh:
        state = json.load(fh)
    e = html.escape
    rows = []
    for v in state["verdicts"]:
        visible = state.get("visible_errors", {}).get(v["test"], "")
        detail = "" if v["passed"] else e(v["message"])
        if visible:
            detail += f"<br><small>your visible test said: <code>{e(visible)}</code></small>"
        rows.append(f"<tr class=\"{'pass' if v['passed'] else 'fail'}\"><td><code>{e(v['test'])}</code></td>"
                    f"<td>{v['points'] if v['passed'] else 0:g} / {v['points']:g}</td>"
                    f"<td>{'passed' if v['passed'] else 'failed'}</td><td>{detail}</td></tr>")
    for w in s["written"]:
        score = "waits for grading" if w["score"] is None else f"{w['score']:g} / {w['max']:g}"
        rows.append(f"<tr class=\"manual\"><td><code>{e(w['name'])}</code></td><td>{e(score)}</td>"
                    f"<td>written answer</td><td>{e(w['comment'])}</td></tr>")
    died = f"<p class=\"fail\">{e(state['died'])}</p>" if state.get("died") else ""
    pending = (f"<p>{s['pending']:g} points of written answers wait for grading.</p>"
               if s["pending"] else "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Feedback: {e(slug)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .6em;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}.pass td:nth-child(3){{color:#070}}
.fail td:nth-child(3),p.fail{{color:#a00}}</style></head><body>
<h1>{e(slug)}: {s['score']:g} / {s['max_score']:g}</h1>
<p>Student: {e(student)}. Each test ran your functions on hidden inputs and compared the results
with the reference solution's.</p>{died}{pending}
<table><tr><th>test</th><th>points</th><th>result</th><th>what to look at</th></tr>
{''.join(rows)}
</table></body></html>
"""
    path = course.feedback_file(student, slug)
    _atomic_write(path, page)
    return path


# ---------------------------------------------------------------- grades.csv, export

def write_csv(root: Path, results: list[Result]) -> Path:
    """``grades.csv`` and a timestamped copy, each written atomically."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    for r in results:
        writer.writerow(r.row())
    lines = buf.getvalue()
    target = root / f"grades-{stamp}.csv"
    _atomic_write(target, lines)
    _atomic_write(root / "grades.csv", lines)
    return target


def export(course_dir: Path, log=print) -> list[Result]:
    """After manual grading in the formgrader: final totals into ``grades.csv`` (our
    columns; rows of students without a grade are kept from the last run) and every
    feedback page regenerated with the written answers' scores and comments."""
    course = Course(Path(course_dir))
    if not course.db.is_file():
        raise GradingError(f"{course.root} has no gradebook; grade first")
    old: dict[tuple[str, str], dict] = {}
    if (course.root / "grades.csv").is_file():
        with open(course.root / "grades.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                old[(row["student"], row["assignment"])] = row
    results = []
    base = course.root / "lstmbook"
    done = set()
    for state in sorted(base.glob("*/*/grading.json")) if base.is_dir() else []:
        student, slug = state.parent.parent.name, state.parent.name
        row = old.get((student, slug), {})
        res = Result(student, slug, "graded", note=row.get("note", ""))
        _fill(course, res)
        write_feedback(course, student, slug)
        res.feedback = course.feedback_file(student, slug)
        results.append(res)
        done.add((student, slug))
    for key, row in old.items():
        if key not in done:
            results.append(Result(row["student"], row["assignment"], row["status"],
                                  note=row.get("note", "")))
    results.sort(key=lambda r: (r.assignment, r.student))
    write_csv(course.root, results)
    log(summary_table(results))
    return results


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
            notes.append(f"{what} wait for manual grading (nbgrader formgrader, then lstmbook export)")
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
