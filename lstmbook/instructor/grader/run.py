"""A grading run: a folder of submissions in, grades, feedback and a summary out.

``SUBMISSIONS/<student>/<NN_slug>.ipynb``, or nbgrader's own hand-in tree that ``nbgrader
collect`` fills (``<course>/submitted/<student>/<NN_slug>/<NN_slug>.ipynb`` with its
``timestamp.txt``) -> an nbgrader course directory (``autograder/course`` by default). The
steps, and who is trusted for what:

1. Pre-flight (trusted): a sandbox can be made, the chapters' data is there, the gradebook
   entry of each chapter is built from ``solutions/``.
2. Intake (trusted, :mod:`.intake`): each student's notebook is found and read without
   following links, with size and format limits; a bad file gets a reason, never stops the run.
3. Execution (untrusted, :mod:`.sandbox`): the student's notebook, then the hidden checks,
   which record results. In parallel on this machine (``workers``) or on a Dask cluster
   (``scheduler``). The reference solution goes through the same, once per chapter.
4. Verdicts (trusted, :mod:`.verdicts`): each test passes when the student's records match
   the reference's. Only this process writes the grade store (:mod:`.store`), the feedback
   and ``grades.csv`` (:mod:`.reports`); a grade already in the store is kept unless
   ``force``, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from ...check import first_error
from ..sources import chapter_sources
from . import conduct, intake, sandbox as sbx, testmodel
from .feedback import write_feedback
from .formgrader import for_formgrader
from .reports import summary_table, write_csv
from .store import Course, GradingError, Result, atomic_write
from .verdicts import judge, parse_records, runner_text

UNSAFE_FLAG = "--unsafe-no-sandbox"


def preflight_data() -> tuple[str | None, str]:
    """Make sure the chapters' data is prepared; returns the data folder and the manifest
    the sandbox reads. Stops the run (GradingError) when the data is unavailable."""
    from ... import data

    try:
        data.load_poems("tang300")
    except data.DataError as exc:
        raise GradingError(f"the chapters' data is unavailable, so no notebook would run: {exc}") from None
    return str(data.data_dir()), str(data.manifest_path())


def _executor(workers: int | None, scheduler: str | None):
    """``(submit, as_completed, close)`` over a local thread pool or a Dask cluster."""
    if scheduler:
        from distributed import Client, as_completed as dask_completed

        client = scheduler if not isinstance(scheduler, str) else Client(scheduler, timeout="60s")

        def submit(job):
            return client.submit(sbx.run_job, job, pure=False)

        def close():
            if isinstance(scheduler, str):
                client.close()
        return submit, dask_completed, close
    pool = ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1))
    return (lambda job: pool.submit(sbx.run_job, job)), as_completed, pool.shutdown


def grade(submissions: Path, course_dir: Path, force: bool = False,
          only: list[str] | None = None, workers: int | None = None, scheduler=None,
          sandbox: bool = True, limits: dict | None = None, log=print,
          progress: bool = False, reference_dir: Path | None = None,
          layout: str = "auto") -> list[Result]:
    """Autograde every student folder in ``submissions``; returns one Result per student and
    chapter of this run, and rewrites ``grades.csv`` (and a timestamped copy) from the grade
    store, so it holds every student and chapter ever graded in the course.

    ``workers``: parallel notebooks on this machine (default: the number of cores);
    ``scheduler``: a Dask scheduler address (or a ``distributed.Client``) to run them on.
    ``sandbox=False`` runs student code with your permissions (``--unsafe-no-sandbox``).
    ``reference_dir``: where the reference records are cached (default: in the course).
    ``layout``: ``folders`` (``<student>/<chapter>.ipynb``), ``nbgrader`` (nbgrader's
    ``submitted/<student>/<chapter>/<chapter>.ipynb`` with ``timestamp.txt``, whose time is
    kept as ``submitted_at``) or ``auto`` (:func:`.intake.layout_of` tells).
    """
    submissions = Path(submissions)
    if layout not in intake.LAYOUTS:
        raise GradingError(f"unknown layout {layout!r}; one of {', '.join(intake.LAYOUTS)}")
    if (submissions / "nbgrader_config.py").is_file() and (submissions / "submitted").is_dir():
        raise GradingError(f"{submissions} is an nbgrader course directory; grade the hand-ins that "
                           f"nbgrader collect put in {submissions / 'submitted'}")
    try:
        students, refused = intake.students_of(submissions, log)
    except ValueError as exc:
        raise GradingError(str(exc)) from None
    results = [Result(name, "*", "rejected", note=why) for name, why in refused]
    all_slugs = [p.stem for p in chapter_sources()]
    if layout == "auto":
        layout = intake.layout_of(submissions, students, all_slugs)
    if not students and not results:
        expected = "<student>/<chapter>/<chapter>.ipynb" if layout == "nbgrader" else "<student>/<chapter>.ipynb"
        raise GradingError(f"{submissions} holds no student folders (expected {submissions}/{expected})")
    if sandbox:
        try:
            sbx.check_available()
        except sbx.SandboxUnavailable as exc:
            raise GradingError(f"{exc}. Refusing to run student code unsandboxed; pass "
                               f"{UNSAFE_FLAG} only on a throw-away machine.") from None
    else:
        log("WARNING: grading WITHOUT a sandbox: student code runs with your permissions")
    slugs = all_slugs
    if only:
        unknown = sorted(set(only) - set(slugs))
        if unknown:
            raise GradingError(f"unknown chapter(s) {unknown}; the course has {slugs}")
        slugs = [s for s in slugs if s in only]
    else:  # the chapters that anybody handed in
        slugs = intake.handed_in(students, slugs, layout) or slugs
    data_dir, manifest = preflight_data()

    course = Course(Path(course_dir))
    if reference_dir is not None:
        course.reference_dir = Path(reference_dir)
    log(f"course directory: {course.root}")
    log(f"hand-ins: {submissions} ({'nbgrader' if layout == 'nbgrader' else 'one folder per student'} layout)")
    sources, refs, jobs = {}, {}, {}
    for slug in slugs:
        src = course.source(slug)
        sources[slug] = src
        log(f"[{slug}] building the gradebook entry from solutions/{slug}.md")
        course.update_assignment(slug, src)
        refs[slug] = course.cached_reference(slug, testmodel.fingerprint(src))
    base = {"sandbox": sandbox, "limits": limits or {}, "data_dir": data_dir, "manifest": manifest}

    pending_results: dict[tuple[str, str], Result] = {}
    for slug in slugs:
        ids = intake.grade_ids(sources[slug])
        for sdir in students:
            student = intake.student_id(sdir)
            res = Result(student, slug, "missing")
            try:
                path, nb, note, submitted_at = intake.hand_in(sdir, slug, ids, layout)
            except ValueError as exc:
                res.status, res.note = "corrupt", str(exc)
                results.append(_not_graded(course, res))
                continue
            if path is None:
                res.note = note
                results.append(_not_graded(course, res))
                continue
            res.note, res.submitted_at = note, submitted_at
            if course.is_graded(student, slug) and not force:
                res.status = "kept"
                res.note = "already graded; grade again with --force (FORCE=1)"
                results.append(course.fill(res))
                continue
            job = dict(base, key=[student, slug], checks=testmodel.checks(sources[slug]),
                       notebook=nbformat.writes(testmodel.grading_notebook(nb, sources[slug])))
            jobs[(student, slug)] = job
            pending_results[(student, slug)] = res

    submit, completed, close = _executor(workers, scheduler)
    try:
        ref_futures = {submit(dict(base, key=["(reference)", slug], checks=testmodel.checks(sources[slug]),
                                   notebook=nbformat.writes(testmodel.reference_notebook(sources[slug])))): slug
                       for slug in slugs if refs[slug] is None}
        futures = {submit(job): key for key, job in jobs.items()}
        for fut in completed(list(ref_futures)):
            slug = ref_futures[fut]
            refs[slug] = _reference(course, slug, sources[slug], fut.result())
        bar = _bar(len(futures), progress)
        for fut in completed(list(futures)):
            key = futures[fut]
            res = pending_results[key]
            try:
                out = fut.result()
            except Exception as exc:  # a worker lost, a Dask error: this student only
                out = {"ok": False, "reason": f"the worker failed: {type(exc).__name__}: {exc}",
                       "fault": "machine", "log": "", "seconds": 0.0}
            results.append(_record(course, res, sources[key[1]], refs[key[1]], out, log,
                                   jobs[key]["notebook"]))
            bar.update(1)
        bar.close()
    finally:
        close()
    order = {s: i for i, s in enumerate(slugs)}
    results.sort(key=lambda r: (order.get(r.assignment, -1), r.student))
    write_csv(course, extra=[r for r in results if r.status == "rejected"], order=all_slugs)
    log(summary_table(results))
    return results


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="notebook", disable=not enabled or total == 0,
                file=sys.stderr)


def _reference(course: Course, slug: str, src, out: dict) -> dict:
    """Check the reference run (every test recorded something) and cache its records."""
    if not out.get("ok"):
        raise GradingError(f"the reference solution of {slug} did not run: {out.get('reason')}\n"
                           f"{out.get('log', '')[-2000:]}")
    res = out["result"]
    records = res.get("records", {})
    for test in testmodel.tests(src):
        parsed, problem = parse_records(records.get(test.grade_id))
        if problem or not parsed:
            why = res.get("check_errors", {}).get(test.grade_id) or problem or "no records"
            raise GradingError(f"the reference solution of {slug} recorded nothing usable in "
                               f"{test.grade_id}: {why}")
    ref = {"records": records}
    course.save_reference(slug, testmodel.fingerprint(src), ref)
    return ref


def _verdicts(src, ref: dict, result: dict) -> list[dict]:
    records = result.get("records") if isinstance(result.get("records"), dict) else {}
    errors = result.get("check_errors") if isinstance(result.get("check_errors"), dict) else {}
    out = []
    for test in testmodel.tests(src):
        err = runner_text(errors.get(test.grade_id))
        passed, message = judge(ref["records"][test.grade_id], records.get(test.grade_id), err)
        out.append({"test": test.grade_id, "points": test.points, "passed": passed,
                    "message": message})
    return out


def _record(course: Course, res: Result, src, ref: dict, out: dict, log,
            job_notebook: str = "{}") -> Result:
    """Judge one sandbox run and write the grade store, the autograded notebook, the feedback.

    A run that failed for the grading machine's reasons (no sandbox, no kernel, a lost
    worker) is ``error`` and grades nothing. A run that the submission's own code broke
    (killed or stopped the runner, ran past the time limit) is graded: every test its checks
    did not reach scores 0, and the note says why."""
    if not out.get("ok") and out.get("fault") != "submission":
        res.status = "error"
        res.note = "; ".join(filter(None, [res.note, f"not graded: {out.get('reason')}"]))
        return _not_graded(course, res)
    if out.get("ok"):
        result = out["result"]
        died = runner_text(result.get("died"))
    else:  # the submission broke the run: nothing recorded, the notebook as handed in
        died = str(out.get("reason", ""))
        result = {"notebook": job_notebook, "records": {}, "check_errors": {}}
    try:
        executed = nbformat.reads(result["notebook"], as_version=4)
    except Exception:
        executed = None
    verdicts = _verdicts(src, ref, result)
    if not out.get("ok"):
        for v in verdicts:
            v["message"] = f"no results: {died}"
    zero, flags = conduct.assess(src, nbformat.reads(job_notebook, as_version=4))
    for v in verdicts:  # an exercise's "write it yourself" rule, read on the code
        if v["test"] in zero:
            v["passed"], v["message"] = False, zero[v["test"]]
    answers = _written_answers(executed, src) if executed is not None else {}
    course.write_gradebook(res.student, res.assignment, src, verdicts, answers)
    state = {"verdicts": verdicts, "died": died[:300], "seconds": out.get("seconds"),
             "visible_errors": _visible_errors(executed, src) if executed is not None else {},
             "answers": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in answers.items()},
             "review": flags, "submitted_at": res.submitted_at}
    if executed is not None:
        target = course.graded_dir(res.student, res.assignment) / f"{res.assignment}.ipynb"
        atomic_write(target, nbformat.writes(for_formgrader(executed, src)))
    res.status = "graded"
    if died:
        res.note = "; ".join(filter(None, [res.note, died]))
    course.save(res, state)
    course.fill(res)
    res.feedback = write_feedback(course, res.student, res.assignment)
    log(f"[{res.assignment}] {intake.printable(res.student)}: {res.score:g}/{res.max_score:g} "
        f"in {out.get('seconds', 0):.0f} s")
    return res


def _written_answers(executed, src) -> dict[str, str]:
    manual = testmodel.written(src)
    out = {}
    for cell in executed.cells:
        gid = testmodel.nbgrader_meta(cell).get("grade_id")
        if cell.cell_type == "markdown" and gid in manual and gid not in out:
            out[gid] = cell.source
    return out


def _visible_errors(executed, src) -> dict[str, str]:
    """The error each visible test printed in the student's own run (their message to fix)."""
    ids = {t.grade_id for t in testmodel.tests(src)}
    out = {}
    for cell in executed.cells:
        gid = testmodel.nbgrader_meta(cell).get("grade_id")
        error = first_error(cell.get("outputs", [])) if cell.cell_type == "code" and gid in ids else None
        if error:
            out[gid] = f"{error.get('ename', '')}: {error.get('evalue', '')}"[:500]
    return out


def _not_graded(course: Course, res: Result) -> Result:
    """A run that graded nothing (missing, corrupt, error) is stored with its reason; a bad
    new submission never erases an earlier grade: the note says that it is kept (and
    ``submitted_at`` is that of the graded hand-in)."""
    res.submitted_at = ""
    if course.is_graded(res.student, res.assignment):
        res.note += "; the earlier grade is kept"
        course.fill(res)
    course.save(res)
    return res
