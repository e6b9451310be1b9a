"""Verdicts: a test passes when the student's records match the reference's.

Pure functions of the records (JSON lines, one per ``record`` call, written inside the
sandbox): parsed with bounds, compared with the tolerance the reference run asked for. No
student code runs here; the kernel's own verdicts (a visible assert that failed or not)
count for nothing.
"""
from __future__ import annotations

import json
import math


MAX_RECORDS = 20_000


def parse_records(text) -> tuple[dict[str, dict], str]:
    """``(key -> record, problem)`` from a test's JSON lines; a key recorded twice, a
    malformed line or too many records is a problem (the test fails)."""
    out: dict[str, dict] = {}
    if not isinstance(text, str):
        return out, "no records"
    for n, line in enumerate(text.splitlines()):
        if n >= MAX_RECORDS:
            return out, "too many records"
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return out, "a malformed record"
        if not isinstance(rec, dict) or not isinstance(rec.get("key"), str):
            return out, "a malformed record"
        if rec["key"] in out:
            return out, f"the result {rec['key']!r} was recorded twice"
        out[rec["key"]] = rec
    return out, ""


def _array(rec: dict):
    import numpy as np

    shape, data = rec.get("shape"), rec.get("data")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)
            and isinstance(data, list) and len(data) == math.prod(shape)):
        raise ValueError("a malformed array")
    vals = []
    for x in data:
        if isinstance(x, bool) or not isinstance(x, (int, float, str)):
            raise ValueError("a malformed array")
        vals.append(float(x))  # 'nan', 'inf', '-inf' come as strings
    return np.asarray(vals, dtype=np.float64).reshape(shape)


def compare(expected: dict, got: dict | None) -> str:
    """'' when ``got`` matches ``expected`` (a reference record), else what differs."""
    import numpy as np

    key = expected["key"]
    if got is None:
        return f"{key}: no result"
    if expected["kind"] == "str":
        if got.get("kind") != "str" or not isinstance(got.get("value"), str):
            return f"{key}: expected text, got {got.get('kind')}"
        return "" if got["value"] == expected["value"] else f"{key}: the text differs"
    if got.get("kind") != "array":
        return f"{key}: expected numbers, got {got.get('kind')}"
    want = _array(expected)
    try:
        have = _array(got)
    except ValueError as exc:
        return f"{key}: {exc}"
    if have.shape != want.shape:
        return f"{key}: shape {have.shape}, expected {want.shape}"
    if expected.get("exact"):
        same = np.array_equal(have, want, equal_nan=True)
    else:
        same = bool(np.all(np.isclose(have, want, rtol=expected["rtol"], atol=expected["atol"],
                                      equal_nan=True)))
    if same:
        return ""
    if have.size and np.all(np.isfinite(have)) and np.all(np.isfinite(want)):
        return f"{key}: values differ (largest difference {np.max(np.abs(have - want)):.3g})"
    return f"{key}: values differ"


def judge(reference: str, student, check_error: str = "") -> tuple[bool, str]:
    """``(passed, message)`` for one test, from the reference's and the student's records."""
    ref, problem = parse_records(reference)
    if problem or not ref:
        raise ValueError(f"the reference run recorded nothing usable ({problem or 'no records'})")
    got, problem = parse_records(student)
    if not got and problem in ("", "no records"):
        why = f": the check stopped with {check_error}" if check_error else ""
        return False, f"no results{why}"
    if problem:
        return False, problem
    wrong = [m for m in (compare(r, got.get(k)) for k, r in ref.items()) if m]
    if not wrong:
        return True, ""
    msg = f"{len(wrong)} of {len(ref)} hidden results wrong; first: {wrong[0]}"
    if check_error:
        msg += f" (the check stopped with {check_error})"
    return False, msg
