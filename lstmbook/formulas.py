"""Printed formulas that check themselves: a LaTeX equation is parsed, both sides are
evaluated on the numbers of a real LSTM, and they must agree with what PyTorch's autograd
computed. Chapter 1 prints every one of its equations through :func:`Checker.check`, so a
typo in a printed formula stops the reference run and fails the tests.

The LaTeX understood is the small subset the chapter uses:

- symbols with a time subscript (``h_t``, ``c_{t-1}``, ``\\delta a_{t+1}``, ``h_0``), with
  ``\\delta``, ``\\bar{}`` or ``\\hat{}``; fixed symbols (``W_x``, ``b_y``, ``E``, ``N``,
  ``\\mathbf{1}_N``); partial derivatives written ``\\frac{\\partial y}{\\partial x}``;
- ``+``, ``-``, ``\\odot`` (elementwise product), juxtaposition (matrix product, or a plain
  product when one side is a number), ``\\frac{a}{b}``, ``^\\top``, ``^2``;
- ``\\sigma``, ``\\tanh`` (and ``\\tanh^2``), ``\\exp``, ``\\log``,
  ``\\operatorname{softmax}`` (over the last axis);
- ``\\sum_t`` (over t = 1..T) of the product that follows; ``[a \\mid b \\mid ...]``
  (concatenation along the last axis).

Several equations can be given at once, separated by ``\\\\``. The grammar is written out
in the docstring of :class:`_Parser`; the numbers come from :mod:`lstmbook.formula_model`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# every regular expression of the parser, compiled once
_SKIP = re.compile(r"(\s+|\\[,;!:]|\\quad|\\qquad|\\left|\\right|&|\\displaystyle)+")
_TIME = re.compile(r"^t(?:([+-])(\d+))?$|^(\d+)$")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_NUMBER = re.compile(r"\d+(\.\d+)?")
_LETTER = re.compile(r"[A-Za-z]")
_SUBSCRIPT = re.compile(r"_(\{[^}]*\}|\w)")
_LINE_BREAK = re.compile(r"\\\\")
_FUNCS = {
    "\\sigma": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "\\tanh": np.tanh,
    "\\exp": np.exp,
    "\\log": np.log,
    "\\operatorname{softmax}": lambda z: np.exp(z - z.max(-1, keepdims=True))
    / np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True),
}


class FormulaError(AssertionError):
    """A formula does not parse, uses an unknown symbol, or disagrees with autograd."""


@dataclass
class Env:
    """The numbers a formula is evaluated on.

    ``seq[name][t]`` holds time-indexed values (``name`` is the symbol without its
    subscript, e.g. ``"\\delta c"``, ``"\\bar{i}"``), ``fixed[name]`` the rest (``"W_x"``,
    ``"\\mathbf{1}_N"``, ``"\\frac{\\partial L}{\\partial W_x}"``), and ``T`` the number of
    time steps. A partial derivative with a time subscript is stored in ``seq`` under its
    text with ``t`` in place of the numerator's step, e.g.
    ``"\\frac{\\partial c_t}{\\partial c_{t-1}}"``.
    """

    seq: dict
    fixed: dict
    T: int


class _Parser:
    """Recursive descent over the LaTeX subset; evaluates while parsing, at step ``t``.

    The grammar, one method per rule (spaces, ``\\,``, ``\\quad``, ``\\left``/``\\right`` and
    ``&`` are skipped between tokens)::

        expr    := ["-"] term { ("+" | "-") term }
        term    := "\\sum" sum | factor { "\\odot" factor | "\\cdot" factor
                                         | "\\sum" sum | factor }      (juxtaposition: matrix product)
        sum     := ["_" group] ["^" group] term             (t = 1..T, the term re-read at each t)
        factor  := "-" factor | primary { "^" group }       (group: \\top or T, or a digit power)
        primary := "(" expr ")" | "[" expr { "\\mid" expr } "]" | number
                 | function ["^" digit] arg | "\\frac" group group | symbol
        arg     := "(" expr ")" | factor
        symbol  := ["\\delta"] ("\\bar" group | "\\hat" group | "\\mathbf" group | letter)
                   ["_" group]                               (a time subscript: t, t-1, t+1, 0, 3...)
        group   := "{" ... "}" | "\\" letters | one character
        function := "\\sigma" | "\\tanh" | "\\exp" | "\\log" | "\\operatorname{softmax}"

    A ``\\frac`` whose numerator starts with ``\\partial`` is a partial derivative, looked up in
    the :class:`Env` by its text; any other ``\\frac`` divides.
    """

    def __init__(self, text: str, env: Env, t: int | None):
        self.s, self.i, self.env, self.t = text, 0, env, t
        self.timed = False  # a time subscript outside a sum was used

    # -- scanning -------------------------------------------------------------------------
    def _skip(self):
        m = _SKIP.match(self.s, self.i)
        if m:
            self.i = m.end()

    def peek(self, lit: str) -> bool:
        self._skip()
        if not self.s.startswith(lit, self.i):
            return False
        end = self.i + len(lit)
        # a command must not run on into letters: \tanh is not \tan + h
        return not (lit[-1].isalpha() and lit[0] == "\\" and end < len(self.s) and self.s[end].isalpha())

    def eat(self, lit: str) -> bool:
        if self.peek(lit):
            self.i += len(lit)
            return True
        return False

    def expect(self, lit: str):
        if not self.eat(lit):
            self.fail(f"expected {lit!r}")

    def fail(self, msg: str):
        raise FormulaError(f"{msg} at ...{self.s[self.i:self.i + 25]!r} in {self.s!r}")

    def group(self) -> str:
        """The raw text of a ``{...}`` group or of a single character."""
        self._skip()
        if self.s.startswith("{", self.i):
            depth, j = 0, self.i
            while j < len(self.s):
                depth += {"{": 1, "}": -1}.get(self.s[j], 0)
                if depth == 0:
                    text = self.s[self.i + 1:j]
                    self.i = j + 1
                    return text
                j += 1
            self.fail("unbalanced braces")
        if self.s.startswith("\\", self.i):
            m = _COMMAND.match(self.s, self.i)
            self.i = m.end()
            return m.group(0)
        if self.i >= len(self.s):
            self.fail("unexpected end")
        self.i += 1
        return self.s[self.i - 1]

    # -- grammar --------------------------------------------------------------------------
    def parse(self):
        value = self.expr()
        self._skip()
        if self.i != len(self.s):
            self.fail("unexpected text")
        return value

    def expr(self):
        if self.eat("-"):
            value = -self.term()
        else:
            value = self.term()
        while True:
            if self.eat("+"):
                value = self._combine(value, self.term(), np.add, "+")
            elif self.eat("-"):
                value = self._combine(value, self.term(), np.subtract, "-")
            else:
                return value

    def _combine(self, a, b, op, name):
        a, b = np.asarray(a), np.asarray(b)
        lo, hi = sorted((a, b), key=np.ndim)
        # a row vector (a bias) may be added to every row; nothing else broadcasts
        if lo.ndim and hi.shape[hi.ndim - lo.ndim:] != lo.shape or lo.ndim and hi.ndim - lo.ndim > 1:
            self.fail(f"shapes {a.shape} and {b.shape} do not match for {name}")
        return op(a, b)

    def _starts_factor(self) -> bool:
        self._skip()
        if self.i >= len(self.s):
            return False
        c = self.s[self.i]
        if c.isalnum() or c in "([":
            return True
        return c == "\\" and not any(self.peek(x) for x in ("\\odot", "\\mid", "\\cdot"))

    def term(self):
        if self.eat("\\sum"):
            return self._sum()
        value = self.factor()
        while True:
            if self.eat("\\odot"):
                value = self._combine(value, self.factor(), np.multiply, "\\odot")
            elif self.eat("\\cdot"):
                value = np.multiply(value, self.factor())
            elif self.peek("\\sum"):
                self.eat("\\sum")
                value = self._matmul(value, self._sum())
            elif self._starts_factor():
                value = self._matmul(value, self.factor())
            else:
                return value

    def _matmul(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            return a * b
        if a.shape[-1] != b.shape[0]:
            self.fail(f"cannot multiply shapes {a.shape} and {b.shape}")
        return a @ b

    def _sum(self):
        sub = self.group() if self.eat("_") else "t"
        if sub.replace(" ", "") not in ("t", "t=1"):
            self.fail("only sums over t are supported")
        if self.eat("^"):
            self.group()
        start, outer_t, outer_timed = self.i, self.t, self.timed
        total = None
        for t in range(1, self.env.T + 1):
            self.i, self.t = start, t
            part = self.term()
            total = part if total is None else total + part
        self.t, self.timed = outer_t, outer_timed
        return total

    def factor(self):
        if self.eat("-"):
            return -self.factor()
        value = self.primary()
        while True:
            if self.eat("^"):
                sup = self.group().strip()
                if sup in ("\\top", "T"):
                    value = np.asarray(value).T
                elif sup.isdigit():
                    value = np.asarray(value) ** int(sup)
                else:
                    self.fail(f"unknown superscript {sup!r}")
            else:
                return value

    def primary(self):
        self._skip()
        if self.eat("("):
            value = self.expr()
            self.expect(")")
            return value
        if self.eat("["):
            parts = [self.expr()]
            while self.eat("\\mid"):
                parts.append(self.expr())
            self.expect("]")
            return np.concatenate([np.asarray(p) for p in parts], axis=-1)
        m = _NUMBER.match(self.s, self.i)
        if m:
            self.i = m.end()
            return float(m.group(0))
        for name, fn in _FUNCS.items():
            if self.eat(name):
                power = None
                if self.eat("^"):
                    power = int(self.group())
                arg = self._arg()
                out = fn(np.asarray(arg, dtype=np.float64))
                return out if power is None else out ** power
        if self.eat("\\frac"):
            num = self.group()
            den = self.group()
            if num.strip().startswith("\\partial"):
                return self._partial(num, den)
            return _Parser(num, self.env, self.t)._sub_value(self) / _Parser(den, self.env, self.t)._sub_value(self)
        return self.symbol()

    def _sub_value(self, outer):
        value = self.parse()
        outer.timed |= self.timed
        return value

    def _arg(self):
        if self.eat("("):
            value = self.expr()
            self.expect(")")
            return value
        return self.factor()

    def _partial(self, num: str, den: str):
        key = "\\frac{%s}{%s}" % (" ".join(num.split()), " ".join(den.split()))
        if key in self.env.fixed:
            return self.env.fixed[key]
        m = _SUBSCRIPT.search(num)
        if not m:
            self.fail(f"unknown derivative {key}")
        sub = m.group(1).strip("{}")
        t = self._time(sub)
        generic = key.replace(m.group(0), "_t", 1)
        table = self.env.seq.get(generic)
        if table is None or t not in table:
            self.fail(f"no value for {key} at t={t}")
        return table[t]

    def _time(self, sub: str) -> int:
        m = _TIME.match(sub.replace(" ", ""))
        if m.group(3) is not None:
            return int(m.group(3))
        if self.t is None:
            self.fail("a time subscript needs a step")
        self.timed = True
        off = int(m.group(2) or 0) * (-1 if m.group(1) == "-" else 1)
        return self.t + off

    def symbol(self):
        self._skip()
        start = self.i
        prefix = ""
        if self.eat("\\delta"):
            prefix = "\\delta "
        self._skip()
        if self.eat("\\bar"):
            base = "\\bar{%s}" % self.group().strip()
        elif self.eat("\\hat"):
            base = "\\hat{%s}" % self.group().strip()
        elif self.eat("\\mathbf"):
            base = "\\mathbf{%s}" % self.group().strip()
        else:
            m = _LETTER.match(self.s, self.i)
            if not m:
                self.i = start
                self.fail("expected a symbol")
            self.i = m.end()
            base = m.group(0)
        name = prefix + base
        sub = None
        if self.s.startswith("_", self.i):
            self.i += 1
            sub = self.group().strip()
        if sub is not None and _TIME.match(sub.replace(" ", "")):
            t = self._time(sub)
            table = self.env.seq.get(name)
            if table is None:
                self.fail(f"unknown symbol {name}_{{{sub}}}")
            if t not in table:
                self.fail(f"{name} has no value at step {t}")
            return table[t]
        key = name if sub is None else f"{name}_{sub}"
        if key not in self.env.fixed:
            self.i = start
            self.fail(f"unknown symbol {key}")
        return self.env.fixed[key]


def _split(latex: str) -> list[tuple[str, str]]:
    equations = []
    for line in _LINE_BREAK.split(latex):
        line = line.strip().rstrip(",.").strip()
        if not line:
            continue
        sides = line.replace("&", "").split("=")
        if len(sides) != 2:
            raise FormulaError(f"an equation needs exactly one '=': {line!r}")
        equations.append((sides[0].strip(), sides[1].strip()))
    return equations


def evaluate(text: str, env: Env, t: int | None = None):
    """The value of one side of an equation at step ``t``."""
    return _Parser(text, env, t).parse()


def _uses_time(text: str, env: Env) -> bool:
    p = _Parser(text, env, 1)
    p.parse()
    return p.timed


@dataclass
class Check:
    """The result of checking one equation."""

    equation: str
    steps: list
    error: float


def check_equation(lhs: str, rhs: str, env: Env, tol: float = 1e-10) -> Check:
    """Evaluate both sides (at every step t = 1..T when a time subscript is used) and compare.
    Raises FormulaError naming the equation and the step where they differ."""
    timed = _uses_time(lhs, env) or _uses_time(rhs, env)
    steps = list(range(1, env.T + 1)) if timed else [None]
    worst = 0.0
    for t in steps:
        a = np.asarray(evaluate(lhs, env, t), dtype=np.float64)
        b = np.asarray(evaluate(rhs, env, t), dtype=np.float64)
        where = f"{lhs} = {rhs}" + ("" if t is None else f" at t={t}")
        if a.shape != b.shape:
            raise FormulaError(f"{where}: the left side has shape {a.shape}, the right side {b.shape}")
        scale = np.linalg.norm(a) + np.linalg.norm(b)
        err = 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
        if not err < tol:
            raise FormulaError(f"{where}: the two sides differ (relative error {err:.2e})")
        worst = max(worst, err)
    return Check(f"{lhs} = {rhs}", steps, worst)


class Checker:
    """Print equations and check each against autograd on the numbers of ``env``."""

    def __init__(self, env: Env, tol: float = 1e-10):
        self.env, self.tol, self.checked = env, tol, []

    def check(self, latex: str, display: bool = True) -> None:
        """Check every equation of ``latex`` (separated by ``\\\\``), then show them with
        the largest relative error; raises FormulaError at the first that fails."""
        equations = _split(latex)
        results = [check_equation(lhs, rhs, self.env, self.tol) for lhs, rhs in equations]
        self.checked += results
        if display:
            from IPython.display import Math, display as show

            lines = [f"{lhs} &= {rhs}" for lhs, rhs in equations]
            show(Math("\\begin{aligned}" + " \\\\ ".join(lines) + "\\end{aligned}"))
            worst = max(r.error for r in results)
            timed = [r for r in results if r.steps != [None]]
            at = f" at every step t = 1..{self.env.T}" if len(timed) == len(results) else ""
            print(f"✓ equals autograd{at} (largest relative error {worst:.1e})")
