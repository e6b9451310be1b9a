"""The grader's reading of a hand-in's code (outside the sandbox, nothing runs): an
exercise's "write it yourself" rule, and code flagged for an instructor to read."""
import functools

import nbformat
import pytest

from course import ROOT, SLUGS, planted
from lstmbook.instructor import sources
from lstmbook.instructor.grader import conduct, testmodel
from submissions import reference_cells, submission


@functools.lru_cache(maxsize=None)
def _source(slug):
    return sources.source_notebook(ROOT / "solutions" / f"{slug}.md")


def _assess(slug, replace=None, extra=()):
    nb = submission(slug, replace)
    for code in extra:
        nb.cells.append(nbformat.v4.new_code_cell(code))
    src = _source(slug)
    return conduct.assess(src, testmodel.grading_notebook(nb, src))


def _tests_of(slug, exercise):
    return set(testmodel.exercises(_source(slug))[exercise][1])


@pytest.mark.parametrize("slug", SLUGS)
def test_the_reference_and_every_other_correct_style_keep_every_point_and_need_no_review(slug):
    styles = {"the reference": {}}
    styles.update({name: item.replacement(slug) if hasattr(item, "replacement") else item
                   for name, item in getattr(planted(slug), "GOOD", {}).items()})
    for name, cells in styles.items():
        zero, flags = _assess(slug, cells)
        assert zero == {} and flags == [], (name, zero, flags)


def test_the_chapters_that_teach_by_hand_declare_their_rules():
    declared = {slug: {ex: rule for ex, (rule, _) in testmodel.exercises(_source(slug)).items() if rule}
                for slug in SLUGS}
    assert all(declared[s] for s in ("01_gradients", "02_numpy_lstm", "03_torch_lstm", "04_speed",
                                      "05_deep", "06_optimizers"))
    assert declared["06_optimizers"]["SGD"] == ["torch"]
    for slug, rules in declared.items():  # the rule is stated to students atop the exercise
        for cell in _source(slug).cells:
            gid = testmodel.nbgrader_meta(cell).get("grade_id")
            if gid in rules:
                assert cell.source.startswith(sources.rule_comment(rules[gid])), (slug, gid)


# (chapter, exercise, the hand-in's code, the name the message must give): the library doing
# the exercise, in the forms the issue reported and their siblings
LIBRARY = [
    ("02_numpy_lstm", "lstm_step_backward", {"lstm_step_backward": """
def lstm_step_backward(dnext_h, dnext_c, cache):
    import torch
    x, prev_h, prev_c, Wx, Wh, b = [torch.tensor(a, requires_grad=True) for a in cache[:6]]
    h, c = torch.lstm_cell(x, (prev_h, prev_c), Wx.T, Wh.T, b, None)
    torch.autograd.backward([h, c], [torch.tensor(dnext_h), torch.tensor(dnext_c)])
    return x.grad.numpy(), prev_h.grad.numpy(), prev_c.grad.numpy(), Wx.grad.numpy(), Wh.grad.numpy(), b.grad.numpy()
"""}, "torch"),
    ("03_torch_lstm", "lstm_cell", {"lstm_cell": """
def lstm_cell(x, prev_h, prev_c, Wx, Wh, bx, bh):
    return torch.lstm_cell(x, (prev_h, prev_c), Wx.T, Wh.T, bx, bh)
"""}, "torch.lstm_cell"),
    ("03_torch_lstm", "lstm_cell", {"lstm_cell": """
from torch import _VF as vf
def lstm_cell(x, prev_h, prev_c, Wx, Wh, bx, bh):
    return vf.lstm_cell(x, (prev_h, prev_c), Wx.T, Wh.T, bx, bh)
"""}, "torch._VF"),
    ("04_speed", "lstm_fast", {"lstm_fast": """
def lstm_fast(x, h0, c0, Wx, Wh, b):
    m = nn.LSTM(Wx.shape[0], h0.shape[1], batch_first=True)
    return m(x)[0], h0, c0
"""}, "torch.nn.LSTM"),
    ("05_deep", "StackedLSTM", {"StackedLSTM": """
class StackedLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, dropout=0.0, batch_first=False):
        super().__init__()
        self.inner = nn.LSTM(input_size, hidden_size, num_layers, dropout=dropout, batch_first=batch_first)
"""}, "torch.nn.LSTM(num_layers=...)"),
    ("06_optimizers", "Adam", {"Adam": """
from torch.optim import Adam as _TorchAdam
class Adam(Optimizer):
    def update(self, p, g, state):
        pass
"""}, "torch.optim.Adam"),
    ("06_optimizers", "clip_grad_norm", {"clip_grad_norm": """
import torch.nn.utils as U
def clip_grad_norm(grads, max_norm):
    ts = [torch.from_numpy(g) for g in grads]
    return U.clip_grad_norm_(ts, max_norm).item()
"""}, "torch"),
]


@pytest.mark.parametrize("slug, exercise, cells, name", LIBRARY, ids=[f"{c[0]}:{c[1]}:{c[3]}" for c in LIBRARY])
def test_the_library_doing_the_exercise_scores_zero_for_its_tests(slug, exercise, cells, name):
    zero, _ = _assess(slug, cells)
    assert _tests_of(slug, exercise) <= set(zero), zero
    assert all(name in zero[t] and "must not use" in zero[t] for t in _tests_of(slug, exercise)), zero


def test_a_redefinition_or_a_helper_in_an_added_cell_is_the_exercises_code():
    redefined = "class SGD(Optimizer):\n    def __init__(self, params, **kw):\n        self.o = torch.optim.SGD(params, **kw)\n"
    zero, _ = _assess("06_optimizers", extra=[redefined])
    assert _tests_of("06_optimizers", "SGD") <= set(zero)
    helper = "import torch\n_norm = torch.nn.utils.clip_grad_norm_\n"
    uses = "def clip_grad_norm(grads, max_norm):\n    return _norm(grads, max_norm)\n"
    zero, _ = _assess("06_optimizers", {"clip_grad_norm": uses}, extra=[helper])
    assert set(zero) == _tests_of("06_optimizers", "clip_grad_norm")
    assert "clip_grad_norm_" in zero["test_clip_grad_norm"]


def test_an_added_cell_that_only_explores_the_library_costs_nothing():
    scratch = "import torch\nopt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=0.1)\nprint(opt)"
    assert _assess("06_optimizers", extra=[scratch]) == ({}, [])


@pytest.mark.parametrize("code, name", [
    ("import sys\nsys.setprofile(lambda *a: None)", "sys.setprofile"),
    ("get_ipython().events.register('pre_run_cell', print)", "get_ipython().events.register"),
    ("from torch.utils._python_dispatch import _get_current_dispatch_mode_stack\n"
     "_get_current_dispatch_mode_stack().clear()", "torch.utils._python_dispatch"),
    ("import torch.nn.modules.module as M\nM._global_forward_hooks.clear()", "_global_forward_hooks"),
    ("import ctypes", "ctypes"),
    ("import gc\nfor o in gc.get_objects():\n    pass", "gc.get_objects"),
    ("import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)", "os.kill"),
])
def test_code_that_reaches_the_instruments_is_flagged_with_its_line_and_keeps_its_points(code, name):
    zero, flags = _assess("02_numpy_lstm", extra=["x = 1\n" + code])
    assert zero == {}
    assert any(name in f["name"] and f["line"] >= 2 and f["cell"] > 1 for f in flags), flags
