"""The static checks the grader runs on a student's cell (lstmbook.rules): every way of reaching
a forbidden library call is found at its line, look-alikes are not; every reach into the
grader's instruments or the interpreter's hooks is flagged for review, the chapters' honest
code is not; IPython syntax and syntax errors are handled. Pure functions: no kernel."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from lstmbook import rules
from lstmbook.rules import REASONS, Finding, forbidden_uses, needs_review

PREAMBLE = "import torch\nimport torch.nn as nn\nimport numpy as np\n"
# what the checks below forbid unless a case says otherwise
FORBIDDEN = ["torch.optim", "torch.nn.LSTM", ".backward"]


def found(findings):
    return sorted((f.name, f.line) for f in findings)


# --- forbidden uses ----------------------------------------------------------------------------

# (id: the form of use that a broken resolver would miss, source, forbidden, preamble,
#  (name, line) that must be among the findings)
USES = [
    ("module-attribute-chain", "opt = torch.optim.SGD(params, lr=0.1)", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("submodule-under-entry", "opt = torch.optim.adam.Adam(params)", None, PREAMBLE,
     ("torch.optim.adam.Adam", 1)),
    ("import-module-as-alias", "import torch.optim as optim\n\nopt = optim.Adam(params)", None,
     PREAMBLE, ("torch.optim.Adam", 3)),
    ("import-itself-is-a-use", "import torch.optim\nx = 1", None, PREAMBLE, ("torch.optim", 1)),
    ("from-package-import-module", "from torch import optim\nopt = optim.SGD(params)", None,
     PREAMBLE, ("torch.optim.SGD", 2)),
    ("from-module-import-name-as-alias", "from torch.optim import SGD as S\nopt = S(params)",
     None, PREAMBLE, ("torch.optim.SGD", 2)),
    ("from-module-import-function",
     "from torch.nn.utils import clip_grad_norm_\n\nclip_grad_norm_(params, 1.0)",
     ["torch.nn.utils.clip_grad_norm_"], PREAMBLE, ("torch.nn.utils.clip_grad_norm_", 3)),
    ("preamble-alias", "lstm = nn.LSTM(3, 4)", None, PREAMBLE, ("torch.nn.LSTM", 1)),
    ("preamble-unconventional-alias", "lstm = layers.LSTM(3, 4)", None,
     "import torch.nn as layers", ("torch.nn.LSTM", 1)),
    ("preamble-numpy-alias", "x = np.linalg.solve(A, b)", ["numpy.linalg"], PREAMBLE,
     ("numpy.linalg.solve", 1)),
    ("no-preamble-module-name", "x = 1\nopt = torch.optim.SGD(params)", None, "",
     ("torch.optim.SGD", 2)),
    ("no-preamble-convention-alias", "x = np.linalg.solve(A, b)", ["numpy.linalg"], "",
     ("numpy.linalg.solve", 1)),
    ("rebinding-alias", "o = torch.optim\nopt = o.SGD(params)", None, PREAMBLE,
     ("torch.optim.SGD", 2)),
    ("rebinding-nn-functional", "f = nn.functional\ny = f.lstm_cell(x, hx, w_ih, w_hh)",
     ["torch.nn.functional"], PREAMBLE, ("torch.nn.functional.lstm_cell", 2)),
    ("rebinding-class", "C = nn.LSTM\nm = C(3, 4)", None, PREAMBLE, ("torch.nn.LSTM", 2)),
    ("rebinding-chain", "o = torch.optim\nS = o.SGD\nopt = S(params)", None, PREAMBLE,
     ("torch.optim.SGD", 3)),
    ("rebinding-defined-after-use", "def make(p):\n    return S(p)\nS = torch.optim.SGD", None,
     PREAMBLE, ("torch.optim.SGD", 2)),
    ("tuple-unpacking", "k, C = 4, nn.LSTM\nm = C(3, k)", None, PREAMBLE, ("torch.nn.LSTM", 2)),
    ("self-attribute-alias",
     "class T:\n    def __init__(self):\n        self.o = torch.optim\n\n"
     "    def make(self, p):\n        return self.o.SGD(p)", None, PREAMBLE,
     ("torch.optim.SGD", 6)),
    ("loop-over-literal-classes", "for opt in (torch.optim.SGD, torch.optim.Adam):\n    opt(p)",
     None, PREAMBLE, ("torch.optim.Adam", 2)),
    ("getattr-constant", 'opt = getattr(torch, "optim").SGD(params)', None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("getattr-nested-then-call", 'S = getattr(getattr(torch, "optim"), "SGD")\n\nS(params)',
     None, PREAMBLE, ("torch.optim.SGD", 3)),
    ("getattr-spelled-out-name", 'n = "opt" + "im"\nopt = getattr(torch, n).SGD(params)', None,
     PREAMBLE, ("torch.optim.SGD", 2)),
    ("import-module-constant",
     'import importlib\nopt = importlib.import_module("torch.optim").SGD(params)', None,
     PREAMBLE, ("torch.optim.SGD", 2)),
    ("dunder-import-constant", '__import__("torch.optim").optim.SGD(params)', None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("sys-modules-constant", 'import sys\nsys.modules["torch.optim"].SGD(params)', None,
     PREAMBLE, ("torch.optim.SGD", 2)),
    ("star-import", "from torch.nn import *\nm = LSTM(3, 4)", None, PREAMBLE,
     ("torch.nn.LSTM", 2)),
    ("star-import-of-package", "from torch import *\nopt = optim.SGD(params)", None, "",
     ("torch.optim.SGD", 2)),
    ("star-import-in-preamble", "m = LSTM(3, 4)", None, PREAMBLE + "from torch.nn import *",
     ("torch.nn.LSTM", 1)),
    ("reference-without-call", "StackedLSTM = nn.LSTM", None, PREAMBLE, ("torch.nn.LSTM", 1)),
    ("passed-as-argument", "opt = make(torch.optim.SGD, params)", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("default-argument", "def train(make=torch.optim.SGD):\n    return make", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("decorator", "@torch.jit.script\ndef f(x):\n    return x", ["torch.jit"], PREAMBLE,
     ("torch.jit.script", 1)),
    ("base-class", "class M(nn.LSTM):\n    pass", None, PREAMBLE, ("torch.nn.LSTM", 1)),
    ("nested-in-method",
     "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
     "        self.lstm = nn.LSTM(3, 4)", None, PREAMBLE, ("torch.nn.LSTM", 4)),
    ("nested-in-lambda", "make = lambda p: torch.optim.SGD(p, lr=0.1)", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("nested-in-comprehension", "layers = [nn.LSTM(3, 4) for _ in range(2)]", None, PREAMBLE,
     ("torch.nn.LSTM", 1)),
    ("nested-import-in-function", "def f(p):\n    from torch.optim import Adam\n    return Adam(p)",
     None, PREAMBLE, ("torch.optim.Adam", 3)),
    ("f-string-expression", 'print(f"{torch.optim.SGD}")', None, PREAMBLE, ("torch.optim.SGD", 1)),
    ("attribute-method-call", "loss = out.sum()\nloss.backward()", None, PREAMBLE,
     ("loss.backward", 2)),
    ("attribute-on-call-result", "model(x).sum().backward()", None, PREAMBLE,
     ("model(x).sum().backward", 1)),
    ("attribute-on-continued-line", "(out.sum()\n    .backward())", None, PREAMBLE,
     ("out.sum().backward", 2)),
    ("attribute-module-function", "torch.autograd.backward(loss)", None, PREAMBLE,
     ("torch.autograd.backward", 1)),
    ("attribute-from-import", "from torch.autograd import backward\nbackward(loss)", None,
     PREAMBLE, ("torch.autograd.backward", 2)),
    ("attribute-getattr-constant", 'getattr(loss, "backward")()', None, PREAMBLE,
     ("loss.backward", 1)),
    ("line-magic-code", "x = 1\n%time opt = torch.optim.SGD(params)", None, PREAMBLE,
     ("torch.optim.SGD", 2)),
    ("cell-magic-body", "%%time\nx = 1\nopt = torch.optim.SGD(params)", None, PREAMBLE,
     ("torch.optim.SGD", 3)),
    ("line-magic-after-options", "%timeit -n 1 -r 1 torch.optim.SGD(params)", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("automagic-one-line-cell", "timeit torch.optim.SGD(params)", None, PREAMBLE,
     ("torch.optim.SGD", 1)),
    ("exec-of-constant", 'exec("import torch.optim as o")', None, PREAMBLE, ("torch.optim", 1)),
]


@pytest.mark.parametrize("source, forbidden, preamble, expected",
                         [case[1:] for case in USES], ids=[case[0] for case in USES])
def test_a_forbidden_use_is_found_at_its_line(source, forbidden, preamble, expected):
    forbidden = forbidden or FORBIDDEN
    findings = forbidden_uses(source, forbidden, preamble)
    assert expected in found(findings), f"missed {expected}; found {found(findings)}"
    finding = next(f for f in findings if (f.name, f.line) == expected)
    assert finding.rule in forbidden
    assert finding.text == source.splitlines()[expected[1] - 1].strip()


# (id: the look-alike that a string-prefix or careless matcher would report, source, preamble)
LOOK_ALIKES = [
    ("local-variable-named-optim", "optim = make_optimizer(params)\noptim.step()", PREAMBLE),
    ("parameter-named-optim", "def train(model, optim):\n    optim.zero_grad()\n    optim.step()",
     PREAMBLE),
    ("string", 'name = "torch.optim.SGD"\nwhat = "loss.backward()"', PREAMBLE),
    ("comment", "x = 1  # torch.optim.SGD(params), then loss.backward()", PREAMBLE),
    ("docstring", 'def f():\n    """Not torch.optim.SGD, nor loss.backward()."""\n    return 1',
     PREAMBLE),
    ("prefix-that-is-not-a-component", "torch.optimize_something()", PREAMBLE),
    ("attribute-name-prefix", "my.backward_pass()\nx.backwards", PREAMBLE),
    ("function-named-like-the-attribute", "def lstm_backward(dout, cache):\n    return dout\n"
     "lstm_backward(1, 2)", PREAMBLE),
    ("own-function-named-backward", "def backward(x):\n    return x\n\nbackward(3)", PREAMBLE),
    ("defining-a-backward-method", "class F(torch.autograd.Function):\n    @staticmethod\n"
     "    def backward(ctx, g):\n        return g", PREAMBLE),
    ("longer-class-name", "cell = nn.LSTMCell(3, 4)\nm = torch.nn.LSTMCellular", PREAMBLE),
    ("other-root-same-tail", "import mylib\nmylib.optim.SGD(params)\nmylib.torch.optim", PREAMBLE),
    ("star-import-but-bound-here", "def LSTM(x):\n    return x\n\nLSTM(1)",
     PREAMBLE + "from torch.nn import *"),
    ("assignment-is-not-a-use", "torch.optim = None", PREAMBLE),
    ("allowed-neighbours", "y = torch.nn.functional.relu(x)\nm = nn.Linear(3, 4)\n"
     "import torch.nn.init as init", PREAMBLE),
    ("magic-argument-that-is-not-code", "%matplotlib inline\n!ls optim\n%pip install torch optim",
     PREAMBLE),
]


@pytest.mark.parametrize("source, preamble", [case[1:] for case in LOOK_ALIKES],
                         ids=[case[0] for case in LOOK_ALIKES])
def test_a_look_alike_is_not_a_forbidden_use(source, preamble):
    assert forbidden_uses(source, FORBIDDEN, preamble) == []


def test_only_the_longest_name_of_a_chain_is_reported():
    findings = forbidden_uses("opt = torch.optim.SGD(params)", ["torch.optim"], PREAMBLE)
    assert found(findings) == [("torch.optim.SGD", 1)]  # not torch.optim as well


def test_findings_are_sorted_by_line_and_one_per_line_and_name():
    source = "x = 1\nb = nn.LSTM(1, 2); c = nn.LSTM(2, 3)\na = torch.optim.SGD(p)"
    findings = forbidden_uses(source, FORBIDDEN, PREAMBLE)
    assert found(findings) == [("torch.nn.LSTM", 2), ("torch.optim.SGD", 3)]
    assert [f.line for f in findings] == [2, 3]


def test_the_preamble_binds_names_but_is_not_reported():
    preamble = "import torch.optim as optim\nopt = optim.SGD(params)"
    assert forbidden_uses("x = 1", FORBIDDEN, preamble) == []
    assert found(forbidden_uses("optim.Adam(p)", FORBIDDEN, preamble)) == [("torch.optim.Adam", 1)]
    # one source per given cell: a cell magic in one does not swallow the next
    cells = ["%%time\nimport torch.nn as nn", "from torch import optim as o"]
    assert found(forbidden_uses("o.SGD(p)\nnn.LSTM", FORBIDDEN, cells)) == [
        ("torch.nn.LSTM", 2), ("torch.optim.SGD", 1)]


def test_the_rule_is_the_first_declared_entry_that_matches():
    findings = forbidden_uses("torch.optim.SGD(p)\ntorch.optim.Adam(p)",
                              ["torch.optim.SGD", "torch.optim"], PREAMBLE)
    assert [(f.name, f.rule) for f in findings] == [("torch.optim.SGD", "torch.optim.SGD"),
                                                    ("torch.optim.Adam", "torch.optim")]


def test_text_is_the_stripped_line_cut_at_120_characters():
    source = "    opt = torch.optim.SGD(params, lr=0.1)  " + "# " + "x" * 200
    (finding,) = forbidden_uses(f"if True:\n{source}", ["torch.optim"], PREAMBLE)
    assert finding == Finding("torch.optim.SGD", 2, source.strip()[:120], "torch.optim")
    assert len(finding.text) == 120


def test_declared_entries_are_checked():
    for bad in ["", ".", "torch..optim", "torch.optim.", "torch.optim()", "torch.*"]:
        with pytest.raises(ValueError, match="neither a dotted name"):
            forbidden_uses("x = 1", [bad])
    # a lone string is one entry, not a list of one-letter entries
    assert found(forbidden_uses("torch.optim.SGD(p)", "torch.optim")) == [("torch.optim.SGD", 1)]
    assert forbidden_uses("torch.optim.SGD(p)", []) == []


# --- needs review ------------------------------------------------------------------------------

# (id: what a reviewer must see, source, (name, line) among the findings, its reason)
REVIEW = [
    ("sys-settrace", "import sys\nsys.settrace(tracer)", ("sys.settrace", 2),
     rules.INTERPRETER_HOOK),
    ("sys-setprofile-from-import-alias", "from sys import setprofile as sp\nsp(None)",
     ("sys.setprofile", 2), rules.INTERPRETER_HOOK),
    ("threading-settrace", "import threading\nthreading.settrace(tracer)",
     ("threading.settrace", 2), rules.INTERPRETER_HOOK),
    ("sys-addaudithook", "sys.addaudithook(hook)", ("sys.addaudithook", 1),
     rules.INTERPRETER_HOOK),
    ("sys-modules-write", "import sys\nsys.modules['torch'] = fake", ("sys.modules", 2),
     rules.INTERPRETER_HOOK),
    ("sys-modules-lookup", "m = sys.modules[name]", ("sys.modules", 1), rules.INTERPRETER_HOOK),
    ("sys-getframe", "frame = sys._getframe(1)", ("sys._getframe", 1), rules.FRAMES),
    ("inspect-currentframe", "import inspect\nframe = inspect.currentframe()",
     ("inspect.currentframe", 2), rules.FRAMES),
    ("inspect-stack", "import inspect as i\ncallers = i.stack()", ("inspect.stack", 2),
     rules.FRAMES),
    ("frame-f-back", "caller = frame.f_back", ("frame.f_back", 1), rules.FRAMES),
    ("frame-f-globals-via-getattr", 'g = getattr(frame, "f_globals")', ("frame.f_globals", 1),
     rules.FRAMES),
    ("traceback-frame", "try:\n    run()\nexcept Exception as e:\n    f = e.__traceback__.tb_frame",
     ("e.__traceback__.tb_frame", 4), rules.FRAMES),
    ("function-globals", "g = fn.__globals__", ("fn.__globals__", 1), rules.FRAMES),
    ("gc-get-objects", "import gc\nobjs = gc.get_objects()", ("gc.get_objects", 2),
     rules.HEAP_WALK),
    ("gc-get-referrers", "from gc import get_referrers\nget_referrers(x)",
     ("gc.get_referrers", 2), rules.HEAP_WALK),
    ("ctypes-import", "import ctypes", ("ctypes", 1), rules.CTYPES),
    ("ctypes-by-import-module", 'import importlib\nc = importlib.import_module("ctypes")',
     ("ctypes", 2), rules.CTYPES),
    ("torch-dispatch-mode", "from torch.utils._python_dispatch import TorchDispatchMode",
     ("torch.utils._python_dispatch.TorchDispatchMode", 1), rules.DISPATCH),
    ("torch-c-dispatch-stack", "torch._C._push_on_torch_dispatch_stack(mode)",
     ("torch._C._push_on_torch_dispatch_stack", 1), rules.DISPATCH),
    ("torch-function-mode-base", "class Spy(torch.overrides.TorchFunctionMode):\n    pass",
     ("torch.overrides.TorchFunctionMode", 1), rules.DISPATCH),
    ("torch-dispatch-method",
     "class T(torch.Tensor):\n    @classmethod\n    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):\n"
     "        return func(*args)", ("__torch_dispatch__", 3), rules.DISPATCH),
    ("module-hook-dict", "model._forward_hooks.clear()", ("model._forward_hooks", 1),
     rules.MODULE_HOOKS),
    ("global-module-hook", "from torch.nn.modules.module import register_module_forward_hook",
     ("torch.nn.modules.module.register_module_forward_hook", 1), rules.MODULE_HOOKS),
    ("global-module-hook-dict", "torch.nn.modules.module._global_forward_hooks.clear()",
     ("torch.nn.modules.module._global_forward_hooks.clear", 1), rules.MODULE_HOOKS),
    ("ipython-events", "get_ipython().events.register('pre_run_cell', spy)",
     ("get_ipython().events.register", 1), rules.IPYTHON_HOOKS),
    ("ipython-ast-transformers-via-alias", "ip = get_ipython()\nip.ast_transformers.append(t)",
     ("get_ipython().ast_transformers.append", 2), rules.IPYTHON_HOOKS),
    ("ipython-run-cell-replaced", "get_ipython().run_cell = my_run_cell",
     ("get_ipython().run_cell", 1), rules.IPYTHON_HOOKS),
    ("ipython-core-internals", "from IPython.core.interactiveshell import InteractiveShell",
     ("IPython.core.interactiveshell.InteractiveShell", 1), rules.IPYTHON_HOOKS),
    ("builtins-attribute-assignment", "import builtins\nbuiltins.print = quiet",
     ("builtins.print", 2), rules.BUILTINS),
    ("builtins-item-assignment", "__builtins__['len'] = fake_len", ("__builtins__[...]", 1),
     rules.BUILTINS),
    ("os-kill-parent", "import os\nos.kill(os.getppid(), 9)", ("os.kill", 2), rules.RUNNER),
    ("os-getppid", "import os\nos.kill(os.getppid(), 9)", ("os.getppid", 2), rules.RUNNER),
    ("os-killpg", "os.killpg(0, 9)", ("os.killpg", 1), rules.RUNNER),
    ("signal-pthread-kill", "import signal\nsignal.pthread_kill(t, 9)",
     ("signal.pthread_kill", 2), rules.RUNNER),
    ("getattr-built-name", "opt = getattr(torch, name)", ("getattr(<built string>)", 1),
     rules.DYNAMIC),
    ("setattr-parameter-name", "def put(o, k, v):\n    setattr(o, k, v)",
     ("setattr(<built string>)", 2), rules.DYNAMIC),
    ("hasattr-input-name", "n = input()\nhasattr(model, n)", ("hasattr(<built string>)", 2),
     rules.DYNAMIC),
    ("dunder-import-built-name", "m = __import__(name)", ("__import__(<built string>)", 1),
     rules.DYNAMIC),
    ("eval", "x = eval('1 + 1')", ("eval", 1), rules.DYNAMIC),
    ("exec", "exec(code)", ("exec", 1), rules.DYNAMIC),
    ("compile", "c = compile(src, 'cell', 'exec')", ("compile", 1), rules.DYNAMIC),
    ("globals-item-assignment", "globals()['x'] = 1", ("globals()[...]", 1), rules.DYNAMIC),
    ("vars-item-assignment", "vars(obj)[key] = value", ("vars()[...]", 1), rules.DYNAMIC),
    ("locals-update", "locals().update(values)", ("locals().update", 1), rules.DYNAMIC),
    ("object-getattribute", "w = object.__getattribute__(m, 'weight')",
     ("object.__getattribute__", 1), rules.DYNAMIC),
    ("dunder-class", "kind = x.__class__", ("x.__class__", 1), rules.DYNAMIC),
    ("dunder-subclasses", "classes = object.__subclasses__()", ("object.__subclasses__", 1),
     rules.DYNAMIC),
    ("shell-escape", "!kill -9 $PPID", ("get_ipython().system", 1), rules.SHELL),
    ("shell-cell-magic", "%%bash\nkill -9 $PPID", ("%%bash", 1), rules.SHELL),
    ("run-magic", "x = 1\n%run helper.py", ("%run", 2), rules.SHELL),
    ("writefile-of-no-python", "%%writefile run.sh\nkill -9 $PPID", ("%%writefile", 1), rules.SHELL),
    ("hook-in-written-file", "%%writefile spy.py\nimport sys\nsys.settrace(t)", ("sys.settrace", 3),
     rules.INTERPRETER_HOOK),
    ("library-monkey-patch", "torch.matmul = counting_matmul", ("torch.matmul", 1), rules.PATCH),
    ("library-monkey-patch-setattr", 'setattr(np, "asarray", fake)', ("np.asarray", 1),
     rules.PATCH),
    ("hook-in-line-magic", "x = 1\n%time sys.settrace(tracer)", ("sys.settrace", 2),
     rules.INTERPRETER_HOOK),
    ("hook-in-exec-string", 'exec("import ctypes")', ("ctypes", 1), rules.CTYPES),
    ("dynamic-around-a-member-name", "for n, mod in m.named_modules():\n"
     "    hooks = getattr(mod, n + '_forward_hooks')", ("getattr(<built string>)", 2), rules.DYNAMIC),
    ("dynamic-over-dir", "for n in dir(m):\n    getattr(m, n)", ("getattr(<built string>)", 2),
     rules.DYNAMIC),
    ("hook-in-nested-function", "def f():\n    def g():\n        return sys._getframe()\n    return g",
     ("sys._getframe", 3), rules.FRAMES),
]


@pytest.mark.parametrize("source, expected, reason", [case[1:] for case in REVIEW],
                         ids=[case[0] for case in REVIEW])
def test_a_reach_into_hooks_is_flagged_for_review(source, expected, reason):
    findings = needs_review(source)
    assert expected in found(findings), f"missed {expected}; found {found(findings)}"
    finding = next(f for f in findings if (f.name, f.line) == expected)
    assert finding.rule == reason
    assert all(f.rule in REASONS for f in findings)


def test_every_reason_is_exercised():
    assert {case[3] for case in REVIEW} == set(REASONS) - {rules.UNPARSED}


# (id: honest code a careless checker would flag, source)
HONEST = [
    ("numpy-maths", "x = np.random.default_rng(0).normal(size=(3, 4))\n"
     "y = np.tanh(x) @ x.T\nprint(np.linalg.norm(y), y.sum(axis=0))"),
    ("torch-tensors-and-autograd", "x = torch.randn(2, 3, requires_grad=True)\n"
     "loss = (x ** 2).sum()\nloss.backward()\nwith torch.no_grad():\n    x -= 0.1 * x.grad\n"
     "x.grad.zero_()"),
    ("module-subclass", "class Net(nn.Module):\n    def __init__(self, D, H):\n"
     "        super().__init__()\n        self.W = nn.Parameter(torch.randn(D, 4 * H))\n"
     "        nn.init.zeros_(self.W)\n\n    def forward(self, x, state=None):\n"
     "        return x @ self.W, state\n\nnet = Net(3, 4)\nout, _ = net(torch.ones(2, 3))"),
    ("constant-getattr-hasattr-setattr", 'w = getattr(model, "weight")\n'
     'if hasattr(model, "bias"):\n    setattr(model, "bias", None)\n'
     'b = getattr(model, "bias", None)'),
    ("weight-copy-over-literal-names",
     "for l, layer in enumerate(self.layers):\n"
     "    for name in (\"weight_ih\", \"weight_hh\", \"bias_ih\", \"bias_hh\"):\n"
     "        getattr(layer, f\"{name}_l0\").copy_(getattr(lstm, f\"{name}_l{l}\"))\n"
     "flags = {n: getattr(torch.backends.cudnn, n) for n in (\"enabled\", \"benchmark\")}"),
    ("matplotlib-plot", "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 3))\n"
     "ax.plot(steps, losses, label='Adam')\nax.set_xlabel('step')\nax.legend()\nplt.show()"),
    ("print", "print(f'loss {loss:.3f}', end='\\n')\nprint(*values, sep=', ')"),
    ("timing-loop", "import time\ntimes = []\nfor _ in range(5):\n    t0 = time.perf_counter()\n"
     "    model(x)\n    times.append(time.perf_counter() - t0)\nprint(min(times))"),
    ("eval-compile-lookalikes", "model.eval()\nfast = torch.compile(model)\n"
     "import re\npattern = re.compile(r'\\d+')"),
    ("settings-and-parameters", "torch.backends.cudnn.benchmark = True\n"
     "torch.backends.cuda.matmul.allow_tf32 = False\nmodel.lstm.weight_ih_l0.data = W\n"
     "self.hidden = None"),
    ("per-module-hook", "handle = model.lstm.register_forward_hook(keep)\nmodel(x)\nhandle.remove()"),
    ("magics", "%matplotlib inline\n%time out = model(x)\n%timeit -n 3 model(x)\nmodel?"),
    ("written-python-script", "%%writefile ddp_lm.py\nimport torch\nprint(torch.ones(2))"),
    ("inspect-source-and-gc-collect", "import inspect, gc\nprint(inspect.getsource(f))\ngc.collect()"),
    ("training-loop", "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
     "loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=2)\n"
     "for x, y in loader:\n    opt.zero_grad()\n    loss = F.cross_entropy(model(x), y)\n"
     "    loss.backward()\n    opt.step()"),
    ("getattr-over-named-parameters", "for name, p in first.named_parameters():\n"
     "    p.copy_(getattr(lstm, name))\nfor name, p in shared.named_parameters():\n"
     "    p.copy_(getattr(lstm, name.replace('_l0', '_l1')))"),
    ("errors-and-traceback", "import traceback\ntry:\n    run()\nexcept ValueError as error:\n"
     "    traceback.print_exc()\n    print(type(error).__name__, error)"),
]


@pytest.mark.parametrize("source", [case[1] for case in HONEST], ids=[case[0] for case in HONEST])
def test_honest_code_is_not_flagged(source):
    assert needs_review(PREAMBLE + source) == []


def test_the_reference_answers_need_no_review():
    from course import ROOT, SLUGS
    from lstmbook.instructor import sources

    answers = 0
    for slug in SLUGS:
        for cell in sources.source_notebook(ROOT / "solutions" / f"{slug}.md").cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                answers += 1
                assert needs_review(cell.source) == [], f"{slug}: {cell.source[:200]}"
    assert answers >= 20


def test_a_chain_of_calls_is_one_reach():
    findings = needs_review("import ctypes\nctypes.pythonapi.PyFrame_LocalsToFast(f, 0)")
    assert found(findings) == [("ctypes", 1), ("ctypes.pythonapi.PyFrame_LocalsToFast", 2)]


# --- IPython syntax and unparseable cells ------------------------------------------------------

MAGIC_CELL = ("\n\n%load_ext autoreload\n!ls data\nfiles = !ls\nmodel?\n?model\nmodel??\n"
              "%time a \\\n    + b\nopt = torch.optim.SGD(params)\nsys.settrace(t)\n")


def test_magics_are_python_to_the_checks_and_keep_their_lines():
    # leading blank lines (dropped by IPython) and a continued magic (joined) keep line numbers
    assert found(forbidden_uses(MAGIC_CELL, FORBIDDEN, PREAMBLE)) == [("torch.optim.SGD", 11)]
    findings = needs_review(MAGIC_CELL)
    assert ("sys.settrace", 12) in found(findings)
    assert not [f for f in findings if f.rule == rules.UNPARSED]


def test_the_fallback_without_ipython_gives_the_same_findings(monkeypatch):
    cells = [MAGIC_CELL, "%%time\nx = 1\nopt = torch.optim.SGD(params)",
             "for i in range(3):\n    %time torch.optim.SGD(params)\n",
             "x = !ls\n!kill 1\ny = nn.LSTM(1, 2)", "%%bash\nls", "torch.optim?\nnn.LSTM??",
             "x = %time y\nz = torch.optim", "\n\n%%time\nimport torch.optim as o",
             "files = !ls \\\n  data\nsys.settrace(f)", "  x = 1\n  %time torch.optim.SGD(p)\n"]
    with_ipython = [(forbidden_uses(c, FORBIDDEN, PREAMBLE), needs_review(c)) for c in cells]
    monkeypatch.setattr(rules.cells, "_MANAGER", [None])  # as if IPython were not installed
    assert rules.cells._ipython_manager() is None
    without = [(forbidden_uses(c, FORBIDDEN, PREAMBLE), needs_review(c)) for c in cells]
    assert without == with_ipython
    assert found(without[1][0]) == [("torch.optim.SGD", 3)]


def test_a_syntax_error_has_no_forbidden_use_and_is_flagged_unparsed():
    source = "x = torch.optim.SGD(params)\ndef f(:\n    pass"
    assert forbidden_uses(source, FORBIDDEN, PREAMBLE) == []  # the kernel runs none of it
    assert needs_review(source) == [Finding("syntax error", 2, "def f(:", rules.UNPARSED)]
    assert needs_review("print 'hello'") == [
        Finding("syntax error", 1, "print 'hello'", rules.UNPARSED)]


def test_code_too_deep_to_analyse_is_flagged_not_crashed():
    for source in ["x" + ".f()" * 3000, "y = " + "-" * 5000 + "1", "[" * 300 + "]" * 300]:
        assert forbidden_uses(source, FORBIDDEN) == []
        assert [f.rule for f in needs_review(source)] == [rules.UNPARSED]
    # deep, yet parseable: still analysed, no recursion error
    deep = "import torch.optim as o\nx" + ".f()" * 1400 + "\no.SGD(p)"
    assert found(forbidden_uses(deep, FORBIDDEN)) == [("torch.optim", 1), ("torch.optim.SGD", 3)]


def test_a_preamble_that_does_not_parse_binds_nothing_and_breaks_nothing():
    assert forbidden_uses("nn.LSTM(1, 2)", FORBIDDEN, "import torch.nn as nn\ndef f(:") == [
        Finding("torch.nn.LSTM", 1, "nn.LSTM(1, 2)", "torch.nn.LSTM")]  # nn by convention


# --- the module itself -------------------------------------------------------------------------

def test_the_package_imports_only_the_standard_library_and_nothing_at_import():
    """Every module of lstmbook.rules imports the standard library and its own package, nothing
    else: the trusted grader runs it outside the sandbox. (Their order inside the package is
    pyproject.toml's import-linter contract.)"""
    package = Path(rules.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
               for alias in node.names}
        top |= {node.module.split(".")[0] for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert top <= set(sys.stdlib_module_names) | {"__future__"}, (path.name, top - set(sys.stdlib_module_names))
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, lstmbook.rules; print(*sorted(sys.modules))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert not {m.split(".")[0] for m in loaded} & {"IPython", "torch", "numpy"}


def test_exercise_names_are_the_solution_cells_top_level_definitions():
    from lstmbook.rules import exercise_names

    def cell(source, **meta):
        return {"cell_type": "code", "source": source, "metadata": {"nbgrader": meta}}

    nb = {"cells": [
        cell("def given():\n    pass\n"),  # not an exercise
        cell("import torch\ndef step(x):\n    def inner():\n        pass\nclass Net:\n    pass\nx = 1\n",
             solution=True, grade_id="lstm_step"),
        cell("def broken(:\n", solution=True, grade_id="bad"),
        cell("def test_step():\n    pass\n", grade=True, grade_id="test_step"),
    ]}
    assert exercise_names(nb) == {"lstm_step": {"lstm_step", "step", "Net"}, "bad": {"bad"}}
