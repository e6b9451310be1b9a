"""Chapter 3 submissions for the autograder tests: the mistakes of a first PyTorch LSTM, each
of which must lose points in the test that names it."""
from bugs import Bug
from submissions import with_function

SLUG = "03_torch_lstm"

# The never-detached state also needs retain_graph=True to run past the first chunk.
_RETAIN = ("loss.backward()", "loss.backward(retain_graph=True)")

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "weight copy with the gates in the order i, f, o, g": Bug(
        "LSTM",
        "self.Wx.copy_(lstm.weight_ih_l0.T)",
        "self.Wx.copy_(torch.cat([lstm.weight_ih_l0.T[:, :2 * self.hidden_size], "
        "lstm.weight_ih_l0.T[:, 3 * self.hidden_size:], "
        "lstm.weight_ih_l0.T[:, 2 * self.hidden_size:3 * self.hidden_size]], dim=1))",
        "test_copy_from",
    ),
    "one bias dropped in the weight copy": Bug(
        "LSTM",
        "self.bh.copy_(lstm.bias_hh_l0)",
        "self.bh.zero_()",
        "test_copy_from",
    ),
    "sigmoid where tanh belongs": Bug(
        "lstm_cell",
        "torch.sigmoid(i) * torch.tanh(g)",
        "torch.sigmoid(i) * torch.sigmoid(g)",
        "test_lstm_cell",
    ),
    "hidden state never detached (retain_graph=True)": Bug(
        "train_chunks",
        "        if state is not None:\n            state = tuple(s.detach() for s in state)\n"
        "        scores, state = lm(x, state)",
        "        scores, state = lm(x, state)",
        "test_train_chunks",
        also=(_RETAIN,),
    ),
    "weights as plain tensors the optimizer never sees": Bug(
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
    "zero state created on the CPU": Bug(
        "LSTM",
        "            h = x.new_zeros(N, self.hidden_size)\n            c = x.new_zeros(N, self.hidden_size)",
        "            h = torch.zeros(N, self.hidden_size, dtype=x.dtype)\n"
        "            c = torch.zeros(N, self.hidden_size, dtype=x.dtype)",
        "test_lstm_forward",
    ),
    "initialised with randn instead of PyTorch's uniform": Bug(
        "LSTM",
        "            nn.init.uniform_(p, -bound, bound)",
        "            nn.init.normal_(p, 0.0, bound)",
        "test_lstm_init",
    ),
    "returned state still tied to the last chunk's graph": Bug(
        "train_chunks",
        "        losses.append(loss.item())\n    state = tuple(s.detach() for s in state)",
        "        losses.append(loss.item())",
        "test_train_chunks",
    ),
    "gradients never zeroed between chunks": Bug(
        "train_chunks",
        "        optimizer.zero_grad()\n",
        "",
        "test_train_chunks",
    ),
    "gradient clipped after the optimizer step": Bug(
        "train_chunks",
        "        torch.nn.utils.clip_grad_norm_(lm.parameters(), clip)\n        optimizer.step()",
        "        optimizer.step()\n        torch.nn.utils.clip_grad_norm_(lm.parameters(), clip)",
        "test_train_chunks",
    ),
    "state restarted from zeros at every chunk": Bug(
        "train_chunks",
        "            state = tuple(s.detach() for s in state)\n        scores, state = lm(x, state)",
        "            state = None\n        scores, state = lm(x, state)",
        "test_train_chunks",
    ),
    "loss summed over the chunk instead of averaged": Bug(
        "train_chunks",
        "y.reshape(-1))",
        "y.reshape(-1), reduction='sum')",
        "test_train_chunks",
    ),
    "forget and input gates swapped": Bug(
        "lstm_cell",
        "i, f, g, o = a.chunk(4, dim=1)",
        "f, i, g, o = a.chunk(4, dim=1)",
        "test_lstm_cell",
    ),
    "step computed on detached tensors (no gradient flows)": Bug(
        "lstm_cell",
        "a = x @ Wx + bx + prev_h @ Wh + bh",
        "a = (x @ Wx + bx + prev_h @ Wh + bh).detach()",
        "test_lstm_cell",
    ),
    "biases initialised to zero": Bug(
        "LSTM",
        "        for p in self.parameters():\n            nn.init.uniform_(p, -bound, bound)",
        "        for p in (self.Wx, self.Wh):\n            nn.init.uniform_(p, -bound, bound)\n"
        "        nn.init.zeros_(self.bx)\n        nn.init.zeros_(self.bh)",
        "test_lstm_init",
    ),
    "initialisation bound 1/sqrt(D) instead of 1/sqrt(H)": Bug(
        "LSTM",
        "        bound = 1 / math.sqrt(H)",
        "        bound = 1 / math.sqrt(D)",
        "test_lstm_init",
    ),
    "output left time-major with batch_first": Bug(
        "LSTM",
        "        if self.batch_first:\n            out = out.transpose(0, 1)\n",
        "",
        "test_lstm_forward",
    ),
    "given state ignored": Bug(
        "LSTM",
        "            h, c = state[0][0], state[1][0]",
        "            h = x.new_zeros(N, self.hidden_size)\n            c = x.new_zeros(N, self.hidden_size)",
        "test_lstm_forward",
    ),
    "zero state created in float32 on the device of x": Bug(
        "LSTM",
        "            h = x.new_zeros(N, self.hidden_size)\n            c = x.new_zeros(N, self.hidden_size)",
        "            h = torch.zeros(N, self.hidden_size, device=x.device)\n"
        "            c = torch.zeros(N, self.hidden_size, device=x.device)",
        "test_lstm_forward",
    ),
    "final states returned without the layer dimension": Bug(
        "LSTM",
        "        return out, (h[None], c[None])",
        "        return out, (h, c)",
        "test_lstm_forward",
    ),
    "given state detached inside forward (no gradient reaches h0, c0)": Bug(
        "LSTM",
        "            h, c = state[0][0], state[1][0]",
        "            h, c = state[0][0].detach(), state[1][0].detach()",
        "test_lstm_gradients",
    ),
    "copy shares memory with nn.LSTM": Bug(
        "LSTM",
        "self.Wx.copy_(lstm.weight_ih_l0.T)",
        "self.Wx.data = lstm.weight_ih_l0.data.T",
        "test_copy_from",
    ),
    "the two bias vectors swapped in the copy": Bug(
        "LSTM",
        "        self.bx.copy_(lstm.bias_ih_l0)\n        self.bh.copy_(lstm.bias_hh_l0)",
        "        self.bx.copy_(lstm.bias_hh_l0)\n        self.bh.copy_(lstm.bias_ih_l0)",
        "test_copy_from",
    ),
    # reproducible weights "for debugging": every module gets the same weights, and the
    # caller's global RNG is reset at every construction
    "init reseeds the global RNG": Bug(
        "LSTM",
        "        D, H = input_size, hidden_size\n",
        "        torch.manual_seed(0)\n        D, H = input_size, hidden_size\n",
        "test_lstm_init",
    ),
    # "the next epoch continues the stream": a call with state=None starts where the last
    # call on this model ended, instead of from zeros
    "state carried over to the next call on the model": Bug(
        "train_chunks",
        "    losses = []\n",
        "    losses = []\n    if state is None:\n        state = getattr(lm, 'carried_state', None)\n",
        "test_train_chunks",
        also=(("    return losses, state", "    lm.carried_state = state\n    return losses, state"),),
    ),
}



# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "per-gate slices and a python list of states": {
        "lstm_cell": '''
def lstm_cell(x, prev_h, prev_c, Wx, Wh, bx, bh):
    H = prev_h.shape[1]
    a = torch.addmm(bx + bh, x, Wx) + prev_h.matmul(Wh)
    i = a[:, 0:H].sigmoid()
    f = a[:, H:2 * H].sigmoid()
    g = a[:, 2 * H:3 * H].tanh()
    o = a[:, 3 * H:4 * H].sigmoid()
    next_c = f * prev_c + i * g
    return o * next_c.tanh(), next_c
''',
        "train_chunks": '''
def train_chunks(lm, chunks, optimizer, state=None, clip=5.0):
    losses = []
    for x, y in chunks:
        state = None if state is None else (state[0].detach(), state[1].detach())
        optimizer.zero_grad()
        scores, state = lm(x, state)
        loss = F.cross_entropy(scores.flatten(0, 1), y.flatten())
        loss.backward()
        nn.utils.clip_grad_norm_(list(lm.parameters()), max_norm=clip)
        optimizer.step()
        losses.append(float(loss))
    return losses, (state[0].detach(), state[1].detach())
''',
    },
}

GOOD["parameters made in another order, permute and unbind, copy through .data"] = {
    "LSTM": '''
class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        k = hidden_size ** -0.5
        G = 4 * hidden_size
        self.bh = nn.Parameter(torch.rand(G) * 2 * k - k)
        self.bx = nn.Parameter(torch.rand(G) * 2 * k - k)
        self.Wh = nn.Parameter(torch.rand(hidden_size, G) * 2 * k - k)
        self.Wx = nn.Parameter(torch.rand(input_size, G) * 2 * k - k)

    def forward(self, x, state=None):
        if self.batch_first:
            x = x.permute(1, 0, 2)
        N = x.shape[1]
        if state is None:
            h = c = torch.zeros(N, self.hidden_size, dtype=x.dtype, device=x.device)
        else:
            h, c = state[0].squeeze(0), state[1].squeeze(0)
        hs = []
        for xt in x.unbind(0):
            h, c = lstm_cell(xt, h, c, self.Wx, self.Wh, self.bx, self.bh)
            hs.append(h)
        out = torch.stack(hs, dim=1 if self.batch_first else 0)
        return out, (h.unsqueeze(0), c.unsqueeze(0))

    @torch.no_grad()
    def copy_from(self, lstm):
        for mine, theirs in ((self.Wx, lstm.weight_ih_l0.t()), (self.Wh, lstm.weight_hh_l0.t()),
                             (self.bx, lstm.bias_ih_l0), (self.bh, lstm.bias_hh_l0)):
            mine.data.copy_(theirs.data)
        return self
''',
    "lstm_cell": '''
def lstm_cell(x, prev_h, prev_c, Wx, Wh, bx, bh):
    a = F.linear(prev_h, Wh.t(), bh) + F.linear(x, Wx.t(), bx)
    i, f, g, o = a.split(prev_h.shape[1], dim=1)
    next_c = torch.addcmul(f.sigmoid() * prev_c, i.sigmoid(), g.tanh())
    return o.sigmoid() * torch.tanh(next_c), next_c
''',
    "train_chunks": '''
def train_chunks(lm, chunks, optimizer, state=None, clip=5.0):
    losses = []
    for x, y in chunks:
        optimizer.zero_grad(set_to_none=False)
        if state is not None:
            state = (state[0].detach(), state[1].detach())
        scores, state = lm(x, state)
        loss = F.cross_entropy(scores.transpose(1, 2), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], clip)
        optimizer.step()
        losses.append(loss.item())
    h, c = state
    return losses, (h.detach(), c.detach())
''',
}

# Correct too: weights drawn from a private generator seeded from torch's stream, and the
# gradients zeroed after each step instead of before the backward pass.
GOOD["private generator, gradients zeroed after the step"] = {
    "LSTM": with_function(
        SLUG, "LSTM",
        "        for p in self.parameters():\n            nn.init.uniform_(p, -bound, bound)",
        "        gen = torch.Generator().manual_seed(int(torch.randint(2 ** 62, ())))\n"
        "        with torch.no_grad():\n"
        "            for p in self.parameters():\n"
        "                p.uniform_(-bound, bound, generator=gen)"),
    "train_chunks": with_function(
        SLUG, "train_chunks",
        "        optimizer.zero_grad()\n        loss.backward()\n"
        "        torch.nn.utils.clip_grad_norm_(lm.parameters(), clip)\n        optimizer.step()\n",
        "        loss.backward()\n"
        "        torch.nn.utils.clip_grad_norm_(lm.parameters(), clip)\n        optimizer.step()\n"
        "        optimizer.zero_grad()\n"),
}
