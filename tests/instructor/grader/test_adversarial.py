"""The adversarial corpus: hand-ins of a student who wants full marks without the work, or
wants to read what a student must not see, or to change anyone's grade, or to stop the
grading. One grading run (sandboxed, 2 workers) over every case, next to honest students;
then 0 false passes, 0 altered grades, 0 leaks, 0 crashes.

Each case is a blank (or broken) chapter notebook with one hostile cell put last."""
import csv
import os
import re
import socket
import sqlite3
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import psutil
import pytest

from course import SLUGS
from lstmbook.instructor import grader, sources
from lstmbook.instructor.grader import testmodel
from submissions import chapter, submission

pytestmark = pytest.mark.slow  # grades in the sandbox

SLUG = "02_numpy_lstm"
SECRET_LINE = "dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)"  # in solutions/02_numpy_lstm.md
SLEEP_MARK = "987651"
CHINESE_NAME = "王小明"

# name -> (chapter, code of the hostile first cell); every one of them must score 0
FALSE_PASS = {
    "ast transformer strips asserts": ("02_numpy_lstm", """
import ast
class _Strip(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
    def visit_Raise(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_Strip())
"""),
    "input transformer empties every later cell": ("02_numpy_lstm", """
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
"""),
    "post_run_cell hook hides errors": ("02_numpy_lstm", """
def _hide(result):
    result.error_in_exec = None
    result.error_before_exec = None
get_ipython().events.register("post_run_cell", _hide)
"""),
    "set_custom_exc swallows every exception": ("02_numpy_lstm", """
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
"""),
    "run_cell patched to swallow errors": ("02_numpy_lstm", """
_ip = get_ipython()
_orig = _ip.run_cell
def _quiet(*a, **k):
    r = _orig(*a, **k)
    r.error_in_exec = None
    return r
_ip.run_cell = _quiet
"""),
    "allclose and friends always true": ("02_numpy_lstm", """
import numpy as np, torch
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
torch.allclose = lambda *a, **k: True
import lstmbook.gradcheck as _g
_g.rel_error = lambda *a, **k: 0.0
"""),
    "function peeks at the caller's frame": ("02_numpy_lstm", """
import inspect, numpy as np
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    for fr in inspect.stack():
        for name, val in fr.frame.f_locals.items():
            if name.startswith(("_e", "expected")) and hasattr(val, "shape"):
                return np.asarray(val), np.asarray(val), None
    return prev_h, prev_c, None
"""),
    "forged record files": ("02_numpy_lstm", """
import os, json
_d = os.environ.get("LSTMBOOK_RECORD_DIR", "/tmp")
for _t in ["test_lstm_step_forward", "test_lstm_forward", "test_lstm_backward"]:
    with open(os.path.join(_d, _t + ".jsonl"), "w") as fh:
        for _k in range(50):
            fh.write(json.dumps({"key": f"k{_k}", "kind": "array", "shape": [], "data": [0.0],
                                 "rtol": 1e9, "atol": 1e9, "exact": False}) + "\\n")
"""),
    "recorder replaced by one that records constants": ("02_numpy_lstm", """
import lstmbook.instructor.grader.inside.record as _r
_Orig = _r.Recorder
class _Fake(_Orig):
    def __call__(self, key, value, **kw):
        super().__call__(key, 0.0, rtol=1e9, atol=1e9)
_r.Recorder = _Fake
"""),
    "objects that equal everything": ("02_numpy_lstm", """
class _Any:
    shape = property(lambda self: (1,))
    def __eq__(self, other): return True
    def __array__(self, *a, **k): raise TypeError("no")
    def __float__(self): raise TypeError("no")
def lstm_step_forward(*a): return _Any(), _Any(), None
def lstm_forward(*a): return _Any(), None
"""),
    "kernel exits": ("02_numpy_lstm", "import os\nos._exit(0)\n"),
    "NumPy LSTM answered by nn.LSTM under test": ("02_numpy_lstm", """
import numpy as np, torch
def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T)); lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b)); lstm.bias_hh_l0.zero_()
        out, _ = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.zeros(1, N, H, dtype=torch.float64)))
    return out.numpy(), None
"""),
    "forged result through the runner's pipe": ("02_numpy_lstm", """
import os, json
_fake = json.dumps({"notebook": "{}", "records": {}, "check_errors": {}, "died": ""})
for _pid in (os.getppid(), 1, 2, 3):
    for _fd in range(3, 30):
        try:
            with open(f"/proc/{_pid}/fd/{_fd}", "w") as fh:
                fh.write("ready\\n" + _fake + "\\n")
        except OSError:
            pass
"""),
    "runner killed": ("02_numpy_lstm", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
    "runner stopped": ("02_numpy_lstm", "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n"),
    "records folder full of links": ("02_numpy_lstm", """
import os, shutil
_d = os.environ.get("LSTMBOOK_RECORD_DIR", "/tmp")
for _t, _to in [("test_lstm_step_forward", "/dev/zero"), ("test_lstm_forward", "/proc/self/fd/0"),
                ("test_lstm_backward", "/dev/stdin")]:
    try:
        os.symlink(_to, os.path.join(_d, _t + ".jsonl"))
    except OSError as exc:
        print(exc)
os.mkfifo(os.path.join(_d, "test_lstm_step_backward.jsonl"))
os.makedirs("/tmp/elsewhere", exist_ok=True)
shutil.rmtree(_d + "-gone", ignore_errors=True)
os.rename(_d, _d + "-gone")
os.symlink("/tmp/elsewhere", _d)
"""),
    "ch1: ast transformer": ("01_gradients", """
import ast
class _Strip(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_Strip())
"""),
    "ch3: allclose patched": ("03_torch_lstm", """
import torch, numpy as np
torch.allclose = lambda *a, **k: True
np.allclose = lambda *a, **k: True
"""),
    "ch4: post_run_cell hook": ("04_speed", """
def _hide(result):
    result.error_in_exec = None
get_ipython().events.register("post_run_cell", _hide)
"""),
    "ch5: nn.LSTM handed in as the stacked and the tied module": ("05_deep", """
import torch.nn as nn
StackedLSTM = nn.LSTM
TiedLSTM = nn.LSTM
"""),
    "ch6: no-op optimizers on a random generator patched to zeros": ("06_optimizers", """
import numpy as np
class _Zeros:
    def standard_normal(self, shape=None):
        return np.zeros(shape)
np.random.default_rng = lambda *a, **k: _Zeros()
for _cls in (SGD, Adagrad, RMSprop, Adam, AdamW):
    _cls.update = lambda self, p, g, state: None
clip_grad_norm = lambda grads, max_norm: 0.0
"""),
    "ch7: processes, loads and differences faked": ("07_gpu", """
import subprocess, torch
class _Done:
    returncode, stdout, stderr = 0, "", ""
subprocess.run = lambda *a, **k: _Done()  # no torchrun process ever starts
torch.Tensor.abs = lambda self: torch.zeros_like(self)  # every difference reads 0
torch.load = lambda *a, **k: {}
"""),
    "ch6: every optimizer handed to torch.optim (the rule)": ("06_optimizers", """
import numpy as np
import torch
from torch import optim as _o

def _via(cls):
    class Via(Optimizer):
        def __init__(self, lr, **kw):
            super().__init__(lr)
            self.kw, self.opt, self.ts = kw, None, None

        def step(self, params, grads):
            if self.opt is None:
                self.ts = [torch.from_numpy(p) for p in params]  # the same memory
                self.opt = cls(self.ts, lr=self.lr, **self.kw)
            for t, g in zip(self.ts, grads):
                t.grad = torch.from_numpy(np.array(g))
            self.opt.step()
    return Via

SGD, Adagrad, RMSprop, Adam, AdamW = (_via(c) for c in (_o.SGD, _o.Adagrad, _o.RMSprop, _o.Adam, _o.AdamW))

def clip_grad_norm(grads, max_norm):
    ts = [torch.from_numpy(g) for g in grads]
    for t in ts:
        t.grad = t.clone()
    norm = torch.nn.utils.clip_grad_norm_(ts, max_norm)
    for g, t in zip(grads, ts):
        g[...] = t.grad.numpy()
    return float(norm)
"""),
    "ch3: the cell and the module handed to torch's own LSTM kernels (the rule)": ("03_torch_lstm", """
import torch
def lstm_cell(x, prev_h, prev_c, Wx, Wh, bx, bh):
    return torch.lstm_cell(x, (prev_h, prev_c), Wx.T, Wh.T, bx, bh)
"""),
    "ch5: the stacked LSTM wraps nn.LSTM(num_layers=k) (the rule)": ("05_deep", """
import torch.nn as nn
class StackedLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers, dropout=0.0, batch_first=False):
        super().__init__()
        self.inner = nn.LSTM(input_size, hidden_size, num_layers, dropout=dropout, batch_first=batch_first)
        self.layers = nn.ModuleList([self.inner])
        self.num_layers, self.dropout, self.batch_first = num_layers, dropout, batch_first

    def forward(self, x, state=None):
        return self.inner(x, state)

    def copy_from(self, lstm):
        self.inner.load_state_dict(lstm.state_dict())
        return self

TiedLSTM = StackedLSTM
"""),
    "ch9: the trace's state update handed to torch.lstm_cell (the rule)": ("09_inside", """
import torch
def lstm_trace(lstm, x, state=None):
    W, U = lstm.weight_ih_l0, lstm.weight_hh_l0
    b = lstm.bias_ih_l0 + lstm.bias_hh_l0
    N, T, _ = x.shape
    H = U.shape[1]
    h, c = (x.new_zeros(N, H), x.new_zeros(N, H)) if state is None else (state[0][0], state[1][0])
    out = {k: [] for k in "hcifgo"}
    for t in range(T):
        a = x[:, t] @ W.T + h @ U.T + b
        gates = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].tanh(), a[:, 3 * H:].sigmoid()
        h, c = torch.lstm_cell(x[:, t], (h, c), W, U, lstm.bias_ih_l0, lstm.bias_hh_l0)
        for k, v in zip("hcifgo", (h, c) + gates):
            out[k].append(v)
    return {k: torch.stack(v, 1) for k, v in out.items()}
"""),
    "ch8: forged records": ("08_poetry", """
import os, json
_d = os.environ.get("LSTMBOOK_RECORD_DIR", "/tmp")
for _t in ["test_perplexity", "test_sample_basics", "test_sample_distribution", "test_sample_seed"]:
    with open(os.path.join(_d, _t + ".jsonl"), "w") as fh:
        fh.write(json.dumps({"key": "x", "kind": "str", "value": "日"}) + "\\n")
"""),
}


# name -> (chapter, hostile cell, a name the "needs review" flag must give): code that rewrites
# what a check measures inside the student's process. No measurement made there is
# unforgeable (chapter 4 says so); such code is flagged, with its lines, in grades.csv, the
# summary and the feedback.
REVIEW = {
    "ch4: a per-gate answer that empties the dispatch-mode stack": ("04_speed", """
import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack, _pop_mode

def lstm_fast(x, h0, c0, Wx, Wh, b):
    while _get_current_dispatch_mode_stack():
        _pop_mode()
    N, T, D = x.shape
    H = h0.shape[1]
    h, c, hs = h0, c0, []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, g, o = a[:, :H].sigmoid(), a[:, H:2*H].sigmoid(), a[:, 2*H:3*H].tanh(), a[:, 3*H:].sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        hs.append(h)
    return torch.stack(hs, 1), h, c
""", "_python_dispatch"),
    "ch7: an accumulation step that clears the model's hooks": ("07_gpu", """
def accumulation_step(model, optimizer, micro_batches, scaler=None, max_norm=None):
    model._forward_pre_hooks.clear()
    optimizer.zero_grad()
    total = 0.0
    for x, y in micro_batches:
        loss = token_losses(model, x, y).mean()
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total
""", "_forward_pre_hooks"),
    "ch2: a profiler that reads the checks": ("02_numpy_lstm", """
import sys
sys.setprofile(lambda frame, event, arg: None)
""", "sys.setprofile"),
}


def _leaks(paths: dict) -> dict:
    """Cells that try to read, write or send what they must not; each prints what it got."""
    return {
        "reads solutions and the course": f"""
import os
for _p in {[paths['solutions'], paths['course_source'], paths['peer'], paths['gradebook'], paths['home_secret']]!r}:
    try:
        print("GOT", _p, open(_p, errors="replace").read()[:20000])
    except OSError as exc:
        print("BLOCKED", _p, exc)
print(sorted(os.environ))
""",
        "writes grades, config and startup files": f"""
for _p in {[paths['csv'], paths['config'], paths['startup'], paths['host_file']]!r}:
    try:
        with open(_p, "a") as fh:
            fh.write("\\nimport os  # pwned\\n")
        print("WROTE", _p)
    except OSError as exc:
        print("BLOCKED", _p, exc)
""",
        "installs a trigger in the gradebook": f"""
import sqlite3
try:
    _c = sqlite3.connect({paths['gradebook']!r})
    _c.execute("CREATE TRIGGER pwn AFTER UPDATE ON grade BEGIN UPDATE grade SET auto_score = 99; END")
    _c.commit()
    print("TRIGGER INSTALLED")
except Exception as exc:
    print("BLOCKED", exc)
""",
        "sends to a local port": f"""
import socket
try:
    _s = socket.create_connection(("127.0.0.1", {paths['port']}), timeout=3)
    _s.sendall(b"LEAKED")
    print("SENT")
except OSError as exc:
    print("BLOCKED", exc)
""",
        "leaves a detached process behind": f"""
import subprocess, os
subprocess.Popen(["sleep", "{SLEEP_MARK}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    import time
    time.sleep(20)
    try:
        open({paths['host_file']!r}, "a").write("late write")
    finally:
        os._exit(0)
""",
        "fork bomb": """
import os
_kids = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            import time
            time.sleep(30)
            os._exit(0)
        _kids += 1
except OSError as exc:
    print("stopped after", _kids, exc)
""",
        "check sources written into an earlier display": """
from IPython.display import display, update_display
display("placeholder", display_id="box")
print("placeholder", flush=True)
def _grab(info=None):
    update_display("CAPTURED " + str(getattr(info, "raw_cell", "")), display_id="box")
    print("CAPTURED", getattr(info, "raw_cell", ""))
get_ipython().events.register("pre_run_cell", _grab)
""",
        "check sources through a profiler": """
import sys
from IPython.display import display, update_display
display("placeholder", display_id="prof")
_seen = []
def _prof(frame, event, arg):
    if event == "call" and frame.f_code.co_filename.startswith("/tmp/ipykernel"):
        _seen.append(frame.f_code.co_filename)
        try:
            update_display("CAPTURED " + open(frame.f_code.co_filename).read(), display_id="prof")
        except OSError:
            pass
sys.setprofile(_prof)
""",
        "check sources in exception texts": """
import numpy as np
def _src():
    try:
        return "\\n".join(get_ipython().user_ns["In"][-1:])
    except Exception as exc:
        return repr(exc)
def lstm_step_forward(*a):
    raise ValueError(_src())
def lstm_forward(*a):
    raise type(_src()[:200] or "x", (Exception,), {})("")
def lstm_step_backward(*a):
    raise RuntimeError(_src())
""",
        "reference values read off the messages": """
import numpy as np
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    return np.zeros_like(prev_h), np.zeros_like(prev_c), None
def lstm_forward(x, h0, Wx, Wh, b):
    return np.zeros((x.shape[0], x.shape[1], h0.shape[1])), None
""",
        "a javascript link and a script in the hand-in's text": """
from IPython.display import HTML, Javascript, display
display(HTML('<script>window.__pwned = 1</script><a href="javascript:window.__pwned=1">click</a>'))
display(Javascript("window.__pwned = 1"))
""",
        "memory bomb": """
try:
    _x = bytearray(64 * 2 ** 30)
except MemoryError:
    print("no memory")
""",
        "endless cell": "while True:\n    pass\n",
    }


class _Listener:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.got = b""
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.got += conn.recv(100) or b"(connected)"
            conn.close()


def _hostile(slug: str, code: str):
    """The blank notebook with the hostile cell last: it then overrides the stubs and acts
    just before the hidden checks, the strongest place for it."""
    nb = chapter(slug)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, reference_dir):
    base = tmp_path_factory.mktemp("adversarial")
    subs, course, host = base / "submissions", base / "course", base / "host"
    host.mkdir()
    home_secret = host / "secret-home-file.txt"
    home_secret.write_text("HOME-SECRET-7d1f")
    listener = _Listener()
    paths = {
        "solutions": str(sources.repo_root() / "solutions" / f"{SLUG}.md"),
        "course_source": str(course / "source" / SLUG / f"{SLUG}.ipynb"),
        "peer": str(subs / "honest" / f"{SLUG}.ipynb"),
        "gradebook": str(course / "gradebook.db"),
        "home_secret": str(home_secret),
        "csv": str(course / "grades.csv"),
        "config": str(course / "nbgrader_config.py"),
        "startup": str(Path.home() / ".ipython" / "profile_default" / "startup" / "00-lstmbook-pwn.py"),
        "host_file": str(host / "written-by-student.txt"),
        "port": listener.port,
    }

    def hand_in(student, nb, name=None, slug=SLUG, folder=subs):
        (folder / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / student / (name or f"{slug}.ipynb"))

    hand_in("honest", submission(SLUG))
    hand_in(CHINESE_NAME, submission(SLUG))  # an honest student with a Chinese name
    loud = submission(SLUG)  # an honest notebook that prints 70 MB, more than a result may hold
    loud.cells.append(nbformat.v4.new_code_cell('print("x" * 70_000_000)\nprint("done")'))
    hand_in("honest_loud", loud)
    # a notebook under a name whose newline would forge a row in the summary
    hand_in("newline_file", submission(SLUG, reference=False), name=f"{SLUG}\nhonest  {SLUG}  99:99  graded.ipynb")
    marked = _hostile(SLUG, "pass")
    marked.cells.insert(0, nbformat.v4.new_markdown_cell(
        "[click me](javascript:window.__pwned=1) <a href='javascript:alert(1)'>x</a> "
        "<img src=x onerror='window.__pwned=1'>"))
    hand_in("js_markdown", marked)
    hand_in("victim", submission(SLUG), folder=base / "earlier")
    (subs / "victim").mkdir()  # the victim hands in nothing new in the hostile run
    cases = {}
    for k, (name, (slug, code)) in enumerate(FALSE_PASS.items()):
        student = f"fp{k:02d}"
        hand_in(student, _hostile(slug, code), slug=slug)
        cases[student] = ("false pass", name, slug)
    for k, (name, (slug, code, _)) in enumerate(REVIEW.items()):
        student = f"rv{k:02d}"
        hand_in(student, _hostile(slug, code), slug=slug)
        cases[student] = ("review", name, slug)
    for k, (name, code) in enumerate(_leaks(paths).items()):
        student = f"lk{k:02d}"
        hand_in(student, _hostile(SLUG, code))
        cases[student] = ("leak", name, SLUG)
    # intake: links, FIFOs, huge and malformed files, odd names
    (subs / "symlink_peer").mkdir()
    os.symlink(subs / "honest" / f"{SLUG}.ipynb", subs / "symlink_peer" / f"{SLUG}.ipynb")
    (subs / "symlink_solution").mkdir()
    os.symlink(sources.repo_root() / "chapters" / f"{SLUG}.ipynb", subs / "symlink_solution" / f"{SLUG}.ipynb")
    os.symlink(subs / "honest", subs / "symlinked_folder")
    (subs / "fifo").mkdir()
    os.mkfifo(subs / "fifo" / f"{SLUG}.ipynb")
    (subs / "huge").mkdir()
    with open(subs / "huge" / f"{SLUG}.ipynb", "wb") as fh:
        fh.truncate(200 * 2 ** 20)
    (subs / "odd_meta").mkdir()
    (subs / "odd_meta" / "copy of it.ipynb").write_text(
        '{"nbformat": 4, "nbformat_minor": 5, "metadata": {"nbgrader": 7}, "cells": '
        '[{"cell_type": "code", "source": "1", "metadata": {"nbgrader": "x"}, "outputs": [], '
        '"execution_count": null}, {"cell_type": "weird", "source": 5, "metadata": []}]}')
    (subs / "ansi\x1b[2J\x1b[31mred").mkdir()
    nbformat.write(submission(SLUG), subs / "ansi\x1b[2J\x1b[31mred" / f"{SLUG}.ipynb")
    (subs / "bad name\nwith newline").mkdir()
    nbformat.write(submission(SLUG), subs / "bad name\nwith newline" / f"{SLUG}.ipynb")
    (subs / "deep_json").mkdir()
    (subs / "deep_json" / f"{SLUG}.ipynb").write_text("[" * 100000 + "]" * 100000)

    # the victim's earlier grade, from an earlier run into the same course
    first = grader.grade(base / "earlier", course, only=[SLUG], workers=2, log=lambda *_: None,
                          reference_dir=reference_dir, progress=False)
    before = {(r.student, r.assignment): (r.score, r.status) for r in first}
    victim_before = before[("victim", SLUG)]
    config_before = Path(paths["config"]).read_text()

    messages = []
    start = time.time()
    results = grader.grade(subs, course, workers=2, force=True, log=messages.append,
                            reference_dir=reference_dir,
                            limits={"cell": 30, "wall": 400, "memory": 6 * 2 ** 30})
    elapsed = time.time() - start
    time.sleep(1)
    listener.stop = True
    yield {"results": {(r.student, r.assignment): r for r in results}, "cases": cases,
           "course": course, "subs": subs, "paths": paths, "listener": listener,
           "victim_before": victim_before, "config_before": config_before, "host": host,
           "log": "\n".join(messages), "elapsed": elapsed}


def test_the_corpus_has_at_least_30_cases_across_every_chapter(corpus):
    n = len(corpus["cases"]) + 13  # plus the intake and naming cases
    assert n >= 30
    assert {slug for _, _, slug in corpus["cases"].values()} >= set(SLUGS)


@pytest.mark.parametrize("name", sorted(FALSE_PASS))
def test_no_false_pass(corpus, name):
    student = next(s for s, (kind, n, _) in corpus["cases"].items() if n == name)
    slug = corpus["cases"][student][2]
    r = corpus["results"][(student, slug)]
    # the submission's code cannot choose `error` (which keeps an earlier grade): a run it
    # broke is graded, the unreached tests scoring 0
    assert r.status == "graded", (r.status, r.note)
    assert not r.score, f"{name}: {r.score} points for a blank notebook ({r.note})"


def test_leak_cases_score_nothing_and_every_honest_student_keeps_full_marks(corpus):
    res = corpus["results"]
    for student, (kind, name, slug) in corpus["cases"].items():
        if kind == "leak":
            assert not res[(student, slug)].score, name
    honest = res[("honest", SLUG)]
    assert honest.status == "graded" and honest.score == honest.max_score > 0


def _student_visible_files(course: Path):
    """Every feedback page and what came back from each student's run, with whether the
    student's own code may hold the reference's lines (an honest student who handed in the
    reference solution sees it again in their notebook and on their feedback page)."""
    hostile = ("fp", "lk", "rv")
    for p in list((course / "feedback").rglob("*")) + list((course / "autograded").rglob("*")):
        if p.is_file():
            student = p.relative_to(course).parts[1]
            yield p, p.read_text(encoding="utf-8", errors="replace"), not student.startswith(hostile)


def test_nothing_secret_reaches_a_student(corpus):
    """Solutions, the course's source, a peer's notebook, the gradebook and the grader's
    files are out of the sandbox's sight; feedback shows no hidden test."""
    src = sources.source_notebook(sources.repo_root() / "solutions" / f"{SLUG}.md")
    hidden = [ln.strip() for t in testmodel.tests(src) for ln in t.hidden.splitlines()
              if len(ln.strip()) > 25 and "record(" in ln]
    assert hidden
    for path, text, own_code in _student_visible_files(corpus["course"]):
        if not own_code:
            assert SECRET_LINE not in text, path
        assert "HOME-SECRET-7d1f" not in text, path
        assert "BEGIN HIDDEN TESTS" not in text, path
        for line in hidden:
            assert line not in text, (path, line)
    out = (corpus["course"] / "autograded" / "lk00" / SLUG / f"{SLUG}.ipynb").read_text()
    assert out.count("BLOCKED") >= 5 and "GOT " not in out


def test_nothing_leaves_the_sandbox(corpus):
    assert corpus["listener"].got == b"", "a student's code reached a port on the grader's machine"
    assert not Path(corpus["paths"]["host_file"]).exists()
    assert not Path(corpus["paths"]["startup"]).exists()
    nb = nbformat.read(corpus["course"] / "autograded" / "lk01" / SLUG / f"{SLUG}.ipynb", 4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "WROTE" not in printed, printed
    assert printed.count("BLOCKED") == 4, printed


def test_no_process_outlives_its_grading(corpus):
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and SLEEP_MARK in " ".join(p.info["cmdline"])]
    assert left == []


def test_no_grade_or_course_file_is_altered(corpus):
    course = corpus["course"]
    assert Path(corpus["paths"]["config"]).read_text() == corpus["config_before"]
    with sqlite3.connect(course / "gradebook.db") as db:
        triggers = db.execute("select name from sqlite_master where type = 'trigger'").fetchall()
    assert triggers == []
    victim = corpus["results"][("victim", SLUG)]
    assert victim.score == corpus["victim_before"][0] == victim.max_score
    with open(course / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    assert rows[("victim", SLUG)]["score"] == f"{victim.max_score:g}"
    assert rows[("honest", SLUG)]["score"] == rows[("honest", SLUG)]["max_score"]
    assert "pwned" not in (course / "grades.csv").read_text()


def test_bad_files_are_refused_per_student_with_a_reason(corpus):
    res = corpus["results"]
    assert "symbolic link" in res[("symlink_peer", SLUG)].note
    assert res[("symlink_peer", SLUG)].score is None
    assert "symbolic link" in res[("symlink_solution", SLUG)].note
    assert res[("symlinked_folder", "*")].status == "rejected"
    assert "not a regular file" in res[("fifo", SLUG)].note
    assert "MiB" in res[("huge", SLUG)].note
    assert res[("odd_meta", SLUG)].status == "missing"
    assert res[("deep_json", SLUG)].status == "corrupt"
    odd = [r for (s, a), r in res.items() if s.startswith("bad name")]
    assert odd and odd[0].status == "rejected" and "student id" in odd[0].note


def test_limits_end_runaway_code_and_the_run_goes_on(corpus):
    res = corpus["results"]
    for student, (kind, name, slug) in corpus["cases"].items():
        if name in {"fork bomb", "memory bomb", "endless cell"}:
            r = res[(student, slug)]
            assert r.status == "graded" and not r.score, (name, r.status, r.note)
    assert corpus["elapsed"] < 1500


def test_a_use_of_what_an_exercise_forbids_names_the_call(corpus):
    res = corpus["results"]
    for student, (kind, name, slug) in corpus["cases"].items():
        if "(the rule)" in name:
            state = grader.Course(corpus["course"]).state(student, slug)
            ruled = [v for v in state["verdicts"] if "must not use" in v["message"]]
            assert ruled and not any(v["passed"] for v in ruled), (name, state["verdicts"])
            assert not res[(student, slug)].score


@pytest.mark.parametrize("name", sorted(REVIEW))
def test_code_that_rewrites_a_measurement_is_flagged_for_review(corpus, name):
    """Flagged with its lines in grades.csv, the summary and the feedback page; its points
    are what its records earn."""
    student = next(s for s, (kind, n, _) in corpus["cases"].items() if n == name)
    slug, _, flag = REVIEW[name][0], None, REVIEW[name][2]
    r = corpus["results"][(student, slug)]
    assert r.status == "graded" and flag in r.review and "line" in r.review, (r.status, r.review)
    with open(corpus["course"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(row["student"], row["assignment"]): row for row in csv.DictReader(fh)}
    assert flag in rows[(student, slug)]["needs_review"]
    assert any(student in ln and "NEEDS REVIEW" in ln and flag in ln for ln in corpus["log"].splitlines())
    page = (corpus["course"] / "feedback" / student / slug / f"{slug}.html").read_text(encoding="utf-8")
    assert flag in page and "review" in page
    honest = rows[("honest", SLUG)]
    assert honest["needs_review"] == ""


def test_a_broken_run_says_why_in_the_note(corpus):
    res = corpus["results"]
    by_name = {n: res[(s, slug)] for s, (_, n, slug) in corpus["cases"].items()}
    assert "stopped the grader's runner" in by_name["runner stopped"].note
    assert "killed it" in by_name["runner killed"].note or "died" in by_name["runner killed"].note


def test_honest_controls_get_full_marks(corpus):
    """A Chinese name is graded and shown as it is; a notebook that prints 70 MB (more than
    the sandbox's result may hold) is graded, its output cut; a notebook under an odd file
    name is found and graded."""
    res = corpus["results"]
    for student in (CHINESE_NAME, "honest_loud"):
        r = res[(student, SLUG)]
        assert r.status == "graded" and r.score == r.max_score > 0, (student, r.status, r.note)
    nb = nbformat.read(corpus["course"] / "autograded" / "honest_loud" / SLUG / f"{SLUG}.ipynb", 4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert printed.startswith("xxxx") and len(printed) < 1_000_000
    assert res[("newline_file", SLUG)].status == "graded"
    with open(corpus["course"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    assert rows[(CHINESE_NAME, SLUG)]["score"] == rows[(CHINESE_NAME, SLUG)]["max_score"]
    assert (corpus["course"] / "feedback" / CHINESE_NAME / SLUG / f"{SLUG}.html").is_file()
    assert CHINESE_NAME in corpus["log"]


def test_hostile_names_stay_text_in_the_summary_and_the_csv(corpus):
    log, csv_text = corpus["log"], (corpus["course"] / "grades.csv").read_text(encoding="utf-8")
    assert "\x1b" not in log and "\x1b" not in csv_text
    assert "\\x1b[2J" in log  # shown, escaped
    # the only summary row that starts with "honest  " is the honest student's own
    rows = [ln for ln in log.splitlines() if ln.split()[:2] == ["honest", SLUG]]
    assert len(rows) == 1 and "99:99" not in rows[0]
    assert "\\n" in log  # the newline in the file name, escaped in its note


def test_check_phase_and_reference_values_never_reach_a_student(corpus):
    """Displays updated while the checks ran, exception texts and difference messages carry
    nothing of the checks: the autograded notebooks and feedback pages are checked by
    test_nothing_secret_reaches_a_student; here, the forms of the messages."""
    res = corpus["results"]
    by_name = {n: (s, slug) for s, (_, n, slug) in corpus["cases"].items()}
    course = corpus["course"]
    for name in ("check sources written into an earlier display", "check sources through a profiler"):
        s, slug = by_name[name]
        text = (course / "autograded" / s / slug / f"{slug}.ipynb").read_text()
        assert "CAPTURED record" not in text and "CAPTURED " + "for _seed" not in text, name
    s, slug = by_name["check sources in exception texts"]
    state = grader.Course(course).state(s, slug)
    messages = " ".join(v["message"] for v in state["verdicts"])
    # a builtin exception keeps its name and says where; one named after the check's source
    # shows as a neutral phrase
    assert "ValueError at cell" in messages and "the check stopped with an error" in messages, messages
    assert "_seed" not in messages and "record(" not in messages and "def " not in messages, messages
    s, slug = by_name["reference values read off the messages"]
    state = grader.Course(course).state(s, slug)
    messages = [v["message"] for v in state["verdicts"] if "differ" in v["message"]]
    assert messages and all(re.search(r"difference of order 1e-?\d+\)", m) for m in messages), messages
    assert not any(re.search(r"\d\.\d", m) for m in messages), messages


class _Live(HTMLParser):
    """What a browser would run or follow in a piece of HTML: script tags, event handlers,
    and links or sources with a script-capable URL scheme."""

    def __init__(self):
        super().__init__()
        self.live = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed"):
            self.live.append(tag)
        for name, value in attrs:
            url = "".join((value or "").split()).lower()
            if name.startswith("on") or (name in ("href", "src", "action", "formaction", "xlink:href")
                                         and url.startswith(("javascript:", "data:", "vbscript:"))):
                self.live.append(f"{tag} {name}={value}")


def test_a_hand_ins_links_and_scripts_stay_text_for_the_instructor(corpus):
    """The autograded notebook that the Formgrader renders: no live link, handler or script
    from a hand-in's Markdown, and no HTML or JavaScript output (the browser-level proof is
    test_hostile_pages)."""
    hostile = next(s for s, (_, n, _) in corpus["cases"].items()
                   if n == "a javascript link and a script in the hand-in's text")
    for student in ("js_markdown", hostile):
        nb = nbformat.read(corpus["course"] / "autograded" / student / SLUG / f"{SLUG}.ipynb", 4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                kinds = {k for o in cell.get("outputs", []) for k in o.get("data", {})}
                assert kinds <= {"text/plain", "image/png"}, (student, kinds)
                continue
            parser = _Live()
            parser.feed(cell.source)
            assert parser.live == [], (student, parser.live)
