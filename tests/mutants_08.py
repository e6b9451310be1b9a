"""Chapter 8 submissions for the autograder tests: the usual mistakes of a perplexity metric
and of a sampler."""
from submissions import planted

SLUG = "08_poetry"

# name -> (grade_id of the exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "perplexity counts the padding": (
        "Perplexity",
        "        self.nll += nll[mask].sum().item()\n        self.tokens += int(mask.sum().item())",
        "        self.nll += nll.sum().item()\n        self.tokens += nll.numel()",
        "test_perplexity",
    ),
    "perplexity averaged per batch instead of per token": (
        "Perplexity",
        "        self.nll += nll[mask].sum().item()\n        self.tokens += int(mask.sum().item())",
        "        self.nll += nll[mask].mean().item()\n        self.tokens += 1",
        "test_perplexity",
    ),
    "temperature applied after the softmax": (
        "sample",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))",
        "            index = int(torch.multinomial(torch.softmax(scores * temperature, dim=-1) / temperature, 1,"
        " generator=generator))",
        "test_sample_distribution",
    ),
    "sampling ignores the seed": (
        "sample",
        "torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)",
        "torch.multinomial(torch.softmax(scores, dim=-1), 1)",
        "test_sample_seed",
    ),
    "top-k taken before the banned tokens are removed": (
        "sample",
        "        scores[banned] = -math.inf\n        if temperature == 0:",
        "        if top_k is not None and temperature != 0:\n"
        "            kth = scores.topk(top_k).values[-1]\n"
        "            scores = scores.masked_fill(scores < kth, -math.inf)\n"
        "            top_k = None\n"
        "        scores[banned] = -math.inf\n        if temperature == 0:",
        "test_sample_basics",
    ),
    "the generator is seeded again at every step": (
        "sample",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))",
        "            index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1,"
        " generator=torch.Generator().manual_seed(seed)))",
        "test_sample_seed",
    ),
    "reset() forgets the log-likelihood but not the token count": (
        "Perplexity",
        "        self.tokens += int(mask.sum().item())",
        "        self._count = getattr(self, '_count', 0) + int(mask.sum().item())\n"
        "        self.tokens += int(mask.sum().item()) - self.tokens.get_scalar() + self._count",
        "test_perplexity",
    ),
    "the end token is returned as a character": (
        "sample",
        "        if index == eos:\n            break\n",
        "",
        "test_sample_basics",
    ),
}


def bug_submission(name: str) -> dict[str, str]:
    return planted(SLUG, BUGS[name])


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
}
