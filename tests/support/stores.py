"""Grade stores for the tests that need one without grading: a course whose gradebook knows
some chapters' tests, as nbgrader's generate_assignment leaves it, and the source notebook of
such a chapter."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from lstmbook.instructor.grader.store import Course


def source_with_tests(tests: dict[str, float]) -> nbformat.NotebookNode:
    """A chapter's source notebook holding only its graded test cells (grade_id -> points)."""
    nb = nbformat.v4.new_notebook()
    for gid, points in tests.items():
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                     "grade_id": gid, "schema_version": 3}
        nb.cells.append(cell)
    return nb


def course_with_gradebook(root: Path, chapters: dict[str, dict[str, float]]) -> Course:
    """A course at ``root`` whose gradebook knows ``chapters`` (slug -> {test: points})."""
    c = Course(root)
    with Gradebook(c.db_url) as gb:
        for slug, tests in chapters.items():
            gb.update_or_create_assignment(slug)
            gb.add_notebook(slug, slug)
            for gid, points in tests.items():
                gb.add_grade_cell(gid, slug, slug, max_score=points, cell_type="code")
    return c
