"""The course library's language model, batches and perplexity (lstmbook.models, lstmbook.data),
and the rule that makes them a library: no chapter defines again what the package defines."""
import ast
import copy
import math

import nbformat
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course import ROOT, SLUGS
from lstmbook import data, models, tables


def test_poem_batches_pad_shift_and_shuffle_reproducibly():
    ids = [[5, 6, 7, 2], [8, 2], [9, 10, 11, 12, 2]]
    (x, y), = list(data.poem_batches(ids, batch_size=3))
    assert x.dtype == torch.int64 and x.shape == y.shape == (3, 4)
    assert x[1].tolist() == [8, 2, 0, 0] and y[1].tolist() == [2, 0, 0, 0]  # padded with index 0
    assert y[2].tolist() == [10, 11, 12, 2]  # one character ahead
    a = [b[0].tolist() for b in data.poem_batches(ids * 5, 4, seed=3)]
    assert a == [b[0].tolist() for b in data.poem_batches(ids * 5, 4, seed=3)]
    assert a != [b[0].tolist() for b in data.poem_batches(ids * 5, 4)]


def test_char_lm_shapes_state_and_padding():
    torch.manual_seed(0)
    lm = models.CharLM(V=11, D=4, H=6)
    x = torch.tensor([[1, 2, 3], [4, 5, 0]])
    scores, (h_n, c_n) = lm(x)
    assert scores.shape == (2, 3, 11) and h_n.shape == c_n.shape == (1, 2, 6)
    assert torch.equal(lm.embed.weight[data.PAD_INDEX], torch.zeros(4))
    # the state carries on: two halves with the state passed on equal one whole run
    first, state = lm(x[:, :2])
    second, _ = lm(x[:, 2:], state)
    assert torch.allclose(torch.cat([first, second], 1), scores, atol=1e-6)


def test_char_lm_takes_another_lstm_class():
    class Wrapped(nn.Module):  # any (D, H, batch_first=True) module with nn.LSTM's interface
        def __init__(self, D, H, batch_first):
            super().__init__()
            self.inner = nn.LSTM(D, H, batch_first=batch_first, num_layers=2)

        def forward(self, x, state=None):
            return self.inner(x, state)

    scores, (h, _) = models.CharLM(7, 3, 5, lstm_class=Wrapped)(torch.tensor([[1, 2]]))
    assert scores.shape == (1, 2, 7) and h.shape == (2, 1, 5)


def test_perplexity_is_exp_of_the_mean_nll_over_real_characters():
    torch.manual_seed(1)
    lm = models.CharLM(9, 3, 4, dropout=0.5)
    ids = [[1, 2, 3, 2], [4, 2], [5, 6, 7, 8, 2]]
    nll, count = 0.0, 0
    lm.eval()
    with torch.no_grad():
        for seq in ids:  # one poem at a time: no padding at all
            x, y = torch.tensor([seq[:-1]]), torch.tensor([seq[1:]])
            nll += F.cross_entropy(lm(x)[0][0], y[0], reduction="sum").item()
            count += len(seq) - 1
    lm.train()
    assert models.perplexity(lm, ids, batch_size=2) == pytest.approx(math.exp(nll / count), rel=1e-6)
    assert not lm.training  # measured with dropout off


def test_fit_batch_steps_on_the_mean_loss_of_real_characters_with_the_gradient_clipped():
    torch.manual_seed(2)
    lm = models.CharLM(9, 3, 4)
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    y = torch.tensor([[2, 3, 4, 7], [6, 8, 0, 0]])  # two padded places: not counted
    before = [p.detach().clone() for p in lm.parameters()]
    expected = F.cross_entropy(lm(x)[0][y != 0], y[y != 0]).item()  # 6 real characters only
    loss = models.fit_batch(lm, torch.optim.SGD(lm.parameters(), lr=1.0), x, y, clip=1e-3)
    assert isinstance(loss, torch.Tensor) and not loss.requires_grad
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # SGD at lr 1 moves the parameters by exactly the clipped gradient: global norm 1e-3
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(lm.parameters(), before)]).norm().item()
    assert step == pytest.approx(1e-3, rel=1e-3)
    # the gradients are zeroed first: stale ones left in .grad change nothing
    clean, stale = copy.deepcopy(lm), copy.deepcopy(lm)
    for p in stale.parameters():
        p.grad = torch.full_like(p, 1e3)
    for m in (clean, stale):
        models.fit_batch(m, torch.optim.SGD(m.parameters(), lr=1.0), x, y, clip=1e-3)
    for p, q in zip(clean.parameters(), stale.parameters()):
        assert torch.equal(p, q)


def test_spread_prints_the_mean_and_the_range_over_seeds():
    assert tables.spread([2.0, 3.0, 7.0]) == "4.0 [2.0–7.0]"
    assert tables.spread(np.array([0.1234, 0.5]), 2) == "0.31 [0.12–0.50]"
    assert tables.spread([5]) == "5.0 [5.0–5.0]"
    with pytest.raises(ValueError, match="no values"):
        tables.spread([])
    # below `small`, powers of ten: fixed decimals would print a vanished gradient as 0.000
    assert tables.spread([2e-5, 4e-5], 3, small=1e-3) == "3.0e-05 [2.0e-05–4.0e-05]"
    assert tables.spread([2e-3, 4e-3], 3, small=1e-3) == "0.003 [0.002–0.004]"


@pytest.mark.parametrize("scale", [1e3, 1e6, float("inf")])
def test_perplexity_of_a_diverged_model_is_inf_not_an_error(scale):
    """Scores so large that the mean NLL is above log(max float) (~709.8) or not finite: a
    diverged run's perplexity is inf (math.exp raised OverflowError for the first two)."""
    lm = models.CharLM(5, 2, 3)
    with torch.no_grad():
        lm.out.weight.zero_()
        lm.out.bias.copy_(torch.tensor([0.0, 0.0, -1.0, 1.0, 1.0]) * scale)  # character 2 never predicted
    assert models.perplexity(lm, [[1, 2], [3, 2]]) == math.inf


def _chapter_definitions(slug: str) -> set[str]:
    """Top-level public functions and classes that a chapter's given code defines."""
    from lstmbook.instructor import sources

    nb = sources.source_notebook(ROOT / "solutions" / f"{slug}.md")
    names = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta or cell.source.lstrip().startswith(("%%", "%")):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                  and not n.name.startswith("_")}
    return names


def _library_definitions() -> set[str]:
    names = set()
    for module in (data, models, tables):
        tree = ast.parse(open(module.__file__, encoding="utf-8").read())
        names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                  and not n.name.startswith("_")}
    return names


@pytest.mark.parametrize("slug", SLUGS)
def test_no_chapter_defines_again_what_the_library_defines(slug):
    again = _chapter_definitions(slug) & _library_definitions()
    assert not again, f"{slug} defines {sorted(again)} again: import them from lstmbook instead"


def test_chapters_five_to_seven_build_on_the_library_not_on_chapter_eight():
    for slug in SLUGS:
        if slug[:2] in ("05", "06", "07"):
            nb = nbformat.read(ROOT / "chapters" / f"{slug}.ipynb", as_version=4)
            code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
            assert "from lstmbook.models import CharLM" in code, slug
            assert "poetry_config" not in code and "PoetryLM" not in code, slug
