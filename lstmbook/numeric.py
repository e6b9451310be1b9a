"""NumPy helpers that more than one chapter uses, defined once."""
from __future__ import annotations

import numpy as np


def sigmoid(z):
    """The logistic function 1 / (1 + e^-z), elementwise, numerically stable: it never
    computes e^z for a large positive z (which overflows), only e^-|z|."""
    pos = z >= 0
    e = np.exp(np.where(pos, -z, z))
    return np.where(pos, 1 / (1 + e), e / (1 + e))
