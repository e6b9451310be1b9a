"""The numbers chapter 1's formulas are checked on: a small LSTM language model run forward
in float64 with PyTorch and differentiated by autograd, its values and gradients stored
under the chapter's names in a :class:`lstmbook.formulas.Env`."""
from __future__ import annotations

import numpy as np

from .formulas import Env, FormulaError


def lstm_env(N: int = 3, T: int = 4, D: int = 5, H: int = 6, V: int = 7, seed: int = 0) -> Env:
    """A small LSTM language model (embedding, LSTM, output layer, softmax cross-entropy,
    mean over the N*T tokens), run forward in float64 with PyTorch and differentiated by
    autograd. Returns every forward value and every gradient under the chapter's names.

    The LSTM's hidden states are checked against ``torch.nn.LSTM`` with the same weights,
    so the forward equations are not only checked against themselves.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
    E, Wx, Wh, b = rnd(V, D), rnd(D, 4 * H) * 0.5, rnd(H, 4 * H) * 0.5, rnd(4 * H)
    Wy, by = rnd(H, V), rnd(V)
    h0, c0 = rnd(N, H), rnd(N, H)
    words = torch.randint(V, (N, T), generator=g)
    targets = torch.randint(V, (N, T), generator=g)
    leaves = [E, Wx, Wh, b, Wy, by, h0, c0]
    for p in leaves:
        p.requires_grad_(True)

    names = ["X", "Y", "x", "a", "\\bar{i}", "\\bar{f}", "\\bar{g}", "\\bar{o}", "i", "f", "g", "o",
             "c", "h", "s", "\\hat{y}"]
    val = {k: {} for k in names}
    h, c, loss = h0, c0, 0.0
    val["h"][0], val["c"][0] = h0, c0
    eye = torch.eye(V, dtype=torch.float64)
    for t in range(1, T + 1):
        X, Y = eye[words[:, t - 1]], eye[targets[:, t - 1]]
        x = X @ E
        a = x @ Wx + h @ Wh + b
        ai, af, ag, ao = a.split(H, dim=1)
        i, f, gg, o = ai.sigmoid(), af.sigmoid(), ag.tanh(), ao.sigmoid()
        c = f * c + i * gg
        h = o * c.tanh()
        s = h @ Wy + by
        yhat = s.softmax(dim=1)
        loss = loss - (Y * yhat.log()).sum() / (N * T)
        for k, v in zip(names, [X, Y, x, a, ai, af, ag, ao, i, f, gg, o, c, h, s, yhat]):
            if v.requires_grad:
                v.retain_grad()
            val[k][t] = v
    loss.backward()

    ref = torch.nn.LSTM(D, H, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(Wx.T)
        ref.weight_hh_l0.copy_(Wh.T)
        ref.bias_ih_l0.copy_(b)
        ref.bias_hh_l0.zero_()
        xs = torch.stack([val["x"][t] for t in range(1, T + 1)])
        out, _ = ref(xs, (h0[None], c0[None]))
    mine = torch.stack([val["h"][t] for t in range(1, T + 1)])
    if not torch.allclose(out, mine, rtol=1e-12, atol=1e-12):
        raise FormulaError("the reference forward pass differs from torch.nn.LSTM")

    npy = lambda v: v.detach().numpy().copy()
    seq = {k: {t: npy(v) for t, v in tab.items()} for k, tab in val.items()}
    for k in ["x", "a", "\\bar{i}", "\\bar{f}", "\\bar{g}", "\\bar{o}", "i", "f", "g", "o", "c", "h", "s"]:
        seq["\\delta " + k] = {t: npy(v.grad) for t, v in val[k].items() if t >= 1}
    seq["\\delta h"][0], seq["\\delta c"][0] = npy(h0.grad), npy(c0.grad)
    # after the last step nothing flows back: zero gradients and (unused) zero gates
    for k in ["\\delta a", "\\delta c", "\\delta h", "f", "i", "g", "o"]:
        seq[k][T + 1] = np.zeros_like(seq[k][T])

    # local (partial) derivatives of one equation with its inputs held fixed: elementwise
    # functions have diagonal Jacobians, and the diagonal is the gradient of the sum
    def local(fn, *inputs):
        xs = [torch.tensor(v, requires_grad=True) for v in inputs]
        fn(*xs).sum().backward()
        return [x.grad.numpy().copy() for x in xs]

    d = {}
    for t in range(1, T + 1):
        o_, c_, f_, i_, g_ = (seq[k][t] for k in ("o", "c", "f", "i", "g"))
        cp = seq["c"][t - 1]
        dho, dhc = local(lambda o, c: o * c.tanh(), o_, c_)
        dcf, dcp, dci, dcg = local(lambda f, cp, i, g: f * cp + i * g, f_, cp, i_, g_)
        loc = {
            "\\frac{\\partial h_t}{\\partial o_t}": dho,
            "\\frac{\\partial h_t}{\\partial c_t}": dhc,
            "\\frac{\\partial c_t}{\\partial f_t}": dcf,
            "\\frac{\\partial c_t}{\\partial c_{t-1}}": dcp,
            "\\frac{\\partial c_t}{\\partial i_t}": dci,
            "\\frac{\\partial c_t}{\\partial g_t}": dcg,
        }
        for gate, fn in (("i", torch.sigmoid), ("f", torch.sigmoid), ("g", torch.tanh), ("o", torch.sigmoid)):
            (loc["\\frac{\\partial %s_t}{\\partial \\bar{%s}_t}" % (gate, gate)],) = local(fn, seq["\\bar{%s}" % gate][t])
        for k, v in loc.items():
            d.setdefault(k, {})[t] = v
    seq.update(d)

    fixed = {"E": npy(E), "W_x": npy(Wx), "W_h": npy(Wh), "b": npy(b), "W_y": npy(Wy), "b_y": npy(by),
             "N": float(N), "T": float(T), "V": float(V), "L": loss.item(),
             "\\mathbf{1}_N": np.ones(N), "\\mathbf{1}_V": np.ones(V)}
    for name, p in zip(["E", "W_x", "W_h", "b", "W_y", "b_y"], leaves):
        fixed["\\frac{\\partial L}{\\partial %s}" % name] = npy(p.grad)
    return Env(seq=seq, fixed=fixed, T=T)
