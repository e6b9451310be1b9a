"""The resolver both checks share: what each name of a cell (and of the preamble) can stand for,
through imports, re-bindings, constant lookups and star imports."""
from __future__ import annotations

import ast
from collections.abc import Iterable

from .tables import (MEMBER, _BUILTIN_NAMES, _GET_IPYTHON, _IMPORTERS, _MAX_CANDIDATES, _MAX_PARTS,
                     _MAX_ROUNDS, _MAX_STRINGS, _MAX_STRING_DEPTH, _NAMED_ITERATORS, _NAMESPACES)
from .cells import _Code


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
