"""The grading system itself, on chapter 2: the real `lstmbook grade` on a small class
(reference, blank, a planted bug, broken hand-ins), the CSV, feedback pages, re-grading
without and with --force, the sandbox and data checks, and Dask. What each chapter's tests
catch (every planted bug, every correct style) is ``test_grading_chapters.py``."""
import csv
import html
import re

import nbformat
import pytest

import mutants_02 as m02
from lstmbook import cli
from lstmbook.instructor import grader
from submissions import chapter, submission

pytestmark = pytest.mark.slow  # grades in the sandbox

SLUG = m02.SLUG


def _student(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_")


BUG = "forget gate ignores the carried cell gradient"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_dir):
    subs = tmp_path_factory.mktemp("submissions")
    course = tmp_path_factory.mktemp("course")

    def hand_in(student, nb, name=f"{SLUG}.ipynb"):
        (subs / student).mkdir(exist_ok=True)
        nbformat.write(nb, subs / student / name)

    hand_in("reference", submission(SLUG))
    hand_in("blank", chapter(SLUG))
    hand_in(_student(BUG), submission(SLUG, m02.BUGS[BUG].replacement(SLUG)))
    hand_in("renamed", submission(SLUG), name=f"{SLUG} (1).ipynb")
    hand_in("crash", submission(SLUG, {"lstm_forward": "import os\nos._exit(1)"}))
    (subs / "corrupt").mkdir()
    (subs / "corrupt" / f"{SLUG}.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    (subs / "missing").mkdir()
    (subs / "missing" / "answers.txt").write_text("I forgot the notebook")

    messages = []
    results = grader.grade(subs, course, log=messages.append, workers=2,
                            reference_dir=reference_dir)
    return {r.student: r for r in results}, subs, course, "\n".join(messages)


def test_reference_solution_scores_full_marks(graded):
    r = graded[0]["reference"]
    assert r.status == "graded" and r.failed == []
    assert r.max_score >= 15 and r.score == r.max_score


def test_blank_notebook_scores_zero_with_every_test_failing(graded):
    r = graded[0]["blank"]
    assert r.status == "graded" and r.score == 0
    tests = {c.metadata["nbgrader"]["grade_id"] for c in chapter(SLUG).cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    assert set(r.failed) == tests


def test_a_planted_bug_loses_points_in_its_test(graded):
    r = graded[0][_student(BUG)]
    assert r.status == "graded" and 0 < r.score < r.max_score
    assert m02.BUGS[BUG].test in r.failed


def test_broken_hand_ins_get_reasons_and_do_not_stop_the_others(graded):
    results = graded[0]
    assert results["corrupt"].status == "corrupt"
    assert f"{SLUG}.ipynb is not" in results["corrupt"].note
    assert results["missing"].status == "missing"
    assert f"no {SLUG}.ipynb (found: no notebooks)" in results["missing"].note
    assert results["renamed"].status == "graded"
    assert results["renamed"].score == results["renamed"].max_score
    assert f"graded {SLUG} (1).ipynb" in results["renamed"].note
    # a notebook whose code kills its kernel is graded: the tests it never reached fail
    assert results["crash"].status == "graded" and results["crash"].score == 0
    assert "kernel died" in results["crash"].note
    # every other student was graded
    assert {r.status for s, r in results.items() if s not in {"corrupt", "missing"}} == {"graded"}


def test_grades_csv_feedback_and_summary(graded):
    results, subs, course, log = graded
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert set(rows) == set(results)
    assert rows["reference"]["score"] == rows["reference"]["max_score"] != ""
    assert rows["blank"]["score"] == "0"
    assert rows["missing"]["score"] == "" and rows["missing"]["status"] == "missing"
    feedback = course / "feedback" / "blank" / SLUG / f"{SLUG}.html"
    assert feedback.is_file() and "test_lstm_step_forward" in feedback.read_text(encoding="utf-8")
    assert results["reference"].feedback is not None
    assert re.search(r"^reference\s+02_numpy_lstm\s+(\d+)/\1\s+graded", log, re.M)
    assert re.search(r"^corrupt\s+02_numpy_lstm\s+-\s+corrupt\s+", log, re.M)


def test_the_feedback_page_shows_the_students_own_code_beside_the_verdicts(graded):
    _, _, course, _ = graded
    page = (course / "feedback" / _student(BUG) / SLUG / f"{SLUG}.html").read_text(encoding="utf-8")
    code = max((ln.strip() for c in m02.BUGS[BUG].replacement(SLUG).values() for ln in c.splitlines()), key=len)
    assert html.escape(code) in page  # the student's own (buggy) line
    cell = page[page.index(f'id="{m02.BUGS[BUG].test}"'):]
    assert cell.index("failed") < cell.index("<pre")  # its verdict opens the test's cell, above its code


def test_the_class_report_and_the_similarity_report_of_the_graded_class(graded, capsys):
    """``lstmbook report`` and ``lstmbook similarity`` on a class graded for real: the wide CSV
    holds every graded student's score, the notebook that died is listed with its cell, and
    the two students who handed in the reference solution match the reference, not each other."""
    results, _, course, _ = graded
    assert cli.main(["report", "--course", str(course)]) == 0
    with open(course / "report-wide.csv", newline="", encoding="utf-8") as fh:
        wide = {row["student"]: row for row in csv.DictReader(fh)}
    full = results["reference"].max_score
    assert wide["reference"][SLUG] == wide["renamed"][SLUG] == f"{full:g}" and wide["blank"][SLUG] == "0"
    assert wide["corrupt"][SLUG] == "" and wide["corrupt"]["total"] == "0"
    page = (course / "report.html").read_text(encoding="utf-8")
    assert "crash" in page and "the kernel died while running cell" in page
    assert cli.main(["similarity", "--course", str(course)]) == 0
    with open(course / "similarity.csv", newline="", encoding="utf-8") as fh:
        pairs = {frozenset((r["student_a"], r["student_b"])): r for r in csv.DictReader(fh)}
    twins = pairs[frozenset(("reference", "renamed"))]
    assert float(twins["raw_similarity_a_to_b"]) > 0.9 and float(twins["similarity_a_to_b"]) < 0.1
    assert float(twins["a_matches_reference"]) > 0.9 and float(twins["b_matches_reference"]) > 0.9
    assert "similarity.html" in capsys.readouterr().out


def test_no_grade_is_overwritten_without_force(graded, tmp_path, capsys):
    results, _, course, _ = graded
    again = tmp_path / "again"
    (again / "reference").mkdir(parents=True)
    (again / "reference" / f"{SLUG}.ipynb").write_text("not a notebook")
    (again / "blank").mkdir()
    nbformat.write(submission(SLUG), again / "blank" / f"{SLUG}.ipynb")

    assert cli.main(["grade", str(again), "--course", str(course), "--chapter", SLUG]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^blank\s+02_numpy_lstm\s+0/\d+\s+kept\s+already graded", out, re.M)
    assert re.search(r"^reference\s+02_numpy_lstm\s+(\d+)/\1\s+corrupt\s+.*earlier grade is kept", out, re.M)
    full = results["reference"].max_score

    assert cli.main(["grade", str(again), "--course", str(course), "--chapter", SLUG, "--force"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^blank\s+02_numpy_lstm\s+{full:g}/{full:g}\s+graded", out, re.M)


def test_a_submissions_folder_without_students_is_refused(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path), "--course", str(tmp_path / "c")]) == 1
    assert "holds no student folders" in capsys.readouterr().err
    assert cli.main(["grade", str(tmp_path / "nope"), "--course", str(tmp_path / "c")]) == 1
    assert "is not a folder of student folders" in capsys.readouterr().err


def test_feedback_names_each_test_with_points_and_never_shows_hidden_code(graded):
    results, _, course, _ = graded
    page = (course / "feedback" / "forget_gate_ignores_the_carried_cell_gradient" / SLUG
            / f"{SLUG}.html").read_text(encoding="utf-8")
    assert "test_lstm_step_backward" in page and "failed" in page
    assert "hidden results wrong" in page
    assert "record(" not in page and "BEGIN HIDDEN" not in page and "_seed" not in page
    assert "cdn" not in page.lower() and "<script" not in page  # nothing to fetch: renders offline


def test_no_sandbox_no_grading_unless_the_unsafe_flag(tmp_path, monkeypatch, capsys):
    from lstmbook.instructor.grader import sandbox

    (tmp_path / "subs" / "a").mkdir(parents=True)
    nbformat.write(chapter(SLUG), tmp_path / "subs" / "a" / f"{SLUG}.ipynb")
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    assert cli.main(["grade", str(tmp_path / "subs"), "--course", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "no bwrap found" in err and "--unsafe-no-sandbox" in err
    assert not (tmp_path / "c" / "grades.csv").exists()


def test_no_data_stops_before_grading(tmp_path, monkeypatch, capsys):
    (tmp_path / "subs" / "a").mkdir(parents=True)
    nbformat.write(chapter(SLUG), tmp_path / "subs" / "a" / f"{SLUG}.ipynb")
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv("LSTMBOOK_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("LSTMBOOK_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    assert cli.main(["grade", str(tmp_path / "subs"), "--course", str(tmp_path / "c")]) == 1
    assert "the chapters' data is unavailable" in capsys.readouterr().err
    assert not (tmp_path / "c" / "grades.csv").exists()


def test_the_same_grading_on_a_dask_cluster(graded, tmp_path, reference_dir):
    """``--scheduler``: the notebooks run on Dask workers; the verdicts are the same."""
    from distributed import Client, LocalCluster

    results, subs, _, _ = graded
    picked = tmp_path / "subs"
    for student in ("reference", "blank", "forget_gate_ignores_the_carried_cell_gradient"):
        (picked / student).mkdir(parents=True)
        nbformat.write(nbformat.read(subs / student / f"{SLUG}.ipynb", as_version=4),
                       picked / student / f"{SLUG}.ipynb")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = grader.grade(picked, tmp_path / "course", scheduler=cluster.scheduler_address,
                                log=lambda *_: None, reference_dir=reference_dir)
    assert len(on_dask) == 3
    for r in on_dask:
        local = results[r.student]
        assert (r.status, r.score, r.failed) == (local.status, local.score, local.failed)


def test_dataloader_workers_run_in_the_sandbox():
    """A DataLoader with worker processes takes POSIX semaphores in /dev/shm: the sandbox user
    must be able to, or a correct answer that uses workers is graded as broken."""
    from lstmbook.instructor.grader import sandbox

    code = ("import multiprocessing\nfrom torch.utils.data import DataLoader\n"
            "lock_ok = multiprocessing.Lock().acquire()\n"
            "total = sum(int(b.sum()) for b in DataLoader(list(range(10)), batch_size=3, num_workers=2))\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    r = sandbox.run_job({"notebook": nbformat.writes(nb), "sandbox": True,
                         "checks": [["t", "record('lock', lock_ok, exact=True)\nrecord('total', total, exact=True)"]]})
    assert r["ok"], (r["reason"], r["log"][-2000:])
    assert r["result"]["check_errors"] == {"t": ""}, r["result"]["check_errors"]
    assert '"total"' in r["result"]["records"]["t"] and "45" in r["result"]["records"]["t"]


def test_grading_another_chapter_into_the_course_keeps_every_grade_in_the_csv(graded, tmp_path, reference_dir):
    """Chapter 2 was graded into the course; grading chapter 1 for one student afterwards
    leaves grades.csv with both chapters and every student of the first run."""
    results, _, course, _ = graded
    subs = tmp_path / "chapter1"
    (subs / "reference").mkdir(parents=True)
    nbformat.write(submission("01_gradients"), subs / "reference" / "01_gradients.ipynb")
    (one,) = grader.grade(subs, course, only=["01_gradients"], log=lambda *_: None, reference_dir=reference_dir)
    assert one.status == "graded" and one.score == one.max_score - 5  # written answers wait
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(row["student"], row["assignment"]): row for row in csv.DictReader(fh)}
    assert ("reference", "01_gradients") in rows
    assert {s for s, a in rows if a == SLUG} == set(results)
    assert rows[("reference", SLUG)]["score"] == f"{results['reference'].score:g}"
