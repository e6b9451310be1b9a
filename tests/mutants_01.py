"""Chapter 1 submissions for the autograder tests: the usual slips in hand-derived LSTM
gradients, each of which must lose points in the test that names it."""
from submissions import planted

SLUG = "01_gradients"

# name -> (grade_id of the exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "tanh derivative without the square": (
        "output_backward",
        "dc = dh * o * (1 - tanh_c ** 2)",
        "dc = dh * o * (1 - tanh_c)",
        "test_output_backward",
    ),
    "cell gradient not scaled by the forget gate": (
        "cell_backward",
        "dprev_c = dc * f",
        "dprev_c = dc",
        "test_cell_backward",
    ),
    "gate gradients stacked in the order i, f, o, g": (
        "gates_backward",
        "dg * (1 - g ** 2), do * o * (1 - o)]",
        "do * o * (1 - o), dg * (1 - g ** 2)]",
        "test_gates_backward",
    ),
    "sigmoid derivative used for the tanh candidate": (
        "gates_backward",
        "dg * (1 - g ** 2)",
        "dg * g * (1 - g)",
        "test_gates_backward",
    ),
    "bias gradient averaged over the batch instead of summed": (
        "affine_backward",
        "db = da.sum(axis=0)",
        "db = da.mean(axis=0)",
        "test_affine_backward",
    ),
    "step backward drops the carried cell gradient": (
        "step_backward",
        "cell_backward(dnext_c + dc_from_h,",
        "cell_backward(dc_from_h,",
        "test_step_backward",
    ),
    "softmax gradient not divided by the batch size": (
        "softmax_loss_backward",
        "ds = p / N",
        "ds = p",
        "test_softmax_loss_backward",
    ),
    "embedding gradient without accumulation": (
        "embedding_backward",
        "np.add.at(dE, words, dx)",
        "dE[words] += dx",
        "test_embedding_backward",
    ),
}


def bug_submission(name: str) -> dict[str, str]:
    return planted(SLUG, BUGS[name])


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "explicit formulas": {
        "gates_backward": '''
def gates_backward(di, df, dg, do, i, f, g, o):
    dsig = lambda s: s - s * s
    parts = [di * dsig(i), df * dsig(f), dg - dg * g * g, do * dsig(o)]
    return np.hstack(parts)
''',
        "embedding_backward": '''
def embedding_backward(dx, words, V):
    D = dx.shape[-1]
    onehot = np.eye(V)[words.reshape(-1)]          # (N*T, V)
    return onehot.T @ dx.reshape(-1, D)             # the X^T dx of the chapter
''',
        "softmax_loss_backward": '''
def softmax_loss_backward(s, y):
    z = s - np.max(s, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    Y = np.zeros_like(p)
    Y[np.arange(s.shape[0]), y] = 1.0
    return (p - Y) / s.shape[0]
''',
    },
}
