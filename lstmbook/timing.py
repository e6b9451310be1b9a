"""Measuring speed honestly: timings with ``torch.utils.benchmark`` (warm-up, threads and CUDA
synchronisation handled), reported as ratios to a baseline measured in the same run, and a
clock-free count of the matrix multiplications a function issues."""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

import torch
import torch.utils.benchmark as benchmark
from torch.utils._python_dispatch import TorchDispatchMode

#: Fewer measurements than this give no spread to print: a call slower than the minimum run
#: time is measured once, and its IQR is 0.
MIN_RUNS_FOR_IQR = 2
MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "mv", "addmv", "dot", "linear"}


@dataclass
class Timing:
    name: str
    median: float  # seconds per call
    iqr: float
    runs: int


def time_calls(fns: dict, min_run_time: float = 1.0, rounds: int = 1,
               num_threads: int | None = None, show_progress: bool | None = None) -> dict[str, Timing]:
    """Time every callable of ``fns`` (name -> function without arguments) with
    ``torch.utils.benchmark``. With ``rounds`` > 1 the candidates are measured in turn, again
    and again, and each keeps its fastest round, so a slow moment of the machine hurts all of
    them alike. ``show_progress`` draws a one-line progress bar (warm-up and measurements);
    by default only when the measurements take 5 s or more."""
    from .bars import progress

    threads = num_threads or torch.get_num_threads()
    best: dict[str, Timing] = {}
    if show_progress is None:
        show_progress = len(fns) * rounds * min_run_time >= 5
    with progress(total=len(fns) * (rounds + 1), desc="timing", unit="run", disable=not show_progress) as bar:
        for fn in fns.values():  # warm-up (first-call allocations, lazy initialisation, compilation)
            fn()
            bar.update(1)
        for _ in range(rounds):
            for name, fn in fns.items():
                m = benchmark.Timer("fn()", globals={"fn": fn}, num_threads=threads).blocked_autorange(
                    min_run_time=min_run_time)
                t = Timing(name, m.median, m.iqr, len(m.times))
                if name not in best or t.median < best[name].median:
                    best[name] = t
                bar.update(1)
    return best


def versus(a: Timing, b: Timing) -> str:
    """How ``a`` compares with ``b``, judged against the spread: ``"1.52x faster"``,
    ``"1.52x slower"``, or ``"within the noise (1.04x)"`` when the difference of the medians is
    no larger than the two interquartile ranges added (the runs cannot tell them apart)."""
    ratio = b.median / a.median
    if abs(a.median - b.median) <= a.iqr + b.iqr:
        return f"within the noise ({1 / ratio:.2f}x the time)"
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def ratio_table(timings: dict[str, Timing], baseline: str, title: str = "", extra: dict | None = None) -> str:
    """A plain-text table: the median time per call, its spread (the interquartile range of
    the measurements, in ms; "-" from fewer than ``MIN_RUNS_FOR_IQR`` measurements) and the
    ratio to ``baseline``; ``extra`` adds one column of per-row notes (name -> text)."""
    base = timings[baseline].median
    rows = [(name, f"{t.median * 1e3:.2f}", f"{t.iqr * 1e3:.2f}" if t.runs >= MIN_RUNS_FOR_IQR else "-",
             f"{t.median / base:.2f}x", (extra or {}).get(name, "")) for name, t in timings.items()]
    head = ("", "ms per call", "IQR ms", f"vs {baseline}", "")
    widths = [max(len(r[k]) for r in rows + [head]) for k in range(5)]
    fmt = lambda r: "  ".join([r[0].ljust(widths[0])] + [r[k].rjust(widths[k]) for k in (1, 2, 3)] + [r[4]]).rstrip()
    lines = ([title] if title else []) + [fmt(head)] + [fmt(r) for r in rows]
    return "\n".join(lines)


def show_ratios(timings: dict[str, Timing], baseline: str, title: str = "", extra: dict | None = None) -> None:
    """``ratio_table``'s columns as a table the book renders (lstmbook.tables.show_table): the
    median time per call, its interquartile range and the ratio to ``baseline``, with the notes
    of ``extra`` (name -> text) as a last column when given."""
    from .tables import show_table

    base = timings[baseline].median
    header = ["", "ms per call", "IQR ms", f"vs {baseline}"] + (["note"] if extra else [])
    rows = [[name, f"{t.median * 1e3:.2f}", f"{t.iqr * 1e3:.2f}" if t.runs >= MIN_RUNS_FOR_IQR else "-",
             f"{t.median / base:.2f}x"] + ([(extra or {}).get(name, "")] if extra else [])
            for name, t in timings.items()]
    show_table(header, rows, align="lrrr" + ("l" if extra else ""), title=title)


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in MATMUL_OPS:
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            self.calls.append((name, shapes, [a.dtype for a in args if isinstance(a, torch.Tensor)]))
        return out


def matmul_calls(fn, *args, **kwargs) -> list[tuple[str, list, list]]:
    """Run ``fn(*args, **kwargs)`` and return the matrix multiplications it issued, as
    (aten op name, argument shapes, argument dtypes), in order. No clock is involved."""
    rec = _Recorder()
    with rec:
        fn(*args, **kwargs)
    return rec.calls


@contextlib.contextmanager
def quiet_stderr():
    """Silence what C++ libraries write straight to file descriptor 2 (the profiler logs a
    line when it starts and stops), for the duration of the block. Python exceptions still
    propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
