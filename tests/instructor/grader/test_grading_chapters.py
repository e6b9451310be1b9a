"""The autograder on every chapter, one structure for all eight: the reference scores full
marks (written answers left for the instructor), the blank notebook zero, every planted bug
loses points in the test that names it, and correct answers in another style keep full marks.
One grading run. Planted bugs that cannot hide one another share a notebook (``sharing``:
other exercises, other tests, and neither test reaches the other bug's code), so the run
grades about 75 bug notebooks instead of 120. (``test_grading.py`` tests the grading system
itself: broken hand-ins, the CSV, feedback, re-grading, the sandbox and Dask.)"""
import csv
import re

import nbformat
import pytest

import sharing
from course import ROOT, SLUGS, planted
from lstmbook.instructor import grader, sources
from lstmbook.instructor.grader.store import Course
from submissions import chapter, submission

pytestmark = pytest.mark.slow  # grades in the sandbox

CHAPTERS = {slug: planted(slug) for slug in SLUGS}
#: Bugs whose test asserts more than the failure of their named test: graded alone.
ALONE = {"02_numpy_lstm": ["softmax without the max shift overflows"]}


def _bugs(m) -> dict:
    """bug name -> the test it must fail."""
    return {name: bug.test for name, bug in m.BUGS.items()}


def _name(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_")


def _shared(slug, m) -> list[list[str]]:
    src = sources.source_notebook(ROOT / "solutions" / f"{slug}.md")
    bugs = {name: (bug.test, bug.replacement(slug)) for name, bug in m.BUGS.items()}
    return sharing.groups(src, bugs, alone=ALONE.get(slug, ()))


def _students():
    """student -> (slug, what they hand in: 'reference' | 'blank' | ('bugs', [names]) |
    ('good', name)), and (slug, bug) -> the student whose notebook carries that bug."""
    out, carrier = {}, {}
    for slug, m in CHAPTERS.items():
        p = slug[:2]
        out[f"{p}_reference"] = (slug, "reference")
        out[f"{p}_blank"] = (slug, "blank")
        for group in _shared(slug, m):
            student = f"{p}_bug_{_name(group[0])}" + (f"_and_{len(group) - 1}_more" if len(group) > 1 else "")
            out[student] = (slug, ("bugs", group))
            carrier.update({(slug, bug): student for bug in group})
        for good in m.GOOD:
            out[f"{p}_good_{_name(good)}"] = (slug, ("good", good))
    return out, carrier


STUDENTS, CARRIER = _students()


def _graded_tests(slug):
    return {c.metadata["nbgrader"]["grade_id"] for c in chapter(slug).cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


def _manual_points(slug):
    return sum(c.metadata["nbgrader"]["points"] for c in chapter(slug).cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "markdown")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_dir):
    subs = tmp_path_factory.mktemp("submissions")
    course = tmp_path_factory.mktemp("course")
    for student, (slug, what) in STUDENTS.items():
        m = CHAPTERS[slug]
        if what == "reference":
            nb = submission(slug)
        elif what == "blank":
            nb = chapter(slug)
        elif what[0] == "bugs":
            cells = {}
            for bug in what[1]:
                cells.update(m.BUGS[bug].replacement(slug))
            nb = submission(slug, cells)
        else:
            nb = submission(slug, m.GOOD[what[1]])
        (subs / student).mkdir()
        nbformat.write(nb, subs / student / f"{slug}.ipynb")
    messages = []
    results = grader.grade(subs, course, log=messages.append, workers=2,
                            reference_dir=reference_dir)
    by_student = {(r.student, r.assignment): r for r in results}
    return by_student, "\n".join(messages), Course(course)


def _result(graded, student):
    return graded[0][(student, STUDENTS[student][0])]


@pytest.mark.parametrize("slug", sorted(CHAPTERS))
def test_reference_scores_every_autograded_point(graded, slug):
    r = _result(graded, f"{slug[:2]}_reference")
    manual = _manual_points(slug)
    assert r.status == "graded" and r.failed == []
    assert r.score == r.max_score - manual and r.score > 0
    assert r.pending == manual and r.manual == bool(manual)


def test_written_answers_are_left_for_the_instructor_and_the_summary_says_so(graded):
    r = _result(graded, "01_reference")
    assert r.pending == 5 and r.manual
    assert re.search(r"^01_reference\s+01_gradients\s+\d+/\d+\s+graded\s+5 points of written answers wait "
                     r"for manual grading", graded[1], re.M)
    assert r.row()["manual_points_pending"] == "5"


@pytest.mark.parametrize("slug", sorted(CHAPTERS))
def test_blank_notebook_scores_zero(graded, slug):
    r = _result(graded, f"{slug[:2]}_blank")
    assert r.status == "graded" and r.score == 0 and r.pending == 0
    assert set(r.failed) == _graded_tests(slug)


GOOD = [s for s, (_, what) in STUDENTS.items() if isinstance(what, tuple) and what[0] == "good"]


@pytest.mark.parametrize("slug, bug", sorted(CARRIER), ids=[f"{s[:2]}_{_name(b)}" for s, b in sorted(CARRIER)])
def test_a_planted_bug_loses_points_in_the_test_that_names_it(graded, slug, bug):
    r = _result(graded, CARRIER[(slug, bug)])
    assert r.status == "graded"
    assert r.score < r.max_score - _manual_points(slug)
    assert _bugs(CHAPTERS[slug])[bug] in r.failed


def test_bugs_share_notebooks_only_across_exercises_and_tests():
    """Two bugs in one notebook never replace the same exercise nor name the same test."""
    for student, (slug, what) in STUDENTS.items():
        if isinstance(what, tuple) and what[0] == "bugs":
            bugs = [CHAPTERS[slug].BUGS[b] for b in what[1]]
            tests = [b.test for b in bugs]
            cells = [gid for b in bugs for gid in b.replacement(slug)]
            assert len(set(tests)) == len(tests) and len(set(cells)) == len(cells), student


def test_only_hidden_tests_catch_the_overflowing_softmax(graded):
    """Chapter 2: its visible tests pass; the points it loses come from the hidden tests."""
    r = _result(graded, CARRIER[("02_numpy_lstm", "softmax without the max shift overflows")])
    assert r.failed == ["test_temporal_softmax_loss"]


@pytest.mark.parametrize("student", GOOD)
def test_a_correct_answer_in_another_style_keeps_full_marks(graded, student):
    slug, _ = STUDENTS[student]
    r = _result(graded, student)
    assert r.status == "graded" and r.failed == []
    assert r.score == r.max_score - _manual_points(slug)


@pytest.mark.parametrize("student", GOOD + [f"{slug[:2]}_reference" for slug in SLUGS])
def test_a_correct_answer_passes_every_visible_test_too(graded, student):
    """A visible assert that fails on a correct answer sends the student after a bug that is
    not there, even when the hidden checks give full marks."""
    slug, _ = STUDENTS[student]
    assert graded[2].state(student, slug)["visible_errors"] == {}


BUGGY = [s for s, (_, what) in STUDENTS.items() if isinstance(what, tuple) and what[0] == "bugs"]


@pytest.mark.parametrize("student", BUGGY)
def test_a_visible_test_that_fails_on_a_bug_costs_its_points(graded, student):
    """Visible and hidden agree: a test whose visible part fails on a planted bug also loses
    its points in the hidden part. Otherwise the student sees a red cell and loses nothing
    (the hidden check records nothing that differs): either the visible test asserts what the
    hidden part does not check, or the hidden part misses the bug."""
    slug, _ = STUDENTS[student]
    r = _result(graded, student)
    seen = set(graded[2].state(student, slug)["visible_errors"])
    assert seen <= set(r.failed), f"visible tests that failed but kept their points: {sorted(seen - set(r.failed))}"


def test_every_chapter_has_at_least_four_planted_bugs():
    for slug, m in CHAPTERS.items():
        assert len(_bugs(m)) >= 4, slug


def test_manual_grading_loses_nothing(tmp_path, reference_dir):
    """Formgrader -> ``lstmbook export``: final totals in our CSV, feedback regenerated; a
    forced regrade keeps the written grades of unchanged answers; a changed answer waits."""
    from nbgrader.api import Gradebook

    slug, quiet = "01_gradients", (lambda *_: None)
    subs, course = tmp_path / "subs", tmp_path / "course"
    (subs / "w").mkdir(parents=True)
    nb = submission(slug)
    nbformat.write(nb, subs / "w" / f"{slug}.ipynb")
    first = grader.grade(subs, course, log=quiet, reference_dir=reference_dir)[0]
    assert first.pending == 5 and first.score == first.max_score - 5
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # what the formgrader writes
        for gid, points in [("explain_two_paths", 3), ("explain_sum_over_time", 1)]:
            gb.find_grade(gid, slug, slug, "w").manual_score = points
            gb.find_comment(gid, slug, slug, "w").manual_comment = f"comment on {gid}"
        gb.db.commit()

    r = grader.export(course, log=quiet)[0]
    assert (r.score, r.pending, r.manual) == (first.max_score - 1, 0, False)
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["score"] == f"{first.max_score - 1:g}" and row["manual_points_pending"] == ""
    assert row["status"] == "graded" and "failed_tests" in row
    page = (course / "feedback" / "w" / slug / f"{slug}.html").read_text(encoding="utf-8")
    assert "comment on explain_two_paths" in page and "waits for grading" not in page

    again = grader.grade(subs, course, force=True, log=quiet, reference_dir=reference_dir)[0]
    assert (again.status, again.score, again.pending) == ("graded", first.max_score - 1, 0)

    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "explain_sum_over_time":
            cell.source += "\n\nA second thought."
    nbformat.write(nb, subs / "w" / f"{slug}.ipynb")
    changed = grader.grade(subs, course, force=True, log=quiet, reference_dir=reference_dir)[0]
    assert changed.pending == 2 and changed.score == first.max_score - 2


def test_make_grade_passes_the_chapter(root):
    import subprocess

    out = subprocess.run(["make", "-n", "grade", "SUBMISSIONS=x", "CHAPTER=02_numpy_lstm", "WORKERS=3"],
                         cwd=root, capture_output=True, text=True).stdout
    assert "--chapter 02_numpy_lstm" in out and "--workers 3" in out
