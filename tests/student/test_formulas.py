"""Chapter 1 prints its equations through a checker: each printed formula is evaluated and
compared with autograd. Here: every formula of the chapter passes, a changed formula fails,
and the chapter prints no equation that escapes the check."""
import re
from pathlib import Path

import pytest

from course import ROOT
from lstmbook.instructor import sources
from lstmbook.formula_model import lstm_env
from lstmbook.formulas import Checker, FormulaError, check_equation, evaluate

SOURCE = ROOT / "solutions" / "01_gradients.md"
FORMULAS = re.findall(r'check\(r"(.*?)"\)', SOURCE.read_text(encoding="utf-8"))
EQUATIONS = [eq.strip() for f in FORMULAS for eq in f.split(r"\\")]


@pytest.fixture(scope="module")
def env():
    return lstm_env(N=3, T=4, D=5, H=6, V=7, seed=0)


@pytest.fixture(scope="module")
def other_env():
    return lstm_env(N=2, T=5, D=3, H=4, V=6, seed=1)


def test_the_chapter_checks_its_equations():
    assert len(FORMULAS) >= 15 and len(EQUATIONS) >= 35


@pytest.mark.parametrize("equation", EQUATIONS)
def test_every_printed_equation_equals_autograd(env, other_env, equation):
    lhs, rhs = equation.split("=")
    for e in (env, other_env):
        check_equation(lhs, rhs, e)


# Planted formula errors: each is a typo that a derivation on paper could carry unnoticed.
PLANTED = [
    # the carried cell gradient forgotten
    (r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_{t+1}",
     r" + \delta c_{t+1} \odot f_{t+1}", ""),
    # tanh' written without the square
    (r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_{t+1}",
     r"\tanh^2(c_t)", r"\tanh(c_t)"),
    # off by one in time: h_t instead of the h_{t-1} that entered the step
    (r"\frac{\partial L}{\partial W_h} = \sum_t h_{t-1}^\top \delta a_t", "h_{t-1}", "h_t"),
    # the mean over N*T tokens taken over N only
    (r"\delta s_t = \frac{1}{NT} (\hat{y}_t - Y_t)", r"\frac{1}{NT}", r"\frac{1}{N}"),
    # the forget gate of the wrong step
    (r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_{t+1}",
     "f_{t+1}", "f_t"),
    # gates in the order i, f, o, g
    (r"[\bar{i}_t \mid \bar{f}_t \mid \bar{g}_t \mid \bar{o}_t] = a_t",
     r"\bar{g}_t \mid \bar{o}_t", r"\bar{o}_t \mid \bar{g}_t"),
    # sigmoid where tanh belongs
    (r"g_t = \tanh(\bar{g}_t)", r"\tanh", r"\sigma"),
    # the output layer's path into h_t dropped
    (r"\delta h_t = \delta s_t W_y^\top + \delta a_{t+1} W_h^\top", r"\delta s_t W_y^\top + ", ""),
]


@pytest.mark.parametrize("equation, old, new", PLANTED)
def test_a_planted_formula_error_fails_the_check(env, equation, old, new):
    assert equation in EQUATIONS, "the planted error must start from an equation the chapter prints"
    wrong = equation.replace(old, new)
    assert wrong != equation
    lhs, rhs = wrong.split("=")
    with pytest.raises(FormulaError):
        check_equation(lhs, rhs, env)


# Mechanical mutations: wherever one applies to an equation, the changed equation must fail.
# (A transpose of the ones-vector is left alone: for a 1-D vector it changes nothing.)
MUTATIONS = [("t-1", "t"), ("t+1", "t"), (r"\tanh", r"\sigma"), (r"\sigma", r"\tanh"), (" + ", " - "),
             ("1 - ", "1 + "), (" - ", " + "), ("^2", ""), (r"^\top", ""), ("g_t", "i_t"), ("i_t", "g_t"),
             ("{NT}", "{N}"), ("_1", "_2"), ("X_t", "Y_t"), (r"\bar{f}_t \mid \bar{g}_t", r"\bar{g}_t \mid \bar{f}_t"),
             ("softmax", "exp"), (r"\log", r"\exp")]


def _mutants():
    out = []
    for equation in EQUATIONS:
        for old, new in MUTATIONS:
            parts = equation.split(old)
            for k in range(len(parts) - 1):
                if old == r"^\top" and parts[k].endswith(r"\mathbf{1}_N"):
                    continue
                out.append((equation, old.join(parts[:k + 1]) + new + old.join(parts[k + 1:])))
    return out


MUTANTS = _mutants()


def test_most_equations_have_mechanical_mutants():
    assert len(MUTANTS) > 60
    assert len({eq for eq, _ in MUTANTS}) >= len(EQUATIONS) - 2


@pytest.mark.parametrize("equation, wrong", MUTANTS)
def test_every_mechanical_change_of_an_equation_fails(env, equation, wrong):
    lhs, rhs = wrong.split("=")
    with pytest.raises(FormulaError):
        check_equation(lhs, rhs, env)


def test_the_chapter_has_no_display_equation_outside_the_checker():
    nb = sources.source_notebook(SOURCE)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert "$$" not in cell.source and r"\begin{" not in cell.source, cell.source[:80]


def test_the_checker_reports_what_is_wrong(env):
    with pytest.raises(FormulaError, match="unknown symbol q_"):
        evaluate("q_t", env, 1)
    with pytest.raises(FormulaError, match="the left side has shape"):
        check_equation(r"\delta x_t", r"\delta a_t W_h^\top", env)
    with pytest.raises(FormulaError, match="cannot multiply shapes"):
        check_equation(r"\delta x_t", r"\delta a_t W_h", env)
    with pytest.raises(FormulaError, match="at t=1: the two sides differ"):
        check_equation("h_t", "c_t", env)
    with pytest.raises(FormulaError, match="exactly one '='"):
        Checker(env).check("h_t", display=False)
    checker = Checker(env)
    checker.check(r"h_t = o_t \odot \tanh(c_t) \\ x_t = X_t E", display=False)
    assert [c.steps for c in checker.checked] == [[1, 2, 3, 4]] * 2
