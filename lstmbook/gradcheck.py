"""Numerical gradients by central differences, for checking backward passes.

Everything here works in float64: with a step of 1e-5, a correct backward pass
agrees with central differences to a relative error of about 1e-7 or better.
"""
from __future__ import annotations

import numpy as np


def rel_error(x, y) -> float:
    """Relative error of two arrays of the same shape, ``|x - y| / (|x| + |y|)`` with the
    Euclidean norm over all elements (0 when both are zero).

    A norm, not the largest elementwise ratio: an element that is almost zero in both
    arrays would otherwise turn round-off of the central differences into a large ratio.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    scale = np.linalg.norm(x) + np.linalg.norm(y)
    return 0.0 if scale == 0 else float(np.linalg.norm(x - y) / scale)


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f()`` with respect to the array ``x`` (changed in place
    and restored), by central differences. Returns an array shaped like ``x``."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fp = float(f())
        x[ix] = old - h
        fm = float(f())
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of ``sum(f() * dout)`` with respect to ``x``: the vector-Jacobian product that a
    backward pass computes for an upstream gradient ``dout``. Returns an array shaped like ``x``."""
    dout = np.asarray(dout, dtype=np.float64)
    return numerical_gradient(lambda: np.sum(np.asarray(f(), dtype=np.float64) * dout), x, h)
