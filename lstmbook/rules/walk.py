"""Walking a cell's trees: the node under which a use is reported, how it is shown, and the
findings made of the hits of one check."""
from __future__ import annotations

import ast
from collections.abc import Callable, Iterable

from .tables import Finding, _CONVENTIONS, _REVIEW_NAMES
from .cells import _Code
from .names import _root


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
