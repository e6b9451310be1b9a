"""The test model: what runs in the sandbox, and how the trusted grader judges it.

A chapter's graded test cell has a visible part (asserts the student sees and runs) and a
hidden part written with ``record`` (:mod:`.inside.record`). Grading a notebook:

1. :func:`grading_notebook`: the student's cells, with every graded test cell reset to its
   official visible part and every stale output dropped.
2. The sandbox runs it, then the hidden parts (:func:`checks`, each preceded by the chapter's
   hidden-test setup), which record results.
3. The same happens once for the reference solution (:func:`reference_notebook`).
4. :func:`.verdicts.judge`: a test passes when every record of the reference run has a record of the
   same key, kind and shape in the student's run, equal within the reference's tolerance.
   The kernel's own verdicts (a visible assert that failed or not) count for nothing.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..sources import HIDDEN, hidden_setup, is_hidden_setup, strip_regions



@dataclass
class Test:
    grade_id: str
    points: float
    visible: str
    hidden: str


def _split(source: str, begin: str, end: str) -> tuple[str, str]:
    """The text outside the ``begin``/``end`` regions, and the text inside them."""
    outside, inside = strip_regions(source, begin, end)
    return outside, "\n".join(inside)


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata, ``{}`` when it has none or it is malformed."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def tests(source_nb) -> list[Test]:
    """The graded code cells of a source notebook, in order."""
    out = []
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            visible, hidden = _split(cell.source, *HIDDEN)
            out.append(Test(meta["grade_id"], float(meta["points"]), visible, hidden))
    return out


def exercises(source_nb) -> dict[str, tuple[list[str], list[str]]]:
    """exercise grade_id -> (its "write it yourself" rule, the tests that grade it): the test
    cells between the exercise's solution cell and the next one."""
    out, current = {}, None
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            rule = cell.get("metadata", {}).get("lstmbook", {}).get("forbid", [])
            current = meta["grade_id"]
            out[current] = (list(rule), [])
        elif cell.cell_type == "code" and meta.get("grade") and current is not None:
            out[current][1].append(meta["grade_id"])
    return out


def written(source_nb) -> dict[str, float]:
    """grade_id -> points of the written answers (markdown cells graded by hand)."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"]) for c in source_nb.cells
            if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")}


def checks(source_nb) -> list[list[str]]:
    """``[[test, hidden code], ...]``: what runs in the sandbox after the notebook, each check
    preceded by the chapter's hidden-test setup (so its helpers are the reference's, whatever
    the student's notebook defined under the same names)."""
    setup = hidden_setup(source_nb)
    return [[t.grade_id, f"{setup}\n\n{t.hidden}" if setup else t.hidden] for t in tests(source_nb)]


def _clean(nb) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def grading_notebook(student_nb, source_nb):
    """The notebook the sandbox runs: the student's cells, graded test cells reset to their
    official visible part, no outputs. The student's own test cells, whatever their
    metadata claims, never replace the official ones."""
    official = {t.grade_id: t.visible for t in tests(source_nb)}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    seen = set()
    for cell in student_nb.cells:
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not isinstance(source, str):
            continue
        gid = nbgrader_meta(cell).get("grade_id")
        if cell.cell_type == "code" and gid in official:
            if gid in seen:
                continue
            seen.add(gid)
            source = official[gid]
        new = (nbformat.v4.new_code_cell if cell.cell_type == "code" else
               nbformat.v4.new_markdown_cell if cell.cell_type == "markdown" else
               nbformat.v4.new_raw_cell)(source)
        meta = nbgrader_meta(cell)
        if meta.get("grade_id"):
            new.metadata["nbgrader"] = copy.deepcopy(dict(meta))
        nb.cells.append(new)
    return nb


def reference_notebook(source_nb):
    """The reference solution as a student would hand it in: hidden parts and the hidden-test
    setup removed."""
    nb = copy.deepcopy(source_nb)
    nb.cells = [c for c in nb.cells if not is_hidden_setup(c)]
    for cell in nb.cells:
        if cell.cell_type == "code" and nbgrader_meta(cell).get("grade"):
            cell.source = _split(cell.source, *HIDDEN)[0]
    _clean(nb)
    return nb


def _recording_code() -> list[Path]:
    """The code a reference run's records depend on besides the chapter: the student package
    (the chapters import it), the code inside the sandbox, this module and the sources
    reader (which builds the checks)."""
    pkg = Path(__file__).resolve().parents[2]
    instructor = pkg / "instructor"
    files = [p for p in pkg.rglob("*") if p.suffix in (".py", ".json") and instructor not in p.parents]
    files += sorted((instructor / "grader" / "inside").glob("*.py"))
    files += [Path(__file__).resolve(), instructor / "sources.py"]
    return sorted(set(files))


def fingerprint(source_nb) -> str:
    """A hash of what the reference records depend on: the chapter source, the package's
    version and the code that records (:func:`_recording_code`), NumPy's and PyTorch's
    versions. Any change recomputes the reference records."""
    import numpy
    import torch

    from ... import __version__

    h = hashlib.sha256()
    h.update(json.dumps([c.source for c in source_nb.cells]).encode())
    h.update(f"{__version__} {numpy.__version__} {torch.__version__}".encode())
    pkg = Path(__file__).resolve().parents[2]
    for path in _recording_code():
        h.update(str(path.relative_to(pkg)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


