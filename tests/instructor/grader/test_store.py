"""The grade store on its own (no sandbox): one database, ``grades.csv`` derived from it with
every student and chapter ever graded, details that survive a later bad hand-in, and a course
graded before the store keeps its grades."""
import csv
import json

import pytest
from nbgrader.api import Gradebook

from lstmbook.instructor.grader import feedback, reports
from lstmbook.instructor.grader.store import Course, GradingError, Result
from stores import course_with_gradebook, source_with_tests

CHAPTERS = {"01_a": {"test_one": 2.0, "test_two": 1.0}, "02_b": {"test_three": 4.0}}


@pytest.fixture
def course(tmp_path):
    """A course whose gradebook knows both chapters, as nbgrader's generate_assignment leaves it."""
    return course_with_gradebook(tmp_path / "course", CHAPTERS)


def _graded(course, student, slug, passed: set[str]):
    verdicts = [{"test": gid, "points": pts, "passed": gid in passed, "message": "" if gid in passed else
                 "1 of 1 hidden results wrong"} for gid, pts in CHAPTERS[slug].items()]
    course.write_gradebook(student, slug, source_with_tests(CHAPTERS[slug]), verdicts, {})
    res = Result(student, slug, "graded")
    course.save(res, {"verdicts": verdicts, "died": "", "visible_errors": {}, "answers": {}})
    return course.fill(res)


def _csv(course) -> dict[tuple[str, str], dict]:
    with open(course.root / "grades.csv", newline="", encoding="utf-8") as fh:
        return {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}


def test_grading_one_chapter_then_another_keeps_both_in_grades_csv(course):
    _graded(course, "ann", "02_b", {"test_three"})
    _graded(course, "bob", "02_b", set())
    reports.write_csv(course)
    _graded(course, "ann", "01_a", {"test_one"})  # a later run, of another chapter only
    reports.write_csv(course, order=["01_a", "02_b"])
    rows = _csv(course)
    assert set(rows) == {("ann", "01_a"), ("ann", "02_b"), ("bob", "02_b")}
    assert (rows[("ann", "02_b")]["score"], rows[("bob", "02_b")]["score"]) == ("4", "0")
    assert rows[("ann", "01_a")]["score"] == "2" and rows[("ann", "01_a")]["failed_tests"] == "test_two"
    assert list(rows)[0] == ("ann", "01_a")  # in course order
    assert len(list(course.root.glob("grades-*.csv"))) >= 1


def test_a_bad_hand_in_keeps_the_details_of_the_last_graded_run(course):
    _graded(course, "ann", "02_b", {"test_three"})
    course.save(Result("ann", "02_b", "corrupt", note="02_b.ipynb is not valid JSON; the earlier grade is kept"))
    assert course.state("ann", "02_b")["verdicts"][0]["passed"] is True
    reports.write_csv(course)
    row = _csv(course)[("ann", "02_b")]
    assert (row["status"], row["score"]) == ("corrupt", "4") and "earlier grade is kept" in row["note"]
    page = feedback.write_feedback(course, "ann", "02_b").read_text(encoding="utf-8")
    assert "4 / 4" in page  # the feedback page reads the same store


def test_a_student_never_graded_is_listed_without_points(course):
    course.save(Result("cy", "01_a", "missing", note="no 01_a.ipynb (found: no notebooks)"))
    reports.write_csv(course, extra=[Result("odd\\nname", "*", "rejected", note="not a usable id")])
    rows = _csv(course)
    assert rows[("cy", "01_a")]["score"] == "" and rows[("cy", "01_a")]["status"] == "missing"
    assert rows[("odd\\nname", "*")]["status"] == "rejected"
    assert not course.is_graded("cy", "01_a")


def test_export_reads_the_store_and_rewrites_every_feedback_page(course):
    _graded(course, "ann", "01_a", {"test_one", "test_two"})
    course.feedback_file("ann", "01_a").unlink(missing_ok=True)
    results = reports.export(course.root, log=lambda *_: None)
    assert [(r.student, r.assignment, r.score) for r in results] == [("ann", "01_a", 3.0)]
    assert course.feedback_file("ann", "01_a").is_file()
    assert _csv(course)[("ann", "01_a")]["score"] == "3"


def test_a_course_graded_before_the_store_keeps_its_grades(course):
    _graded(course, "ann", "01_a", {"test_one"})
    state = course.state("ann", "01_a")
    # what the grader wrote before the store: one grading.json per student and chapter
    import sqlite3
    with sqlite3.connect(course.db) as db:
        db.execute("DELETE FROM lstmbook_result")
    old = course.root / "lstmbook" / "ann" / "01_a" / "grading.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps(state))
    again = Course(course.root)
    assert again.is_graded("ann", "01_a") and again.state("ann", "01_a") == state
    assert [(r.student, r.score) for r in again.results()] == [("ann", 2.0)]
    assert not old.exists()


def test_nothing_is_stored_before_nbgrader_made_the_gradebook(tmp_path):
    with pytest.raises(GradingError, match="no gradebook yet"):
        Course(tmp_path / "fresh").save(Result("ann", "01_a", "missing"))


def test_the_gradebook_entry_is_rebuilt_only_when_the_source_changed(tmp_path, monkeypatch):
    """Grading a chapter again does not run nbgrader's generate_assignment again, unless the
    source, the configuration, the release or the gradebook entry changed."""
    c = Course(tmp_path / "course")
    runs = []

    def generate_assignment(self, command, slug, *args, **kw):  # what it leaves behind, quickly
        runs.append(command)
        (self.root / "release" / slug).mkdir(parents=True, exist_ok=True)
        (self.root / "release" / slug / f"{slug}.ipynb").write_text("{}")
        with Gradebook(self.db_url) as gb:
            gb.update_or_create_assignment(slug)
        return 0, ""

    monkeypatch.setattr(Course, "nbgrader", generate_assignment)
    src = source_with_tests(CHAPTERS["01_a"])
    c.update_assignment("01_a", src)
    c.update_assignment("01_a", src)
    assert runs == ["generate_assignment"]
    src.cells[0].source = "x = 1"
    c.update_assignment("01_a", src)
    assert len(runs) == 2
    (c.root / "release" / "01_a" / "01_a.ipynb").unlink()
    c.update_assignment("01_a", src)
    assert len(runs) == 3
    (c.root / "nbgrader_config.py").write_text((c.root / "nbgrader_config.py").read_text() + "\n# changed\n")
    c.update_assignment("01_a", src)
    assert len(runs) == 4
    c.update_assignment("01_a", src)
    assert len(runs) == 4
    with Gradebook(c.db_url) as gb:
        gb.remove_assignment("01_a")
    c.update_assignment("01_a", src)
    assert len(runs) == 5
