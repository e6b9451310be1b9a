"""``lstmbook check NOTEBOOK``: the student's self-check before handing in.

It runs the notebook top to bottom in a fresh kernel, in the ``quick`` profile (the one the
autograder uses), and reports for every exercise whether its visible test passed, with the
test's own message and the points at stake. It also warns about what would cost points
without any code being wrong: a file name the grader does not look for, a locked cell that
was edited, an exercise still holding its stub, a written answer not yet written. The exit
status is 0 only when every visible test passed.

The autograder runs hidden tests too (other shapes and inputs), so passing here is necessary,
not sufficient. Nothing here needs nbgrader: the checksums of locked cells are recomputed the
way nbgrader computes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import environment

STUB = "YOUR CODE HERE"
#: Set in the kernel that ``check`` runs, so that a notebook cell calling ``lstmbook check``
#: on its own notebook does not start it again, and again.
NESTED = "LSTMBOOK_CHECKING"
ANSWER_STUB = "YOUR ANSWER HERE"


class CheckError(RuntimeError):
    """The notebook cannot be checked at all (missing, not a notebook, not a chapter)."""


@dataclass
class Item:
    """One graded cell: a test (``kind='test'``) or a written answer (``kind='written'``)."""

    grade_id: str
    kind: str
    points: float
    passed: bool | None = None  # None: not decided here (written answers)
    message: str = ""


@dataclass
class Report:
    path: Path
    chapter: str | None
    items: list[Item] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # errors outside test cells
    seconds: float = 0.0
    notebook: object = None  # the executed notebook

    @property
    def ok(self) -> bool:
        tests = [i for i in self.items if i.kind == "test"]
        return bool(tests) and all(i.passed for i in tests) and not self.errors

    def points(self) -> tuple[float, float]:
        tests = [i for i in self.items if i.kind == "test"]
        return sum(i.points for i in tests if i.passed), sum(i.points for i in tests)


def nbgrader_checksum(cell) -> str:
    """nbgrader's checksum of a graded, solution or locked cell (``nbgrader.utils.compute_checksum``)."""
    meta = cell.metadata["nbgrader"]
    grade, solution = bool(meta.get("grade", False)), bool(meta.get("solution", False))
    locked = False if solution else (True if grade else bool(meta.get("locked", False)))
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(grade), str(solution), str(locked), meta["grade_id"]):
        m.update(part.encode("utf-8"))
    if grade:
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def _load(path: Path):
    import nbformat

    if not path.is_file():
        raise CheckError(f"{path}: no such file")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise CheckError(f"{path}: not a readable Jupyter notebook ({type(exc).__name__}: {exc})") from None
    return nb


def static_warnings(nb, path: Path) -> tuple[str | None, list[str]]:
    """The chapter the notebook belongs to, and the warnings found without running it."""
    chapter = (nb.metadata.get("lstmbook") or {}).get("chapter")
    warnings = []
    if chapter is None:
        warnings.append("this notebook does not say which chapter it is: was it downloaded from the "
                        "course? The grader needs the chapter's own notebook")
    elif path.name != f"{chapter}.ipynb":
        warnings.append(f"the file is named {path.name!r}; hand it in as {chapter + '.ipynb'!r}, the "
                        "name the grader looks for")
    seen = set()
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.metadata.get("nbgrader")
        if not meta or "grade_id" not in meta:
            continue
        gid = meta["grade_id"]
        if gid in seen:
            warnings.append(f"cell {index} ({gid}) appears twice: delete the copy")
        seen.add(gid)
        locked = meta.get("locked") or (meta.get("grade") and not meta.get("solution"))
        if locked and "checksum" in meta and nbgrader_checksum(cell) != meta["checksum"]:
            warnings.append(f"cell {index} ({gid}) is locked and was changed; the grader uses its "
                            "original text, so undo your edit (copy the cell from a fresh download)")
        if meta.get("solution") and cell.cell_type == "code" and STUB in cell.source:
            warnings.append(f"cell {index} ({gid}): the exercise still holds its stub ('{STUB}')")
        if meta.get("solution") and cell.cell_type == "markdown" and ANSWER_STUB in cell.source:
            warnings.append(f"cell {index} ({gid}): the written answer is still '{ANSWER_STUB}'")
    return chapter, warnings + rule_warnings(nb)


def rule_warnings(nb) -> list[str]:
    """What the grader's reading of the code will hold against it: a use of what an
    exercise's "write it yourself" rule forbids (its tests score 0), and code in an exercise
    that reaches the grader's instruments or the interpreter's hooks (flagged for review)."""
    from .rules import breaches, exercise_names, needs_review

    rules, warnings = {}, []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader") or {}
        if cell.cell_type != "code" or not meta.get("solution") or "grade_id" not in meta:
            continue
        forbid = (cell.metadata.get("lstmbook") or {}).get("forbid") or []
        if isinstance(forbid, list) and all(isinstance(f, str) for f in forbid):
            rules[meta["grade_id"]] = forbid
    names = exercise_names(nb)
    try:
        found = breaches(nb, rules, names)
    except Exception as exc:  # a rule the notebook's metadata garbled, code too odd to read
        return [f"the exercises' rules could not be checked ({type(exc).__name__}: {exc}); "
                "download the notebook again if its metadata was edited"]
    for b in found:
        warnings.append(f"cell {b.cell}: {b.describe()}; the grader will score its tests 0")
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.metadata.get("nbgrader") or {}
        if cell.cell_type == "code" and meta.get("solution"):
            for f in needs_review(cell.source):
                warnings.append(f"cell {index}, line {f.line}: {f.name} ({f.rule}); the grader "
                                "flags this for an instructor to read")
    return warnings


def first_error(outputs) -> dict | None:
    """The first error output among a cell's ``outputs`` (``ename``, ``evalue``), or None."""
    return next((out for out in outputs if out.get("output_type") == "error"), None)


def _error_message(outputs) -> str | None:
    out = first_error(outputs)
    if out is None:
        return None
    value = str(out.get("evalue", "")).strip().splitlines()
    return f"{out.get('ename', 'Error')}: {value[0] if value else ''}".rstrip(": ")


def check(path: Path, timeout: int = 600, profile: str = "quick") -> Report:
    """Run the notebook at ``path`` in a fresh kernel and judge its visible tests."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = _load(path)
    chapter, warnings = static_warnings(nb, path)
    report = Report(path=path, chapter=chapter, warnings=warnings)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # the kernel runs this Python (the one lstmbook is installed in), whatever "python3"
    # kernel spec the student's own Jupyter folders hold: ours comes first on JUPYTER_PATH
    specs = tempfile.TemporaryDirectory(prefix="lstmbook-check-")
    spec = Path(specs.name, "kernels", "python3")
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (lstmbook check)", "language": "python"}))
    env = {"LSTMBOOK_PROFILE": profile, "MPLBACKEND": "Agg", NESTED: "1",
           "JUPYTER_PATH": os.pathsep.join(p for p in (specs.name, os.environ.get("JUPYTER_PATH")) if p)}
    start = time.perf_counter()
    try:
        with environment(env):
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           interrupt_on_timeout=True,
                           resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
    except Exception as exc:  # the kernel died or could not start
        report.errors.append(f"the notebook could not run to the end: {type(exc).__name__}: {exc}")
    finally:
        specs.cleanup()
    report.seconds = time.perf_counter() - start
    report.notebook = nb
    for index, cell in enumerate(nb.cells, start=1):
        meta = cell.metadata.get("nbgrader") or {}
        message = _error_message(cell.get("outputs", [])) if cell.cell_type == "code" else None
        if meta.get("grade") and cell.cell_type == "code":
            ran = cell.get("execution_count") is not None
            edited = "checksum" in meta and nbgrader_checksum(cell) != meta["checksum"]
            passed = ran and message is None and not edited
            why = ("this locked test was edited; the grader runs the original, so undo your edit"
                   if edited else message or ("" if ran else "did not run (an earlier cell stopped the kernel)"))
            report.items.append(Item(meta["grade_id"], "test", float(meta.get("points", 0)), passed, why))
        elif meta.get("grade") and cell.cell_type == "markdown":
            report.items.append(Item(meta["grade_id"], "written", float(meta.get("points", 0))))
        elif message and "raises-exception" not in cell.metadata.get("tags", []):
            report.errors.append(f"cell {index}{' (' + meta['grade_id'] + ')' if meta.get('grade_id') else ''}: {message}")
    if not any(i.kind == "test" for i in report.items):
        report.errors.append("no graded test cells found: is this a chapter notebook of the course?")
    return report


def format_report(report: Report) -> str:
    got, total = report.points()
    lines = [f"{report.path.name}: chapter {report.chapter or '?'}, run in the quick profile "
             f"in {report.seconds:.0f} s"]
    for item in report.items:
        if item.kind == "test":
            mark = "PASS" if item.passed else "FAIL"
            detail = f"  {item.message}" if item.message and not item.passed else ""
            lines.append(f"  {mark}  {item.grade_id:<32} {item.points:g} pt{detail}")
        else:
            lines.append(f"  ----  {item.grade_id:<32} {item.points:g} pt  written answer, graded by hand")
    for w in report.warnings:
        lines.append(f"  warning: {w}")
    for e in report.errors:
        lines.append(f"  error: {e}")
    lines.append(f"visible tests: {got:g} of {total:g} points. "
                 + ("All visible tests pass; the grader also runs hidden tests with other inputs."
                    if report.ok else "Fix the failures above before you hand in."))
    return "\n".join(lines)


def main(paths: list[str], timeout: int = 600) -> int:
    """Check each notebook; 0 when all pass, 1 when a test fails, 2 when one cannot be checked."""
    if os.environ.get(NESTED):
        print("lstmbook check: skipped, already inside a check (a cell of the notebook runs it)")
        return 0
    status = 0
    for p in paths:
        try:
            report = check(Path(p), timeout=timeout)
        except CheckError as exc:
            print(f"lstmbook check: error: {exc}", file=sys.stderr)
            status = max(status, 2)
            continue
        print(format_report(report), flush=True)
        if not report.ok:
            status = max(status, 1)
    return status

