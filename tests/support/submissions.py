"""Make student submissions for tests: the blank notebook, the reference solution, and
solutions with some exercise cells replaced (planted bugs, other correct styles)."""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from course import ROOT
from lstmbook.instructor import sources


def chapter(slug: str) -> nbformat.NotebookNode:
    """The committed student notebook of ``slug``."""
    return nbformat.read(ROOT / "chapters" / f"{slug}.ipynb", as_version=4)


def reference_cells(slug: str) -> dict[str, str]:
    """grade_id -> the reference solution cell's source (code, or a written answer), solution
    markers removed."""
    nb = sources.source_notebook(ROOT / "solutions" / f"{slug}.md")
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):  # exercises, and written answers (markdown)
            lines = [ln for ln in cell.source.splitlines()
                     if "### BEGIN SOLUTION" not in ln and "### END SOLUTION" not in ln]
            cells[meta["grade_id"]] = "\n".join(lines)
    return cells


def fill(nb: nbformat.NotebookNode, slug: str, code: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Put ``code`` (grade_id -> source; default: the reference solutions) into the exercise
    cells of ``nb``, in place; returns ``nb``."""
    code = reference_cells(slug) if code is None else code
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in code and cell.metadata["nbgrader"].get("solution"):
            cell.source = code[gid]
    return nb


def submission(slug: str, replace: dict[str, str] | None = None,
               reference: bool = True) -> nbformat.NotebookNode:
    """The student notebook with every exercise filled with the reference solution
    (``reference``), then the cells in ``replace`` (grade_id -> code) swapped in."""
    nb = copy.deepcopy(chapter(slug))
    solutions = reference_cells(slug)
    code = dict(solutions) if reference else {}
    code.update(replace or {})
    unknown = set(replace or {}) - set(solutions)
    if unknown:
        raise KeyError(f"{slug} has no solution cells {sorted(unknown)}")
    return fill(nb, slug, code)


def with_function(slug: str, grade_id: str, old: str, new: str) -> str:
    """The reference code of ``grade_id`` with the text ``old`` replaced by ``new`` (a planted
    bug); fails loudly if ``old`` is not in the reference, so a bug never goes unplanted."""
    src = reference_cells(slug)[grade_id]
    if src.count(old) != 1:
        raise AssertionError(f"{grade_id}: {old!r} occurs {src.count(old)} times in the reference")
    return src.replace(old, new)
