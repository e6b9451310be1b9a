"""Chapter 8 submissions for the autograder tests: the usual mistakes of a perplexity metric
and of a sampler."""
from bugs import Bug

SLUG = "08_poetry"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "perplexity counts the padding": Bug(
        "Perplexity",
        "        self.nll += nll[mask].sum().item()\n        self.tokens += int(mask.sum().item())",
        "        self.nll += nll.sum().item()\n        self.tokens += nll.numel()",
        "test_perplexity",
    ),
    "perplexity averaged per batch instead of per token": Bug(
        "Perplexity",
        "        self.nll += nll[mask].sum().item()\n        self.tokens += int(mask.sum().item())",
        "        self.nll += nll[mask].mean().item()\n        self.tokens += 1",
        "test_perplexity",
    ),
    "temperature applied after the softmax": Bug(
        "sample",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))",
        "            index = int(torch.multinomial(torch.softmax(scores * temperature, dim=-1) / temperature, 1,"
        " generator=generator))",
        "test_sample_distribution",
    ),
    "sampling ignores the seed": Bug(
        "sample",
        "torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)",
        "torch.multinomial(torch.softmax(scores, dim=-1), 1)",
        "test_sample_seed",
    ),
    "top-k taken before the banned tokens are removed": Bug(
        "sample",
        "        scores[banned] = -math.inf\n        if temperature == 0:",
        "        if top_k is not None and temperature != 0:\n"
        "            kth = scores.topk(top_k).values[-1]\n"
        "            scores = scores.masked_fill(scores < kth, -math.inf)\n"
        "            top_k = None\n"
        "        scores[banned] = -math.inf\n        if temperature == 0:",
        "test_sample_basics",
    ),
    "the generator is seeded again at every step": Bug(
        "sample",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1,"
        " generator=torch.Generator().manual_seed(seed)))",
        "test_sample_seed",
    ),
    "reset() forgets the log-likelihood but not the token count": Bug(
        "Perplexity",
        "        self.tokens += int(mask.sum().item())",
        "        self._count = getattr(self, '_count', 0) + int(mask.sum().item())\n"
        "        self.tokens += int(mask.sum().item()) - self.tokens.get_scalar() + self._count",
        "test_perplexity",
    ),
    "the end token is returned as a character": Bug(
        "sample",
        "        if index == eos:\n            break\n",
        "",
        "test_sample_basics",
    ),
    # a metric object is reused: fastNLP resets it before every evaluation
    "get_metric() clears the sums": Bug(
        "Perplexity",
        '        return {"ppl": math.exp(self.nll.get_scalar() / self.tokens.get_scalar())}',
        '        ppl = math.exp(self.nll.get_scalar() / self.tokens.get_scalar())\n'
        '        self.nll, self.tokens = 0.0, 0\n'
        '        return {"ppl": ppl}',
        "test_perplexity",
    ),
    # randomness over several steps and calls
    "the seed is ignored (a generator seeded with 0)": Bug(
        "sample",
        "generator = torch.Generator().manual_seed(seed)",
        "generator = torch.Generator().manual_seed(0)",
        "test_sample_seed",
    ),
    "one generator for every call, seeded by the first": Bug(
        "sample",
        "generator = torch.Generator().manual_seed(seed)",
        'generator = sample.__dict__.setdefault("generator", torch.Generator().manual_seed(seed))',
        "test_sample_seed",
    ),
    "sampling feeds the start character back at every step": Bug(
        "sample",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))\n"
        "        if index == eos:\n            break\n        poem.append(vocab.to_word(index))",
        "            drawn = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))\n"
        "            if drawn == eos:\n                break\n            poem.append(vocab.to_word(drawn))\n"
        "            continue\n"
        "        if index == eos:\n            break\n        poem.append(vocab.to_word(index))",
        "test_sample_distribution",
    ),
    # constraints where they bind: <pad> and <unk> have the highest scores
    "top-k keeps one character too many": Bug(
        "sample",
        "kth = scores.topk(top_k).values[-1]",
        "kth = scores.topk(top_k + 1).values[-1]",
        "test_sample_distribution",
    ),
    "<unk> is not banned": Bug(
        "sample",
        "banned = [vocab.to_index(data.PAD), vocab.to_index(data.UNK)]",
        "banned = [vocab.to_index(data.PAD)]",
        "test_sample_basics",
    ),
    # the start character in several forms
    "an unknown start character silently starts from <unk>": Bug(
        "sample",
        "index = data.start_index(vocab, start, unknown)",
        'index = data.start_index(vocab, start, "unk")',
        "test_sample_basics",
    ),
}

# Perplexity with plain attributes: fastNLP's reset() only resets registered elements, so
# without a reset() of its own the metric adds every evaluation to the previous ones.
_PLAIN = '''
class Perplexity(Metric):
    def __init__(self, backend="auto", aggregate_when_get_metric=None):
        super().__init__(backend=backend, aggregate_when_get_metric=aggregate_when_get_metric)
        self.nll, self.tokens = 0.0, 0

    def update(self, pred, target, seq_len):
        log_p = torch.log_softmax(pred.double(), dim=-1)
        nll = -log_p.gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
        mask = torch.arange(target.shape[1])[None, :] < seq_len[:, None]
        self.nll += nll[mask].sum().item()
        self.tokens += int(mask.sum().item())

    def get_metric(self):
        return {"ppl": math.exp(self.nll / self.tokens)}
'''

BUGS["plain attributes that reset() never clears"] = Bug.whole({"Perplexity": _PLAIN}, "test_perplexity")

# Same seed, same poem, but drawn from torch's global generator after seeding it: every call
# resets the caller's random stream.
BUGS["sample seeds and draws from torch's global generator"] = Bug(
    "sample",
    "generator = torch.Generator().manual_seed(seed)",
    "torch.manual_seed(seed)\n    generator = None",
    "test_sample_seed",
)


GOOD = {
    "numpy sampler and a masked cross-entropy": {
        "Perplexity": '''
class Perplexity(Metric):
    def __init__(self, backend="auto", aggregate_when_get_metric=None):
        super().__init__(backend=backend, aggregate_when_get_metric=aggregate_when_get_metric)
        self.register_element(name="total", value=0.0, aggregate_method="sum", backend=backend)
        self.register_element(name="count", value=0, aggregate_method="sum", backend=backend)

    def update(self, pred, target, seq_len):
        N, T, V = pred.shape
        for n in range(N):
            L = int(seq_len[n])
            self.total += F.cross_entropy(pred[n, :L].double(), target[n, :L].long(), reduction="sum").item()
            self.count += L

    def get_metric(self):
        return {"ppl": float(np.exp(self.total.get_scalar() / self.count.get_scalar()))}
''',
        "sample": '''
@torch.no_grad()
def sample(model, vocab, start, temperature=1.0, max_len=48, seed=0, top_k=None, unknown="error"):
    rng = np.random.default_rng(seed)
    i = data.start_index(vocab, start, unknown)
    eos = vocab.to_index(data.EOS)
    out, state = start, None
    model.eval()
    while len(out) < max_len:
        logits, state = model(torch.tensor([[i]]), state)
        s = logits[0, -1].double().numpy().copy()
        s[vocab.to_index(data.PAD)] = s[vocab.to_index(data.UNK)] = -np.inf
        if temperature == 0:
            i = int(np.argmax(s))
        else:
            s = s / temperature
            if top_k:
                s[s < np.sort(s)[-top_k]] = -np.inf
            p = np.exp(s - s.max())
            i = int(rng.choice(len(p), p=p / p.sum()))
        if i == eos:
            break
        out += vocab.to_word(i)
    return out
''',
    },
    "inverse-CDF draws from torch.rand, a metric with plain attributes and its own reset()": {
        "Perplexity": '''
class Perplexity(Metric):
    def __init__(self, backend="auto", aggregate_when_get_metric=None):
        super().__init__(backend=backend, aggregate_when_get_metric=aggregate_when_get_metric)
        self.reset()

    def reset(self):
        self.total_nll = 0.0
        self.total_tokens = 0

    def update(self, pred, target, seq_len):
        log_p = F.log_softmax(pred.detach().double().cpu(), dim=-1)
        target = target.cpu()
        for n, length in enumerate(seq_len.tolist()):
            self.total_nll -= log_p[n, torch.arange(length), target[n, :length]].sum().item()
            self.total_tokens += length

    def get_metric(self):
        return {"ppl": math.exp(self.total_nll / self.total_tokens)}
''',
        "sample": '''
@torch.no_grad()
def sample(model, vocab, start, temperature=1.0, max_len=48, seed=0, top_k=None, unknown="error"):
    g = torch.Generator()
    g.manual_seed(seed)
    idx = data.start_index(vocab, start, unknown)
    stop = vocab.to_index(data.EOS)
    never = torch.tensor([vocab.to_index(data.PAD), vocab.to_index(data.UNK)])
    dev = next(model.parameters()).device
    model.eval()
    chars, state = [start], None
    for _ in range(max_len - 1):
        logits, state = model(torch.tensor([[idx]], device=dev), state)
        logits = logits[0, -1].cpu().double()
        logits[never] = float("-inf")
        if temperature == 0:
            idx = int(torch.argmax(logits))
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            if top_k is not None:
                keep = torch.zeros_like(probs, dtype=torch.bool)
                keep[torch.argsort(probs, descending=True)[:top_k]] = True
                probs = torch.where(keep, probs, torch.zeros_like(probs))
            cdf = torch.cumsum(probs, dim=0)
            u = torch.rand((), generator=g, dtype=torch.float64) * cdf[-1]
            idx = int(torch.searchsorted(cdf, u, right=True))
        if idx == stop:
            break
        chars.append(vocab.to_word(idx))
    return "".join(chars)
''',
    },
}
