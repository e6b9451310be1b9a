"""The test model: what runs in the sandbox, and how the trusted grader judges it.

A chapter's graded test cell has a visible part (asserts the student sees and runs) and a
hidden part written with :func:`lstmbook.record.record`. Grading a notebook:

1. :func:`grading_notebook`: the student's cells, with every graded test cell reset to its
   official visible part and every stale output dropped.
2. The sandbox runs it, then the hidden parts (:func:`checks`), which record results.
3. The same happens once for the reference solution (:func:`reference_notebook`).
4. :func:`judge`: a test passes when every record of the reference run has a record of the
   same key, kind and shape in the student's run, equal within the reference's tolerance.
   The kernel's own verdicts (a visible assert that failed or not) count for nothing.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass

import nbformat

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
MAX_RECORDS = 20_000


@dataclass
class Test:
    grade_id: str
    points: float
    visible: str
    hidden: str


def _split(source: str, begin: str, end: str) -> tuple[str, str]:
    """The text outside the ``begin``/``end`` regions, and the text inside them."""
    from .build import strip_regions

    outside, inside = strip_regions(source, begin, end)
    return outside, "\n".join(inside)


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def tests(source_nb) -> list[Test]:
    """The graded code cells of a source notebook, in order."""
    out = []
    for cell in source_nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            visible, hidden = _split(cell.source, *HIDDEN)
            out.append(Test(meta["grade_id"], float(meta["points"]), visible, hidden))
    return out


def written(source_nb) -> dict[str, float]:
    """grade_id -> points of the written answers (markdown cells graded by hand)."""
    return {_meta(c)["grade_id"]: float(_meta(c)["points"]) for c in source_nb.cells
            if c.cell_type == "markdown" and _meta(c).get("grade")}


def checks(source_nb) -> list[list[str]]:
    """``[[test, hidden code], ...]``: what runs in the sandbox after the notebook."""
    return [[t.grade_id, t.hidden] for t in tests(source_nb)]


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
        gid = _meta(cell).get("grade_id")
        if cell.cell_type == "code" and gid in official:
            if gid in seen:
                continue
            seen.add(gid)
            source = official[gid]
        new = (nbformat.v4.new_code_cell if cell.cell_type == "code" else
               nbformat.v4.new_markdown_cell if cell.cell_type == "markdown" else
               nbformat.v4.new_raw_cell)(source)
        meta = _meta(cell)
        if meta.get("grade_id"):
            new.metadata["nbgrader"] = copy.deepcopy(dict(meta))
        nb.cells.append(new)
    return nb


def reference_notebook(source_nb):
    """The reference solution as a student would hand it in: hidden parts removed."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and _meta(cell).get("grade"):
            cell.source = _split(cell.source, *HIDDEN)[0]
    _clean(nb)
    return nb


def fingerprint(source_nb) -> str:
    """A hash of what the reference records depend on: the chapter source and versions."""
    import numpy
    import torch

    text = json.dumps([c.source for c in source_nb.cells]) + numpy.__version__ + torch.__version__
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_records(text) -> tuple[dict[str, dict], str]:
    """``(key -> record, problem)`` from a test's JSON lines; a key recorded twice, a
    malformed line or too many records is a problem (the test fails)."""
    out: dict[str, dict] = {}
    if not isinstance(text, str):
        return out, "no records"
    for n, line in enumerate(text.splitlines()):
        if n >= MAX_RECORDS:
            return out, "too many records"
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return out, "a malformed record"
        if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
            return out, "a malformed record"
        if rec["key"] in out:
            return out, f"the result {rec['key']!r} was recorded twice"
        out[rec["key"]] = rec
    return out, ""


def _array(rec: dict):
    import numpy as np

    shape, data = rec.get("shape"), rec.get("data")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(data, list) and len(data) == math.prod(shape)):
        raise ValueError("a malformed array")
    vals = []
    for x in data:
        if isinstance(x, bool) or not isinstance(x, (int, float, str)):
            raise ValueError("a malformed array")
        vals.append(float(x))  # 'nan', 'inf', '-inf' come as strings
    return np.asarray(vals, dtype=np.float64).reshape(shape)


def compare(expected: dict, got: dict | None) -> str:
    """'' when ``got`` matches ``expected`` (a reference record), else what differs."""
    import numpy as np

    key = expected["key"]
    if got is None:
        return f"{key}: no result"
    if expected["kind"] == "str":
        if got.get("kind") != "str" or not isinstance(got.get("value"), str):
            return f"{key}: expected text, got {got.get('kind')}"
        return "" if got["value"] == expected["value"] else f"{key}: the text differs"
    if got.get("kind") != "array":
        return f"{key}: expected numbers, got {got.get('kind')}"
    want = _array(expected)
    try:
        have = _array(got)
    except ValueError as exc:
        return f"{key}: {exc}"
    if have.shape != want.shape:
        return f"{key}: shape {have.shape}, expected {want.shape}"
    if expected.get("exact"):
        same = np.array_equal(have, want, equal_nan=True)
    else:
        same = bool(np.all(np.isclose(have, want, rtol=expected["rtol"], atol=expected["atol"],
                                      equal_nan=True)))
    if same:
        return ""
    if have.size and np.all(np.isfinite(have)) and np.all(np.isfinite(want)):
        return f"{key}: values differ (largest difference {np.max(np.abs(have - want)):.3g})"
    return f"{key}: values differ"


def judge(reference: str, student, check_error: str = "") -> tuple[bool, str]:
    """``(passed, message)`` for one test, from the reference's and the student's records."""
    ref, problem = parse_records(reference)
    if problem or not ref:
        raise ValueError(f"the reference run recorded nothing usable ({problem or 'no records'})")
    got, problem = parse_records(student)
    if not got and problem in ("", "no records"):
        why = f": the check stopped with {check_error}" if check_error else ""
        return False, f"no results{why}"
    if problem:
        return False, problem
    wrong = [m for m in (compare(r, got.get(k)) for k, r in ref.items()) if m]
    if not wrong:
        return True, ""
    msg = f"{len(wrong)} of {len(ref)} hidden results wrong; first: {wrong[0]}"
    if check_error:
        msg += f" (the check stopped with {check_error})"
    return False, msg
