"""The helpers the chapters import: gradient checking and run profiles."""
import numpy as np
import pytest

import lstmbook
from lstmbook.gradcheck import numerical_gradient, numerical_gradient_array, rel_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    num = numerical_gradient(lambda: np.sum(x ** 3), x)
    assert rel_error(num, 3 * x ** 2) < 1e-9
    assert np.array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_numerical_gradient_array_is_a_vector_jacobian_product():
    rng = np.random.default_rng(0)
    W, x, dout = rng.normal(size=(3, 4)), rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    assert rel_error(numerical_gradient_array(lambda: x @ W, W, dout), x.T @ dout) < 1e-9


def test_rel_error_detects_a_wrong_gradient_and_shape():
    a = np.ones(5)
    assert rel_error(a, a) == 0.0
    assert rel_error(a, 2 * a) == pytest.approx(1 / 3)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(3), np.ones(4))


def test_profiles(monkeypatch):
    monkeypatch.setenv("LSTMBOOK_PROFILE", "quick")
    assert lstmbook.by_profile(quick=1, book=2) == 1
    monkeypatch.setenv("LSTMBOOK_PROFILE", "full")
    assert lstmbook.by_profile(quick=1, book=2) == 2
    assert lstmbook.by_profile(quick=1, book=2, full=3) == 3
    monkeypatch.setenv("LSTMBOOK_PROFILE", "fast")
    with pytest.raises(ValueError, match="LSTMBOOK_PROFILE='fast' is not a profile"):
        lstmbook.profile()


def test_sigmoid_is_exact_and_never_overflows():
    from lstmbook.numeric import sigmoid

    z = np.linspace(-30, 30, 61)
    assert np.allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-14, atol=0)
    with np.errstate(over="raise"):  # e^1000 would overflow; the stable form never computes it
        out = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]


def test_longest_copy_finds_the_longest_verbatim_run():
    from lstmbook.data import longest_copy

    assert longest_copy("春眠不觉晓", "夜来不觉春眠晓") == 2  # 春眠 and 不觉, never 不觉晓
    assert longest_copy("abc", "xyz") == 0 and longest_copy("", "abc") == 0
    assert longest_copy("abcd", "zabcdz") == 4


def test_stream_chunks_cut_one_stream_into_consecutive_batches():
    from lstmbook import data

    poems = ["春眠不觉晓", "处处闻啼鸟", "夜来风雨声", "花落知多少"]
    vocab = data.build_vocab(poems)
    stream = [i for seq in data.encode(poems, vocab) for i in seq]  # 24 indices, <eos> after each poem
    chunks = data.stream_chunks(poems, vocab, N=2, T=5)
    L = (len(stream) - 1) // 2
    assert len(chunks) == L // 5 and all(x.shape == (2, 5) and y.shape == (2, 5) for x, y in chunks)
    for n in range(2):  # row n is the stream's n-th part; targets are the inputs one step ahead
        row = [int(v) for x, _ in chunks for v in x[n]]
        assert row == stream[n * L:n * L + len(row)]
        assert [int(v) for _, y in chunks for v in y[n]] == stream[n * L + 1:n * L + 1 + len(row)]
