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
