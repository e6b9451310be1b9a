"""Graded checks record results; the trusted grader judges them.

The autograder never asks a student's kernel whether a test passed. After the student's
notebook has run (in the grader's sandbox), the chapter's hidden checks call the student's
functions on inputs made there and then, and ``record`` each result: numbers, shapes, strings.
The grader compares every record with the record the reference solution made for the same
inputs in a clean run, outside the sandbox, with the tolerance the reference run asked for.
Whatever the student's code does to this module, to NumPy or to the kernel, it can only
change its own records, never the expected values, which do not exist in the sandbox.

In a chapter source, the hidden part of a test cell is written with ``record``::

    ### BEGIN HIDDEN TESTS
    for _seed, (_N, _H) in [(101, (1, 1)), (102, (6, 7))]:
        _r = np.random.default_rng(_seed)
        _out = lstm_step_forward(...)
        record(f"next_h/{_seed}", _out[0])                   # numbers, rtol 1e-9 by default
        record(f"calls/{_seed}", len(calls), exact=True)     # must be equal
    ### END HIDDEN TESTS

Outside the grader (a student running the notebook, the book build) ``record`` does
nothing but check that the value can be recorded.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

#: Set by the grader's sandbox runner: where the records of each test go.
ENV = "LSTMBOOK_RECORD_DIR"
MAX_ELEMENTS = 1_000_000


class RecordError(TypeError):
    """A value that cannot be recorded (an object, a ragged list...)."""


def encode(value, rtol: float = 1e-9, atol: float = 1e-12, exact: bool = False) -> dict:
    """The JSON record of ``value``: a string, or numbers with their shape."""
    if isinstance(value, str):
        return {"kind": "str", "value": value}
    if hasattr(value, "detach"):  # a torch tensor (maybe on a GPU, maybe with a graph)
        value = value.detach().cpu()
        if getattr(value, "is_complex", lambda: False)():
            raise RecordError("complex tensors are not recorded")
        value = value.double().numpy()
    import numpy as np

    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"cannot record a {type(value).__name__} as numbers: {exc}") from None
    if arr.size > MAX_ELEMENTS:
        raise RecordError(f"{arr.size} numbers is more than a check records")
    data = [x if math.isfinite(x) else repr(x) for x in arr.ravel().tolist()]
    return {"kind": "array", "shape": list(arr.shape), "data": data,
            "rtol": float(rtol), "atol": float(atol), "exact": bool(exact)}


class Recorder:
    """``record(key, value, rtol=1e-9, atol=1e-12, exact=False)`` for the test ``test``."""

    def __init__(self, test: str, out_dir: str | os.PathLike | None = None):
        self.test = test
        out = out_dir if out_dir is not None else os.environ.get(ENV)
        self.path = Path(out, f"{test}.jsonl") if out else None

    def __call__(self, key: str, value, rtol: float = 1e-9, atol: float = 1e-12,
                 exact: bool = False) -> None:
        rec = encode(value, rtol, atol, exact)
        if self.path is None:
            return
        rec["key"] = str(key)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")


def record(key: str, value, rtol: float = 1e-9, atol: float = 1e-12, exact: bool = False) -> None:
    """Record without a test name (outside the grader): only checks that ``value`` encodes."""
    encode(value, rtol, atol, exact)
