"""Chapter 9 submissions for the autograder tests: the mistakes of a first look inside a trained
LSTM, each of which must lose points in the test that names it, and correct answers written
differently, which must keep full marks."""
from bugs import Bug

SLUG = "09_inside"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    # lstm_trace
    "gates read in the order i, g, f, o": Bug(
        "lstm_trace",
        "torch.sigmoid(a[:, H:2 * H]), torch.tanh(a[:, 2 * H:3 * H])",
        "torch.sigmoid(a[:, 2 * H:3 * H]), torch.tanh(a[:, H:2 * H])",
        "test_lstm_trace",
    ),
    "c recorded before its update (c_{t-1} instead of c_t)": Bug(
        "lstm_trace",
        "        c = f * c + i * g\n",
        "        c_prev = c\n        c = f * c + i * g\n",
        "test_lstm_trace",
        also=(("zip(\"hcifgo\", (h, c, i, f, g, o))", "zip(\"hcifgo\", (h, c_prev, i, f, g, o))"),),
    ),
    "h and c swapped in the returned trace": Bug(
        "lstm_trace",
        "zip(\"hcifgo\", (h, c, i, f, g, o))",
        "zip(\"hcifgo\", (c, h, i, f, g, o))",
        "test_lstm_trace",
    ),
    "one bias only (bias_hh_l0 forgotten)": Bug(
        "lstm_trace",
        "b = lstm.bias_ih_l0 + lstm.bias_hh_l0",
        "b = lstm.bias_ih_l0",
        "test_lstm_trace",
    ),
    "h = o * c, the tanh forgotten": Bug(
        "lstm_trace",
        "h = o * torch.tanh(c)",
        "h = o * c",
        "test_lstm_trace",
    ),
    "a given initial state ignored": Bug(
        "lstm_trace",
        "h, c = state[0][0], state[1][0]",
        "h, c = x.new_zeros(N, H), x.new_zeros(N, H)",
        "test_lstm_trace",
    ),
    # cell_correlations
    "correlation without centring (cosine similarity)": Bug(
        "cell_correlations",
        "    a = a - a.mean(0)\n    z = z - z.mean()\n",
        "",
        "test_cell_correlations",
    ),
    "padding counted (mask ignored)": Bug(
        "cell_correlations",
        "a = acts[mask].double()",
        "a = acts.reshape(-1, acts.shape[-1]).double()",
        "test_cell_correlations",
        also=(("z = target[mask].double()", "z = target.reshape(-1).double()"),),
    ),
    "activations centred by their mean over every position, padding included": Bug(
        "cell_correlations",
        "    a = acts[mask].double()  # (M, H)\n    z = target[mask].double()  # (M,)\n    a = a - a.mean(0)\n",
        "    a = (acts.double() - acts.double().mean((0, 1)))[mask]\n    z = target[mask].double()  # (M,)\n",
        "test_cell_correlations",
    ),
    "nan for a cell that does not vary": Bug(
        "cell_correlations",
        "return torch.where(norm > 0, cov / torch.where(norm > 0, norm, 1.0), torch.zeros_like(cov))",
        "return cov / norm",
        "test_cell_correlations",
    ),
    # hidden_gradient_norms
    "state detached between steps (truncated backpropagation)": Bug(
        "hidden_gradient_norms",
        "        hs.append(state[0])",
        "        state = tuple(s.detach().requires_grad_() for s in state)\n        hs.append(state[0])",
        "test_hidden_gradient_norms",
        also=(("torch.autograd.grad(loss, hs)", "torch.autograd.grad(loss, hs, allow_unused=True, materialize_grads=True)"),),
    ),
    "loss averaged over the batch": Bug(
        "hidden_gradient_norms",
        'reduction="sum"',
        'reduction="mean"',
        "test_hidden_gradient_norms",
    ),
    "one norm per step over the whole batch": Bug(
        "hidden_gradient_norms",
        "g.norm(dim=1)",
        "g.norm().expand(N)",
        "test_hidden_gradient_norms",
    ),
    "steps returned last first (distance back instead of t)": Bug(
        "hidden_gradient_norms",
        "return torch.stack([g.norm(dim=1) for g in grads], dim=1)",
        "return torch.stack([g.norm(dim=1) for g in grads], dim=1).flip(1)",
        "test_hidden_gradient_norms",
    ),
    "loss of every step instead of the last": Bug(
        "hidden_gradient_norms",
        'loss = F.cross_entropy(model.out(state[0]), y, reduction="sum")',
        'loss = sum(F.cross_entropy(model.out(h), y, reduction="sum") for h in hs)',
        "test_hidden_gradient_norms",
    ),
}


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "one product per gate with F.linear, preallocated traces, squeeze for the state": {
        "lstm_trace": '''
def lstm_trace(lstm, x, state=None):
    W_ih, W_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    b_ih, b_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
    H = W_hh.shape[1]
    N, T, D = x.shape
    if state is None:
        h = torch.zeros(N, H, dtype=x.dtype, device=x.device)
        c = torch.zeros(N, H, dtype=x.dtype, device=x.device)
    else:
        h, c = state[0].squeeze(0), state[1].squeeze(0)
    out = {k: x.new_empty(N, T, H) for k in "hcifgo"}
    for t in range(T):
        gates = {}
        for k, name in enumerate("ifgo"):
            rows = slice(k * H, (k + 1) * H)
            pre = F.linear(x[:, t], W_ih[rows], b_ih[rows]) + F.linear(h, W_hh[rows], b_hh[rows])
            gates[name] = torch.tanh(pre) if name == "g" else torch.sigmoid(pre)
        c = gates["f"] * c + gates["i"] * gates["g"]
        h = gates["o"] * torch.tanh(c)
        out["h"][:, t], out["c"][:, t] = h, c
        for name, v in gates.items():
            out[name][:, t] = v
    return out
''',
    },
    "time-major loop, chunk and unbind": {
        "lstm_trace": '''
def lstm_trace(lstm, x, state=None):
    H = lstm.weight_hh_l0.shape[1]
    xs = x.transpose(0, 1)  # (T, N, D): one step per row
    proj = xs @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0  # the input's share, all steps at once
    h = xs.new_zeros(x.shape[0], H) if state is None else state[0][0]
    c = xs.new_zeros(x.shape[0], H) if state is None else state[1][0]
    rows = []
    for p in proj.unbind(0):
        ai, af, ag, ao = (p + h @ lstm.weight_hh_l0.T).chunk(4, dim=1)
        i, f, g, o = ai.sigmoid(), af.sigmoid(), ag.tanh(), ao.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        rows.append((h, c, i, f, g, o))
    return {k: torch.stack([r[n] for r in rows], 1) for n, k in enumerate("hcifgo")}
''',
    },
    "np.corrcoef cell by cell": {
        "cell_correlations": '''
def cell_correlations(acts, target, mask):
    m = np.asarray(mask, dtype=bool)
    a = np.asarray(acts.detach(), dtype=np.float64)[m]
    z = np.asarray(target, dtype=np.float64)[m]
    r = np.zeros(a.shape[1])
    for j in range(a.shape[1]):
        if a[:, j].std() > 0 and z.std() > 0:
            r[j] = np.corrcoef(a[:, j], z)[0, 1]
    return torch.from_numpy(r)
''',
    },
    "unbiased covariance and standard deviations, masked by weights": {
        "cell_correlations": '''
def cell_correlations(acts, target, mask):
    w = mask.double()[..., None]  # (N, T, 1): 1 where a position counts
    n = w.sum()
    a = acts.double()
    z = target.double()[..., None]
    ma, mz = (w * a).sum((0, 1)) / n, (w * z).sum((0, 1)) / n
    cov = (w * (a - ma) * (z - mz)).sum((0, 1)) / (n - 1)
    sa = ((w * (a - ma) ** 2).sum((0, 1)) / (n - 1)).sqrt()
    sz = ((w * (z - mz) ** 2).sum((0, 1)) / (n - 1)).sqrt()
    r = cov / (sa * sz)
    return torch.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
''',
    },
    "zero taps added to the state, retain the graph through backward": {
        "hidden_gradient_norms": '''
def hidden_gradient_norms(model, x, y):
    N, T = x.shape
    emb = model.embed(x)
    state = zero_state(model.lstm, N, emb)
    taps = []
    for t in range(T):
        state = rnn_step(model.lstm, emb[:, t], state)
        tap = torch.zeros_like(state[0], requires_grad=True)
        state = (state[0] + tap,) + tuple(state[1:])
        taps.append(tap)
    losses = F.cross_entropy(model.out(state[0]), y, reduction="none")
    losses.sum().backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([tap.grad.norm(dim=-1) for tap in taps], 1)
''',
    },
}
