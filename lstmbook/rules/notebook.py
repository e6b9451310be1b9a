"""A notebook's exercises: their names, the forbidden uses of each solution cell (``breaches``) and
the cells that need review (``review_flags``)."""
from __future__ import annotations

import ast
import re
import symtable
from collections.abc import Iterable
from dataclasses import dataclass

from .tables import Finding
from .cells import _parse, _transform
from .forbidden import forbidden_uses
from .review import needs_review


# ------------------------------------------------------------------ a notebook's exercises

@dataclass(frozen=True)
class Breach:
    """A use of what an exercise must not use, in a hand-in."""

    exercise: str  # the exercise's grade_id
    cell: int  # 1-based index of the notebook cell
    finding: Finding

    def describe(self) -> str:
        return (f"uses {self.finding.name} (cell {self.cell}, line {self.finding.line}: "
                f"{self.finding.text}), which the exercise {self.exercise} must not use")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def exercise_names(notebook) -> dict[str, set[str]]:
    """exercise grade_id -> the names its solution cell defines at its top level (and the
    grade_id itself): the names a student's code must bind to be the exercise's. The grader
    reads them from the chapter's reference, ``lstmbook check`` from the student's notebook."""
    out = {}
    for cell in notebook.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if (cell.get("cell_type") != "code" or not isinstance(meta, dict) or not meta.get("solution")
                or not isinstance(meta.get("grade_id"), str)):
            continue
        try:
            body = ast.parse(_source(cell)).body
        except SyntaxError:
            body = []
        out[meta["grade_id"]] = {meta["grade_id"]} | {
            n.name for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return out


_CALL_FORM = re.compile(r"^([A-Za-z_][\w.]*)\((?:(\d+):)?([A-Za-z_]\w*)\)$")


def _call_uses(source: str, entry: str, preamble: str) -> list[Finding]:
    """Uses of a call-form entry ``name(position:keyword)``: calls of ``name`` that pass
    ``keyword`` (by name, or positionally at ``position``) with a value other than the
    constant 1, or that unpack arguments (``*args``, ``**kw``)."""
    name, position, keyword = _CALL_FORM.match(entry).groups()
    lines = {f.line for f in forbidden_uses(source, [name], preamble=preamble)}
    tree = (_parse(source) or _parse(_transform(source))) if lines else None
    out = []
    for node in ast.walk(tree) if tree is not None else ():
        if not (isinstance(node, ast.Call) and node.lineno in lines):
            continue
        args = [kw.value for kw in node.keywords if kw.arg == keyword]
        if position is not None and len(node.args) > int(position):
            args.append(node.args[int(position)])
        unpacked = any(isinstance(a, ast.Starred) for a in node.args) or any(kw.arg is None for kw in node.keywords)
        if unpacked or any(not (isinstance(a, ast.Constant) and a.value == 1) for a in args):
            text = source.splitlines()[node.lineno - 1].strip()[:120] if node.lineno <= len(source.splitlines()) else ""
            out.append(Finding(f"{name}({keyword}=...)", node.lineno, text, entry))
    return out


def uses(source: str, forbidden: Iterable[str], preamble: str = "") -> list[Finding]:
    """:func:`forbidden_uses`, with call-form entries too (``torch.nn.LSTM(2:num_layers)``:
    a call that passes ``num_layers``, by name or as the third positional argument, other
    than 1)."""
    forbidden = list(forbidden)
    plain = [f for f in forbidden if not _CALL_FORM.match(f)]
    out = forbidden_uses(source, plain, preamble=preamble) if plain else []
    for entry in forbidden:
        if _CALL_FORM.match(entry):
            out += _call_uses(source, entry, preamble)
    return sorted(set(out), key=lambda f: (f.line, f.name))


def _bound_and_loaded(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds at its top level, and names it reads anywhere."""
    tree = _parse(source) or _parse(_transform(source))
    if tree is None:
        return set(), set()
    bound, loaded = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                bound.add((a.asname or a.name).split(".")[0])
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    bound.add(sub.id)
    try:  # the names the cell reads from the notebook's namespace: no parameters, no locals
        tables = [symtable.symtable(ast.unparse(tree), "<cell>", "exec")]
    except (SyntaxError, ValueError, RecursionError):
        tables = []
    while tables:
        table = tables.pop()
        top = table.get_type() == "module"
        loaded |= {sym.get_name() for sym in table.get_symbols()
                   if sym.is_referenced() and (top or sym.is_global())}
        tables += table.get_children()
    return bound, loaded


def breaches(notebook, rules: dict[str, list[str]], exercise_names: dict[str, set[str]],
             given: set[str] | None = None) -> list[Breach]:
    """Every use, in a hand-in, of what an exercise must not use.

    ``rules``: exercise grade_id -> its forbidden names (:func:`forbidden_uses`);
    ``exercise_names``: exercise grade_id -> the names its cell defines (``SGD``);
    ``given``: the sources of the chapter's own code cells (the grader knows them; a
    student's own check does not, and then looks at the exercise cells and the cells that
    redefine an exercise's names only).

    The code of an exercise is its own cell, every cell the student added that binds one of
    the exercise's names, and, transitively, every student cell that binds a name that code
    reads (a helper written elsewhere). Aliases resolve through every other code cell.
    """
    cells = [(i + 1, _source(c), _grade_id(c)) for i, c in enumerate(notebook.get("cells", []))
             if c.get("cell_type") == "code"]
    exercise_cells = {gid for gid in rules}
    own = {}  # cell number -> (source, bound, loaded) of student-written code
    for n, src, gid in cells:
        if gid in exercise_cells or (gid is None and (given is None or src.strip() not in given)):
            own[n] = (src, *_bound_and_loaded(src))
    out = []
    for exercise, forbid in rules.items():
        if not forbid:
            continue
        names = exercise_names.get(exercise, set())
        todo = [n for n, src, gid in cells if n in own and (gid == exercise or (
            gid is None and given is not None and own[n][1] & names))]
        if given is None:
            todo += [n for n, src, gid in cells if n in own and gid is None and own[n][1] & names]
        seen = set()
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            reads = own[n][2]
            todo += [m for m in own if m not in seen and own[m][1] & reads
                     and (given is not None or m == n)]
        for n in sorted(seen):
            preamble = [src for m, src, _ in cells if m != n]
            for f in uses(own[n][0], forbid, preamble=preamble):
                out.append(Breach(exercise, n, f))
    return out


def review_flags(notebook, given: set[str] | None = None) -> list[tuple[int, Finding]]:
    """``needs_review`` findings in the student-written code cells of a hand-in, as
    ``(cell number, finding)``."""
    out = []
    for i, c in enumerate(notebook.get("cells", [])):
        if c.get("cell_type") != "code":
            continue
        src = _source(c)
        if given is not None and src.strip() in given:
            continue
        meta = c.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade"):  # test cells are the course's
            continue
        out += [(i + 1, f) for f in needs_review(src)]
    return out
