"""No chapter hands out the answer to an exercise, its own or another chapter's.

Every top-level function and class that a student can read (given code cells, and the visible
part of test cells) of every chapter is pasted, with the given definitions it uses and its
chapter's imports, in place of every exercise of the course whose signature it fits (the same
kind, the same required parameter names in the same order; all parameter names when none is
required). The pasted notebook is graded like any hand-in, in the sandbox, against the
reference records; it must lose points in the exercise's own tests (the graded cells between
its solution cell and the next one), and for a reason: not a NameError of a broken paste.
Given code that calls the exercise itself cannot hand it out and is not pasted (as the
exercise it would call itself forever). The course library counts as given code too: every
public function and class of the student package is tried in place of every exercise it fits,
imported as a student would (``from lstmbook.models import CharLM``). One grading run for every
pair."""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course import SLUGS
from lstmbook.instructor import grader, sources
from submissions import reference_cells, submission

pytestmark = pytest.mark.slow  # grades in the sandbox


@dataclass
class Definition:
    slug: str
    name: str
    kind: str  # "def" or "class"
    required: tuple  # required parameter names (of __init__ for a class, without self)
    params: tuple  # all positional parameter names
    source: str
    uses: set = field(default_factory=set)  # every name it reads


def _signature(node) -> tuple[tuple, tuple]:
    """(required parameter names, all positional parameter names) of a def, or of a class's
    __init__ without self."""
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if init is None:
            return (), ()
        args, skip = init.args, 1
    else:
        args, skip = node.args, 0
    pos = [a.arg for a in args.posonlyargs + args.args][skip:]
    return tuple(pos[:len(pos) - len(args.defaults)]), tuple(pos)


def _python(source: str) -> str:
    """A cell's Python, IPython magics turned into calls (a ``%%writefile`` cell stays text)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def chapter_code(slug: str):
    """(given definitions by name, the chapter's import lines, exercises) of ``slug``: given
    means what the student notebook shows (given cells and the visible part of test cells)."""
    nb = sources.source_notebook(sources.repo_root() / "solutions" / f"{slug}.md")
    given, imports, exercises = {}, [], []
    owner = None  # the grade_id of the last solution cell: the exercise a test cell belongs to
    for cell in nb.cells:
        if (cell.cell_type != "code" or sources.SETUP_ID in cell.metadata.get("tags", [])
                or sources.is_hidden_setup(cell)):  # the grader's, never shown to students
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            owner = meta["grade_id"]
        elif meta.get("grade") and owner is not None:
            OWN_TESTS.setdefault((slug, owner), set()).add(meta["grade_id"])
        visible, _ = sources.strip_regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        if visible.lstrip().startswith("%%"):
            continue  # a file written by the cell, not code run in the notebook
        code = _python(visible)
        for node in ast.parse(code).body:
            if meta.get("solution"):
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    exercises.append((meta["grade_id"], Definition(
                        slug, node.name, "class" if isinstance(node, ast.ClassDef) else "def",
                        *_signature(node), "")))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                line = ast.get_source_segment(code, node)
                if line not in imports:
                    imports.append(line)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                given[node.name] = Definition(
                    slug, node.name, "class" if isinstance(node, ast.ClassDef) else "def", *_signature(node),
                    ast.get_source_segment(code, node),
                    {n.id for n in ast.walk(node) if isinstance(n, ast.Name)})
    return given, imports, exercises


def library_code(module: str):
    """(public definitions, no imports, no exercises) of the student package's ``module``
    (e.g. ``lstmbook.models``): each pasted as the import a student would write."""
    import importlib

    path = Path(importlib.import_module(module).__file__)
    given = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            given[node.name] = Definition(module, node.name, "class" if isinstance(node, ast.ClassDef) else "def",
                                          *_signature(node), f"from {module} import {node.name}")
    return given, [], []


def _student_modules() -> list[str]:
    from lstmbook.instructor.book.publish import student_files

    return [f"lstmbook.{f[:-3].replace('/', '.')}".removesuffix(".__init__") for f in student_files()
            if f.endswith(".py") and f not in ("cli.py", "check.py")]


OWN_TESTS: dict[tuple[str, str], set[str]] = {}  # (chapter, exercise grade_id) -> its graded tests
CODE = {slug: chapter_code(slug) for slug in SLUGS}
CODE.update({module: library_code(module) for module in _student_modules()})


def _tag(where: str) -> str:
    """A chapter's number, or a library module's name, for the pair's student name."""
    return where.rsplit(".", 1)[-1] if where.startswith("lstmbook") else where[:2]


def needed(g: Definition) -> set[str]:
    """``g`` and every given definition of its chapter that it uses, directly or not."""
    given = CODE[g.slug][0]
    need, todo = set(), [g.name]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        todo += [n for n in given[name].uses if n in given and n not in need]
    return need


def _binds(line: str) -> set[str]:
    """The names an import line binds (``import a.b`` binds ``a``)."""
    node = ast.parse(line).body[0]
    return {(a.asname or a.name.split(".")[0]) for a in node.names}


def pasted(g: Definition) -> str:
    """``g`` as a student would copy it: the imports of its chapter that it reads, then ``g``
    and every given definition of its chapter that it uses, in the chapter's order. An import
    the code does not read stays behind: pasted, it would break a chapter's rule (chapter 2's
    "no torch") that the copied code itself keeps."""
    given, imports, _ = CODE[g.slug]
    need = needed(g)
    reads = set().union(*(given[name].uses for name in need))
    kept = [line for line in imports if _binds(line) & reads]
    defs = [d.source for name, d in given.items() if name in need]
    return "\n".join(kept) + "\n\n\n" + "\n\n\n".join(defs)


def fits(g: Definition, e: Definition) -> bool:
    if g.kind != e.kind:
        return False
    return g.required == e.required if e.required else (not g.required and bool(e.params) and g.params == e.params)


def calls(g: Definition, name: str) -> bool:
    """Whether ``g``, or a given definition it uses, calls ``name`` (the exercise)."""
    given = CODE[g.slug][0]
    return any(name in given[n].uses for n in needed(g))


def _pairs() -> dict[str, tuple]:
    """student -> (given definition, exercise chapter, exercise grade_id, exercise name)"""
    out = {}
    for slug, (_, _, exercises) in CODE.items():
        for grade_id, e in exercises:
            if not OWN_TESTS.get((slug, grade_id)):
                continue  # an optional exercise without points (chapter 2's fast LSTM): nothing to leak
            for a_slug, (given, _, _) in CODE.items():
                for g in given.values():
                    if fits(g, e) and not (a_slug == slug and calls(g, e.name)):
                        out[f"leak_{_tag(a_slug)}_{g.name}__as__{slug[:2]}_{e.name}"] = (g, slug, grade_id, e.name)
    return out


PAIRS = _pairs()

# Pairs that pass on purpose, each with its reason. The test checks that each one still passes,
# so that the list cannot outlive its reason, and that no other pair does.
KNOWN = {
    "leak_01_lstm_step_forward__as__02_lstm_step_forward": (
        "chapter 1 gives the forward step in pieces, the starting point of its derivations, and "
        "assembles them to check the backward step; chapter 2's first exercise asks for the same step "
        "as one NumPy function whose cache is the student's own design, graded by the backward "
        "exercises that use it"),
    "leak_01_word_embedding_forward__as__02_word_embedding_forward": (
        "chapter 1 gives the embedding lookup, one line of indexing, as the forward of its embedding "
        "backward exercise, under the course's one name for it; chapter 2 asks for the same layer, "
        "whose forward test (1 point) checks that lookup, while its backward, the part worth "
        "learning, is graded by a test of its own that the given forward does not answer"),
}


def exercise_tests(slug: str, grade_id: str) -> set[str]:
    """The exercise's own graded tests: those between its solution cell and the next one."""
    return OWN_TESTS.get((slug, grade_id), set())


def leak_cell(student: str) -> str:
    g, slug, grade_id, name = PAIRS[student]
    return (f"{reference_cells(slug)[grade_id]}\n\n\n# pasted from {g.slug}\n{pasted(g)}\n\n\n"
            f"{name} = {g.name}\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference_dir):
    subs = tmp_path_factory.mktemp("submissions")
    course = tmp_path_factory.mktemp("course")
    for student, (g, slug, grade_id, name) in PAIRS.items():
        (subs / student).mkdir()
        nbformat.write(submission(slug, {grade_id: leak_cell(student)}), subs / student / f"{slug}.ipynb")
    results = grader.grade(subs, course, log=lambda *_: None, workers=2, reference_dir=reference_dir)
    return {(r.student, r.assignment): r for r in results}, grader.Course(course)


def test_the_search_finds_the_known_lookalikes():
    """The signature rule sees the given LSTM variants of chapter 4 next to its exercise."""
    assert "leak_04_lstm_per_gate__as__04_lstm_fast" in PAIRS
    assert "leak_01_lstm_step_forward__as__02_lstm_step_forward" in PAIRS
    assert "leak_04_lstm_fused__as__04_lstm_fast" not in PAIRS  # it calls lstm_fast
    assert set(KNOWN) <= set(PAIRS)
    assert all(exercise_tests(slug, grade_id) for _, slug, grade_id, _ in PAIRS.values())
    assert exercise_tests("04_speed", "lstm_fast") == {"test_lstm_fast_parity", "test_lstm_fast_structure"}


@pytest.mark.parametrize("student", sorted(PAIRS))
def test_given_code_does_not_pass_an_exercise(graded, student):
    results, course = graded
    g, slug, grade_id, name = PAIRS[student]
    r = results[(student, slug)]
    assert r.status == "graded", r.note
    # the pasted code itself ran: a failure must come from the tests, not from a broken paste
    nb = nbformat.read(course.graded_dir(student, slug) / f"{slug}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"the pasted {g.name} did not run: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    own = exercise_tests(slug, grade_id)
    lost = set(r.failed) & own
    if student in KNOWN:
        assert not lost, f"{student} no longer passes ({sorted(lost)}): remove it from KNOWN"
        return
    assert lost, (f"{g.name}, given in chapter {g.slug}, passes every test of the exercise {name} "
                  f"({', '.join(sorted(own))}) in chapter {slug}: a student can copy it")
    for test in lost:  # a test lost to a missing name is a broken paste, not a verdict
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test)
        names = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert "NameError" not in names, f"{test} failed on a NameError: the paste of {g.name} misses a definition"
