"""From a cell's source to syntax trees: IPython syntax turned into Python (IPython's own
transformer, or a small fallback), the code that magics and ``exec`` of constants run, each with
the map from its lines to the cell's."""
from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .tables import _AUTOMAGICS, _CODE_MAGICS, _MAX_NESTING


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
