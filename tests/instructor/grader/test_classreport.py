"""The class report on its own (no sandbox): a synthetic class of eight students over two
chapters with known outcomes, stored as a grading run stores them, and what the report makes
of it: histograms, the share of students who lost each test, the grouping of the first
differences, the notebooks that died and where, the wide CSV's totals, hostile names kept
harmless, and a clear error for a course with nothing to report."""
import csv
import html
import re

import pytest

from lstmbook.instructor.grader import classreport
from lstmbook.instructor.grader.classreport import class_report, difference_group
from lstmbook.instructor.grader.store import GradingError, Result
from stores import course_with_gradebook, source_with_tests

CHAPTERS = {"01_a": {"test_one": 2.0, "test_two": 1.0}, "02_b": {"test_three": 4.0, "test_four": 1.0}}
FORMULA = "=cmd|' /C calc'!A0"
SCRIPT = "<script>alert(1)</script>"
NOTE = "<img src=x onerror=alert(2)>.ipynb is not valid JSON; the earlier grade is kept"

VALUES_102 = "3 of 5 hidden results wrong; first: h/102: values differ (largest difference of order 1e-1)"
VALUES_7 = "2 of 5 hidden results wrong; first: h/7: values differ (largest difference of order 1e-3)"
SHAPE = "1 of 5 hidden results wrong; first: h/7: shape (2, 3), expected (3, 2)"
NOT_IMPLEMENTED = "no results: the check stopped with NotImplementedError"
TIMEOUT = "no results: the check stopped with CellTimeoutError at cell 7, line 3"
KERNEL_DIED = "the kernel died while running cell 12 (its code exits or crashes Python)"


def _course(root):
    return course_with_gradebook(root, CHAPTERS)


@pytest.fixture
def course(tmp_path):
    return _course(tmp_path / "course")


def _graded(course, student, slug, failed: dict[str, str] = {}, died="", seconds=None):
    """Store a graded run as run._record does: every test passes except those in ``failed``
    (test -> the verdict's message)."""
    verdicts = [{"test": gid, "points": pts, "passed": gid not in failed, "message": failed.get(gid, "")}
                for gid, pts in CHAPTERS[slug].items()]
    course.write_gradebook(student, slug, source_with_tests(CHAPTERS[slug]), verdicts, {})
    course.save(Result(student, slug, "graded", note=died),
                {"verdicts": verdicts, "died": died, "seconds": seconds, "visible_errors": {}, "answers": {}})


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """Eight students, two chapters, known outcomes (scores in the comments), and the report
    (built once: the tests only read it)."""
    course = _course(tmp_path_factory.mktemp("class") / "course")
    g = _graded
    g(course, "ann", "01_a", seconds=10)                                                      # 3
    g(course, "bob", "01_a", {"test_one": VALUES_102}, seconds=20)                            # 1
    g(course, "cy", "01_a", {"test_one": VALUES_7}, seconds=30)                               # 1
    g(course, "dee", "01_a", {"test_one": SHAPE, "test_two": NOT_IMPLEMENTED}, seconds=40)    # 0
    g(course, "eve", "01_a", {"test_one": NOT_IMPLEMENTED, "test_two": TIMEOUT},
      died=KERNEL_DIED, seconds=300)                                                          # 0
    course.save(Result("fay", "01_a", "missing", note="no 01_a.ipynb (found: no notebooks)"))
    g(course, FORMULA, "01_a", seconds=50)                                                    # 3
    g(course, SCRIPT, "01_a", {"test_two": "1 of 1 hidden results wrong; first: c/3: values differ"},
      seconds=60)                                                                             # 2
    course.save(Result(SCRIPT, "01_a", "corrupt", note=NOTE))  # a later bad hand-in: the grade stays

    g(course, "ann", "02_b", seconds=10)                                                      # 5
    g(course, "bob", "02_b", {"test_three": "1 of 2 hidden results wrong; first: returned/3/x: expected "
                              "numbers, got text"}, died="cell 4 stopped the run (CellTimeoutError)")  # 1
    course.save(Result("cy", "02_b", "missing", note="no 02_b.ipynb"))
    course.save(Result("dee", "02_b", "error", note="not graded: the runner could not start a kernel"))
    g(course, "eve", "02_b", {"test_four": "1 of 1 hidden results wrong; first: loss: values differ"})  # 4
    g(course, "fay", "02_b")                                                                  # 5
    g(course, FORMULA, "02_b")                                                                # 5
    course.save(Result(SCRIPT, "02_b", "corrupt", note="02_b.ipynb is not valid JSON"))
    files = class_report(course.root, log=lambda *_: None)
    return course, files


def _chapters(course):
    return {c.slug: c for c in classreport.chapter_stats(course, course.results())}


def _section(page: str, slug: str) -> str:
    start = page.index(f'<section id="{slug}">')
    return page[start:page.index("</section>", start)]


def _csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_histogram_counts_each_score_once_in_figures_and_page(klass):
    course, files = klass
    ch = _chapters(course)
    assert [(b.label, b.count) for b in ch["01_a"].histogram] == [("0", 2), ("1", 2), ("2", 1), ("3", 2)]
    assert [b.count for b in ch["02_b"].histogram] == [0, 1, 0, 0, 1, 3]
    page = files["report.html"].read_text(encoding="utf-8")
    bars = re.findall(r"<title>(\d+) students? scored ([^<]+)</title>", _section(page, "01_a"))
    assert bars == [("2", "0"), ("2", "1"), ("1", "2"), ("2", "3")]
    assert "mean 1.43 / 3, median 1" in _section(page, "01_a")  # (3+1+1+0+0+3+2)/7


def test_wide_scores_fall_into_ten_bars_with_the_maximum_in_the_last():
    bins = classreport.histogram([0.0, 2.5, 49.9, 50.0, 99.0, 100.0], 100.0)
    assert len(bins) == 10 and [b.count for b in bins] == [2, 0, 0, 0, 1, 1, 0, 0, 0, 2]


def test_each_test_says_what_share_of_the_graded_students_lost_it(klass):
    course, files = klass
    tests = {t.test: t for c in _chapters(course).values() for t in c.tests}
    # seven students hold a grade in 01_a (fay is missing; the corrupt hand-in keeps its grade)
    assert (tests["test_one"].lost, tests["test_one"].graded) == (4, 7)
    assert (tests["test_two"].lost, tests["test_two"].graded) == (3, 7)
    assert (tests["test_three"].lost, tests["test_three"].graded) == (1, 5)
    assert (tests["test_four"].lost, tests["test_four"].graded) == (1, 5)
    page = _section(files["report.html"].read_text(encoding="utf-8"), "01_a")
    assert "4 of 7 (57%)" in page and "3 of 7 (43%)" in page


def test_first_differences_group_across_indices_but_not_across_kinds(klass):
    assert difference_group(VALUES_102) == difference_group(VALUES_7) == "h: values differ"
    assert difference_group(SHAPE) == "h: wrong shape"
    assert difference_group(NOT_IMPLEMENTED) == "no results: the check stopped with NotImplementedError"
    assert difference_group(TIMEOUT) == "no results: the check stopped with CellTimeoutError"
    assert difference_group(NOT_IMPLEMENTED) != difference_group(TIMEOUT)
    assert difference_group("1 of 3 hidden results wrong; first: W/parameters after step 3: values differ") \
        == "W/parameters after step N: values differ"
    assert difference_group("") == ""
    course, files = klass
    tests = {t.test: t for c in _chapters(course).values() for t in c.tests}
    assert dict(tests["test_one"].groups) == {"h: values differ": 2, "h: wrong shape": 1,
                                              "no results: the check stopped with NotImplementedError": 1}
    page = _section(files["report.html"].read_text(encoding="utf-8"), "01_a")
    assert "<li>h: values differ: 2<br>" in page and "<li>h: wrong shape: 1<br>" in page


def test_the_notebooks_that_died_or_timed_out_are_listed_with_their_cell(klass):
    course, files = klass
    ch = _chapters(course)
    assert [(d.student, d.kind, d.cell) for d in ch["01_a"].died] == [("eve", "died", 12)]
    assert [(d.student, d.kind, d.cell) for d in ch["02_b"].died] == [("bob", "timed out", 4)]
    page = files["report.html"].read_text(encoding="utf-8")
    assert re.search(r"<tr><td>eve</td><td>died</td><td class=\"n\">12</td>", _section(page, "01_a"))
    assert ch["01_a"].median_seconds == 40 and "Median grading time 40 s" in _section(page, "01_a")
    assert ch["02_b"].median_seconds == 10  # runs without a recorded time are left out


def test_outcomes_that_graded_nothing_are_counted_per_chapter(klass):
    course, files = klass
    ch = _chapters(course)
    assert ch["01_a"].outcomes == {"graded": 6, "missing": 1, "corrupt": 1}
    assert ch["02_b"].outcomes == {"graded": 5, "missing": 1, "error": 1, "corrupt": 1}
    page = files["report.html"].read_text(encoding="utf-8")
    counts = re.search(r"<tr><td>02_b</td>((?:<td class=\"n\">\d+</td>)+)</tr>", page)[1]
    assert re.findall(r"\d+", counts) == ["8", "5", "0", "1", "1", "0", "1"]  # students, then STATUSES


def test_the_long_csv_has_one_row_per_student_chapter_and_test(klass):
    course, files = klass
    rows = _csv(files["report.csv"])
    assert list(rows[0]) == classreport.LONG_FIELDS
    assert len(rows) == 7 * 2 + 5 * 2  # graded students times tests
    bob = next(r for r in rows if (r["student"], r["chapter"], r["test"]) == ("bob", "01_a", "test_one"))
    assert (bob["points"], bob["max_points"], bob["passed"], bob["difference_group"], bob["message"]) == \
        ("0", "2", "no", "h: values differ", VALUES_102)
    ann = next(r for r in rows if (r["student"], r["chapter"], r["test"]) == ("ann", "02_b", "test_three"))
    assert (ann["points"], ann["passed"], ann["difference_group"]) == ("4", "yes", "")


def test_the_wide_csv_has_a_column_per_chapter_and_totals_of_what_was_graded(klass):
    course, files = klass
    rows = {r["student"]: r for r in _csv(files["report-wide.csv"])}
    assert list(next(iter(rows.values()))) == ["student", "01_a", "02_b", "total", "max_total"]
    assert len(rows) == 8
    assert (rows["ann"]["01_a"], rows["ann"]["02_b"], rows["ann"]["total"]) == ("3", "5", "8")
    assert (rows["cy"]["01_a"], rows["cy"]["02_b"], rows["cy"]["total"]) == ("1", "", "1")  # missing 02_b
    assert (rows["fay"]["01_a"], rows["fay"]["total"]) == ("", "5")  # missing 01_a
    assert (rows["dee"]["02_b"], rows["dee"]["total"]) == ("", "0")  # an error grades nothing
    assert (rows[SCRIPT]["01_a"], rows[SCRIPT]["02_b"]) == ("2", "")  # corrupt: the earlier grade / none
    assert {r["max_total"] for r in rows.values()} == {"8"}


def test_hostile_names_and_notes_are_escaped_in_the_page_and_neutralised_in_the_csvs(klass):
    course, files = klass
    page = files["report.html"].read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert html.escape(SCRIPT) in page and html.escape(NOTE) in page
    for name in ("report.csv", "report-wide.csv"):
        with open(files[name], newline="", encoding="utf-8") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        assert FORMULA not in cells and "'" + FORMULA in cells
        assert not any(c[:1] in ("=", "+", "-", "@") for c in cells)


def test_the_page_is_static_and_renders_offline(klass):
    course, files = klass
    page = files["report.html"].read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)[1]
    assert "default-src 'none'" in csp and "script-src" not in csp and "img-src" not in csp
    tags = re.findall(r"<[^>]*>", page)  # student text is escaped: every "<" opens a real tag
    loads = r"\b(src|href|action|data)\s*=|^</?(script|link|img|iframe|object)\b"
    assert not [t for t in tags if re.search(loads, t)]
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL)[1]
    assert "@import" not in style and "url(" not in style
    assert page.count("<svg") == 2


def test_the_summary_names_each_chapters_mean_and_most_lost_test(course):
    _graded(course, "ann", "01_a", {"test_two": VALUES_7})
    _graded(course, "bob", "01_a", {"test_one": VALUES_102, "test_two": VALUES_102})
    _graded(course, "cy", "01_a", {"test_two": SHAPE})
    lines = []
    files = class_report(course.root, log=lines.append)
    assert lines[0] == "01_a: 3 of 3 with a grade, mean 1.33/3; most lost: test_two (3 of 3, mostly h: values differ)"
    assert set(files) == {"report.html", "report.csv", "report-wide.csv"}
    assert all(p.parent == course.root and p.is_file() for p in files.values())


def test_an_empty_course_is_an_error_that_names_the_folder(tmp_path, course):
    nowhere = tmp_path / "no-such-course"
    with pytest.raises(GradingError, match=re.escape(str(nowhere))):
        class_report(nowhere, log=lambda *_: None)
    assert not nowhere.exists()  # a typo makes no course folder
    with pytest.raises(GradingError, match=re.escape(str(course.root)) + ".*no results"):
        class_report(course.root, log=lambda *_: None)  # a gradebook, nothing graded yet
    assert not (course.root / "report.html").exists()
