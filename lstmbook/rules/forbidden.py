"""``forbidden_uses``: where a cell uses a name its exercise declares forbidden."""
from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .tables import Finding, _MAX_PARTS
from .cells import _Unparsed, _parse_cell, _parse_preamble
from .names import _Names
from .walk import _display, _implicit, _imports, _render, _report


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
