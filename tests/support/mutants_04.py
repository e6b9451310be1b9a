"""Chapter 4 submissions for the autograder tests: "fast" LSTMs that are not, or not right."""
from bugs import Bug

SLUG = "04_speed"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "hoisted projection that forgets the bias": Bug(
        "lstm_fast",
        "xw = torch.addmm(b, x.transpose(0, 1).reshape(T * N, D), Wx).view(T, N, 4 * H)",
        "xw = (x.transpose(0, 1).reshape(T * N, D) @ Wx).view(T, N, 4 * H)",
        "test_lstm_fast_parity",
    ),
    "batch-first x read as if it were time-major": Bug(
        "lstm_fast",
        "x.transpose(0, 1).reshape(T * N, D)",
        "x.reshape(T * N, D)",
        "test_lstm_fast_parity",
    ),
    "hidden states returned time-major": Bug(
        "lstm_fast",
        "torch.stack(hs, dim=1)",
        "torch.stack(hs)",
        "test_lstm_fast_parity",
    ),
    "a fast LSTM that silently runs in float64": Bug(
        "lstm_fast",
        "prev_h, prev_c, hs = h0, c0, []",
        "prev_h, prev_c, hs = h0.double(), c0.double(), []",
        "test_lstm_fast_structure",
    ),
    "bottleneck taken from the first row instead of the largest": Bug(
        "bottleneck",
        "if best is None or share > best[1]:",
        "if best is None:",
        "test_bottleneck",
    ),
    "bottleneck share returned as a string": Bug(
        "bottleneck",
        "share = float(cells[share_col].rstrip(\"%\"))",
        "share = cells[share_col]",
        "test_bottleneck",
    ),
}

PER_GATE = '''
def lstm_fast(x, h0, c0, Wx, Wh, b):
    H = h0.shape[1]
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        i = torch.sigmoid(x[:, t] @ Wx[:, :H] + h @ Wh[:, :H] + b[:H])
        f = torch.sigmoid(x[:, t] @ Wx[:, H:2 * H] + h @ Wh[:, H:2 * H] + b[H:2 * H])
        g = torch.tanh(x[:, t] @ Wx[:, 2 * H:3 * H] + h @ Wh[:, 2 * H:3 * H] + b[2 * H:3 * H])
        o = torch.sigmoid(x[:, t] @ Wx[:, 3 * H:] + h @ Wh[:, 3 * H:] + b[3 * H:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs, dim=1), h, c
'''

# a "fast" LSTM that still issues one matrix product per gate: correct numbers, wrong structure
BUGS["a fast LSTM that still issues one matmul per gate"] = Bug.whole({"lstm_fast": PER_GATE}, "test_lstm_fast_structure")


GOOD = {
    # batch first throughout: the steps read as strided slices, no transpose
    "matmul and split instead of addmm and chunk": {
        "lstm_fast": '''
def lstm_fast(x, h0, c0, Wx, Wh, b):
    N, T, D = x.shape
    H = h0.shape[1]
    proj = (torch.matmul(x.reshape(-1, D), Wx) + b).reshape(N, T, -1)
    h, c = h0, c0
    hs = []
    for p in torch.unbind(proj, dim=1):
        z = p + h @ Wh
        zi, zf, zg, zo = torch.split(z, H, dim=1)
        c = zf.sigmoid() * c + zi.sigmoid() * zg.tanh()
        h = zo.sigmoid() * c.tanh()
        hs.append(h)
    return torch.stack(hs, dim=1), h, c
''',
    },
}

# The structural check accepts every formulation that issues the same products.
GOOD["einsum for both products"] = {"lstm_fast": '''
def lstm_fast(x, h0, c0, Wx, Wh, b):
    N, T, D = x.shape
    xw = torch.einsum("ntd,dg->tng", x, Wx) + b  # time-major out of the einsum
    h, c, hs = h0, c0, []
    for t in range(T):
        i, f, g, o = (xw[t] + torch.einsum("nh,hg->ng", h, Wh)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs).transpose(0, 1), h, c
'''}
GOOD["F.linear with the transposed weights"] = {"lstm_fast": '''
def lstm_fast(x, h0, c0, Wx, Wh, b):
    xw = torch.nn.functional.linear(x, Wx.T, b).transpose(0, 1)  # (T, N, 4H), a view
    h, c, hs = h0, c0, []
    for xw_t in xw.unbind(0):
        i, f, g, o = (xw_t + torch.nn.functional.linear(h, Wh.T)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs, dim=1), h, c
'''}
