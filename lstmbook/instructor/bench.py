"""``make bench``: the speed ladder of chapter 4 and the NumPy LSTM of chapter 2, measured side
by side in one run and printed as ratios.

The code measured is the chapters' own reference code: the function and class definitions
of ``solutions/04_speed.md`` and ``solutions/02_numpy_lstm.md`` are loaded from the sources
(imports, ``def`` and ``class`` statements only; nothing else in the chapter runs), so the
benchmark can never drift from what the book teaches.
"""
from __future__ import annotations

import ast
import platform

import numpy as np
import torch

from ..timing import (Timing, fastest_product, lstm_flops, lstm_gemm_shapes, matmul_speeds, paired_ratio,
                      ratio_table, time_calls)
from .sources import repo_root, source_notebook

SIZES = {"full": dict(N=64, T=32, D=256, H=512), "quick": dict(N=4, T=5, D=8, H=16)}


def load_definitions(slug: str) -> dict:
    """The namespace made by the imports and the top-level ``def``/``class`` statements of
    every code cell of ``solutions/<slug>.md``."""
    from IPython.core.inputtransformer2 import TransformerManager

    nb = source_notebook(repo_root() / "solutions" / f"{slug}.md")
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    ns: dict = {"__name__": f"lstmbook_bench_{slug}"}
    ipython = TransformerManager()  # cells are IPython: the setup cell holds a %pip magic
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(ipython.transform_cell(cell.source))
        body = [node for node in tree.body if isinstance(node, keep)]
        if body:
            exec(compile(ast.Module(body=body, type_ignores=[]), f"solutions/{slug}.md", "exec"), ns)
    return ns


def ladder(device: torch.device, size: dict, compile_rung: bool, min_run_time: float, rounds: int):
    """Chapter 4's own ``ladder`` (the same arguments in the same order): forward + backward
    in float32 of every rung and of nn.LSTM: (timings, notes, page faults per call)."""
    return load_definitions("04_speed")["ladder"](device, size, compile_rung, min_run_time, rounds)


def numpy_vs_torch(size: dict, min_run_time: float, rounds: int):
    """Chapter 2's NumPy LSTM (forward + backward) against PyTorch in float64, with the same
    weights and the same upstream gradient. The fast version keeps its buffers from call to
    call (its ``work``), and is timed once more with new buffers at every call."""
    ch2 = load_definitions("02_numpy_lstm")
    ch4 = load_definitions("04_speed")
    N, T, D, H = size["N"], size["T"], size["D"], size["H"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, T, D))
    h0 = rng.normal(size=(N, H))
    Wx = rng.normal(size=(D, 4 * H)) / np.sqrt(D)
    Wh = rng.normal(size=(H, 4 * H)) / np.sqrt(H)
    b = rng.normal(size=4 * H) * 0.1
    dh = rng.normal(size=(N, T, H))

    def run_numpy():
        _, cache = ch2["lstm_forward"](x, h0, Wx, Wh, b)
        return ch2["lstm_backward"](dh, cache)

    work: dict = {}  # the fast version's buffers, kept from call to call as a training loop keeps them

    def run_numpy_fast(work=work):
        _, cache = ch2["lstm_forward_fast"](x, h0, Wx, Wh, b, work)
        return ch2["lstm_backward_fast"](dh, cache)

    def run_numpy_fast_fresh():
        return run_numpy_fast(work=None)

    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        lstm.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    tx = torch.from_numpy(x).requires_grad_()  # (N, T, D): batch first, as in both chapters
    th0 = torch.from_numpy(h0).requires_grad_()
    tc0 = torch.zeros(N, H, dtype=torch.float64)
    tdh = torch.from_numpy(dh)
    tWx = lstm.weight_ih_l0.detach().T.contiguous().requires_grad_()
    tWh = lstm.weight_hh_l0.detach().T.contiguous().requires_grad_()
    tb = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().requires_grad_()

    def run_torch_lstm():
        h, _ = lstm(tx, (th0[None], tc0[None]))
        h.backward(tdh)

    def run_torch_autograd():
        h, _, _ = ch4["lstm_fast"](tx, th0, tc0, tWx, tWh, tb)
        h.backward(tdh)

    # they compute the same thing: check before timing
    for p in (tx, th0, tWh):
        p.grad = None
    run_torch_autograd()
    for name, np_grads in {"step by step": run_numpy(), "fast": run_numpy_fast_fresh(),
                           "fast, with work (its first call)": run_numpy_fast(),
                           "fast, with work reused": run_numpy_fast()}.items():
        if not np.allclose(np_grads[3], tWh.grad.numpy(), rtol=1e-6, atol=1e-8):
            raise AssertionError(f"the {name} NumPy LSTM and PyTorch disagree on dWh; the comparison would be meaningless")
    fns = {"NumPy, fast, work kept (chapter 2, optional)": run_numpy_fast,
           "NumPy, fast, new buffers every call": run_numpy_fast_fresh,
           "NumPy, step by step (chapter 2)": run_numpy,
           "torch autograd, from scratch": run_torch_autograd, "torch nn.LSTM": run_torch_lstm}
    return time_calls(fns, min_run_time=min_run_time, rounds=rounds)


def paired(a: Timing, b: Timing, target: str = "") -> str:
    """a's time over b's, round by round: the median ratio, its range and the target, if any."""
    median, low, high = paired_ratio(a, b)
    spread = f" [{low:.2f}-{high:.2f}] over {len(a.rounds)} rounds" if len(a.rounds) > 1 else ""
    return f"{median:.2f}x{spread}" + (f" (target <= {target})" if target else "")


def hand_written_ratios(cpu: dict[str, Timing]) -> str:
    """The line for chapter 4's hand-written rungs against nn.LSTM (CPU ladder timings). The
    1.10x target is the compiled steps' where the ladder timed them, else the steps' as written."""
    compiled = cpu.get("hand-written backward, compiled steps")  # timed where the ladder compiles
    lstm = cpu["nn.LSTM"]
    return (f"hand-written backward / nn.LSTM (float32, CPU): "
            f"{paired(cpu['hand-written backward'], lstm, '' if compiled else '1.10x')}; "
            f"its products by torch.mm instead: {paired(cpu['hand-written backward, torch.mm'], lstm)}; "
            + (f"its steps compiled: {paired(compiled, lstm, '1.10x')}" if compiled else
               "its steps compiled: not timed (the ladder did not compile)"))


def main(quick: bool = False, compile_rung: bool = True, log=print) -> dict:
    """Run every benchmark and print the tables; returns the timings."""
    size = SIZES["quick" if quick else "full"]
    min_time, rounds = (0.02, 1) if quick else (0.8, 5)
    head = f"N={size['N']} T={size['T']} D={size['D']} H={size['H']}, forward + backward"
    log(f"torch {torch.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} CPU threads")
    results = {}
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    flops = lstm_flops(**size)
    shapes = lstm_gemm_shapes(**size)
    for device in devices:
        name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
        timings, notes, _ = ladder(device, size, compile_rung, min_time, rounds)
        speeds = matmul_speeds(shapes, torch.float32, device=device, min_run_time=min_time / 2)
        peak, library, shape = fastest_product(speeds)
        results[f"ladder/{device.type}"], results[f"peak/{device.type}"] = timings, peak
        log("")
        log(ratio_table(timings, "nn.LSTM", extra=notes, flops=flops, peak=peak,
                        title=f"Speed ladder on {name}, float32, {head} ({flops / 1e9:.2f} GFLOP); "
                              f"peak: the fastest product at the LSTM's shapes, {library} at (m, k, n) = {shape}, "
                              f"{peak:.0f} GFLOP/s"))
        log("GFLOP/s by library (m, k, n): " + "; ".join(
            f"{s}: " + ", ".join(f"{lib} {v:.0f}" for lib, v in by_lib.items()) for s, by_lib in speeds.items()))
    if not torch.cuda.is_available():
        log("\n(no CUDA device: the GPU ladder, with cuDNN's nn.LSTM, was not measured)")
    timings = numpy_vs_torch(size, min_time, rounds)
    peak64 = fastest_product(matmul_speeds(shapes, torch.float64, min_run_time=min_time / 2))[0]
    results["numpy"], results["peak/cpu/float64"] = timings, peak64
    log("")
    log(ratio_table(timings, "torch nn.LSTM", flops=flops, peak=peak64,
                    title=f"NumPy LSTM against PyTorch, float64 on the CPU, {head}; peak: torch.mm float64, "
                          f"{peak64:.0f} GFLOP/s"))
    cpu = results["ladder/cpu"]
    best = min((t for name, t in cpu.items() if name != "nn.LSTM"), key=lambda t: t.median)

    np_fast = timings["NumPy, fast, work kept (chapter 2, optional)"]
    log("")
    log("Ratios round by round (the median of the per-round ratios, [lowest-highest]; each round times "
        "both sides seconds apart):")
    log(f"fastest from-scratch LSTM ({best.name}) / nn.LSTM (float32, CPU): {paired(best, cpu['nn.LSTM'])}")
    log(hand_written_ratios(cpu))
    log(f"fast NumPy LSTM, work kept / from-scratch autograd (float64): "
        f"{paired(np_fast, timings['torch autograd, from scratch'], '1.00x')}; / nn.LSTM: "
        f"{paired(np_fast, timings['torch nn.LSTM'])}; step-by-step NumPy / nn.LSTM: "
        f"{paired(timings['NumPy, step by step (chapter 2)'], timings['torch nn.LSTM'])}")
    fresh = timings["NumPy, fast, new buffers every call"]
    log(f"fast NumPy LSTM, new buffers every call / work kept (float64): {paired(fresh, np_fast)}; "
        f"/ from-scratch autograd: {paired(fresh, timings['torch autograd, from scratch'])}")
    return results


def lm(profile: str = "full", log=print) -> dict:
    """``make bench-lm``: train chapter 8's poetry model in ``profile`` with the chapter's own
    code, on the GPU when there is one, and print the dev perplexity after every epoch, the
    tokens per second and the device."""
    from .. import config
    from ..device import describe, pick_device

    if profile not in config.PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {config.PROFILES}")
    from ..data import import_fastnlp

    import_fastnlp().logger.setLevel("ERROR")  # imported once, quietly; History reports every epoch
    ch8 = load_definitions("08_poetry")
    cfg = ch8["poetry_config"](profile)
    train, dev, vocab = ch8["poetry_corpus"](cfg)
    device = pick_device()
    log(f"chapter 8, profile {profile}: {cfg}")
    log(f"{len(train)} training poems, {len(dev)} dev poems, vocabulary {len(vocab)}; device {describe(device)}")
    _, hist = ch8["train_lm"](cfg, ch8["lm_dataset"](train, vocab), ch8["lm_dataset"](dev, vocab), len(vocab), device)
    log("")
    log("epoch  train loss  dev perplexity  tokens/s")
    for k, (loss, ppl, tps) in enumerate(zip(hist.train_loss, hist.dev_ppl, hist.tokens_per_s), start=1):
        log(f"{k:5d}  {loss:10.3f}  {ppl:14.1f}  {tps:8,.0f}")
    best = min(hist.dev_ppl)
    log(f"best dev perplexity {best:.1f} (epoch {hist.dev_ppl.index(best) + 1}) on {describe(device)}")
    return {"dev_ppl": hist.dev_ppl, "tokens_per_s": hist.tokens_per_s, "device": str(device)}


def grade(students: int = 4, chapter: str = "02_numpy_lstm", log=print) -> dict:
    """``make bench-grade``: grade the same submissions (the reference solution of ``chapter``
    handed in by ``students`` students) with 1 worker, 2 workers, and 1 worker without the
    sandbox, in one run; print the wall times, the ratios and the time per notebook.

    The reference records are computed once before the timed runs, so each run times the
    students' notebooks only."""
    import copy
    import tempfile
    import time
    from pathlib import Path

    import nbformat

    from . import grader

    src = source_notebook(repo_root() / "solutions" / f"{chapter}.md")
    nb = grader.reference_notebook(src)
    with tempfile.TemporaryDirectory(prefix="lstmbook-bench-grade-") as tmp:
        subs = Path(tmp, "submissions")
        for k in range(students):
            (subs / f"s{k:03d}").mkdir(parents=True)
            nbformat.write(copy.deepcopy(nb), subs / f"s{k:03d}" / f"{chapter}.ipynb")
        quiet = lambda *_: None  # noqa: E731
        warm = Path(tmp, "warm")
        grader.grade(subs, warm, only=[chapter], workers=2, log=quiet)  # reference records
        times = {}
        for name, kw in [("1 worker", dict(workers=1)), ("2 workers", dict(workers=2)),
                         ("1 worker, no sandbox", dict(workers=1, sandbox=False))]:
            course = Path(tmp, name.replace(" ", "_").replace(",", ""))
            start = time.perf_counter()
            results = grader.grade(subs, course, only=[chapter], log=quiet,
                                    reference_dir=warm / "lstmbook" / "reference", **kw)
            times[name] = time.perf_counter() - start
            full = sum(r.score == r.max_score for r in results)
            log(f"{name:22s} {times[name]:7.1f} s for {students} notebooks "
                f"({times[name] / students:.1f} s each), {full}/{students} full marks")
    speedup = times["1 worker"] / times["2 workers"]
    cost = times["1 worker"] / times["1 worker, no sandbox"] - 1
    log(f"2 workers vs 1: {speedup:.2f}x faster (target >= 1.7x on 2 cores)")
    log(f"sandbox cost per notebook: {100 * cost:+.1f}% (target <= 15%)")
    return {"times": times, "speedup": speedup, "sandbox_cost": cost}
