"""Measuring speed honestly: timings with ``torch.utils.benchmark`` (warm-up, threads and CUDA
synchronisation handled), reported as ratios to a baseline measured in the same run, and a
clock-free count of the matrix multiplications a function issues."""
from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
from dataclasses import dataclass

import torch
import torch.utils.benchmark as benchmark
from torch.utils._python_dispatch import TorchDispatchMode

from . import onednn

#: Fewer measurements than this give no spread to print: a call slower than the minimum run
#: time is measured once, and its IQR is 0.
MIN_RUNS_FOR_IQR = 2
MATMUL_OPS = {"mm", "addmm", "addmm_", "bmm", "baddbmm", "baddbmm_", "matmul", "mv", "addmv", "addmv_", "dot", "linear",
              "_linear_pointwise"}  # the last: oneDNN's product (lstmbook.onednn), recorded with its overload


@dataclass
class Timing:
    name: str
    median: float  # seconds per call
    iqr: float
    runs: int
    rounds: tuple = ()  # the median of every round, in the order measured (time_calls with rounds)


def time_calls(fns: dict, min_run_time: float = 1.0, rounds: int = 1,
               num_threads: int | None = None, show_progress: bool | None = None) -> dict[str, Timing]:
    """Time every callable of ``fns`` (name -> function without arguments) with
    ``torch.utils.benchmark``. With ``rounds`` > 1 the candidates are measured in turn, again
    and again, and each keeps its fastest round, so a slow moment of the machine hurts all of
    them alike; ``Timing.rounds`` holds every round's median, in order, for ``paired_ratio``
    to compare two candidates round by round. ``show_progress`` draws a one-line progress bar
    (warm-up and measurements); by default only when the measurements take 5 s or more."""
    from .bars import progress

    threads = num_threads or torch.get_num_threads()
    best: dict[str, Timing] = {}
    medians: dict[str, list] = {name: [] for name in fns}
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
                medians[name].append(m.median)
                if name not in best or t.median < best[name].median:
                    best[name] = t
                bar.update(1)
    for name, t in best.items():
        t.rounds = tuple(medians[name])
    return best


def page_faults(fn, calls: int = 3) -> int | None:
    """The page faults (缺页中断) of one call of ``fn`` (a function without arguments): the
    median over ``calls`` calls of the process's minor faults, those served without the disk;
    new memory takes one at the first touch of each page. ``None`` where the platform does not
    count them (no ``resource`` module, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    counts = []
    for _ in range(calls):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        fn()
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return int(statistics.median(counts))


def paired_ratio(a: Timing, b: Timing) -> tuple[float, float, float]:
    """``a`` against ``b`` round by round: ``time_calls`` measures the candidates in turn, so
    round k of ``a`` and of ``b`` ran seconds apart, under the same load. Returns the median,
    the lowest and the highest of the per-round ratios a/b; a slow stretch of the machine
    moves one round's ratio, not the median."""
    if not a.rounds or len(a.rounds) != len(b.rounds):
        raise ValueError(f"{a.name!r} and {b.name!r} were not measured in the same rounds of one time_calls")
    ratios = [x / y for x, y in zip(a.rounds, b.rounds)]
    return statistics.median(ratios), min(ratios), max(ratios)


def versus(a: Timing, b: Timing) -> str:
    """How ``a`` compares with ``b``, judged against the spread: ``"1.52x faster"``,
    ``"1.52x slower"``, or ``"within the noise (1.04x)"`` when the difference of the medians is
    no larger than the two interquartile ranges added (the runs cannot tell them apart)."""
    ratio = b.median / a.median
    if abs(a.median - b.median) <= a.iqr + b.iqr:
        return f"within the noise ({1 / ratio:.2f}x the time)"
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def _ratio_rows(timings: dict[str, Timing], baseline: str, flops: int | None, peak: float | None,
                extra: dict | None) -> tuple[list[str], list[list[str]]]:
    """The header and rows both tables share: name, median ms, IQR ms ("-" from fewer than
    ``MIN_RUNS_FOR_IQR`` measurements), ratio to ``baseline``, then GFLOP/s and share of
    ``peak`` when ``flops`` is given, then the note of ``extra`` when given."""
    base = timings[baseline].median
    rate_head = (["GFLOP/s"] + (["of peak"] if peak else [])) if flops else []
    header = ["", "ms per call", "IQR ms", f"vs {baseline}"] + rate_head + (["note"] if extra is not None else [])
    rows = []
    for name, t in timings.items():
        row = [name, f"{t.median * 1e3:.2f}", f"{t.iqr * 1e3:.2f}" if t.runs >= MIN_RUNS_FOR_IQR else "-",
               f"{t.median / base:.2f}x"]
        if flops:
            rate = flops / t.median / 1e9
            row += [f"{rate:.1f}"] + ([f"{100 * rate / peak:.0f}%"] if peak else [])
        rows.append(row + ([extra.get(name, "")] if extra is not None else []))
    return header, rows


def ratio_table(timings: dict[str, Timing], baseline: str, title: str = "", extra: dict | None = None,
                flops: int | None = None, peak: float | None = None) -> str:
    """A plain-text table: the median time per call, its spread (the interquartile range of
    the measurements, in ms; "-" from fewer than ``MIN_RUNS_FOR_IQR`` measurements) and the
    ratio to ``baseline``; with ``flops`` (the work of one call) the GFLOP/s achieved, and with
    ``peak`` (GFLOP/s) its share of it; ``extra`` adds one column of per-row notes (name -> text)."""
    header, rows = _ratio_rows(timings, baseline, flops, peak, extra or {})
    header[-1] = ""  # the notes column has no title in plain text
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(len(header))]
    fmt = lambda r: "  ".join([r[0].ljust(widths[0])] + [r[k].rjust(widths[k]) for k in range(1, len(r) - 1)]  # noqa: E731
                              + [r[-1]]).rstrip()
    return "\n".join(([title] if title else []) + [fmt(header)] + [fmt(r) for r in rows])


def show_ratios(timings: dict[str, Timing], baseline: str, title: str = "", extra: dict | None = None,
                flops: int | None = None, peak: float | None = None) -> None:
    """``ratio_table``'s columns as a table the book renders (lstmbook.tables.show_table): the
    median time per call, its interquartile range and the ratio to ``baseline``, the GFLOP/s
    and share of ``peak`` when ``flops`` is given, with the notes of ``extra`` (name -> text)
    as a last column when given."""
    from .tables import show_table

    header, rows = _ratio_rows(timings, baseline, flops, peak, extra or None)
    numbers = len(header) - 1 - (extra is not None)
    show_table(header, rows, align="l" + "r" * numbers + ("l" if extra is not None else ""), title=title)


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if name in MATMUL_OPS:
            if name == "_linear_pointwise" and func._overloadname != "default":
                name += "." + func._overloadname  # .binary: (input, other, weight, ...), not (input, weight, ...)
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            self.calls.append((name, shapes, [a.dtype for a in args if isinstance(a, torch.Tensor)]))
        return out


def matmul_calls(fn, *args, **kwargs) -> list[tuple[str, list, list]]:
    """Run ``fn(*args, **kwargs)`` and return the matrix multiplications it issued, as
    (op name, argument shapes, argument dtypes), in order: aten's names (``mm``, ``addmm``...),
    and oneDNN's ``_linear_pointwise``, or ``_linear_pointwise.binary`` for the overload that
    adds a matrix. No clock is involved."""
    rec = _Recorder()
    with rec:
        fn(*args, **kwargs)
    return rec.calls


def lstm_flops(N: int, T: int, D: int, H: int, backward: bool = True) -> int:
    """Floating-point operations of the matrix products of one LSTM layer over a batch: the
    forward pass multiplies (N, D) by (D, 4H) and (N, H) by (H, 4H) at each of T steps, 2
    FLOPs per multiply-add: 2·N·T·4H·(D + H). The backward pass does two products of the same
    size for each (the input's gradient and the weights'): twice that again. The elementwise
    work (gates, cell state) is O(N·T·H), negligible beside it for any H worth timing."""
    forward = 2 * N * T * 4 * H * (D + H)
    return 3 * forward if backward else forward


def matmul_flops(calls) -> int:
    """The FLOPs of matrix products recorded by :func:`matmul_calls` (``mm``, ``addmm``,
    ``bmm``, ``baddbmm`` and their in-place forms, and oneDNN's ``_linear_pointwise``, whose
    weight is (n, k): 2·m·k·n each, the ``add`` not counted); other ops raise, so that nothing
    is silently left out."""
    total = 0
    for name, shapes, _ in calls:
        mats = [s for s in shapes if len(s) >= 2]
        if name in ("_linear_pointwise", "_linear_pointwise.binary"):
            weight = shapes[1] if name == "_linear_pointwise" else shapes[2]  # (n, k); the input (..., k)
            total += 2 * math.prod(shapes[0]) * weight[0]
        elif name in ("mm", "addmm", "addmm_") and len(mats) >= 2:
            (m, k), (_, n) = mats[-2][-2:], mats[-1][-2:]
            total += 2 * m * k * n
        elif name in ("bmm", "baddbmm", "baddbmm_") and len(mats) >= 2:
            batch, m, k = mats[-2]
            total += 2 * batch * m * k * mats[-1][-1]
        else:
            raise ValueError(f"cannot count the FLOPs of {name} with shapes {shapes}")
    return total


def matmul_speeds(shapes, dtype=torch.float32, device="cpu", min_run_time: float = 0.3,
                  rounds: int = 3) -> dict:
    """The machine's matrix-product speed where an LSTM needs it, library by library: GFLOP/s
    of ``torch.mm`` (the BLAS PyTorch was built with) and, where it applies, of oneDNN's
    product with its weight prepared once (:mod:`lstmbook.onednn`, the library of
    ``nn.LSTM`` on a CPU), at each (m, k, n) of ``shapes``. Timed like everything else
    (torch.utils.benchmark, the same threads, the libraries in turn), the best of ``rounds``
    rounds. Returns {(m, k, n): {"torch.mm": GFLOP/s, "oneDNN": GFLOP/s}}."""
    out = {}
    for m, k, n in shapes:
        a = torch.randn(m, k, dtype=dtype, device=device)
        b = torch.randn(k, n, dtype=dtype, device=device)
        fns = {"torch.mm": lambda: torch.mm(a, b)}
        if onednn.usable(a):
            packed = onednn.prepare(b, m)
            fns["oneDNN"] = lambda: onednn.matmul(a, packed)
        times = time_calls(fns, min_run_time=min_run_time, rounds=rounds, show_progress=False)
        out[(m, k, n)] = {name: 2 * m * k * n / t.median / 1e9 for name, t in times.items()}
    return out


def fastest_product(speeds: dict) -> tuple[float, str, tuple[int, int, int]]:
    """The peak the rungs are held to, from :func:`matmul_speeds`' measurements: the best
    GFLOP/s of any library at any shape (a peak is what the machine can do at its best), as
    (GFLOP/s, library, (m, k, n))."""
    return max((gflops, library, shape)
               for shape, by_library in speeds.items() for library, gflops in by_library.items())


def lstm_gemm_shapes(N: int, T: int, D: int, H: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) of the matrix products of an LSTM layer with the input projection hoisted:
    all steps' inputs at once (T·N, D)·(D, 4H), one step's recurrence (N, H)·(H, 4H), and
    the weight gradient of W_h over all steps (H, T·N)·(T·N, 4H)."""
    return [(T * N, D, 4 * H), (N, H, 4 * H), (H, T * N, 4 * H)]


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
