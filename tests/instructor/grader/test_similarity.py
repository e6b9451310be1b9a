"""The similarity report between hand-ins (:mod:`lstmbook.instructor.grader.similarity`).

A planted class for chapter 02_numpy_lstm (its real release notebook and reference solution;
nothing runs): four students who wrote the first two exercises independently and differently,
a copy of one of them with renamed variables, reordered functions and statements and new
comments, an unchanged copy of another (under a hostile name, with hostile text in its code),
three students who handed in the reference solution (verbatim, without the solution markers,
and renamed), blank notebooks, and notebooks that cannot be read."""
from __future__ import annotations

import copy
import csv
import io
import os
import re

import nbformat
import pytest
from copydetect.utils import filter_code

from lstmbook.instructor.grader import similarity as sim
from lstmbook.instructor.grader.store import Course
from lstmbook.instructor.grader.testmodel import nbgrader_meta
from lstmbook.instructor.sources import SOLUTION, source_notebook

SLUG = "02_numpy_lstm"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()\n"
FWD, BWD = "lstm_step_forward", "lstm_step_backward"

# ------------------------------------------------------------------ the class's code (bodies)

ALICE_HELPERS = '''\
def _sigmoid(z):
    # logistic function, written out
    return 1.0 / (1.0 + np.exp(-z))


def _four(z):
    # the pre-activation cut into the four gate blocks
    zi, zf, zg, zo = np.split(z, 4, axis=1)
    return zi, zf, zg, zo


'''
ALICE = {FWD: '''\
    z = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    zi, zf, zg, zo = _four(z)
    i = _sigmoid(zi)
    f = _sigmoid(zf)
    o = _sigmoid(zo)
    g = np.tanh(zg)
    next_c = prev_c * f + g * i
    ct = np.tanh(next_c)
    next_h = ct * o
    cache = {"x": x, "h": prev_h, "c": prev_c, "Wx": Wx, "Wh": Wh, "gates": (i, f, g, o), "ct": ct}
''', BWD: '''\
    i, f, g, o = cache["gates"]
    ct = cache["ct"]
    dct = dnext_h * o
    dc_total = dnext_c + dct * (1 - ct * ct)
    di = dc_total * g
    df = dc_total * cache["c"]
    dg = dc_total * i
    do = dnext_h * ct
    dzi = di * i * (1 - i)
    dzf = df * f * (1 - f)
    dzg = dg * (1 - g * g)
    dzo = do * o * (1 - o)
    dz = np.hstack((dzi, dzf, dzg, dzo))
    dx = np.dot(dz, cache["Wx"].T)
    dprev_h = np.dot(dz, cache["Wh"].T)
    dprev_c = dc_total * f
    dWx = np.dot(cache["x"].T, dz)
    dWh = np.dot(cache["h"].T, dz)
    db = np.sum(dz, axis=0)
'''}

# erin copied alice: helpers after the function and in the other order, names and comments
# changed, independent statements swapped
ERIN_HELPERS = '''\


def _split4(v):
    """Four blocks."""
    p, q, r, s = np.split(v, 4, axis=1)
    return p, q, r, s


def _logistic(v):
    return 1.0 / (1.0 + np.exp(-v))
'''
ERIN = {FWD: '''\
    # all four gates at once
    pre = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    p, q, r, s = _split4(pre)
    o = _logistic(s)
    i = _logistic(p)
    f = _logistic(q)
    g = np.tanh(r)
    next_c = prev_c * f + g * i
    tc = np.tanh(next_c)
    next_h = tc * o
    cache = {"xx": x, "hp": prev_h, "cp": prev_c, "W1": Wx, "W2": Wh, "gs": (i, f, g, o), "tc": tc}
''', BWD: '''\
    i, f, g, o = cache["gs"]
    tc = cache["tc"]
    d_tc = dnext_h * o
    dcell = dnext_c + d_tc * (1 - tc * tc)
    d_o = dnext_h * tc
    d_i = dcell * g
    d_f = dcell * cache["cp"]
    d_g = dcell * i
    gi = d_i * i * (1 - i)
    gf = d_f * f * (1 - f)
    gg = d_g * (1 - g * g)
    go = d_o * o * (1 - o)
    grad = np.hstack((gi, gf, gg, go))
    dx = np.dot(grad, cache["W1"].T)
    dprev_h = np.dot(grad, cache["W2"].T)
    dprev_c = dcell * f
    dWx = np.dot(cache["xx"].T, grad)
    dWh = np.dot(cache["hp"].T, grad)
    db = np.sum(grad, axis=0)
'''}

BRUNO = {FWD: '''\
    N, hidden = prev_h.shape
    pre = x.dot(Wx) + prev_h.dot(Wh)
    pre += b
    gates = []
    for k in range(4):
        block = pre[:, k * hidden:(k + 1) * hidden]
        if k == 2:
            gates.append(np.tanh(block))
        else:
            gates.append(sigmoid(block))
    in_gate, forget, cand, out_gate = gates
    next_c = forget * prev_c
    next_c += in_gate * cand
    next_h = out_gate * np.tanh(next_c)
    cache = [x, prev_h, prev_c, Wx, Wh, gates, next_c]
''', BWD: '''\
    x, prev_h, prev_c, Wx, Wh, gates, next_c = cache
    in_gate, forget, cand, out_gate = gates
    t = np.tanh(next_c)
    grad_c = dnext_c.copy()
    grad_c += dnext_h * out_gate * (1.0 - t ** 2)
    H = next_c.shape[1]
    grads = np.zeros((x.shape[0], 4 * H))
    grads[:, :H] = grad_c * cand * in_gate * (1.0 - in_gate)
    grads[:, H:2 * H] = grad_c * prev_c * forget * (1.0 - forget)
    grads[:, 2 * H:3 * H] = grad_c * in_gate * (1.0 - cand ** 2)
    grads[:, 3 * H:] = dnext_h * t * out_gate * (1.0 - out_gate)
    dx = grads.dot(Wx.T)
    dprev_h = grads.dot(Wh.T)
    dprev_c = forget * grad_c
    dWx = x.T.dot(grads)
    dWh = prev_h.T.dot(grads)
    db = grads.sum(0)
'''}

CHEN = {FWD: '''\
    H = Wh.shape[0]
    act = np.matmul(x, Wx) + np.matmul(prev_h, Wh) + b[None, :]
    sig = lambda v: 0.5 * (1 + np.tanh(0.5 * v))
    gate_i = sig(act[:, 0:H])
    gate_f = sig(act[:, H:2 * H])
    gate_o = sig(act[:, 3 * H:4 * H])
    cell = np.tanh(act[:, 2 * H:3 * H])
    next_c = gate_f * prev_c + gate_i * cell
    next_h = gate_o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, b, gate_i, gate_f, cell, gate_o, next_c)
''', BWD: '''\
    (x, prev_h, prev_c, Wx, Wh, b, gate_i, gate_f, cell, gate_o, next_c) = cache
    tc = np.tanh(next_c)
    d_o = dnext_h * tc
    dc = dnext_c + dnext_h * gate_o * (1 - tc ** 2)
    d_act = np.concatenate(
        [dc * cell * gate_i * (1 - gate_i), dc * prev_c * gate_f * (1 - gate_f),
         dc * gate_i * (1 - cell ** 2), d_o * gate_o * (1 - gate_o)], axis=1)
    dWx = np.einsum("nd,nk->dk", x, d_act)
    dWh = np.einsum("nh,nk->hk", prev_h, d_act)
    db = d_act.sum(axis=0)
    dx = np.einsum("nk,dk->nd", d_act, Wx)
    dprev_h = np.einsum("nk,hk->nh", d_act, Wh)
    dprev_c = dc * gate_f
'''}

# dana wrote the forward step only (per-gate weight blocks); her backward step is the stub
DANA = {FWD: '''\
    H = prev_h.shape[1]

    def block(k):
        cols = slice(k * H, (k + 1) * H)
        return x @ Wx[:, cols] + prev_h @ Wh[:, cols] + b[cols]

    i = sigmoid(block(0))
    f = sigmoid(block(1))
    g = np.tanh(block(2))
    o = sigmoid(block(3))
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, g, o, np.tanh(next_c))
'''}

HOSTILE = "<script>alert(1)"  # a student folder name
BROKEN = "<img src=x onerror=alert(2)>\x1b[2J"  # a student folder name, and a broken notebook
FORMULA = "=HYPERLINK(evil)"
INDEPENDENT = ["alice", "bruno", "chen", FORMULA]
COPIES = [("alice", "erin"), ("bruno", HOSTILE)]
REFERENCE = ["gina", "hugo", "ines"]


def _body(source_cell: str, mode: str) -> str:
    """The reference solution's body as a student hands it in."""
    if mode == "verbatim":  # the source cell, solution markers and all
        return source_cell
    lines = [ln for ln in source_cell.splitlines() if SOLUTION[0] not in ln and SOLUTION[1] not in ln]
    text = "\n".join(lines) + "\n"
    if mode == "renamed":
        for old, new in [("next_c", "c_new"), ("tanh_c", "tc"), ("prev_h", "h_old"), ("dc", "grad_cell"),
                         ("da", "grad_act"), ("cache", "saved")]:
            text = re.sub(rf"\b{old}\b", new, text)
        text = text.replace("    a = ", "    # the gates\n    a = ")
    return text


def _notebook(release, cells: dict[str, str], before: dict[str, str] = {}, after: dict[str, str] = {}):
    """The release notebook with these exercise cells written: a body replaces the stub's
    ``raise``, or a whole cell (a key ending in ``!``) replaces the cell."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in cells:
            assert STUB in cell.source
            cell.source = before.get(gid, "") + cell.source.replace(STUB, cells[gid]) + after.get(gid, "")
        elif f"{gid}!" in cells:
            cell.source = cells[f"{gid}!"]
    return nb


@pytest.fixture(scope="module")
def reference_cells(root):
    nb = source_notebook(root / "solutions" / f"{SLUG}.md")
    return {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("solution")}


@pytest.fixture(scope="module")
def planted(root, tmp_path_factory, reference_cells):
    """A course with the planted class autograded, and its similarity report."""
    course = Course(tmp_path_factory.mktemp("course"))
    release = nbformat.read(root / "chapters" / f"{SLUG}.ipynb", as_version=4)
    (course.root / "release" / SLUG).mkdir(parents=True)
    nbformat.write(release, course.root / "release" / SLUG / f"{SLUG}.ipynb")
    hostile_bruno = dict(BRUNO, **{FWD: BRUNO[FWD].replace(
        "gates = []\n", "gates = []  # </td></tr></table><script>alert(3)</script>\n")})
    ref = lambda mode: {f"{g}!": _body(reference_cells[g], mode) for g in (FWD, BWD)}  # noqa: E731
    class_ = {
        "alice": _notebook(release, ALICE, before={FWD: ALICE_HELPERS}),
        "erin": _notebook(release, ERIN, after={FWD: ERIN_HELPERS}),
        "bruno": _notebook(release, BRUNO),
        HOSTILE: _notebook(release, hostile_bruno),
        "chen": _notebook(release, CHEN),
        FORMULA: _notebook(release, DANA),
        "gina": _notebook(release, ref("verbatim")),
        "hugo": _notebook(release, ref("plain")),
        "ines": _notebook(release, ref("renamed")),
        "jack": release,
        "kim": _notebook(release, {FWD: "    # I did not get this to work\n" + STUB}),
    }
    for student, nb in class_.items():
        folder = course.graded_dir(student, SLUG)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{SLUG}.ipynb")
    broken = course.graded_dir(BROKEN, SLUG)
    broken.mkdir(parents=True)
    (broken / f"{SLUG}.ipynb").write_text('{"cells": [', encoding="utf-8")
    linked = course.graded_dir("mallory", SLUG)
    linked.mkdir(parents=True)
    os.symlink(course.graded_dir("alice", SLUG) / f"{SLUG}.ipynb", linked / f"{SLUG}.ipynb")
    lines = []
    page = sim.similarity(course.root, log=lines.append)
    rep = sim.compare_chapter(course, SLUG, sorted(class_) + [BROKEN, "mallory"])
    return course, page, rep, lines


def _pair(rep, a, b):
    (found,) = [p for p in rep.pairs if {p.a, p.b} == {a, b}]
    return found


def _rank(rep, a, b):
    return next(n for n, p in enumerate(rep.pairs) if {p.a, p.b} == {a, b})


def test_copies_rank_above_every_pair_of_independent_solutions(planted):
    _, _, rep, _ = planted
    copies = [_pair(rep, a, b) for a, b in COPIES]
    independent = [_pair(rep, a, b) for n, a in enumerate(INDEPENDENT) for b in INDEPENDENT[n + 1:]]
    assert min(p.score for p in copies) > max(p.score for p in independent), rep.pairs[:8]
    assert {frozenset((p.a, p.b)) for p in rep.pairs[:2]} == {frozenset(c) for c in COPIES}
    assert all(p.score >= sim.THRESHOLD for p in copies)
    assert all(p.score < sim.THRESHOLD for p in independent), independent


def test_reference_submitters_match_the_reference_not_each_other(planted):
    _, page, rep, _ = planted
    matches = [s.student for s in rep.reference_matches(sim.THRESHOLD)]
    assert sorted(matches) == REFERENCE
    last_copy = max(_rank(rep, a, b) for a, b in COPIES)
    for n, a in enumerate(REFERENCE):
        for b in REFERENCE[n + 1:]:
            pair = _pair(rep, a, b)
            assert pair.raw_ab > 0.9 and pair.with_reference > 0.9  # they do share their code...
            assert pair.score < sim.THRESHOLD  # ...but it is the reference's
            assert _rank(rep, a, b) > last_copy
    text = page.read_text(encoding="utf-8")
    listed = text.split("<h3>Matches the reference solution</h3>")[1].split("</ul>")[0]
    assert all(f"<li>{s}: " in listed for s in REFERENCE)
    assert "alice" not in listed and "bruno" not in listed


def test_without_the_reference_rule_the_reference_submitters_would_pair(planted):
    """The planted class exercises the rule: with the reference's fingerprints not set apart,
    the three reference submitters rank as high as the real copies."""
    _, _, rep, _ = planted
    subs = {s.student: s for s in rep.compared}
    no_rule = sim.compare_pair(SLUG, subs["gina"], subs["hugo"], set())
    copy_pair = sim.compare_pair(SLUG, subs["alice"], subs["erin"], set())
    assert no_rule.score >= copy_pair.score


def test_blank_exercises_give_no_pair(planted):
    _, page, rep, _ = planted
    assert sorted(rep.blank) == ["jack", "kim"]
    assert not [p for p in rep.pairs if {"jack", "kim"} & {p.a, p.b}]
    compared = {s.student: s.exercises for s in rep.compared}
    assert compared[FORMULA] == [FWD]  # the backward stub left as it was is not compared
    assert compared["alice"] == [FWD, BWD]


def test_the_given_stub_is_boilerplate(root, tmp_path):
    """Two different answers written into the same stub (chapter 3's ``LSTM`` class, whose
    given skeleton is long) share nothing: the signature, docstrings and given lines of the
    stub are no fingerprints."""
    release = nbformat.read(root / "chapters" / "03_torch_lstm.ipynb", as_version=4)
    (stub,) = [c.source for c in release.cells if nbgrader_meta(c).get("grade_id") == "LSTM"]
    assert "raise NotImplementedError()" in stub
    one = stub.replace("raise NotImplementedError()", "return self.step(x, state, 'a')")
    two = stub.replace("raise NotImplementedError()", "assert x is not None, f'{x.shape} does not fit'")
    shared = lambda bp: (sim.Fingerprint.of([("", one)], bp).where.keys()  # noqa: E731
                         & sim.Fingerprint.of([("", two)], bp).where.keys())
    assert shared(set()), "the planted stub is too short to test anything"
    assert not shared(sim.kgram_hashes(stub))
    course = Course(tmp_path / "course")
    (course.root / "release" / "03_torch_lstm").mkdir(parents=True)
    nbformat.write(release, course.root / "release" / "03_torch_lstm" / "03_torch_lstm.ipynb")
    for student, code in [("one", one), ("two", two)]:
        course.graded_dir(student, "03_torch_lstm").mkdir(parents=True)
        nbformat.write(_notebook(release, {"LSTM!": code}),
                       course.graded_dir(student, "03_torch_lstm") / "03_torch_lstm.ipynb")
    rep = sim.compare_chapter(course, "03_torch_lstm", ["one", "two"])
    assert [s.student for s in rep.compared] == ["one", "two"]
    assert rep.pairs[0].raw_ab == rep.pairs[0].raw_ba == 0


def test_hostile_names_and_code_appear_only_escaped(planted):
    course, page, _, lines = planted
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<\s*script|<\s*img", text, re.I)
    assert "&lt;script&gt;alert(1)" in text  # the name, in the table and above its code
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;alert(3)" in text  # the code
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert f'<meta http-equiv="Content-Security-Policy" content="{sim.CSP}">' in text
    assert sim.CSP.startswith("default-src 'none';") and "script" not in sim.CSP
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched: renders offline
    assert not any("\x1b" in ln for ln in lines)
    rows = list(csv.reader(io.StringIO((course.root / "similarity.csv").read_text(encoding="utf-8"))))
    assert rows[0] == sim.CSV_FIELDS
    assert not [cell for row in rows for cell in row if cell[:1] in "=+-@"]
    assert "'" + FORMULA in {row[1] for row in rows} | {row[2] for row in rows}


def test_malformed_notebooks_are_skipped_with_their_reason(planted):
    _, page, rep, lines = planted
    reasons = dict(rep.skipped)
    assert "is not valid JSON" in reasons[BROKEN]
    assert "cannot be opened" in reasons["mallory"]  # a link to another's notebook
    text = page.read_text(encoding="utf-8")
    skipped = text.split("<h3>Skipped</h3>")[1].split("</ul>")[0]
    assert "mallory: " in skipped and "is not valid JSON" in skipped
    assert any("skipped mallory:" in ln for ln in lines)
    assert len(rep.compared) == 9  # everyone else was compared


def test_the_page_shows_each_copied_pair_side_by_side(planted):
    _, page, rep, _ = planted
    text = page.read_text(encoding="utf-8")
    details = re.findall(r'<h3 id="c0p\d+">(.*?)</h3>', text)
    assert len(details) == len(rep.above(sim.THRESHOLD)) == 2
    erin = text.split('<h3 id="c0p')[1:]
    block = next(b for b in erin if "erin" in b.split("</h3>")[0])
    assert '<mark class="own">' in block and "_logistic" in block and "_sigmoid" in block


def test_the_csv_and_the_summary_rank_the_copies_first(planted):
    course, _, rep, lines = planted
    rows = list(csv.DictReader(io.StringIO((course.root / "similarity.csv").read_text(encoding="utf-8"))))
    n = len(rep.compared)
    assert len(rows) == n * (n - 1) // 2
    assert {rows[0]["student_a"], rows[0]["student_b"]} in ({"alice", "erin"}, {"bruno", sim.printable(HOSTILE)})
    assert rows[0]["above_threshold"] == "yes"
    gina_hugo = next(r for r in rows if {r["student_a"], r["student_b"]} == {"gina", "hugo"})
    assert float(gina_hugo["shared_with_reference"]) > 0.9 and gina_hugo["above_threshold"] == "no"
    assert lines[0].startswith(f"{SLUG}: 9 hand-ins compared (36 pairs), 2 at or above 50%, 3 match")
    assert {"erin", "bruno"} <= {w for ln in lines[1:3] for w in ln.split()}
    assert any(ln.strip().startswith("matches the reference solution: gina") for ln in lines)


def test_normalise_is_copydetects_filter_and_maps_back(reference_cells):
    for code in list(reference_cells.values()) + [ALICE_HELPERS, "\n\n\tclass Foo(Base):\n  x = 'a' # c\n"]:
        filtered, spans = sim.normalise(code)
        assert filtered == filter_code(code, "x.py", "python")[0]
        assert len(spans) == len(filtered)
        for ch, (s, e) in zip(filtered, spans):
            if ch not in "VFOS\"":
                assert code[s:e] == ch
    filtered, spans = sim.normalise("\n\nclass Foo(Base):\n    pass\n")
    assert [code for code in ("\n\nclass Foo(Base):\n    pass\n"[s:e] for s, e in spans)][5:10] == \
        ["Foo", "(", "Base", ")", ":"]


def test_a_chapter_without_hand_ins_or_release_is_reported_not_fatal(planted, tmp_path):
    course, _, _, _ = planted
    lines = []
    page = sim.similarity(course.root, chapters=[SLUG, "99_none"], log=lines.append)
    assert "99_none: nothing graded" in lines
    assert "Not compared: nothing graded" in page.read_text(encoding="utf-8")
    # a course without its release notebook: the stubs are made from the course's source
    other = Course(tmp_path / "course")
    cell = nbformat.v4.new_code_cell('def twice(x):\n    """Two times x."""\n    ### BEGIN SOLUTION\n'
                                     '    doubled = [value * 2 for value in x]\n    return doubled\n'
                                     '    ### END SOLUTION\n')
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "twice"}
    (other.root / "source" / "99_tiny").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), other.root / "source" / "99_tiny" / "99_tiny.ipynb")
    for student, source in [("zoe", 'def twice(x):\n    """Two times x."""\n    # YOUR CODE HERE\n'
                                    '    raise NotImplementedError()'),
                            ("yuki", cell.source.replace("value", "v"))]:
        written = copy.deepcopy(cell)
        written.source = source
        other.graded_dir(student, "99_tiny").mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[written]),
                       other.graded_dir(student, "99_tiny") / "99_tiny.ipynb")
    assert not (other.root / "release").exists()
    page = sim.similarity(other.root, log=lines.append)
    assert lines[-3:-1] == ["99_tiny: 1 hand-in compared (0 pairs), 0 at or above 50%, 1 match the "
                          "reference solution, 1 with nothing written",
                          "  matches the reference solution: yuki (100%)"]
    assert lines[-1].startswith("similarity report: ") and lines[-1].endswith("similarity.html (and similarity.csv)")


@pytest.mark.parametrize("threshold", ["0", "1.5", "nan", "-0.2"])
def test_a_threshold_that_is_not_a_share_is_refused(tmp_path, capsys, threshold):
    from lstmbook import cli

    assert cli.main(["similarity", "--course", str(tmp_path / "c"), "--threshold", threshold]) == 1
    assert f"--threshold {float(threshold)}" in capsys.readouterr().err
