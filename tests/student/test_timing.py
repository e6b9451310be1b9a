"""lstmbook.timing's judgement of two timings: a ratio is a conclusion only beyond the spread."""
import sys

import pytest

from lstmbook.timing import Timing, versus


@pytest.mark.parametrize("a, b, expected", [
    (Timing("a", 1.0, 0.01, 10), Timing("b", 1.5, 0.01, 10), "1.50x faster"),
    (Timing("a", 1.5, 0.01, 10), Timing("b", 1.0, 0.01, 10), "1.50x slower"),
    # a 10% difference inside IQRs of 0.06 each: the runs cannot tell
    (Timing("a", 1.0, 0.06, 10), Timing("b", 1.1, 0.06, 10), "within the noise (0.91x the time)"),
    (Timing("a", 1.11, 0.05, 10), Timing("b", 1.0, 0.07, 10), "within the noise (1.11x the time)"),
])
def test_versus_states_a_difference_only_beyond_the_spread(a, b, expected):
    assert versus(a, b) == expected


def test_show_ratios_is_a_markdown_table_with_the_spread(capsys):
    """Outside a notebook the table is printed as Markdown: the book renders it as a table."""
    from lstmbook.timing import show_ratios

    show_ratios({"slow": Timing("slow", 3e-3, 0.5e-3, 9), "base": Timing("base", 1e-3, 0.1e-3, 9),
                 "once": Timing("once", 2e-3, 0.0, 1)}, "base", title="T = 8", extra={"slow": "8 matmuls"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["**T = 8**", ""]
    assert lines[2:5] == ["|  | ms per call | IQR ms | vs base | note |", "| :--- | ---: | ---: | ---: | :--- |",
                          "| slow | 3.00 | 0.50 | 3.00x | 8 matmuls |"]
    assert lines[6] == "| once | 2.00 | - | 2.00x |  |"  # one measurement: no spread to show


def test_matmul_flops_counts_every_product_form_and_refuses_what_it_cannot_count():
    import torch

    from lstmbook.timing import matmul_calls, matmul_flops

    a, w, out = torch.randn(3, 4), torch.randn(4, 5), torch.zeros(3, 5)
    calls = matmul_calls(lambda: (a @ w, torch.addmm(out, a, w), out.clone().addmm_(a, w),
                                  torch.bmm(a[None], w[None])))
    assert [c[0] for c in calls] == ["mm", "addmm", "addmm_", "bmm"]
    assert matmul_flops(calls) == 4 * 2 * 3 * 4 * 5
    with pytest.raises(ValueError, match="cannot count the FLOPs of mv"):
        matmul_flops(matmul_calls(lambda: torch.mv(a, w[:, 0])))


def test_the_ratio_table_gives_the_rate_and_the_share_of_the_peak():
    from lstmbook.timing import ratio_table

    t = {"a": Timing("a", 1e-3, 0.1e-3, 9), "b": Timing("b", 2e-3, 0.1e-3, 9)}
    lines = ratio_table(t, "a", flops=2_000_000_000, peak=4000.0).splitlines()
    assert lines[0].split() == ["ms", "per", "call", "IQR", "ms", "vs", "a", "GFLOP/s", "of", "peak"]
    assert lines[1].split() == ["a", "1.00", "0.10", "1.00x", "2000.0", "50%"]
    assert lines[2].split() == ["b", "2.00", "0.10", "2.00x", "1000.0", "25%"]


def test_paired_ratio_takes_the_median_of_the_ratios_round_by_round():
    """One slow round (both sides slowed alike, or one side alone) moves one ratio, not the
    median; the lowest and highest per-round ratios come with it."""
    from lstmbook.timing import paired_ratio

    a = Timing("a", 1.1, 0.0, 5, rounds=(1.1, 1.2, 2.2, 1.1, 1.5))
    b = Timing("b", 1.0, 0.0, 5, rounds=(1.0, 1.0, 2.0, 1.0, 1.0))
    assert paired_ratio(a, b) == pytest.approx((1.1, 1.1, 1.5))
    with pytest.raises(ValueError, match="same rounds"):
        paired_ratio(a, Timing("c", 1.0, 0.0, 5, rounds=(1.0, 1.0)))


def test_time_calls_keeps_every_rounds_median_in_the_order_measured():
    from lstmbook.timing import time_calls

    t = time_calls({"a": lambda: None, "b": lambda: sum(range(500))}, min_run_time=0.002, rounds=3,
                   show_progress=False)
    assert len(t["a"].rounds) == len(t["b"].rounds) == 3
    assert t["a"].median == min(t["a"].rounds)  # the best round is the one reported


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the page counts assumed are Linux's (glibc, pages of 4 kB or 2 MB)")
def test_page_faults_counts_the_first_writes_to_fresh_memory():
    """64 MB taken fresh and written fault at least once per 2 MB page (more with 4 kB pages);
    the same writes to memory written before do not fault."""
    import numpy as np

    from lstmbook.timing import page_faults

    kept = np.empty(8 << 20)  # 64 MB of float64, written once here
    kept.fill(1.0)
    fresh = page_faults(lambda: np.empty(8 << 20).fill(1.0))
    again = page_faults(lambda: kept.fill(2.0))
    assert fresh >= 32 and again < fresh // 4, (fresh, again)
