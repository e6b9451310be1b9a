"""Chapter 2 submissions for the autograder tests: realistic bugs that must lose points, and
correct solutions written differently from the reference that must keep full marks."""
from bugs import Bug
from submissions import with_function

SLUG = "02_numpy_lstm"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "forget gate ignores the carried cell gradient": Bug(
        "lstm_step_backward",
        "dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)",
        "dc = dnext_h * o * (1 - tanh_c ** 2)",
        "test_lstm_step_backward",
    ),
    "bias gradient from the wrong gate's delta": Bug(
        "lstm_step_backward",
        "db = da.sum(axis=0)",
        "da_i, da_f, da_g, da_o = np.split(da, 4, axis=1)\n"
        "    db = np.concatenate([da_f, da_i, da_g, da_o], axis=1).sum(axis=0)",
        "test_lstm_step_backward",
    ),
    "BPTT drops dprev_h": Bug(
        "lstm_backward",
        "dh[:, t] + dprev_h, dprev_c",
        "dh[:, t], dprev_c",
        "test_lstm_backward",
    ),
    "dh0 never returned": Bug(
        "lstm_backward",
        "dh0 = dprev_h",
        "dh0 = np.zeros_like(dprev_h)",
        "test_lstm_backward",
    ),
    "off by one in time (h stored before the step)": Bug(
        "lstm_forward",
        "        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)\n"
        "        h[:, t] = prev_h",
        "        h[:, t] = prev_h\n"
        "        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)",
        "test_lstm_forward",
    ),
    "gates in the order i, f, o, g": Bug(
        "lstm_step_forward",
        "g = np.tanh(a[:, 2 * H:3 * H])\n    o = sigmoid(a[:, 3 * H:])",
        "o = sigmoid(a[:, 2 * H:3 * H])\n    g = np.tanh(a[:, 3 * H:])",
        "test_lstm_step_forward",
    ),
    "sigmoid where tanh belongs": Bug(
        "lstm_step_forward",
        "g = np.tanh(a[:, 2 * H:3 * H])",
        "g = sigmoid(a[:, 2 * H:3 * H])",
        "test_lstm_step_forward",
    ),
    "softmax loss counts padding": Bug(
        "temporal_softmax_loss",
        "flat_m = mask.reshape(N * T).astype(np.float64)",
        "flat_m = np.ones(N * T)",
        "test_temporal_softmax_loss",
    ),
    "softmax without the max shift overflows": Bug(
        "temporal_softmax_loss",
        "shifted = flat_scores - flat_scores.max(axis=1, keepdims=True)",
        "shifted = flat_scores",
        "test_temporal_softmax_loss",
    ),
    "embedding backward does not accumulate repeated indices": Bug(
        "word_embedding_forward",
        "np.add.at(dW_embed, x, dout)",
        "dW_embed[x] += dout",
        "test_word_embedding_backward",
    ),
    "affine bias gradient summed over the batch only": Bug(
        "temporal_affine_forward",
        "db_vocab = dscores.sum(axis=(0, 1))",
        "db_vocab = dscores.sum(axis=0)",
        "test_temporal_affine_backward",
    ),
    # a forward that returns more than its docstring's tuple (later cells index [0], [1] and
    # still work): only the length of the returned tuple shows it
    "step forward also returns the gates": Bug(
        "lstm_step_forward",
        "    return next_h, next_c, cache",
        "    return next_h, next_c, cache, (i, f, g, o)",
        "test_lstm_step_forward",
    ),
    "sequence forward also returns the last cell state": Bug(
        "lstm_forward",
        "    return h, cache",
        "    return h, cache, prev_c",
        "test_lstm_forward",
    ),
    "embedding forward returns its cache unpacked": Bug(
        "word_embedding_forward",
        "    return out, cache",
        "    return (out, *cache)",
        "test_word_embedding_forward",
    ),
    "affine forward returns its cache unpacked": Bug(
        "temporal_affine_forward",
        "    return scores, cache",
        "    return (scores, *cache)",
        "test_temporal_affine_forward",
    ),
}


# Correct, written with explicit loops instead of vectorised code.
LOOPS = {
    "word_embedding_forward": '''
def word_embedding_forward(x, W_embed):
    N, T = x.shape
    out = np.empty((N, T, W_embed.shape[1]))
    for n in range(N):
        for t in range(T):
            out[n, t] = W_embed[x[n, t]]
    return out, (x, W_embed)


def word_embedding_backward(dout, cache):
    x, W_embed = cache
    dW_embed = np.zeros_like(W_embed)
    N, T = x.shape
    for n in range(N):
        for t in range(T):
            dW_embed[x[n, t]] += dout[n, t]
    return dW_embed
''',
    "temporal_affine_forward": '''
def temporal_affine_forward(h, W_vocab, b_vocab):
    N, T, _ = h.shape
    scores = np.empty((N, T, W_vocab.shape[1]))
    for t in range(T):
        scores[:, t] = h[:, t].dot(W_vocab) + b_vocab
    return scores, (h, W_vocab, b_vocab)


def temporal_affine_backward(dscores, cache):
    h, W_vocab, b_vocab = cache
    dh = np.zeros_like(h)
    dW_vocab = np.zeros_like(W_vocab)
    db_vocab = np.zeros_like(b_vocab)
    for t in range(h.shape[1]):
        dh[:, t] = dscores[:, t].dot(W_vocab.T)
        dW_vocab += h[:, t].T.dot(dscores[:, t])
        db_vocab += dscores[:, t].sum(axis=0)
    return dh, dW_vocab, db_vocab
''',
    "temporal_softmax_loss": '''
import math

def temporal_softmax_loss(scores, y, mask):
    N, T, V = scores.shape
    dscores = np.zeros_like(scores)
    total, count = 0.0, int(mask.sum())
    for n in range(N):
        for t in range(T):
            if not mask[n, t]:
                continue
            m = max(scores[n, t])
            e = np.exp(scores[n, t] - m)
            z = e.sum()
            total += -(scores[n, t, y[n, t]] - m - math.log(z))
            dscores[n, t] = e / z
            dscores[n, t, y[n, t]] -= 1
    return total / count, dscores / count
''',
}

# Correct, with separate per-gate weights inside and a dictionary cache.
PER_GATE = {
    "lstm_step_forward": '''
GATES = ("i", "f", "g", "o")

def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    act = {}
    for k, name in enumerate(GATES):
        cols = slice(k * H, (k + 1) * H)
        pre = x.dot(Wx[:, cols]) + prev_h.dot(Wh[:, cols]) + b[cols]
        act[name] = np.tanh(pre) if name == "g" else 1 / (1 + np.exp(-pre))
    next_c = act["f"] * prev_c + act["i"] * act["g"]
    next_h = act["o"] * np.tanh(next_c)
    cache = {"x": x, "h": prev_h, "c": prev_c, "next_c": next_c, "Wx": Wx, "Wh": Wh, **act}
    return next_h, next_c, cache
''',
    "lstm_step_backward": '''
def lstm_step_backward(dnext_h, dnext_c, cache):
    t = np.tanh(cache["next_c"])
    i, f, g, o = (cache[k] for k in GATES)
    dc = dnext_c + dnext_h * o * (1 - t * t)
    dpre = {
        "i": dc * g * i * (1 - i),
        "f": dc * cache["c"] * f * (1 - f),
        "g": dc * i * (1 - g * g),
        "o": dnext_h * t * o * (1 - o),
    }
    H = dnext_h.shape[1]
    dx = np.zeros_like(cache["x"])
    dprev_h = np.zeros_like(cache["h"])
    dWx = np.zeros_like(cache["Wx"])
    dWh = np.zeros_like(cache["Wh"])
    db = np.zeros(4 * H)
    for k, name in enumerate(GATES):
        cols = slice(k * H, (k + 1) * H)
        dx += dpre[name].dot(cache["Wx"][:, cols].T)
        dprev_h += dpre[name].dot(cache["Wh"][:, cols].T)
        dWx[:, cols] = cache["x"].T.dot(dpre[name])
        dWh[:, cols] = cache["h"].T.dot(dpre[name])
        db[cols] = dpre[name].sum(axis=0)
    return dx, dprev_h, dc * f, dWx, dWh, db
''',
    "lstm_forward": '''
def lstm_forward(x, h0, Wx, Wh, b):
    hs, caches = [], {}
    h, c = h0, np.zeros_like(h0)
    for t in range(x.shape[1]):
        h, c, caches[t] = lstm_step_forward(x[:, t, :], h, c, Wx, Wh, b)
        hs.append(h)
    return np.stack(hs, axis=1), {"steps": caches, "D": x.shape[2]}
''',
    "lstm_backward": '''
def lstm_backward(dh, cache):
    N, T, H = dh.shape
    grads = {"dx": [None] * T, "dWx": 0.0, "dWh": 0.0, "db": 0.0}
    carry_h, carry_c = 0.0, 0.0
    for t in range(T - 1, -1, -1):
        dx_t, carry_h, carry_c, dWx, dWh, db = lstm_step_backward(dh[:, t, :] + carry_h, carry_c + np.zeros((N, H)), cache["steps"][t])
        grads["dx"][t] = dx_t
        grads["dWx"] = grads["dWx"] + dWx
        grads["dWh"] = grads["dWh"] + dWh
        grads["db"] = grads["db"] + db
    return np.stack(grads["dx"], axis=1), carry_h, grads["dWx"], grads["dWh"], grads["db"]
''',
}

# Correct, but NumPy prints a RuntimeWarning (an overflow that does not change the result)
# inside the first test cell that calls it: nbgrader would score that cell zero for writing
# to stderr, unless the course configuration drops warnings.
WARNS = {
    "lstm_step_forward": with_function(
        SLUG, "lstm_step_forward", "    next_h = o * tanh_c\n",
        "    next_h = o * tanh_c\n    assert 1 / (1 + np.exp(np.float64(1000.0))) == 0.0\n"),
}

# Correct answers in other styles, by name (the shape of the other chapters' mutant files).
GOOD = {"loops": LOOPS, "per gate": PER_GATE, "numpy warns": WARNS}
