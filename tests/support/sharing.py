"""Which planted bugs can share one hand-in without hiding one another.

Grading one notebook per planted bug costs a sandboxed run of the whole chapter each; a
notebook that carries several bugs costs one. That is sound only when each bug's named test
cannot fail because of another bug of the same notebook. Two bugs share a notebook only when,
read statically from the chapter's source (solutions/, hidden parts included):

- they replace different exercise cells and name different tests;
- neither test can reach what the other bug changes: the names its cells define, and the
  global names its code may change when it runs.

A test's *reach* is the set of global names its outcome can depend on. It starts with the
names its visible and hidden code (and the chapter's hidden-test setup) read from the
notebook. The notebook is cut into units, one per top-level statement, and a unit joins the
reach when it binds a name of the reach, may change one in place (attribute or item
assignment, a method call on it, passing it to a function), or calls a function that may
change one; a joining unit adds the names it reads. Statements read a name bound earlier in
their own cell from that statement, so a name reused across cells (``x``, ``rng``) ties a test
only to the cells that can change the value it sees. The order of cells is ignored (the
hidden checks run after all of them), imported modules, builtins and ``record`` (which the
grader binds for each check) never join, and a cell Python cannot parse (cell magics) counts
every identifier in it every way.

Limits, accepted because the planted bugs are known code: a name bound only in one branch of
an ``if`` or ``try`` counts as bound for the rest of its cell, and code run through ``exec``,
``globals()`` or strings is not followed (the chapters' tests use none of these to reach an
exercise).
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

from lstmbook.instructor import sources
from lstmbook.instructor.grader import testmodel

_IDENT = re.compile(r"[A-Za-z_]\w*")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_SCOPES = _DEFS + (ast.Lambda,)
_WRITEFILE = re.compile(r"\s*%%writefile\s+(?:-a\s+)?[\w./-]*?([A-Za-z_]\w*)\.py\b")


def _names(nodes, ctx) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _base(node) -> str | None:
    """``model`` for ``model``, ``model.lstm.weight``, ``model[0]``, ``*model``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _outer_parts(fn) -> list:
    """What a def, lambda or class evaluates in the scope around it: decorators, bases, defaults."""
    parts = list(getattr(fn, "decorator_list", [])) + list(getattr(fn, "bases", []))
    parts += [k.value for k in getattr(fn, "keywords", [])]
    if not isinstance(fn, ast.ClassDef):
        parts += [d for d in fn.args.defaults + fn.args.kw_defaults if d is not None]
    return parts


def _own(node):
    """The nodes of ``node``'s own scope (nested defs, lambdas and classes: only their outer parts)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            for part in _outer_parts(child):
                yield part
                yield from _own(part)
        else:
            yield child
            yield from _own(child)


def _nested(node):
    """The scopes directly inside ``node``'s scope."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            yield child
        else:
            yield from _nested(child)


def _comprehension_vars(node) -> set[str]:
    return {n for comp in ast.walk(node) if isinstance(comp, ast.comprehension)
            for n in _names([comp.target], ast.Store)}


def _scope_free(fn) -> set[str]:
    """The global names a def, lambda or class reads when it runs or is defined (its
    parameters and the names it assigns are its own)."""
    outer = _outer_parts(fn)
    own = [n for n in _own(fn) if not any(n is p for p in outer)]
    local = {n.id for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {c.name for c in ast.iter_child_nodes(fn) if isinstance(c, _DEFS)}
    if not isinstance(fn, ast.ClassDef):
        a = fn.args
        local |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
        local |= {x.arg for x in (a.vararg, a.kwarg) if x}
    declared = {n for node in own if isinstance(node, ast.Global) for n in node.names}
    local -= declared
    loads = {n.id for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    free = (loads - local) | declared
    for child in _nested(fn):
        free |= _scope_free(child) - local
    return free | _names(outer, ast.Load)


def _expr_free(node) -> set[str]:
    """The names a simple statement or an expression reads from around it."""
    own = [node, *_own(node)]
    loads = {n.id for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    loads -= _comprehension_vars(node)
    for child in _nested(node):
        loads |= _scope_free(child)
    return loads


def _flow(stmts, bound: set[str]) -> set[str]:
    """The names ``stmts`` read before they bind them, in order; ``bound`` grows as they bind."""
    free: set[str] = set()

    def reads(*nodes):
        return set().union(*(_expr_free(n) for n in nodes if n is not None)) - bound

    for stmt in stmts:
        if isinstance(stmt, _DEFS):
            free |= _scope_free(stmt) - bound
            bound.add(stmt.name)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            free |= reads(stmt.iter)
            bound |= _names([stmt.target], ast.Store)
            free |= _flow(stmt.body, bound) | _flow(stmt.orelse, bound)
        elif isinstance(stmt, (ast.If, ast.While)):
            free |= reads(stmt.test)
            free |= _flow(stmt.body, bound) | _flow(stmt.orelse, bound)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                free |= reads(item.context_expr)
                if item.optional_vars is not None:
                    bound |= _names([item.optional_vars], ast.Store)
            free |= _flow(stmt.body, bound)
        elif isinstance(stmt, ast.Try):
            free |= _flow(stmt.body, bound)
            for handler in stmt.handlers:
                free |= reads(handler.type)
                bound |= {handler.name} if handler.name else set()
                free |= _flow(handler.body, bound)
            free |= _flow(stmt.orelse, bound) | _flow(stmt.finalbody, bound)
        else:
            free |= reads(stmt)
            bound |= {n.id for n in [stmt, *_own(stmt)] if isinstance(n, ast.Name)
                      and isinstance(n.ctx, ast.Store)} - _comprehension_vars(stmt)
    return free


def _effects(node, fixed: set[str]) -> tuple[set[str], set[str]]:
    """(names the code may change in place, names of the functions it calls)."""
    touches, calls = set(), set()
    for n in ast.walk(node):
        if isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            touches.add(_base(n))
        elif isinstance(n, ast.AugAssign):
            touches.add(_base(n.target))
        elif isinstance(n, ast.Call):
            if isinstance(n.func, ast.Name):
                calls.add(n.func.id)
            else:
                touches.add(_base(n.func))  # the object whose method runs
            if not (isinstance(n.func, ast.Name) and n.func.id in fixed):  # print(x) changes no x
                touches |= {_base(arg) for arg in n.args + [k.value for k in n.keywords]}
    touches.discard(None)
    return touches, calls


@dataclass
class _Unit:
    """One top-level statement (or a whole cell that is not Python)."""

    text: str
    binds: set[str] = field(default_factory=set)  # names it (re)binds
    touches: set[str] = field(default_factory=set)  # global names it may change in place
    calls: set[str] = field(default_factory=set)  # functions it calls
    free: set[str] = field(default_factory=set)  # names it reads from around it
    defs: dict = field(default_factory=dict)  # def or class -> (globals it changes, what it calls)


def _unit(code: str, fixed: set[str]) -> _Unit:
    try:
        tree = ast.parse(code)
    except SyntaxError:  # magics, shell lines: every identifier every way
        idents = set(_IDENT.findall(code))
        return _Unit(code, idents, idents, idents, idents, {name: (idents, idents) for name in idents})
    binds: set[str] = set()
    free = _flow(tree.body, binds)
    binds |= {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    touches, calls = _effects(tree, fixed)
    defs = {}
    for stmt in tree.body:
        if isinstance(stmt, _DEFS):
            fn_touches, fn_calls = _effects(stmt, fixed)
            defs[stmt.name] = (fn_touches & _scope_free(stmt), fn_calls)
    visible = free | binds  # a function's own locals are nobody else's
    files = _files(tree)  # a unit that names a file may read or write it
    return _Unit(code, binds, (touches & visible) | files, calls & visible, free | files, defs)


_FILE = re.compile(r"^[\w./-]*?([A-Za-z_]\w*)\.(?:py|pt|pth|ckpt|json|jsonl|txt|csv|npy|npz|pkl|log)$")


def _files(tree) -> set[str]:
    """The stems of the file names a piece of code mentions (``"ddp_run.py"`` -> ``ddp_run``):
    files written by one cell (``%%writefile``, ``torch.save``) and read by another are
    names like any other."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for word in node.value.split():
                match = _FILE.match(word.strip("'\",()"))
                if match:
                    out.add(match.group(1))
    return out


class Reach:
    """The global names each graded test of a chapter can depend on (see the module's
    docstring): ``tests[grade_id]``."""

    def __init__(self, source_nb):
        codes = []
        for cell in source_nb.cells:
            if cell.cell_type != "code":
                continue
            if cell.source.lstrip().startswith("%%"):
                codes.append(cell.source)  # a cell magic: text, not Python
            else:
                codes.append("\n".join(ln for ln in cell.source.splitlines()
                                       if not ln.lstrip().startswith(("%", "!"))))
        modules = set()
        for code in codes:
            try:
                modules |= {(a.asname or a.name).split(".")[0] for node in ast.walk(ast.parse(code))
                            if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
            except SyntaxError:
                pass
        written = {m.group(1) for code in codes for m in [_WRITEFILE.match(code)] if m}
        self.fixed = (modules - written) | set(dir(builtins)) | {"record"}
        # A statement reads the names bound by earlier statements of its cell from them (its
        # ``earlier``), and only the others from outside the cell (its ``outside``).
        self.units: list[_Unit] = []
        self.earlier: list[set[int]] = []
        self.outside: list[set[str]] = []
        for code in codes:
            try:
                texts = [ast.unparse(stmt) for stmt in ast.parse(code).body]
            except SyntaxError:
                texts = [code]
            first, bound = len(self.units), set()
            for text in texts:
                unit = _unit(text, self.fixed)
                self.earlier.append({j for j in range(first, len(self.units)) if self.units[j].binds & unit.free})
                self.outside.append(unit.free - bound)
                bound |= unit.binds
                self.units.append(unit)
        self.changes = self._changes()
        setup = sources.hidden_setup(source_nb) or ""
        self.tests = {}
        for t in testmodel.tests(source_nb):
            start = _unit(t.visible, self.fixed).free | _unit(f"{setup}\n{t.hidden}", self.fixed).free
            self.tests[t.grade_id] = self._grow(start)

    def _changes(self) -> dict[str, set[str]]:
        """def or class -> the global names running it may change, through the functions it
        calls too."""
        defs: dict[str, tuple[set[str], set[str]]] = {}
        for unit in self.units:  # a name defined twice: either definition may be the one that runs
            for name, (touches, calls) in unit.defs.items():
                old_touches, old_calls = defs.get(name, (set(), set()))
                defs[name] = (old_touches | touches, old_calls | calls)
        changes = {name: set(touches) - self.fixed for name, (touches, _) in defs.items()}
        grew = True
        while grew:
            grew = False
            for name, (_, calls) in defs.items():
                more = set().union(*(changes.get(c, set()) for c in calls)) - changes[name]
                if more:
                    changes[name] |= more
                    grew = True
        return changes

    def changed_by_running(self, calls) -> set[str]:
        return set().union(*(self.changes.get(c, set()) for c in calls))

    def _grow(self, names: set[str]) -> frozenset[str]:
        reach = set(names) - self.fixed
        active: set[int] = set()
        grew = True
        while grew:
            grew = False
            for k, unit in enumerate(self.units):
                hits = unit.binds | unit.touches | self.changed_by_running(unit.calls)
                if k in active or not hits & reach:
                    continue
                todo = [k]
                while todo:  # the statement, and the earlier ones of its cell that it reads
                    j = todo.pop()
                    if j not in active:
                        active.add(j)
                        reach |= self.outside[j] - self.fixed
                        todo += self.earlier[j]
                grew = True
        return frozenset(reach)

    def changed_by(self, cells: dict[str, str]) -> set[str]:
        """The global names that replacement cells (grade_id -> code) can change: the names
        they define, the globals their functions change when they run (through the
        notebook's functions they call too), and every name their other statements mention."""
        out: set[str] = set()
        for code in cells.values():
            try:
                tree = ast.parse(code)
            except SyntaxError:
                out |= set(_IDENT.findall(code))
                continue
            for stmt in tree.body:
                if isinstance(stmt, _DEFS):
                    touches, calls = _effects(stmt, self.fixed)
                    out |= {stmt.name} | (touches & _scope_free(stmt)) | self.changed_by_running(calls)
                else:
                    out |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        return out - self.fixed

    def independent(self, a: tuple[str, dict[str, str]], b: tuple[str, dict[str, str]]) -> bool:
        """Whether bugs ``a`` and ``b`` (each: its named test, its replacement cells) can share
        a notebook: other cells, other tests, and neither test reaches what the other changes."""
        (test_a, cells_a), (test_b, cells_b) = a, b
        if test_a == test_b or set(cells_a) & set(cells_b):
            return False
        return not (self.changed_by(cells_b) & self.tests[test_a] or self.changed_by(cells_a) & self.tests[test_b])


def groups(source_nb, bugs: dict[str, tuple[str, dict[str, str]]], alone=()) -> list[list[str]]:
    """The bugs (name -> (named test, replacement cells)) grouped into shared notebooks, first
    fit in order; a bug in ``alone`` gets a notebook of its own."""
    reach = Reach(source_nb)
    out: list[list[str]] = []
    for name, bug in bugs.items():
        for group in out if name not in alone else []:
            if group[0] not in alone and all(reach.independent(bug, bugs[other]) for other in group):
                group.append(name)
                break
        else:
            out.append([name])
    return out
