"""Chapter 5 submissions for the autograder tests: the mistakes of a first stacked LSTM, each of
which must lose points in the test that names it."""
from bugs import Bug

SLUG = "05_deep"

# The "fed the input" bug also needs the blocks to read `inputs`.
_FED = ("x, (h, c) = layer(x, given)", "x, (h, c) = layer(inputs, given)")

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "the same block k times (nn.ModuleList([block] * k))": Bug(
        "StackedLSTM",
        "        self.layers = nn.ModuleList(\n"
        "            nn.LSTM(input_size if l == 0 else hidden_size, hidden_size) for l in range(num_layers))",
        "        self.layers = nn.ModuleList(\n"
        "            [nn.LSTM(input_size, hidden_size)] + [nn.LSTM(hidden_size, hidden_size)] * (num_layers - 1))",
        "test_stacked_init",
    ),
    "dropout after the last layer too": Bug(
        "StackedLSTM",
        "            if l < len(self.layers) - 1:\n                x = F.dropout(x, self.dropout, self.training)",
        "            x = F.dropout(x, self.dropout, self.training)",
        "test_stacked_dropout",
    ),
    "dropout active in evaluation mode": Bug(
        "StackedLSTM",
        "x = F.dropout(x, self.dropout, self.training)",
        "x = F.dropout(x, self.dropout)",
        "test_stacked_dropout",
    ),
    "dropout without the 1/(1-p) scaling": Bug(
        "StackedLSTM",
        "x = F.dropout(x, self.dropout, self.training)",
        "x = x * (torch.rand_like(x) >= self.dropout) if self.training else x",
        "test_stacked_dropout",
    ),
    "a missing state made on the CPU in float32 (torch.zeros without device and dtype)": Bug(
        "StackedLSTM",
        "            given = None if state is None else (state[0][l:l + 1], state[1][l:l + 1])",
        "            given = ((torch.zeros(1, x.shape[1], layer.hidden_size),) * 2 if state is None\n"
        "                     else (state[0][l:l + 1], state[1][l:l + 1]))",
        "test_stacked_forward",
    ),
    "a missing state made on x's device in float32 (dtype forgotten)": Bug(
        "StackedLSTM",
        "            given = None if state is None else (state[0][l:l + 1], state[1][l:l + 1])",
        "            given = ((torch.zeros(1, x.shape[1], layer.hidden_size, device=x.device),) * 2 if state is None\n"
        "                     else (state[0][l:l + 1], state[1][l:l + 1]))",
        "test_stacked_forward",
    ),
    "final states stacked last layer first": Bug(
        "StackedLSTM",
        "return x, (torch.cat(hs), torch.cat(cs))",
        "return x, (torch.cat(hs[::-1]), torch.cat(cs[::-1]))",
        "test_stacked_forward",
    ),
    "every layer fed the input instead of the layer below's output": Bug(
        "StackedLSTM",
        "        hs, cs = [], []\n        for l, layer in enumerate(self.layers):",
        "        hs, cs = [], []\n        inputs = x\n        for l, layer in enumerate(self.layers):",
        "test_stacked_forward",
        also=(_FED,),
    ),
    "every layer started from layer 0's initial state": Bug(
        "StackedLSTM",
        "(state[0][l:l + 1], state[1][l:l + 1])",
        "(state[0][:1], state[1][:1])",
        "test_stacked_forward",
    ),
    "tied module with a new block per layer (nothing shared)": Bug(
        "TiedLSTM",
        "[self.first] + [self.shared] * (num_layers - 1)",
        "[self.first] + [self.shared] + [nn.LSTM(hidden_size, hidden_size) for _ in range(num_layers - 2)]",
        "test_tied",
    ),
    "tied module that runs the shared block once": Bug(
        "TiedLSTM",
        "[self.first] + [self.shared] * (num_layers - 1)",
        "[self.first, self.shared]",
        "test_tied",
    ),
    "the layer below's output detached": Bug(
        "StackedLSTM",
        "x = F.dropout(x, self.dropout, self.training)",
        "x = F.dropout(x, self.dropout, self.training).detach()",
        "test_stacked_gradients",
    ),
    "output left time-major with batch_first": Bug(
        "StackedLSTM",
        "        if self.batch_first:\n            x = x.transpose(0, 1)\n        return",
        "        return",
        "test_stacked_forward",
    ),
    "copy_from hands the blocks nn.LSTM's own tensors": Bug(
        "StackedLSTM",
        'getattr(layer, f"{name}_l0").copy_(getattr(lstm, f"{name}_l{l}"))',
        'setattr(layer, f"{name}_l0", getattr(lstm, f"{name}_l{l}"))',
        "test_stacked_init",
    ),
    "dropout before every layer, the input too": Bug(
        "StackedLSTM",
        "            x, (h, c) = layer(x, given)\n            hs.append(h)\n            cs.append(c)\n"
        "            if l < len(self.layers) - 1:\n                x = F.dropout(x, self.dropout, self.training)",
        "            x = F.dropout(x, self.dropout, self.training)\n            x, (h, c) = layer(x, given)\n"
        "            hs.append(h)\n            cs.append(c)",
        "test_stacked_dropout",
    ),
    "tied copy_from takes the last layer for the shared block": Bug(
        "TiedLSTM",
        "((self.first, 0), (self.shared, 1))",
        "((self.first, 0), (self.shared, self.num_layers - 1))",
        "test_tied",
    ),
}



# Correct answers written differently from the reference: they keep full marks. The first
# draws its dropout masks batch-first with an nn.Dropout module (other random numbers than
# nn.LSTM's, the same distribution); the second runs its shared block in a loop of its own
# and draws masks with torch.rand_like.
GOOD = {
    "batch-first blocks, nn.Dropout, stacked states, load_state_dict": {
        "StackedLSTM": '''
class StackedLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0, batch_first=False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.batch_first = dropout, batch_first
        self.layers = nn.ModuleList()
        size = input_size
        for _ in range(num_layers):
            self.layers.append(nn.LSTM(size, hidden_size, batch_first=True))
            size = hidden_size
        self.drop = nn.Dropout(dropout)

    def forward(self, x, state=None):
        out = x if self.batch_first else x.transpose(0, 1)
        h_list, c_list = [], []
        for l in range(self.num_layers):
            if l > 0:
                out = self.drop(out)
            if state is None:
                out, (h, c) = self.layers[l](out)
            else:
                out, (h, c) = self.layers[l](out, (state[0][l].unsqueeze(0), state[1][l].unsqueeze(0)))
            h_list.append(h.squeeze(0))
            c_list.append(c.squeeze(0))
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, (torch.stack(h_list), torch.stack(c_list))

    @torch.no_grad()
    def copy_from(self, lstm):
        for l, block in enumerate(self.layers):
            suffix = f"_l{l}"
            block.load_state_dict({name[:-len(suffix)] + "_l0": value.clone()
                                   for name, value in lstm.state_dict().items() if name.endswith(suffix)})
        return self
''',
        "TiedLSTM": '''
class TiedLSTM(StackedLSTM):
    def __init__(self, input_size, hidden_size, num_layers=2, dropout=0.0, batch_first=False):
        nn.Module.__init__(self)
        if num_layers < 2:
            raise ValueError("at least 2 layers")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.batch_first = dropout, batch_first
        self.first = nn.LSTM(input_size, hidden_size)
        self.shared = nn.LSTM(hidden_size, hidden_size)

    def forward(self, x, state=None):
        if self.batch_first:
            x = x.transpose(0, 1)
        hs, cs = [], []
        for l in range(self.num_layers):
            block = self.first if l == 0 else self.shared
            if l > 0 and self.training and self.dropout > 0:
                x = x * (torch.rand_like(x) > self.dropout).to(x.dtype) / (1 - self.dropout)
            x, (h, c) = block(x, None if state is None else (state[0][l:l + 1], state[1][l:l + 1]))
            hs.append(h)
            cs.append(c)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (torch.cat(hs, 0), torch.cat(cs, 0))

    @torch.no_grad()
    def copy_from(self, lstm):
        for name, p in self.first.named_parameters():
            p.copy_(getattr(lstm, name))
        for name, p in self.shared.named_parameters():
            p.copy_(getattr(lstm, name.replace("_l0", "_l1")))
        return self
''',
    },
}


# A tied module with a loop of its own that forgets dropout between the runs of its blocks.
_TIED_NO_DROPOUT = GOOD["batch-first blocks, nn.Dropout, stacked states, load_state_dict"]["TiedLSTM"].replace(
    "            if l > 0 and self.training and self.dropout > 0:\n"
    "                x = x * (torch.rand_like(x) > self.dropout).to(x.dtype) / (1 - self.dropout)\n", "")
assert _TIED_NO_DROPOUT.count("rand_like") == 0
BUGS["tied module without dropout between its runs"] = Bug.whole({"TiedLSTM": _TIED_NO_DROPOUT}, "test_tied")


# Dropout masks that do not change from call to call: one statistical call cannot tell them
# from correct ones, a second call can.
BUGS["dropout masks drawn once and kept for every call"] = Bug(
    "StackedLSTM",
    "            if l < len(self.layers) - 1:\n                x = F.dropout(x, self.dropout, self.training)",
    "            if l < len(self.layers) - 1 and self.training:\n"
    "                masks = self.__dict__.setdefault('_masks', {})\n"
    "                if l not in masks or masks[l].shape != x.shape:\n"
    "                    masks[l] = F.dropout(torch.ones_like(x), self.dropout, True)\n"
    "                x = x * masks[l]",
    "test_stacked_dropout",
)
BUGS["dropout reseeded at every call"] = Bug(
    "StackedLSTM",
    "        hs, cs = [], []\n",
    "        torch.manual_seed(0)  # reproducible dropout\n        hs, cs = [], []\n",
    "test_stacked_dropout",
)
_TIED_RESEEDED = GOOD["batch-first blocks, nn.Dropout, stacked states, load_state_dict"]["TiedLSTM"].replace(
    "        hs, cs = [], []\n",
    "        gen = torch.Generator().manual_seed(0)  # reproducible dropout\n        hs, cs = [], []\n").replace(
    "(torch.rand_like(x) > self.dropout)",
    "(torch.rand(x.shape, generator=gen, dtype=x.dtype) > self.dropout)")
assert _TIED_RESEEDED.count("generator=gen") == 1
BUGS["tied module reseeds its dropout generator at every call"] = Bug.whole({"TiedLSTM": _TIED_RESEEDED}, "test_tied")
