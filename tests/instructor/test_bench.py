"""`make bench` runs the chapters' own reference code and prints ratios measured in one run
(smoke test at tiny sizes: no timing is asserted, only that every row is measured)."""
import os
import re
import shutil

import pytest
import torch

from lstmbook import onednn
from lstmbook.instructor import bench
from lstmbook.timing import Timing, lstm_flops, matmul_calls, matmul_flops, ratio_table, time_calls


def test_bench_loads_the_chapter_code_and_prints_every_ratio():
    lines = []
    results = bench.main(quick=True, compile_rung=False, log=lines.append)
    out = "\n".join(lines)
    rows = ["per-gate matmuls", "fused gates", "hoisted projection", "hand-written backward, torch.mm",
            "hand-written backward", "nn.LSTM",
            "NumPy, fast, work kept (chapter 2, optional)", "NumPy, fast, new buffers every call",
            "NumPy, step by step (chapter 2)", "torch autograd, from scratch", "torch nn.LSTM"]
    for row in rows:  # time, spread, ratio, GFLOP/s, share of the peak
        assert re.search(rf"^{re.escape(row)}\s+\d+\.\d+\s+(\d+\.\d+|-)\s+\d+\.\d+x\s+\d+\.\d\s+\d+%", out, re.M), row
    assert "fastest from-scratch LSTM" in out and "fast NumPy LSTM, work kept / from-scratch autograd (float64)" in out
    assert "fast NumPy LSTM, new buffers every call / work kept (float64)" in out
    assert "hand-written backward / nn.LSTM (float32, CPU)" in out
    assert "its steps compiled: not timed (the ladder did not compile)" in out  # compile_rung=False
    assert results["peak/cpu"] > 0 and results["peak/cpu/float64"] > 0
    assert set(results["ladder/cpu"]) >= {"nn.LSTM", "hoisted projection"}
    assert re.search(r"^per-gate matmuls .* 40 matmuls forward, \d+ page faults per call$", out, re.M)  # 8 per step, T = 5
    assert re.search(r"^nn.LSTM .* one fused kernel, \d+ page faults per call$", out, re.M)


def test_the_lstm_flop_count_is_what_the_hand_written_rung_multiplies():
    """lstm_flops (the formula every GFLOP/s of the ladder divides by) against an independent
    count: the matrix products chapter 4's hand-written rung issues, recorded by a dispatch
    mode, forward alone and forward + backward (h0, c0 and x with gradients too), in float64
    (torch.mm's products) and float32 (oneDNN's, where this PyTorch has it: the ladder's)."""
    ns = bench.load_definitions("04_speed")
    N, T, D, H = 3, 5, 4, 6
    for dtype in (torch.float64, torch.float32):
        (x, h0, c0, Wx, Wh, b), _ = ns["lstm_args"](N=N, T=T, D=D, H=H, dtype=dtype)
        for p in (x, h0, c0):
            p.requires_grad_()

        def forward_backward():
            ns["lstm_handwritten"](x, h0, c0, Wx, Wh, b)[0].sum().backward()

        forward = matmul_calls(ns["lstm_handwritten"], x, h0, c0, Wx, Wh, b)
        assert matmul_flops(forward) == lstm_flops(N, T, D, H, backward=False), dtype
        assert matmul_flops(matmul_calls(forward_backward)) == lstm_flops(N, T, D, H) == 3 * 2 * N * T * 4 * H * (D + H)
        expected = "_linear_pointwise" if dtype == torch.float32 and onednn.usable(torch.zeros(1)) else "mm"
        assert {c[0].split(".")[0].removeprefix("add") for c in forward} == {expected}, (dtype, forward)


def compiled_steps(ns):
    """Chapter 4's step functions compiled as its ladder compiles them (torch.compile's CPU
    code needs a C++ compiler, as the ladder's compiled rungs do)."""
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "c++"), "g++", "clang++")):
        pytest.skip("no C++ compiler for torch.compile: the ladder's compiled rungs cannot run here either")
    return ns["compile_steps"]()


def test_the_hand_written_target_is_the_compiled_steps_where_they_were_timed():
    """The bench's line for the hand-written rungs: the 1.10x target goes to the compiled steps
    when the ladder timed them, to the steps as written when it did not; every ratio is the
    rung's own (fake timings, round by round)."""
    def timing(name, seconds):
        return Timing(name, seconds[0], 0.0, 1, tuple(seconds))

    cpu = {"nn.LSTM": timing("nn.LSTM", [1.0, 1.0, 1.0]),
           "hand-written backward": timing("hand-written backward", [1.2, 1.3, 1.2]),
           "hand-written backward, torch.mm": timing("hand-written backward, torch.mm", [1.5, 1.5, 1.6])}
    line = bench.hand_written_ratios(cpu)
    assert "nn.LSTM (float32, CPU): 1.20x [1.20-1.30] over 3 rounds (target <= 1.10x)" in line
    assert "torch.mm instead: 1.50x" in line and "its steps compiled: not timed" in line
    cpu["hand-written backward, compiled steps"] = timing("compiled", [1.05, 1.04, 1.08])
    line = bench.hand_written_ratios(cpu)
    assert "nn.LSTM (float32, CPU): 1.20x [1.20-1.30] over 3 rounds;" in line
    assert line.endswith("its steps compiled: 1.05x [1.04-1.08] over 3 rounds (target <= 1.10x)")


@pytest.mark.parametrize("steps", ["as written", "compiled"])
def test_the_hand_written_backward_is_the_true_gradient(steps):
    """Chapter 4's LSTMFunction (given code: the elementwise work of a step in forward_step and
    backward_step, the weight gradients one product each) against numerical gradients in
    float64, through h, h_n and c_n, for every input; with the step functions as written and
    compiled (the ladder's fastest hand-written rung)."""
    ns = bench.load_definitions("04_speed")
    torch.manual_seed(7)
    N, T, D, H = 3, 5, 4, 6
    args = [torch.randn(s, dtype=torch.float64, requires_grad=True)
            for s in [(N, T, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    pair = compiled_steps(ns) if steps == "compiled" else None
    assert torch.autograd.gradcheck(lambda *a: ns["lstm_handwritten"](*a, steps=pair), args)


@pytest.mark.parametrize("steps", ["as written", "compiled"])
def test_the_hand_written_backward_in_float32_matches_nn_lstm(steps):
    """The float32 path of LSTMFunction (the ladder's: oneDNN's products with prepared weights,
    where this PyTorch has them; the step functions as written and compiled) against nn.LSTM,
    every output and gradient, the incoming gradients random, through h, h_n and c_n."""
    ns = bench.load_definitions("04_speed")
    N, T, D, H = 4, 7, 5, 8
    (x, h0, c0, Wx, Wh, b), lstm = ns["lstm_args"](N=N, T=T, D=D, H=H, dtype=torch.float32)
    inputs = [p.requires_grad_() for p in (x, h0, c0)]
    torch.manual_seed(3)
    weights = [torch.randn(N, T, H), torch.randn(N, H), torch.randn(N, H)]
    ours = ns["lstm_handwritten"](x, h0, c0, Wx, Wh, b, steps=compiled_steps(ns) if steps == "compiled" else None)
    sum((o * w).sum() for o, w in zip(ours, weights)).backward()
    grads = [p.grad for p in (*inputs, Wx, Wh, b)]
    for p in inputs:
        p.grad = None
    h, (h_n, c_n) = lstm(x, (h0[None], c0[None]))
    sum((o * w).sum() for o, w in zip((h, h_n[0], c_n[0]), weights)).backward()
    expected = [x.grad, h0.grad, c0.grad, lstm.weight_ih_l0.grad.T, lstm.weight_hh_l0.grad.T, lstm.bias_ih_l0.grad]
    for got, want in zip([*ours, *grads], [h, h_n[0], c_n[0], *expected]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_the_hand_written_backward_with_inputs_that_ask_for_no_gradient():
    """LSTMFunction where some of x, h0, c0 ask for no gradient (the first layer's x, a fixed
    h0 or c0; its backward pass skips what they would need): those get none, and every other
    gradient is the one it gets when all of them are asked for (float64, the weights' too)."""
    ns = bench.load_definitions("04_speed")
    torch.manual_seed(5)
    N, T, D, H = 3, 4, 5, 6
    (x, h0, c0, Wx, Wh, b), _ = ns["lstm_args"](N=N, T=T, D=D, H=H, dtype=torch.float64)
    weights = [torch.randn(N, T, H, dtype=torch.float64), torch.randn(N, H, dtype=torch.float64),
               torch.randn(N, H, dtype=torch.float64)]

    def gradients(asked):
        inputs = [p.detach().clone().requires_grad_(name in asked) for name, p in zip("x h0 c0".split(), (x, h0, c0))]
        params = [p.detach().clone().requires_grad_() for p in (Wx, Wh, b)]
        out = ns["lstm_handwritten"](*inputs, *params)
        sum((o * w).sum() for o, w in zip(out, weights)).backward()
        return [p.grad for p in (*inputs, *params)]

    every = gradients({"x", "h0", "c0"})
    for asked in ({"h0", "c0"}, {"x"}, set()):
        got = gradients(asked)
        for name, g, want in zip("x h0 c0 Wx Wh b".split(), got, every):
            if name in {"x", "h0", "c0"} and name not in asked:
                assert g is None, name
            else:
                torch.testing.assert_close(g, want, rtol=1e-12, atol=1e-12, msg=name)


def test_the_fast_numpy_lstm_gives_the_step_by_step_gradients():
    """Chapter 2's fast NumPy LSTM (the reference of the optional exercise: the bias in the
    input product, h_t reused in the backward pass) against the step-by-step reference, every
    output and gradient, in float64."""
    import numpy as np

    ns = bench.load_definitions("02_numpy_lstm")
    rng = np.random.default_rng(3)
    N, T, D, H = 3, 6, 4, 5
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    dh = rng.normal(size=(N, T, H))
    h_slow, cache_slow = ns["lstm_forward"](x, h0, Wx, Wh, b)
    h_fast, cache_fast = ns["lstm_forward_fast"](x, h0, Wx, Wh, b)
    np.testing.assert_allclose(h_fast, h_slow, rtol=1e-10, atol=1e-12)
    for name, fast, slow in zip(["dx", "dh0", "dWx", "dWh", "db"], ns["lstm_backward_fast"](dh, cache_fast),
                                ns["lstm_backward"](dh, cache_slow)):
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_fast_numpy_lstm_reusing_its_buffers_gives_every_call_its_own_gradients():
    """Chapter 2's fast NumPy LSTM with one work dict for a series of calls (new inputs and
    weights each time, the shapes changed in between): each call's h and gradients are the
    step-by-step reference's for its own inputs, nothing left over from the call before; and
    the buffers are in fact reused while the shapes stay."""
    import numpy as np

    ns = bench.load_definitions("02_numpy_lstm")
    rng = np.random.default_rng(4)
    work = {}
    for k, (N, T, D, H) in enumerate([(3, 6, 4, 5), (3, 6, 4, 5), (2, 7, 3, 4), (3, 6, 4, 5)]):
        x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
        Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
        dh = rng.normal(size=(N, T, H))
        before = dict(work)
        h_fast, cache_fast = ns["lstm_forward_fast"](x, h0, Wx, Wh, b, work)
        h_slow, cache_slow = ns["lstm_forward"](x, h0, Wx, Wh, b)
        np.testing.assert_allclose(h_fast, h_slow, rtol=1e-10, atol=1e-12, err_msg=f"h, call {k}")
        for name, fast, slow in zip(["dx", "dh0", "dWx", "dWh", "db"], ns["lstm_backward_fast"](dh, cache_fast),
                                    ns["lstm_backward"](dh, cache_slow)):
            np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12, err_msg=f"{name}, call {k}")
        if k == 1:  # the same shapes as call 0: every buffer is call 0's array, the largest ones among them
            assert set(before) >= {"gates", "da"}, sorted(before)
            assert all(work[name] is array for name, array in before.items()), sorted(before)


def test_load_definitions_runs_only_imports_and_definitions():
    ns = bench.load_definitions("04_speed")
    assert callable(ns["lstm_fast"]) and callable(ns["lstm_handwritten"])
    assert "cpu_timings" not in ns  # the chapter's measurements did not run


def test_bench_ladder_takes_the_chapters_arguments_in_the_chapters_order():
    import inspect

    chapter = list(inspect.signature(bench.load_definitions("04_speed")["ladder"]).parameters)
    assert list(inspect.signature(bench.ladder).parameters) == chapter


def test_matmul_calls_counts_without_a_clock():
    a, w = torch.randn(3, 4), torch.randn(4, 5)
    calls = matmul_calls(lambda: torch.nn.functional.linear(a, w.T) + a @ w)
    assert [c[0] for c in calls] == ["mm", "mm"]
    assert calls[1][1] == [(3, 4), (4, 5)]


def test_ratio_table_reports_ratios_to_the_baseline():
    t = time_calls({"a": lambda: None, "b": lambda: sum(range(2000))}, min_run_time=0.01)
    table = ratio_table(t, "a")
    assert re.search(r"^a\s+\d+\.\d+\s+(\d+\.\d+|-)\s+1\.00x$", table, re.M)
    assert re.search(r"^\s+ms per call\s+IQR ms\s+vs a$", table, re.M)
    spread = ratio_table({"b": Timing("b", 2e-3, 0.25e-3, 9), "a": t["a"]}, "a")
    assert re.search(r"^b\s+2\.00\s+0\.25\s+", spread, re.M)  # the spread is printed, not only measured
    once = ratio_table({"slow": Timing("slow", 2.0, 0.0, 1), "a": t["a"]}, "a")
    assert re.search(r"^slow\s+2000\.00\s+-\s+", once, re.M)  # one measurement: no spread to print
    assert t["b"].median > t["a"].median


def test_bench_lm_trains_chapter_8_and_reports_each_epoch():
    lines = []
    result = bench.lm(profile="quick", log=lines.append)
    out = "\n".join(lines)
    assert len(result["dev_ppl"]) == 2 and all(p > 1 for p in result["dev_ppl"])
    assert re.search(r"^\s+1\s+\d+\.\d{3}\s+\d+\.\d\s+[\d,]+$", out, re.M)
    assert re.search(r"^best dev perplexity \d+\.\d \(epoch \d\) on cpu", out, re.M)
