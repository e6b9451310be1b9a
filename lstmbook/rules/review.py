"""``needs_review``: code that touches the grader's instruments or the interpreter's hooks, or looks
names up in a way no static check can follow."""
from __future__ import annotations

import ast
import re

from .tables import (BUILTINS, DISPATCH, DYNAMIC, Finding, IPYTHON_HOOKS, MEMBER, MODULE_HOOKS, PATCH,
                     SHELL, UNPARSED, _DISPATCH_DEFS, _FILE_MAGICS, _IMPORTERS, _IPYTHON_MAGICS,
                     _MAGIC_RUNNERS, _NAMESPACE_WRITES, _REVIEW_ATTRIBUTES, _REVIEW_EXEMPT,
                     _REVIEW_NAMES, _SETTINGS, _SHELL_ATTRIBUTES, _SHELL_MAGICS)
from .cells import _Unparsed, _constant, _is_python, _parse_cell
from .names import _Names, _under
from .walk import _display, _implicit, _render, _report
from .forbidden import _with_imports


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
