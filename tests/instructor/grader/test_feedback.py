"""The feedback page shows the student's notebook as it ran, with each test's verdict beside
its cell, and nothing of the student's becomes markup: code and outputs are text, long ones
cut; HTML, JavaScript and SVG outputs are not rendered; images only as real PNGs. (The
real-browser check of a hostile hand-in is in test_hostile_pages.)"""
from __future__ import annotations

import base64
import struct
import zlib

import nbformat
import pytest
from nbgrader.api import Gradebook

from lstmbook.instructor.grader import feedback
from lstmbook.instructor.grader.formgrader import safe_markdown
from lstmbook.instructor.grader.store import Course, Result
from pages import Tags

SLUG = "02_b"
CODE = "def step(x):\n    # </pre><script>window.__pwned=1</script>\n    return x + 1\n"


def _png() -> str:
    """A 1x1 PNG, base64."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def _meta(cell, gid, **kw):
    cell.metadata["nbgrader"] = {"grade_id": gid, "schema_version": 3, "locked": False, **kw}
    return cell


def _notebook():
    """An autograded notebook: a heading and prose, an exercise, two test cells with every kind
    of output, a written answer."""
    md = nbformat.v4.new_markdown_cell(safe_markdown("# The NumPy LSTM\n\nThe chapter's prose, PROSE-7f3."))
    ex = _meta(nbformat.v4.new_code_cell(CODE), "ex_step", solution=True, grade=False)
    t3 = _meta(nbformat.v4.new_code_cell("assert step(1) == 2"), "test_three", grade=True, solution=False, points=4)
    t3.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="".join(f"line {i}\n" for i in range(100))),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="step(1) is 3",
                               traceback=["\x1b[0;31mAssertionError\x1b[0m: step(1) is 3"]),
    ]
    t4 = _meta(nbformat.v4.new_code_cell("show()"), "test_four", grade=True, solution=False, points=1)
    t4.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/html": "<b>HTML-ONLY</b><script>window.__pwned=1</script>",
            "application/javascript": "JS-ONLY; window.__pwned = 1", "text/plain": "PLAIN-SHOWN"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload=\"alert('SVG-ONLY')\"></svg>"}),
        nbformat.v4.new_output("display_data", data={"image/png": _png()}),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(b"<svg onload=alert(1)>").decode()}),
    ]
    answer = _meta(nbformat.v4.new_markdown_cell(safe_markdown("The forget gate **keeps** c <script>x</script>")),
                   "why", grade=True, solution=True, points=2)
    return nbformat.v4.new_notebook(cells=[md, ex, t3, t4, answer])


@pytest.fixture
def page(tmp_path) -> str:
    course = Course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(SLUG)
        gb.add_notebook(SLUG, SLUG)
        gb.add_grade_cell("test_three", SLUG, SLUG, max_score=4.0, cell_type="code")
        gb.add_grade_cell("test_four", SLUG, SLUG, max_score=1.0, cell_type="code")
        gb.add_grade_cell("why", SLUG, SLUG, max_score=2.0, cell_type="markdown")
    src = nbformat.v4.new_notebook(cells=[_meta(nbformat.v4.new_markdown_cell("x"), "why", grade=True,
                                                solution=True, points=2)])
    verdicts = [{"test": "test_three", "points": 4.0, "passed": False,
                 "message": "3 of 5 hidden results wrong; first: h/102: values differ (largest difference of order 1e-1)"},
                {"test": "test_four", "points": 1.0, "passed": True, "message": ""}]
    course.write_gradebook("ann", SLUG, src, verdicts, {"why": "The forget gate keeps c"})
    course.save(Result("ann", SLUG, "graded"), {"verdicts": verdicts, "died": "", "answers": {},
                                                "visible_errors": {"test_three": "AssertionError: step(1) is 3"}})
    course.graded_dir("ann", SLUG).mkdir(parents=True)
    nbformat.write(_notebook(), course.graded_dir("ann", SLUG) / f"{SLUG}.ipynb")
    return feedback.write_feedback(course, "ann", SLUG).read_text(encoding="utf-8")


def _cell_of(page: str, gid: str) -> str:
    start = page.index(f"<div class=\"cell\" id=\"{gid}\">")
    return page[start:page.index("<div class=\"cell\"", start + 1)]


def test_the_page_shows_the_students_code_and_outputs_with_the_verdict_at_each_test(page):
    text = "".join(Tags(page).text)
    assert CODE.strip() in text  # the student's code, as text
    assert "cell 2: your exercise, graded by test_three, test_four" in text
    three = _cell_of(page, "test_three")
    assert "0 / 4, failed" in three and "h/102: values differ (largest difference of order 1e-1)" in three
    assert "your visible test said" in three and "step(1) is 3" in three
    assert "line 39<" in three and "line 40" not in three and "60 more lines" in three
    assert "\x1b" not in page and "AssertionError</span>" not in page  # colours gone, text kept
    four = _cell_of(page, "test_four")
    assert "1 / 1, passed" in four and "PLAIN-SHOWN" in four
    assert "The forget gate keeps c" in text and "waits for grading" in text  # the written answer
    assert "The NumPy LSTM" in text and "PROSE-7f3" not in text  # headings to find one's way, not the prose


def test_nothing_of_the_students_becomes_markup(page):
    p = Tags(page)
    assert "<script" not in page.lower() and "onload" not in page
    assert "HTML-ONLY" not in page and "JS-ONLY" not in page and "SVG-ONLY" not in page
    assert set(p.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table",
                           "tr", "th", "td", "code", "br", "small", "a", "div", "pre", "strong", "img", "ul", "li"}
    srcs = [v for t, k, v in p.attrs if k == "src"]
    assert srcs == [f"data:image/png;base64,{_png()}"]  # the real PNG; the fake one is dropped
    assert sorted(v for t, k, v in p.attrs if k == "href") == ["#test_four", "#test_three"]
    assert sorted(v for t, k, v in p.attrs if k == "id") == ["test_four", "test_three"]
    allowed = {"lang", "charset", "http-equiv", "content", "class", "href", "id", "src", "alt"}
    assert not [a for a in p.attrs if a[1] not in allowed]
    assert "script-src" not in feedback.CSP and "img-src data:;" in feedback.CSP


def test_a_page_without_the_notebook_still_gives_the_verdicts(tmp_path):
    course = Course(tmp_path / "course")
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(SLUG)
        gb.add_notebook(SLUG, SLUG)
        gb.add_grade_cell("test_three", SLUG, SLUG, max_score=4.0, cell_type="code")
    verdicts = [{"test": "test_three", "points": 4.0, "passed": True, "message": ""}]
    course.write_gradebook("bo", SLUG, nbformat.v4.new_notebook(), verdicts, {})
    course.save(Result("bo", SLUG, "graded"), {"verdicts": verdicts, "died": "", "answers": {}})
    page = feedback.write_feedback(course, "bo", SLUG).read_text(encoding="utf-8")
    assert "4 / 4" in page and "is not in the course folder" in page
    (course.graded_dir("bo", SLUG) / f"{SLUG}.ipynb").parent.mkdir(parents=True)
    (course.graded_dir("bo", SLUG) / f"{SLUG}.ipynb").write_text("{not json", encoding="utf-8")
    page = feedback.write_feedback(course, "bo", SLUG).read_text(encoding="utf-8")
    assert "4 / 4" in page and "cannot be read" in page


def test_the_exercise_labels_come_from_the_chapter_and_a_deleted_test_has_no_dead_link(tmp_path):
    """A student who moved an exercise cell or deleted a test cell: the labels follow the
    chapter's source, and the summary links only to test cells that are on the page."""
    slug = "02_numpy_lstm"
    course = Course(tmp_path / "course")
    src = course.source(slug)
    tests = [c.metadata["nbgrader"]["grade_id"] for c in src.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    with Gradebook(course.db_url) as gb:
        gb.update_or_create_assignment(slug)
        gb.add_notebook(slug, slug)
        for t in tests:
            gb.add_grade_cell(t, slug, slug, max_score=1.0, cell_type="code")
    verdicts = [{"test": t, "points": 1.0, "passed": True, "message": ""} for t in tests]
    course.write_gradebook("ann", slug, nbformat.v4.new_notebook(), verdicts, {})
    course.save(Result("ann", slug, "graded"), {"verdicts": verdicts, "died": "", "answers": {}})
    exercise = _meta(nbformat.v4.new_code_cell("def lstm_step_forward(): pass"), "lstm_step_forward",
                     solution=True, grade=False)
    kept = _meta(nbformat.v4.new_code_cell("pass"), tests[1], grade=True, solution=False, points=1)
    nb = nbformat.v4.new_notebook(cells=[kept, exercise])  # the exercise moved below a test, tests[0] deleted
    course.graded_dir("ann", slug).mkdir(parents=True)
    nbformat.write(nb, course.graded_dir("ann", slug) / f"{slug}.ipynb")
    page = feedback.write_feedback(course, "ann", slug).read_text(encoding="utf-8")
    hrefs = [v for t, k, v in Tags(page).attrs if k == "href"]
    assert hrefs == [f"#{tests[1]}"]
    assert f"cell 2: your exercise, graded by {tests[0]}" in "".join(Tags(page).text)
