"""Verdicts: a test passes when the student's records match the reference's.

Pure functions of the records (JSON lines, one per ``record`` call, written inside the
sandbox): parsed with bounds, compared with the tolerance the reference run asked for. No
student code runs here; the kernel's own verdicts (a visible assert that failed or not)
count for nothing.
"""
from __future__ import annotations

import builtins
import json
import math
import re


MAX_RECORDS = 20_000
#: Exception names a check error may show as they are; any other name (a student can make
#: an exception class of any name, a hidden check's source for one) shows as "an exception".
KNOWN_ERRORS = {n for n in dir(builtins) if n.endswith(("Error", "Exception", "Interrupt", "Exit"))
                or n in ("StopIteration", "Warning")} | {
    "LinAlgError", "RecordError", "CellTimeoutError", "DeadKernelError", "OutOfMemoryError"}
#: The runner's own messages (the sandbox's text is untrusted: anything else is replaced).
_RUNNER_TEXT = [
    re.compile(r"(?P<e>[A-Za-z_][A-Za-z0-9_]{0,99})(?P<w> at cell \d{1,6}, line \d{1,7})?"),
    re.compile(r"(?P<e>[A-Za-z_][A-Za-z0-9_]{0,99})(?P<w> \(the check did not finish\))"),
    re.compile(r"the kernel died while running cell \d{1,6} \(its code exits or crashes Python\)"),
    re.compile(r"cell \d{1,6} stopped the run \((?P<e>[A-Za-z_][A-Za-z0-9_]{0,99})\)"),
    re.compile(r"the kernel died during the check [A-Za-z0-9_]{1,100}"),
]


def runner_text(text) -> str:
    """A check error or a ``died`` note from the sandbox, as the grader shows it: one of the
    runner's own forms with a known exception name, else a neutral phrase. Never the text
    of an exception a student's code raised (it could be a hidden check's source)."""
    if not isinstance(text, str) or not text:
        return ""
    for pattern in _RUNNER_TEXT:
        m = pattern.fullmatch(text)
        if m:
            name = m.groupdict().get("e")
            if name and name not in KNOWN_ERRORS:
                return text.replace(name, "an exception", 1)
            return text
    return "an error"


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
            return out, "a result was recorded twice"
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
            return f"{key}: expected text, got {'numbers' if got.get('kind') == 'array' else 'something else'}"
        return "" if got["value"] == expected["value"] else f"{key}: the text differs"
    if got.get("kind") != "array":
        return f"{key}: expected numbers, got {'text' if got.get('kind') == 'str' else 'something else'}"
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
        # an order of magnitude, no digits: a student who returns zeros must not read the
        # reference's values off the message
        return f"{key}: values differ (largest difference of order {_order(np.max(np.abs(have - want)))})"
    return f"{key}: values differ"


def _order(x: float) -> str:
    """``1e-3`` for anything in [1e-3, 1e-2)."""
    return "0" if x <= 0 else f"1e{math.floor(math.log10(x))}"


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
