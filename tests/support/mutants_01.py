"""Chapter 1 submissions for the autograder tests: the usual slips in hand-derived LSTM
gradients, each of which must lose points in the test that names it."""
from bugs import Bug

SLUG = "01_gradients"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "tanh derivative without the square": Bug(
        "output_backward",
        "dc = dh * o * (1 - tanh_c ** 2)",
        "dc = dh * o * (1 - tanh_c)",
        "test_output_backward",
    ),
    "cell gradient not scaled by the forget gate": Bug(
        "cell_backward",
        "dprev_c = dc * f",
        "dprev_c = dc",
        "test_cell_backward",
    ),
    "gate gradients stacked in the order i, f, o, g": Bug(
        "gates_backward",
        "dg * (1 - g ** 2), do * o * (1 - o)]",
        "do * o * (1 - o), dg * (1 - g ** 2)]",
        "test_gates_backward",
    ),
    "sigmoid derivative used for the tanh candidate": Bug(
        "gates_backward",
        "dg * (1 - g ** 2)",
        "dg * g * (1 - g)",
        "test_gates_backward",
    ),
    "bias gradient averaged over the batch instead of summed": Bug(
        "affine_backward",
        "db = da.sum(axis=0)",
        "db = da.mean(axis=0)",
        "test_affine_backward",
    ),
    "step backward drops the carried cell gradient": Bug(
        "lstm_step_backward",
        "cell_backward(dnext_c + dc_from_h,",
        "cell_backward(dc_from_h,",
        "test_lstm_step_backward",
    ),
    "softmax gradient not divided by the batch size": Bug(
        "softmax_loss_backward",
        "dscores = p / N",
        "dscores = p",
        "test_softmax_loss_backward",
    ),
    "embedding gradient without accumulation": Bug(
        "word_embedding_backward",
        "np.add.at(dW_embed, x, dout)",
        "dW_embed[x] += dout",
        "test_word_embedding_backward",
    ),
    "gradient of c through h without the output gate": Bug(
        "output_backward",
        "dc = dh * o * (1 - tanh_c ** 2)",
        "dc = dh * (1 - tanh_c ** 2)",
        "test_output_backward",
    ),
    "input gate and candidate gradients swapped": Bug(
        "cell_backward",
        "di = dc * g\n    df = dc * prev_c\n    dg = dc * i",
        "di = dc * i\n    df = dc * prev_c\n    dg = dc * g",
        "test_cell_backward",
    ),
    "step backward takes tanh of the previous cell state": Bug(
        "lstm_step_backward",
        "output_backward(dnext_h, o, next_c)",
        "output_backward(dnext_h, o, prev_c)",
        "test_lstm_step_backward",
    ),
    "softmax scores not shifted (overflows for large scores)": Bug(
        "softmax_loss_backward",
        "p = np.exp(scores - scores.max(axis=1, keepdims=True))",
        "p = np.exp(scores)",
        "test_softmax_loss_backward",
    ),
    "softmax shifted by the largest score of the whole batch": Bug(
        "softmax_loss_backward",
        "p = np.exp(scores - scores.max(axis=1, keepdims=True))",
        "p = np.exp(scores - scores.max())",
        "test_softmax_loss_backward",
    ),
    "embedding gradient sized by the largest word present": Bug(
        "word_embedding_backward",
        "dW_embed = np.zeros((V, D))",
        "dW_embed = np.zeros((x.max() + 1, D))",
        "test_word_embedding_backward",
    ),
}


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "explicit formulas": {
        "gates_backward": '''
def gates_backward(di, df, dg, do, i, f, g, o):
    dsig = lambda s: s - s * s
    parts = [di * dsig(i), df * dsig(f), dg - dg * g * g, do * dsig(o)]
    return np.hstack(parts)
''',
        "word_embedding_backward": '''
def word_embedding_backward(dout, cache):
    x, (V, D) = cache
    onehot = np.eye(V)[x.reshape(-1)]               # (N*T, V)
    return onehot.T @ dout.reshape(-1, D)           # the X^T dx of the chapter
''',
        "softmax_loss_backward": '''
def softmax_loss_backward(scores, y):
    z = scores - np.max(scores, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    Y = np.zeros_like(p)
    Y[np.arange(scores.shape[0]), y] = 1.0
    return (p - Y) / scores.shape[0]
''',
    },
    "without the helpers": {
        "output_backward": '''
def output_backward(dh, o, c):
    return dh * np.tanh(c), dh * o / np.cosh(c) ** 2
''',
        "cell_backward": '''
def cell_backward(dc, prev_c, i, f, g):
    grads = [dc * g, dc * prev_c, dc * i]
    return (f * dc, *grads)
''',
        "affine_backward": '''
def affine_backward(da, x, prev_h, Wx, Wh):
    return (np.einsum("nk,dk->nd", da, Wx), np.einsum("nk,hk->nh", da, Wh),
            np.einsum("nd,nk->dk", x, da), np.einsum("nh,nk->hk", prev_h, da), np.einsum("nk->k", da))
''',
        "lstm_step_backward": '''
def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, g, o, next_c = cache
    t = np.tanh(next_c)
    dC = dnext_c + dnext_h * o * (1 - t * t)
    da = np.hstack([dC * g * i * (1 - i), dC * prev_c * f * (1 - f), dC * i * (1 - g * g),
                    dnext_h * t * o * (1 - o)])
    return (da @ Wx.T, da @ Wh.T, f * dC, np.einsum("nd,nk->dk", x, da),
            np.einsum("nh,nk->hk", prev_h, da), da.sum(axis=0))
''',
        "softmax_loss_backward": '''
def softmax_loss_backward(scores, y):
    m = scores.max(axis=1, keepdims=True)
    log_p = scores - m - np.log(np.exp(scores - m).sum(axis=1, keepdims=True))
    ds = np.exp(log_p)
    ds[np.arange(len(y)), y] -= 1
    return ds / len(y)
''',
        "word_embedding_backward": '''
def word_embedding_backward(dout, cache):
    x, W_shape = cache
    dW_embed = np.zeros(W_shape)
    for n in range(x.shape[0]):
        for t in range(x.shape[1]):
            dW_embed[x[n, t]] += dout[n, t]
    return dW_embed
''',
    },
}
