"""Static checks on a student's cell: the calls an exercise forbids, and code that needs review.

An exercise that asks students to write something themselves declares the library calls its
answer must not use (``torch.optim``, ``.backward``...). The trusted grader reads the student's
cell source, outside the sandbox, and asks two questions of it:

- ``forbidden_uses(source, forbidden, preamble)``: where does the cell use a declared name?
- ``needs_review(source)``: does the cell touch the grader's instruments or the interpreter's
  hooks (tracing, frames, dispatch modes, module hook dicts, IPython's hooks, ctypes, the heap,
  the runner's process), or look names up in a way no static check can follow?

Both are pure: source text in, ``Finding`` s out. Nothing is imported from the cell, nothing is
executed. IPython syntax (``%time``, ``%%timeit``, ``!ls``, ``obj?``) is turned into Python the way
IPython's ``TransformerManager`` does (a small fallback does the same when IPython is not
installed); the Python code that a magic runs (``%time expr``, a ``%%time`` body, ``exec`` of a
constant string) is checked too, reported at the magic's line.

How names are resolved (one resolver, shared by both checks):

- imports in every form: ``import torch``, ``import torch.nn as nn``, ``from torch import optim``,
  ``from torch.optim import SGD as S``; a name with a dot matches itself and everything under
  it, component by component (``torch.optim`` matches ``torch.optim.adam.Adam``, not
  ``torch.optimize``); an entry ``.backward`` matches any attribute named ``backward``;
- re-bindings: ``o = torch.optim``, ``C = nn.LSTM``, tuple unpacking of such, ``self.o = ...``,
  ``for m in (torch.optim.SGD, ...)``, ``(o := ...)``;
- lookups with constants: ``getattr(torch, "optim")``, ``importlib.import_module("torch.optim")``,
  ``__import__("torch.optim")``, ``sys.modules["torch.optim"]``, ``vars(torch)["optim"]``,
  ``torch.__dict__["optim"]``, ``globals()["torch"]``; a constant is also a string that the code
  spells out: an f-string or a sum of constants, a name bound only to such, a loop variable
  over a literal tuple (``for n in ("optim",): getattr(torch, n)``); a counter of ``range`` or
  ``enumerate`` stands for digits, so ``getattr(lstm, f"{name}_l{k}")`` over literal names is a
  known name, not a dynamic lookup;
- star imports: after ``from torch.nn import *`` a bare name bound nowhere else (``LSTM``)
  resolves to ``torch.nn.LSTM`` (a module's contents cannot be listed statically);
- the preamble (the cells that run before the student's: the chapter's given code) binds names
  too; findings are reported for the student's source only;
- a name bound nowhere (neither in the preamble nor in the cell) is taken to be what an earlier
  cell imported under that name when it is the first part of a declared entry or of the review
  table (``torch``, ``sys``, ``gc``...) or a notebook convention (``np``, ``nn``, ``F``, ``optim``,
  ``plt``), so that a missing preamble does not hide ``torch.optim.SGD``.

A use is any reference that reads the name: a call, an argument (``partial(torch.optim.SGD)``),
a decorator, a base class, a default value, an annotation, an f-string expression; in code
nested in functions, classes, lambdas and comprehensions alike. Strings and comments are not
code. Of a chain, only the longest name found is reported (``torch.optim.SGD``, not also
``torch.optim``). An import of a declared name is a use.

Known limits (what a static check cannot see):

- Aliases are flow-insensitive: a binding anywhere (in any function, before or after) counts
  everywhere. A name re-bound to something unrelated keeps its alias, and a parameter or local
  variable named like a module alias (``def f(nn): nn.LSTM``) is taken as the alias. Both err
  toward a finding.
- A name built at run time from anything the code does not spell out is not resolved:
  ``getattr(torch, input())``, a parameter (``def f(n): getattr(torch, n)``), a name re-bound
  to itself (``s = s + "im"``), ``__import__(name)``, ``eval``/``exec`` of a computed string,
  ``operator.attrgetter(name)``, ``globals()[name]``. ``needs_review`` flags every such lookup
  as "dynamic lookup", so the grader sends the cell to a person. A name built with a counter's
  digits can only be a declared name that has digits (``weight_ih_l0``, never ``optim``).
  A namespace reached through an alias (``ns = globals(); ns[k] = v``) is not followed.
- A declared dotted name is found where it is reached from a module, not through objects made
  at run time: ``type(model.lstm)``, ``opt.__class__``, ``param.grad_fn``. Methods on objects are
  declared as attribute entries (``.backward``), which match any attribute of that name.
- A star import cannot be listed: every bare name bound nowhere becomes a candidate under each
  star-imported module, except the builtins (``from torch import *; max(x)`` is taken as the
  builtin ``max``, while the star import itself is a use of a declared module).
- Code outside the cell is not read: files imported, ``%run`` scripts, shell escapes
  (``!python -c ...``, ``%%bash``), installed packages. ``needs_review`` flags shell escapes and the
  magics that run code from elsewhere ("shell escape"). What ``%%writefile`` writes is checked
  as the cell's own code when it is Python (chapter 7's DDP script), flagged when it is not.
  The line of ``%time``, ``%timeit``, ``%prun``, ``%debug`` is read as Python after leading
  options (``%timeit -n 10 expr``); other line magics (``%pip install``, ``obj?``) run no code
  of the cell.
- ``needs_review`` judges code, not intent: the course's own hidden tests (dispatch modes that
  count operations, ``getattr(m, _n)`` over names from another cell) would be flagged; it is
  meant for the student's cells. ``getattr``/``setattr`` with a constant name, ``model.eval()``,
  ``torch.compile``, ``re.compile`` and ``torch.backends.*`` settings are not flagged.
- A cell that does not parse (a student's syntax error) has no findings in ``forbidden_uses``:
  the kernel raises ``SyntaxError`` before running any of it. ``needs_review`` returns one
  "syntax error" finding with rule "unparsed" for it, and for code nested too deeply to analyse.
- Assigning to a declared name (``torch.optim.SGD = Mine``) is not a use of it;
  ``needs_review`` flags the assignment as "monkey patch".
"""
from __future__ import annotations

import ast
import builtins
import functools
import re
import symtable
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Breach", "Finding", "REASONS", "breaches", "forbidden_uses", "needs_review",
           "review_flags", "uses"]


@dataclass(frozen=True)
class Finding:
    """One use found in a cell: what was used, where, and the rule it falls under.

    name: the dotted name or construct found (``torch.optim.SGD``, ``getattr(<built string>)``)
    line: 1-based line in the checked source
    text: that source line, stripped, at most 120 characters
    rule: the declared entry that matched (forbidden uses) or the reason (review flags)"""

    name: str
    line: int
    text: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.name} ({self.rule}): {self.text}"


# The reasons of needs_review, one per kind of reach into what the cell must leave alone.
INTERPRETER_HOOK = "interpreter hook"  # tracing, profiling, audit, import and display hooks
DISPATCH = "dispatch-mode stack"  # torch dispatch/function modes, overrides, op libraries
MODULE_HOOKS = "module hook dicts"  # nn.Module's hook dicts and the global module hooks
IPYTHON_HOOKS = "IPython hooks"  # the shell's events, transformers, display and magics
CTYPES = "ctypes"
HEAP_WALK = "heap walk"  # gc's views of every live object
DYNAMIC = "dynamic lookup"  # a name built at run time, eval/exec, namespace writes
FRAMES = "frame inspection"  # frames and what functions carry of their module
BUILTINS = "builtins"  # the builtins module replaced or written to
RUNNER = "runner process"  # signals to, or the id of, the process that runs the kernel
SHELL = "shell escape"  # code run outside the cell: shell commands, %run, %%writefile
PATCH = "monkey patch"  # an imported module's attribute replaced
UNPARSED = "unparsed"  # the cell does not parse (or nests too deep to analyse)

REASONS = (INTERPRETER_HOOK, DISPATCH, MODULE_HOOKS, IPYTHON_HOOKS, CTYPES, HEAP_WALK, DYNAMIC,
           FRAMES, BUILTINS, RUNNER, SHELL, PATCH, UNPARSED)

# Dotted names whose use (or use of anything under them) needs review.
_REVIEW_NAMES = {
    **dict.fromkeys([
        "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys.monitoring", "sys.modules",
        "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache", "sys.displayhook",
        "sys.excepthook", "sys.breakpointhook", "sys.unraisablehook", "threading.settrace",
        "threading.setprofile", "threading.settrace_all_threads",
        "threading.setprofile_all_threads", "builtins.breakpoint", "pdb", "bdb", "cProfile",
        "_lsprof",
    ], INTERPRETER_HOOK),
    **dict.fromkeys([
        "sys._getframe", "sys._current_frames", "sys._current_exceptions",
        "sys._getframemodulename", "inspect.currentframe", "inspect.stack",
        "inspect.getouterframes", "inspect.getinnerframes", "inspect.trace",
        "traceback.walk_stack", "traceback.walk_tb",
    ], FRAMES),
    **dict.fromkeys(["gc.get_objects", "gc.get_referrers", "gc.get_referents"], HEAP_WALK),
    **dict.fromkeys(["ctypes", "_ctypes", "cffi", "numpy.ctypeslib"], CTYPES),
    **dict.fromkeys(["torch.utils._python_dispatch", "torch.overrides", "torch.library"],
                    DISPATCH),
    **dict.fromkeys(["IPython.core", "ipykernel"], IPYTHON_HOOKS),
    **dict.fromkeys(["os.kill", "os.killpg", "os.getppid", "signal.pthread_kill",
                     "signal.signal", "os.setsid", "os.setpgrp", "os.setpgid", "psutil"],
                    RUNNER),
    **dict.fromkeys(["builtins.eval", "builtins.exec", "builtins.compile"], DYNAMIC),
    "builtins.__dict__": BUILTINS,
}
_REVIEW_EXEMPT = ("IPython.core.getipython", "IPython.core.display")

# Attribute names that need review whatever they are read from.
_REVIEW_ATTRIBUTES = {
    **dict.fromkeys(["f_back", "f_locals", "f_globals", "f_builtins", "f_code", "tb_frame",
                     "gi_frame", "cr_frame", "ag_frame", "__globals__", "__code__",
                     "__closure__"], FRAMES),
    **dict.fromkeys(["__class__", "__subclasses__", "__getattribute__"], DYNAMIC),
    **dict.fromkeys([
        "_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
        "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks", "_forward_hooks_with_kwargs",
        "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called",
        "register_module_forward_hook", "register_module_forward_pre_hook",
        "register_module_full_backward_hook", "register_module_full_backward_pre_hook",
        "register_module_backward_hook", "register_module_buffer_registration_hook",
        "register_module_module_registration_hook",
        "register_module_parameter_registration_hook",
    ], MODULE_HOOKS),
    **dict.fromkeys([
        "TorchDispatchMode", "TorchFunctionMode", "_push_on_torch_dispatch_stack",
        "_pop_torch_dispatch_stack", "_get_dispatch_mode", "_get_current_dispatch_mode",
        "_get_current_dispatch_mode_stack", "_push_on_torch_function_stack",
        "_pop_torch_function_stack", "__torch_dispatch__", "__torch_function__",
    ], DISPATCH),
}
_DISPATCH_DEFS = {"__torch_dispatch__", "__torch_function__"}

# get_ipython()'s attributes that IPython's own syntax uses; the rest are the shell's hooks.
_MAGIC_RUNNERS = {"run_line_magic", "run_cell_magic"}
_SHELL_ATTRIBUTES = {"system", "getoutput", "system_raw", "system_piped"}
_SHELL_MAGICS = {"run", "load", "loadpy", "bash", "sh", "script", "python", "python2", "python3",
                 "pypy", "perl", "ruby", "sx", "system", "sc"}
_FILE_MAGICS = {"writefile", "file"}  # fine when what they write is Python: it is checked here
_IPYTHON_MAGICS = {"load_ext", "reload_ext", "config"}
# magics whose line is Python that runs (%timeit's options first); a cell magic's body is
# checked whatever the magic, when it parses
_CODE_MAGICS = {"time", "timeit", "prun", "debug"}
# assignments to these (configuration, not behaviour) are no monkey patch
_SETTINGS = ("torch.backends", "torch._dynamo.config", "torch._inductor.config",
             "torch._functorch.config", "pandas.options", "matplotlib.rcParams")

_GET_IPYTHON = {"IPython.get_ipython", "IPython.core.getipython.get_ipython"}
_IMPORTERS = {"importlib.import_module", "builtins.__import__", "importlib.__import__"}
_NAMESPACES = {"builtins.globals": "globals", "builtins.locals": "locals",
               "builtins.vars": "vars"}
_NAMESPACE_WRITES = {"update", "__setitem__", "__delitem__", "setdefault", "pop", "popitem",
                     "clear"}
# A name bound nowhere: what a notebook's earlier cell conventionally bound it to.
_CONVENTIONS = {"np": "numpy", "nn": "torch.nn", "F": "torch.nn.functional",
                "optim": "torch.optim", "plt": "matplotlib.pyplot"}
_BUILTIN_NAMES = frozenset(dir(builtins))
# magics that IPython runs for a one-line cell without its % (automagic)
_AUTOMAGICS = frozenset(
    "time timeit prun run load pip conda matplotlib env cd ls pwd who whos reset debug config "
    "load_ext reload_ext autoreload history xmode precision pdb store alias pinfo pinfo2 psource "
    "pdoc pdef pfile capture sx system cat cp mv rm mkdir rmdir less more man clear".split())

_MAX_PARTS = 16  # longest dotted name followed
_MAX_CANDIDATES = 32  # most names one alias stands for
_MAX_ROUNDS = 10  # alias chains resolved to this depth
_MAX_NESTING = 4  # code in magics in exec strings in ...
_MAX_STRINGS = 256  # most strings one name is followed for
_MAX_STRING_DEPTH = 12  # names bound to names bound to ...


# --- from cell source to syntax trees ---------------------------------------------------------

@dataclass(frozen=True)
class _Code:
    """A syntax tree and the map from its lines to the lines of the checked cell."""

    tree: ast.Module
    line: Callable[[int], int]


class _Unparsed(Exception):
    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


_MANAGER: list = []  # IPython's TransformerManager, once imported (an empty slot: not tried)


def _ipython_manager():
    """IPython's TransformerManager, or None where IPython is not importable."""
    if not _MANAGER:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            _MANAGER.append(TransformerManager())
        except Exception:  # not installed, or broken: the fallback does the simple cases
            _MANAGER.append(None)
    return _MANAGER[0]


_ASSIGN_SPECIAL = re.compile(r"(\s*)([\w\s,.\[\]()*]+?)\s*=\s*([!%])(.*)")
_HELP = re.compile(r"(\?{1,2})\s*([\w.]*)|([\w.]+)\s*(\?{1,2})")


def _fallback_transform(source: str) -> str:
    """IPython syntax as Python without IPython, as ``TransformerManager`` writes it: magics,
    shell escapes and help become the calls IPython makes; a magic's continued lines are
    joined into one."""
    lines = source.splitlines()
    indent = lines[0][:len(lines[0]) - len(lines[0].lstrip())] if lines else ""
    if indent:  # IPython dedents a cell by its first line's indentation
        lines = [line[len(indent):] if line.startswith(indent) else line for line in lines]
    if lines and lines[0].lstrip().startswith("%%"):
        name, _, line = lines[0].strip()[2:].partition(" ")
        body = "".join(rest + "\n" for rest in lines[1:])
        return f"get_ipython().run_cell_magic({name!r}, {line.strip()!r}, {body!r})\n"
    out = []
    lines.reverse()
    while lines:
        line = lines.pop()
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        assign = _ASSIGN_SPECIAL.fullmatch(line)
        special = stripped.startswith(("%", "!")) or (assign and "#" not in assign.group(2))
        while special and stripped.endswith("\\") and lines:  # IPython joins these
            stripped = stripped[:-1].rstrip() + " " + lines.pop().strip()
            assign = _ASSIGN_SPECIAL.fullmatch(indent + stripped)
        help_ = _HELP.fullmatch(stripped)
        if stripped.startswith("%"):
            name, _, rest = stripped.lstrip("%").partition(" ")
            out.append(f"{indent}get_ipython().run_line_magic({name!r}, {rest.strip()!r})")
        elif stripped.startswith("!"):
            out.append(f"{indent}get_ipython().system({stripped.lstrip('!')!r})")
        elif special and assign.group(3) == "!":
            out.append(f"{indent}{assign.group(2).strip()} = "
                       f"get_ipython().getoutput({assign.group(4)!r})")
        elif special:
            name, _, rest = assign.group(4).partition(" ")
            out.append(f"{indent}{assign.group(2).strip()} = "
                       f"get_ipython().run_line_magic({name!r}, {rest.strip()!r})")
        elif help_:
            marks, name = (help_.group(1), help_.group(2)) if help_.group(1) else (
                help_.group(4), help_.group(3))
            magic = "pinfo2" if len(marks) == 2 else "pinfo"
            out.append(f"{indent}get_ipython().run_line_magic({magic!r}, {name!r})")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _transform(source: str) -> str:
    manager = _ipython_manager()
    if manager is not None:
        try:
            return manager.transform_cell(source)
        except Exception:
            pass
    return _fallback_transform(source)


def _line_map(before: list[str], transformed: str, offset: int) -> Callable[[int], int]:
    """Map the lines of ``transformed`` back to those of ``before`` (the cell's lines after
    ``offset`` leading blank ones): IPython writes a line for each line, except that a magic's
    continued lines (ending in a backslash) become one, and so does a cell magic's cell."""
    mapping = {}
    i = 0
    for j, line in enumerate(transformed.splitlines()):
        if i >= len(before):
            break
        mapping[j + 1] = i + 1
        if line.strip() != before[i].strip():  # rewritten by IPython: where did it end?
            while before[i].rstrip().endswith("\\") and i + 1 < len(before):
                i += 1
        i += 1
    last = max(len(before), 1)
    return lambda n: offset + min(max(mapping.get(n, n), 1), last)


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _parse_cell(source: str, depth: int = 0) -> list[_Code]:
    """The trees of a cell: the cell itself, then the Python code its magics and ``exec`` of
    constant strings run. Raises ``_Unparsed`` (with the line) when the cell is no Python."""
    lines = source.splitlines()
    blank = 0
    while blank < len(lines) and not lines[blank].strip():
        blank += 1  # IPython drops them: done here, so that the line map needs no guessing
    lines = lines[blank:]
    text = _transform("".join(line + "\n" for line in lines))
    tree = _parse(text)
    if tree is None and len(lines) == 1 and lines[0].split(None, 1)[0] in _AUTOMAGICS:
        automagic = _transform("%" + lines[0].strip())  # IPython runs `time x` as `%time x`
        tree = _parse(automagic)
        text = automagic if tree is not None else text
    line = _line_map(lines, text, blank)
    if tree is None:
        try:
            ast.parse(text)
            where = 1
        except SyntaxError as error:
            where = line(error.lineno or 1)
        except Exception:
            where = 1
        raise _Unparsed(where)
    codes = [_Code(tree, line)]
    if depth < _MAX_NESTING:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                codes += _run_code(node, source, line, depth)
    return codes


def _is_python(text: str | None) -> bool:
    try:
        return text is not None and bool(_parse_cell(text, _MAX_NESTING))
    except _Unparsed:
        return False


def _constant(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _run_code(call: ast.Call, source: str, line: Callable[[int], int], depth: int) -> list[_Code]:
    """The code that a call of a magic, ``run_cell`` or ``exec``/``eval``/``compile`` runs, when
    given as a constant string (found by its shape: aliases are not known yet)."""
    func, args = call.func, call.args
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    codes = []

    def line_code(node):  # a magic's line: Python after leading options, at the magic's line
        text = _constant(node)
        if text is None:
            return
        at = line(node.lineno)
        for start in [0] + [m.start() for m in re.finditer(r"(?<=\s)\S", text)]:
            tree = _parse(text[start:].strip())
            if tree is not None:
                codes.append(_Code(tree, lambda n, at=at: at))
                return

    def cell_code(node, magic_body=False):  # a whole cell of code, with its own magics
        text = _constant(node)
        if text is None:
            return
        first, last = line(node.lineno), line(node.end_lineno)
        lines = source.splitlines()
        if magic_body and 0 < first <= len(lines) and lines[first - 1].lstrip().startswith("%%"):
            outer = lambda n, first=first: first + n  # the body starts on the line after %%
        else:
            outer = lambda n, first=first, last=last: min(first + n - 1, last)
        try:
            inner = _parse_cell(text, depth + 1)
        except _Unparsed:
            return  # not Python (%%bash, %%html): IPython's business, not ours
        codes.extend(_Code(c.tree, lambda n, c=c: outer(c.line(n))) for c in inner)

    magic = _constant(args[0]) if args else None
    if isinstance(func, ast.Attribute) and name == "run_line_magic" and len(args) >= 2:
        if magic in _CODE_MAGICS:  # not %pip's packages, nor help's names (obj?)
            line_code(args[1])
    elif isinstance(func, ast.Attribute) and name == "run_cell_magic" and len(args) >= 3:
        if magic in _CODE_MAGICS:  # %%timeit's line: the setup code
            line_code(args[1])
        cell_code(args[2], magic_body=True)
    elif isinstance(func, ast.Attribute) and name == "magic" and magic:
        if magic.split(None, 1)[0].lstrip("%") in _CODE_MAGICS:  # the old magic("time x")
            line_code(args[0])
    elif isinstance(func, ast.Attribute) and name == "run_cell" and args:
        cell_code(args[0])
    elif name in ("exec", "eval", "compile") and args:
        if isinstance(func, ast.Name) or getattr(func.value, "id", None) in (
                "builtins", "__builtins__"):
            cell_code(args[0])
    return codes


def _parse_preamble(preamble: str | Iterable[str]) -> list[_Code]:
    cells = [preamble] if isinstance(preamble, str) else list(preamble)
    codes = []
    for cell in cells:
        codes += _preamble_cell(cell)
    return codes


@functools.lru_cache(maxsize=1024)
def _preamble_cell(cell: str) -> list[_Code]:
    """One preamble cell, parsed once (a notebook's cells are each other's preamble; the
    parsed trees are only read)."""
    try:
        return _parse_cell(cell)
    except _Unparsed:
        return []  # given code that does not parse binds nothing


# --- the resolver ------------------------------------------------------------------------------

def _root(node) -> ast.Name | None:
    """The name an attribute chain starts from (``a`` of ``a.b.c``), if any."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _key(node) -> str | None:
    """``a.b.c`` for an attribute chain on a name: the key an assignment binds."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or len(parts) >= _MAX_PARTS:
        return None
    return ".".join([node.id, *reversed(parts)])


def _under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class _Names:
    """What each name of the checked code stands for, as dotted names (``torch.optim``), from
    the imports and assignments of the preamble and the cell together (flow-insensitive)."""

    def __init__(self, codes: list[_Code], implicit: dict[str, str]):
        self.bindings: dict[str, set[str]] = {}  # name or a.b key -> dotted names
        self.bound: set[str] = set()  # every name bound anywhere, by anything
        self.stars: list[str] = []  # modules star-imported
        self.implicit = implicit
        self._memo: dict[int, frozenset[str]] | None = None
        # what each name is bound to, for the strings it may hold: (kind, payload) with kind
        # "value" (an expression), "int" (a counter of range/enumerate), "element" (of an
        # iterable) or "unknown" (a parameter, an import, anything else)
        self._sources: dict[str, list[tuple[str, object]]] = {}
        self._covered: set[int] = set()  # the Name targets that have a source
        self._local: dict[int, list[tuple[str, object]]] = {}  # a comprehension's own names
        stores: list[ast.Name] = []
        pairs: list[tuple[ast.AST, ast.AST]] = []
        for code in codes:
            for node in ast.walk(code.tree):
                self._collect(node, pairs)
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    stores.append(node)
        for node in stores:
            if id(node) not in self._covered:
                self._opaque(node.id)
        # deepest nodes first, so that resolving a node finds its parts resolved (a long chain
        # of calls would otherwise recurse as deep as it is long)
        nodes = [node for code in codes for node in ast.walk(code.tree)][::-1]
        for _ in range(_MAX_ROUNDS):
            self._warm(nodes)
            changed = False
            for target, value in pairs:
                changed |= self._assign(target, value)
            if not changed:
                break
        else:
            self._warm(nodes)

    def _warm(self, nodes) -> None:
        self._memo = {}
        for node in nodes:
            if isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                self.resolve(node)

    def _bind(self, key: str, names: Iterable[str]) -> bool:
        if "." not in key:
            self.bound.add(key)
        names = {n for n in names if n.count(".") < _MAX_PARTS}
        have = self.bindings.setdefault(key, set()) if names else set()
        new = names - have
        if new and len(have) < _MAX_CANDIDATES:
            have |= new
            return True
        return False

    def _collect(self, node, pairs) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._bind(alias.asname, {alias.name})
                else:
                    top = alias.name.partition(".")[0]
                    self._bind(top, {top})
                self._opaque(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    if not node.level and node.module:
                        self.stars.append(node.module)
                    continue
                if node.level or not node.module:
                    self.bound.add(alias.asname or alias.name)  # relative: not a library
                else:
                    self._bind(alias.asname or alias.name, {f"{node.module}.{alias.name}"})
                self._opaque(alias.asname or alias.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            self.bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound.add(node.name)
            self._opaque(node.name)
        elif isinstance(node, ast.arg):
            self.bound.add(node.arg)
            self._opaque(node.arg)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            self.bound.add(node.name)
            self._opaque(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            self.bound.add(node.rest)
            self._opaque(node.rest)
        elif isinstance(node, ast.Assign):
            pairs.extend((target, node.value) for target in node.targets)
            for target in node.targets:
                self._source(target, node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            pairs.append((node.target, node.value))
            self._source(node.target, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            if isinstance(node.iter, (ast.Tuple, ast.List, ast.Set)):
                pairs.extend((node.target, element) for element in node.iter.elts)
            if isinstance(node, ast.comprehension):
                return  # its names are its comprehension's own: see below
            self._loop(node.target, node.iter, self._sources)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            local: dict[str, list[tuple[str, object]]] = {}
            for generator in node.generators:
                self._loop(generator.target, generator.iter, local)
                for name in ast.walk(generator.target):
                    if isinstance(name, ast.Name):
                        if id(name) not in self._covered:
                            local.setdefault(name.id, []).append(("unknown", None))
                        self._covered.add(id(name))
            for name in ast.walk(node):  # inner comprehensions come later and override
                if isinstance(name, ast.Name) and name.id in local:
                    self._local[id(name)] = local[name.id]

    # -- the strings a name may hold (getattr(layer, f"{name}_l{k}") with name, k from loops)

    def _opaque(self, name: str) -> None:
        self._sources.setdefault(name, []).append(("unknown", None))

    def _source(self, target, value, sources=None) -> None:
        sources = self._sources if sources is None else sources
        if isinstance(target, ast.Name):
            self._covered.add(id(target))
            sources.setdefault(target.id, []).append(("value", value))
        elif (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
              and len(target.elts) == len(value.elts)
              and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts)):
            for t, v in zip(target.elts, value.elts):
                self._source(t, v, sources)
        # any other target keeps its names uncovered: unknown

    def _loop(self, target, iterable, sources) -> None:
        def bind(name, kind, payload):
            self._covered.add(id(name))
            sources.setdefault(name.id, []).append((kind, payload))

        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name):
            if iterable.func.id == "range" and isinstance(target, ast.Name):
                return bind(target, "int", iterable.func)
            if (iterable.func.id == "enumerate" and len(iterable.args) == 1
                    and isinstance(target, (ast.Tuple, ast.List)) and len(target.elts) == 2):
                counter, item = target.elts
                if isinstance(counter, ast.Name):
                    bind(counter, "int", iterable.func)
                if isinstance(item, ast.Name):
                    bind(item, "element", (iterable.args[0], iterable.func))
                return
        if (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
                and iterable.func.attr in _NAMED_ITERATORS
                and isinstance(target, (ast.Tuple, ast.List)) and target.elts
                and isinstance(target.elts[0], ast.Name)):
            # for name, p in model.named_parameters(): name is a parameter's (or buffer's,
            # submodule's) name, never a hook dict or a module's private state
            return bind(target.elts[0], "member", None)
        if isinstance(target, ast.Name):
            bind(target, "element", (iterable, None))
        elif isinstance(iterable, (ast.Tuple, ast.List, ast.Set)):
            for element in iterable.elts:
                self._source(target, element, sources)

    def strings(self, node, depth: int = 0) -> frozenset[str] | None:
        """The strings ``node`` may hold when the code spells them out: constants, f-strings and
        sums of them, names bound only to such (loops over literal tuples included); a NUL in
        a string stands for the digits of a counter (``range``, ``enumerate``). None: any."""
        if node is None or depth > _MAX_STRING_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return frozenset([node.value])
            if isinstance(node.value, int) and not isinstance(node.value, bool):
                return frozenset([str(node.value)])
            return None
        if isinstance(node, ast.JoinedStr):
            out = frozenset([""])
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    if part.conversion not in (-1, ord("s")) or part.format_spec is not None:
                        return None
                    part = part.value
                out = _product(out, self.strings(part, depth + 1))
                if out is None:
                    return None
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return _product(self.strings(node.left, depth + 1),
                            self.strings(node.right, depth + 1))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("replace", "removeprefix", "removesuffix")
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
                and self.strings(node.func.value, depth + 1) == frozenset([MEMBER])):
            return frozenset([MEMBER])  # name.replace("_l0", "_l1"): still a member's name
        if isinstance(node, ast.IfExp):
            return _union(self.strings(node.body, depth + 1),
                          self.strings(node.orelse, depth + 1))
        if isinstance(node, ast.Name):
            out = frozenset()
            sources = self._local.get(id(node)) or self._sources.get(node.id)
            for kind, payload in sources or [("unknown", None)]:
                if kind == "value":
                    found = self.strings(payload, depth + 1)
                elif kind == "int":
                    found = frozenset(["\0"]) if self._builtin(payload) else None
                elif kind == "member":
                    found = frozenset([MEMBER])
                elif kind == "element":
                    iterable, via = payload
                    found = self._elements(iterable, depth + 1) if (
                        via is None or self._builtin(via)) else None
                else:
                    found = None
                out = _union(out, found)
                if out is None:
                    return None
            return out
        return None

    def _builtin(self, func) -> bool:
        return self.resolve(func) == {f"builtins.{func.id}"}

    def _elements(self, iterable, depth: int) -> frozenset[str] | None:
        """The strings the elements of ``iterable`` may hold (a literal, or a name bound to
        literals only)."""
        if isinstance(iterable, (ast.Tuple, ast.List, ast.Set)):
            out = frozenset()
            for element in iterable.elts:
                out = _union(out, self.strings(element, depth + 1))
                if out is None:
                    return None
            return out
        if isinstance(iterable, ast.Name):
            out = frozenset()
            for kind, payload in self._sources.get(iterable.id, [("unknown", None)]):
                if kind != "value" or not isinstance(payload, (ast.Tuple, ast.List, ast.Set)):
                    return None
                out = _union(out, self._elements(payload, depth + 1))
                if out is None:
                    return None
            return out
        return None

    def concrete(self, node) -> frozenset[str] | None:
        """The strings ``node`` may hold, when they are known to the letter (no counters)."""
        found = self.strings(node)
        if found is None or any("\0" in s or MEMBER in s for s in found):
            return None
        return found

    def _assign(self, target, value) -> bool:
        if isinstance(target, (ast.Tuple, ast.List)):
            if (isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
                    and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts)):
                changed = False
                for t, v in zip(target.elts, value.elts):
                    changed |= self._assign(t, v)
                return changed
            return False
        key = _key(target)
        return self._bind(key, self.resolve(value)) if key else False

    def resolve(self, node) -> frozenset[str]:
        """The dotted names ``node`` may stand for (empty: not a name the resolver follows)."""
        memo = self._memo
        if memo is not None and id(node) in memo:
            return memo[id(node)]
        chain = []
        base = node
        while isinstance(base, ast.Attribute):  # a loop, not recursion: chains can be long
            chain.append(base)
            base = base.value
        names = self._resolve_base(base)
        key = base.id if isinstance(base, ast.Name) else None
        for attribute in reversed(chain):
            names = {f"{n}.{attribute.attr}" for n in names if n.count(".") < _MAX_PARTS}
            key = f"{key}.{attribute.attr}" if key and key.count(".") < _MAX_PARTS else None
            if key in self.bindings:
                names |= self.bindings[key]
            if memo is not None:
                memo[id(attribute)] = frozenset(names)
        result = frozenset(names)
        if memo is not None:
            memo[id(node)] = result
        return result

    def _resolve_base(self, node) -> set[str]:
        if isinstance(node, ast.Name):
            return self._resolve_name(node.id)
        if isinstance(node, ast.Call):
            return self._resolve_call(node)
        if isinstance(node, ast.Subscript):
            keys = self.concrete(node.slice) or ()
            out = set()
            if self.namespace(node.value):  # globals()["torch"]
                for key in keys:
                    out |= self._resolve_name(key) if key.isidentifier() else set()
                return out
            for name in self.resolve(node.value):
                for key in keys:
                    if name == "sys.modules" and _dotted(key):
                        out.add(key)
                    elif name.endswith(".__dict__") and key.isidentifier():
                        out.add(f"{name[:-len('.__dict__')]}.{key}")
            return out
        if isinstance(node, ast.IfExp):
            return set(self.resolve(node.body) | self.resolve(node.orelse))
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.resolve(v) for v in node.values))
        if isinstance(node, ast.NamedExpr):
            return set(self.resolve(node.value))
        return set()

    def _resolve_name(self, name: str) -> set[str]:
        if name in self.bindings:
            return set(self.bindings[name])
        if name in self.bound:
            return set()  # bound to something the resolver does not follow
        if name == "__builtins__":
            return {"builtins"}
        if name == "get_ipython":  # IPython puts it in the user namespace
            return {"IPython.get_ipython"}
        if name in _BUILTIN_NAMES:
            return {f"builtins.{name}"}
        out = {f"{module}.{name}" for module in self.stars}
        if name in self.implicit:
            out.add(self.implicit[name])
        return out

    def _resolve_call(self, call: ast.Call) -> set[str]:
        funcs = self.resolve(call.func)
        args = call.args
        out: set[str] = set()
        if not funcs or any(isinstance(a, ast.Starred) for a in args):
            return out
        if "builtins.getattr" in funcs and len(args) >= 2:
            for attribute in self.concrete(args[1]) or ():
                if attribute.isidentifier():
                    out |= {f"{n}.{attribute}" for n in self.resolve(args[0])}
        if "builtins.vars" in funcs and len(args) == 1:
            out |= {f"{n}.__dict__" for n in self.resolve(args[0])}
        if funcs & _GET_IPYTHON:
            out.add("get_ipython()")
        if funcs & _IMPORTERS and args:
            fromlist = args[3] if len(args) >= 4 else next(
                (k.value for k in call.keywords if k.arg == "fromlist"), None)
            empty = fromlist is None or (isinstance(fromlist, ast.Constant) and not fromlist.value) \
                or (isinstance(fromlist, (ast.Tuple, ast.List)) and not fromlist.elts)
            for module in self.imported(call):
                if "importlib.import_module" in funcs or not empty:
                    out.add(module)
                else:
                    out.add(module.partition(".")[0])  # what __import__ returns
        return out

    def imported(self, call: ast.Call) -> set[str]:
        """The modules that a call of ``__import__``/``importlib.import_module`` imports."""
        if not call.args or not self.resolve(call.func) & _IMPORTERS:
            return set()
        return {m for m in self.concrete(call.args[0]) or () if _dotted(m)}

    def references(self, node) -> set[str]:
        names = set(self.resolve(node))
        if isinstance(node, ast.Call):
            names |= self.imported(node)
        return names

    def namespace(self, node) -> str | None:
        """``globals``, ``locals`` or ``vars`` when ``node`` calls one of them (with ``vars``
        called on nothing: the local namespace)."""
        if isinstance(node, ast.Call):
            for func in self.resolve(node.func):
                if func in _NAMESPACES:
                    return _NAMESPACES[func]
        return None

    def library(self, node) -> bool:
        """Whether an attribute chain starts from a module (imported, or implicit)."""
        root = _root(node)
        return root is not None and (root.id in self.bindings or (
            root.id not in self.bound and root.id in self.implicit))


def _dotted(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _product(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None or b is None or len(a) * len(b) > _MAX_STRINGS:
        return None
    return frozenset(x + y for x in a for y in b)


def _union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None or b is None or len(a) + len(b) > _MAX_STRINGS:
        return None
    return a | b


# --- walking the cell --------------------------------------------------------------------------

def _extends(parent, child) -> bool:
    """Whether ``parent`` names something under what ``child`` names (``child.attr``,
    ``child[key]``, ``getattr(child, ...)``)."""
    if isinstance(parent, (ast.Attribute, ast.Subscript)):
        return parent.value is child
    if isinstance(parent, ast.Call):
        return parent.func is child or bool(parent.args) and parent.args[0] is child
    return False


def _render(node) -> str:
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        text = ""
    if 0 < len(text) <= 80:
        return text
    return f"….{node.attr}" if isinstance(node, ast.Attribute) else "…"


def _display(node, name: str) -> str:
    """How a resolved name reads in a finding: builtins as the cell wrote them."""
    if name.startswith("builtins."):
        root = _root(node)
        if root is None or root.id != "builtins":
            rest = name[len("builtins."):]
            return f"__builtins__.{rest}" if root is not None and root.id == "__builtins__" \
                else rest
    return name


def _line_of(node) -> int:
    # an attribute's name is on its last line (`loss\n.backward()`)
    if isinstance(node, ast.Attribute):
        return node.end_lineno or node.lineno
    return getattr(node, "lineno", 1)


def _imports(node) -> list[tuple[ast.alias, str]]:
    if isinstance(node, ast.Import):
        return [(alias, alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return [(alias, f"{node.module}.{alias.name}") for alias in node.names]
    return []


def _report(source: str, codes: list[_Code], hits_of: Callable,
            same_rule: bool) -> list[Finding]:
    """The findings of every node of ``codes`` (``hits_of(node)``: (name, rule) pairs), the
    longest name of a chain only (with ``same_rule``: the longest of each rule), one per
    (line, name), sorted by line."""
    lines = source.splitlines()
    found: dict[tuple[int, str], Finding] = {}
    for code in codes:
        parents = {}
        hits = {}
        for node in ast.walk(code.tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
            node_hits = hits_of(node)
            if node_hits:
                hits[id(node)] = (node, node_hits)
        for node, node_hits in hits.values():
            parent = parents.get(id(node))
            covered = set()
            if parent is not None and _extends(parent, node) and id(parent) in hits:
                covered = {rule for _, rule in hits[id(parent)][1]}
                if not same_rule:
                    covered = {rule for _, rule in node_hits}
            line = code.line(getattr(node, "lineno", None) and _line_of(node) or 1)
            text = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
            for name, rule in node_hits:
                if rule not in covered:
                    found.setdefault((line, name), Finding(name, line, text, rule))
    return sorted(found.values(), key=lambda f: (f.line, f.name))


def _implicit(roots: Iterable[str]) -> dict[str, str]:
    implicit = {name.partition(".")[0]: name.partition(".")[0] for name in _REVIEW_NAMES}
    implicit.update({root: root for root in roots})
    implicit.update(_CONVENTIONS)
    implicit.update({"torch": "torch", "numpy": "numpy", "importlib": "importlib",
                     "operator": "operator", "IPython": "IPython"})
    return implicit


# --- forbidden uses ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    """A declared entry: a dotted name (and everything under it) or an attribute pattern."""

    text: str
    parts: tuple[str, ...]
    attribute: bool

    def matches(self, name: str) -> bool:
        parts = tuple(name.split("."))
        if self.attribute:
            return _contains(parts[1:], self.parts)
        return parts[:len(self.parts)] == self.parts

    def matches_access(self, chain: tuple[str, ...]) -> bool:
        """An attribute pattern against the attributes accessed (``chain[0]`` is what they are
        accessed on)."""
        return self.attribute and _contains(chain[1:], self.parts)


def _contains(parts: tuple[str, ...], run: tuple[str, ...]) -> bool:
    n = len(run)
    return any(parts[i:i + n] == run for i in range(len(parts) - n + 1))


def _entries(forbidden: Iterable[str]) -> list[_Entry]:
    if isinstance(forbidden, str):
        forbidden = [forbidden]  # one entry, not its characters
    entries = []
    for text in forbidden:
        entry = text.strip()
        attribute = entry.startswith(".")
        parts = tuple((entry[1:] if attribute else entry).split("."))
        if not all(part.isidentifier() for part in parts):
            raise ValueError(f"forbidden entry {text!r} is neither a dotted name "
                             "(torch.optim) nor an attribute (.backward)")
        entries.append(_Entry(entry, parts, attribute))
    return entries


def _access_chains(node, names: _Names, depth: int = 0) -> list[tuple[str, ...]]:
    """The attributes accessed by ``node`` as written: ``('loss', 'backward')`` for
    ``loss.backward`` and for ``getattr(loss, "backward")``; ``'…'`` for what is not a name."""
    if isinstance(node, ast.Call):
        if len(node.args) < 2 or "builtins.getattr" not in names.resolve(node.func):
            return []
        target = node.args[0]
        inner = (depth < _MAX_PARTS and _access_chains(target, names, depth + 1)
                 or [(target.id,) if isinstance(target, ast.Name) else ("…",)])[0]
        return [(*inner, attribute) for attribute in sorted(names.concrete(node.args[1]) or ())]
    if not isinstance(node, ast.Attribute):
        return []
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    root = node.id if isinstance(node, ast.Name) else "…"
    return [(root, *reversed(parts))]


def forbidden_uses(source: str, forbidden: Iterable[str],
                   preamble: str | Iterable[str] = "") -> list[Finding]:
    """Where ``source`` uses a name that ``forbidden`` declares.

    source: the student's cell (IPython syntax allowed)
    forbidden: dotted names (``torch.optim``: itself and everything under it) and attribute
        patterns (``.backward``: any attribute of that name); raises ValueError for anything else
    preamble: the code that runs before the cell (the chapter's given cells), as one source or
        one per cell; it binds names, and is not reported on
    returns: one Finding per (line, name), sorted by line, ``rule`` the first declared entry that
        matched; ``[]`` for a cell that does not parse (the kernel runs none of it)"""
    entries = _entries(forbidden)
    if not entries:
        return []
    try:
        codes = _parse_cell(source)
    except _Unparsed:
        return []
    try:
        roots = [e.parts[0] for e in entries if not e.attribute]
        names = _Names(_parse_preamble(preamble) + codes, _implicit(roots))

        def hits_of(node):
            if not isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                return []
            if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
                return []  # a binding, not a use
            out = []
            for name in sorted(names.references(node)):
                entry = next((e for e in entries if e.matches(name)), None)
                if entry is not None:
                    out.append((_display(node, name), entry.text))
            matched = {rule for _, rule in out}
            for chain in _access_chains(node, names):
                entry = next((e for e in entries if e.text not in matched
                              and e.matches_access(chain)), None)
                if entry is not None:
                    shown = ".".join(chain) if chain[0] != "…" else _render(node)
                    out.append((shown, entry.text))
            return out

        return _report(source, codes, _with_imports(hits_of, lambda name: next(
            (e.text for e in entries if e.matches(name)), None)), same_rule=False)
    except RecursionError:
        return []  # needs_review flags code nested this deep


def _with_imports(hits_of: Callable, rule_of: Callable[[str], str | None]) -> Callable:
    """``hits_of`` plus the names that import statements import (an import is a use),
    reported on each alias (``ast.walk`` meets a statement before its aliases)."""
    imported: dict[int, str] = {}

    def hits(node):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((id(alias), name) for alias, name in _imports(node))
            return []
        if isinstance(node, ast.alias):
            name = imported.get(id(node))
            rule = rule_of(name) if name else None
            return [(name, rule)] if rule else []
        return hits_of(node)

    return hits


# --- needs review ------------------------------------------------------------------------------

def _review_reason(name: str) -> str | None:
    """Why using the dotted ``name`` needs review, or None."""
    if _under(name, _REVIEW_EXEMPT):
        return None
    parts = name.split(".")
    for prefix in (".".join(parts[:n]) for n in range(len(parts), 0, -1)):
        if prefix in _REVIEW_NAMES:
            return _REVIEW_NAMES[prefix]
    if parts[:2] == ["torch", "_C"] and any(
            "dispatch" in p.lower() or "torchfunction" in p.lower()
            or "torch_function" in p.lower() for p in parts[2:]):
        return DISPATCH
    if parts[:4] == ["torch", "nn", "modules", "module"] and len(parts) > 4 \
            and parts[4].startswith("_global_"):
        return MODULE_HOOKS
    if parts[0] == "get_ipython()" and len(parts) > 1:
        if parts[1] in _MAGIC_RUNNERS:
            return None
        return SHELL if parts[1] in _SHELL_ATTRIBUTES else IPYTHON_HOOKS
    for part in parts[1:]:
        reason = _attribute_reason(part)
        if reason:
            return reason
    return None


def _attribute_reason(attribute: str) -> str | None:
    if attribute in _REVIEW_ATTRIBUTES:
        return _REVIEW_ATTRIBUTES[attribute]
    if attribute.startswith("_global_") and "hook" in attribute:
        return MODULE_HOOKS
    return None


def _written(names: _Names, target: ast.AST, shown: str) -> list[tuple[str, str]]:
    """The review hits of replacing an attribute of what ``target`` names."""
    out = []
    for name in sorted(names.resolve(target)):
        if name == "builtins" or name.startswith("builtins."):
            out.append((shown, BUILTINS))
        elif name.startswith("get_ipython()"):
            out.append((shown, IPYTHON_HOOKS))
        elif names.library(target) and not _under(name, _SETTINGS):
            out.append((shown, PATCH))
    return out[:1]


def _review_hits(node, names: _Names) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _DISPATCH_DEFS:
        return [(node.name, DISPATCH)]
    if not isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
        return out
    store = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del))
    if isinstance(node, ast.Name):
        if store:
            return out  # binding a name is no reach into anything
        if node.id == "__builtins__":
            return [("__builtins__", BUILTINS)]
    for name in sorted(names.references(node)):
        reason = _review_reason(name)
        if reason:
            out.append((_display(node, name), reason))
    reasons = {reason for _, reason in out}
    if isinstance(node, ast.Attribute):
        reason = _attribute_reason(node.attr)
        if reason and reason not in reasons:
            out.append((_render(node), reason))
        namespace = names.namespace(node.value)
        if namespace and node.attr in _NAMESPACE_WRITES:
            out.append((f"{namespace}().{node.attr}", DYNAMIC))
        if store:
            out += _written(names, node.value, _render(node))
    elif isinstance(node, ast.Subscript):
        namespace = names.namespace(node.value)
        constant_key = names.concrete(node.slice) is not None
        if namespace and (store or not constant_key):
            out.append((f"{namespace}()[...]", DYNAMIC))
        targets = names.resolve(node.value)
        if store and targets & {"builtins", "builtins.__dict__"}:
            out.append((f"{_render(node.value)}[...]", BUILTINS))
        if not constant_key and any(t.endswith(".__dict__") for t in targets):
            out.append((f"{_render(node.value)}[...]", DYNAMIC))
    elif isinstance(node, ast.Call):
        out += [hit for hit in _call_hits(node, names)
                if hit[1] not in reasons or "<built string>" in hit[0]]
    return out


def _template_reason(attribute: str) -> str | None:
    """Why an attribute of this name needs review; NUL stands for a counter's digits, MEMBER
    for the name of a parameter, buffer or submodule (which needs none)."""
    if MEMBER in attribute:  # a member's name as it is; anything built around it is not known
        return None if attribute == MEMBER else DYNAMIC
    if "\0" not in attribute:
        return _attribute_reason(attribute)
    pattern = re.compile(r"\d+".join(map(re.escape, attribute.split("\0"))))
    for name, reason in _REVIEW_ATTRIBUTES.items():
        if pattern.fullmatch(name):
            return reason
    return _attribute_reason(attribute.replace("\0", "0"))


#: Iterators of (name, member) pairs whose names are parameters', buffers' or submodules'.
_NAMED_ITERATORS = {"named_parameters", "named_buffers", "named_modules", "named_children"}
#: In :meth:`_Names.strings`, stands for such a member's name.
MEMBER = "\1"

_ATTRIBUTE_FUNCTIONS = {"builtins.getattr", "builtins.hasattr", "builtins.setattr",
                        "builtins.delattr"}


def _call_hits(call: ast.Call, names: _Names) -> list[tuple[str, str]]:
    out = []
    funcs = names.resolve(call.func)
    args = call.args
    starred = any(isinstance(a, ast.Starred) for a in args)
    for func in sorted(funcs):
        short = func.rpartition(".")[2]
        if func in _ATTRIBUTE_FUNCTIONS:
            found = names.strings(args[1]) if len(args) >= 2 and not starred else None
            if found is None:
                out.append((f"{short}(<built string>)", DYNAMIC))
            for attribute in sorted(found or ()):
                reason = _template_reason(attribute)
                if reason and ("\0" in attribute or MEMBER in attribute):
                    out.append((f"{short}(<built string>)", reason))
                elif reason:
                    out.append((f"{_render(args[0])}.{attribute}", reason))
            if short in ("setattr", "delattr") and args and not starred:
                known = names.concrete(args[1]) if len(args) >= 2 else None
                shown = (f"{_render(args[0])}.{min(known)}" if known
                         else f"{short}({_render(args[0])}, ...)")
                out += _written(names, args[0], shown)
        elif func in _IMPORTERS or func == "importlib.util.find_spec":
            if not args or starred or names.concrete(args[0]) is None:
                out.append((f"{func.removeprefix('builtins.')}(<built string>)", DYNAMIC))
        elif func in ("operator.attrgetter", "operator.methodcaller"):
            spelled = [names.concrete(a) for a in args[:1 if short == "methodcaller" else None]]
            if starred or not args or None in spelled:
                out.append((f"{func}(<built string>)", DYNAMIC))
            for text in sorted(set().union(*(s for s in spelled if s))):
                for part in text.split("."):
                    if _attribute_reason(part):
                        out.append((f"{func}({text!r})", _attribute_reason(part)))
        elif func.startswith("get_ipython().") and short in _MAGIC_RUNNERS:
            magic = _constant(args[0]) if args else None
            prefix = "%%" if short == "run_cell_magic" else "%"
            if magic is None:
                out.append((f"get_ipython().{short}(<built string>)", DYNAMIC))
            elif magic in _SHELL_MAGICS:
                out.append((prefix + magic, SHELL))
            elif magic in _FILE_MAGICS and short == "run_cell_magic" and not _is_python(
                    _constant(args[2]) if len(args) >= 3 else None):
                out.append((prefix + magic, SHELL))
            elif magic in _IPYTHON_MAGICS:
                out.append((prefix + magic, IPYTHON_HOOKS))
    return out


def needs_review(source: str) -> list[Finding]:
    """What in ``source`` reaches the grader's instruments or the interpreter's hooks, or looks
    names up in a way that a static check cannot follow.

    source: the student's cell (IPython syntax allowed)
    returns: one Finding per (line, name), sorted by line, ``rule`` one of ``REASONS``; for a cell
        that does not parse, the single Finding ``syntax error`` with rule ``unparsed``"""
    lines = source.splitlines()

    def unparsed(line: int, name: str = "syntax error") -> list[Finding]:
        text = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
        return [Finding(name, line, text, UNPARSED)]

    try:
        codes = _parse_cell(source)
    except _Unparsed as error:
        return unparsed(error.line)
    try:
        names = _Names(codes, _implicit(()))
        return _report(source, codes, _with_imports(lambda node: _review_hits(node, names),
                                                    _review_reason), same_rule=True)
    except RecursionError:
        return unparsed(1, "too deeply nested")


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
