"""Chapter 3 submissions for the autograder tests: the mistakes of a first PyTorch LSTM, each
of which must lose points in the test that names it."""
from submissions import planted

SLUG = "03_torch_lstm"

# name -> (grade_id of the exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "weight copy with the gates in the order i, f, o, g": (
        "LSTM",
        "self.Wx.copy_(lstm.weight_ih_l0.T)",
        "self.Wx.copy_(torch.cat([lstm.weight_ih_l0.T[:, :2 * self.hidden_size], "
        "lstm.weight_ih_l0.T[:, 3 * self.hidden_size:], "
        "lstm.weight_ih_l0.T[:, 2 * self.hidden_size:3 * self.hidden_size]], dim=1))",
        "test_copy_from",
    ),
    "one bias dropped in the weight copy": (
        "LSTM",
        "self.bh.copy_(lstm.bias_hh_l0)",
        "self.bh.zero_()",
        "test_copy_from",
    ),
    "sigmoid where tanh belongs": (
        "lstm_cell",
        "torch.sigmoid(i) * torch.tanh(g)",
        "torch.sigmoid(i) * torch.sigmoid(g)",
        "test_lstm_cell",
    ),
    "hidden state never detached (retain_graph=True)": (
        "train_chunks",
        "        if state is not None:\n            state = tuple(s.detach() for s in state)\n"
        "        scores, state = lm(inputs, state)",
        "        scores, state = lm(inputs, state)",
        "test_train_chunks",
    ),
    "weights as plain tensors the optimizer never sees": (
        "LSTM",
        "        self.Wx = nn.Parameter(torch.empty(D, 4 * H))\n"
        "        self.Wh = nn.Parameter(torch.empty(H, 4 * H))\n"
        "        self.bx = nn.Parameter(torch.empty(4 * H))\n"
        "        self.bh = nn.Parameter(torch.empty(4 * H))\n"
        "        bound = 1 / math.sqrt(H)\n"
        "        for p in self.parameters():\n"
        "            nn.init.uniform_(p, -bound, bound)",
        "        bound = 1 / math.sqrt(H)\n"
        "        self.Wx = torch.empty(D, 4 * H).uniform_(-bound, bound).requires_grad_()\n"
        "        self.Wh = torch.empty(H, 4 * H).uniform_(-bound, bound).requires_grad_()\n"
        "        self.bx = torch.empty(4 * H).uniform_(-bound, bound).requires_grad_()\n"
        "        self.bh = torch.empty(4 * H).uniform_(-bound, bound).requires_grad_()",
        "test_lstm_init",
    ),
    "zero state created on the CPU": (
        "LSTM",
        "            h = x.new_zeros(N, self.hidden_size)\n            c = x.new_zeros(N, self.hidden_size)",
        "            h = torch.zeros(N, self.hidden_size, dtype=x.dtype)\n"
        "            c = torch.zeros(N, self.hidden_size, dtype=x.dtype)",
        "test_lstm_forward",
    ),
    "initialised with randn instead of PyTorch's uniform": (
        "LSTM",
        "            nn.init.uniform_(p, -bound, bound)",
        "            nn.init.normal_(p, 0.0, bound)",
        "test_lstm_init",
    ),
}

# The never-detached state also needs retain_graph=True to run past the first chunk.
_RETAIN = ("loss.backward()", "loss.backward(retain_graph=True)")


def bug_submission(name: str) -> dict[str, str]:
    cells = planted(SLUG, BUGS[name])
    if "retain_graph" in name:
        cells = {gid: code.replace(*_RETAIN) for gid, code in cells.items()}
    return cells


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "per-gate slices and a python list of states": {
        "lstm_cell": '''
def lstm_cell(x, h, c, Wx, Wh, bx, bh):
    H = h.shape[1]
    a = torch.addmm(bx + bh, x, Wx) + h.matmul(Wh)
    i = a[:, 0:H].sigmoid()
    f = a[:, H:2 * H].sigmoid()
    g = a[:, 2 * H:3 * H].tanh()
    o = a[:, 3 * H:4 * H].sigmoid()
    c = f * c + i * g
    return o * c.tanh(), c
''',
        "train_chunks": '''
def train_chunks(lm, chunks, optimizer, state=None, clip=5.0):
    losses = []
    for inputs, targets in chunks:
        state = None if state is None else (state[0].detach(), state[1].detach())
        optimizer.zero_grad()
        scores, state = lm(inputs, state)
        loss = F.cross_entropy(scores.flatten(0, 1), targets.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(list(lm.parameters()), max_norm=clip)
        optimizer.step()
        losses.append(float(loss))
    return losses, (state[0].detach(), state[1].detach())
''',
    },
}
