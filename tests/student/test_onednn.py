"""lstmbook.onednn: a @ W (+ add) through oneDNN where it applies, torch.mm elsewhere; the
same numbers either way, and the products it issues counted like torch.mm's."""
import pytest
import torch

from lstmbook import onednn
from lstmbook.timing import matmul_calls, matmul_flops, matmul_speeds

needs_onednn = pytest.mark.skipif(not onednn.usable(torch.zeros(1)), reason="this PyTorch has no oneDNN")


def _cases(dtype):
    torch.manual_seed(0)
    m, k, n = 5, 7, 3
    a, W = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    yield "plain", a, W, None
    yield "bias", a, W, torch.randn(n, dtype=dtype)
    yield "matrix added", a, W, torch.randn(m, n, dtype=dtype)
    yield "a transposed, W a transposed view", torch.randn(k, m, dtype=dtype).T, torch.randn(n, k, dtype=dtype).T, None
    yield "W every other column of a wider matrix", a, torch.randn(k, 2 * n, dtype=dtype)[:, ::2], None
    yield "added matrix broadcast from one row", a, W, torch.randn(1, n, dtype=dtype).expand(m, n)
    yield "added matrix, one step of a time-major view", a, W, torch.randn(m, 4, n, dtype=dtype).transpose(0, 1)[2]
    yield "bias strided", a, W, torch.randn(n, 2, dtype=dtype)[:, 0]
    yield "bias broadcast from one number", a, W, torch.randn(1, dtype=dtype).expand(n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("prepared", [False, True])
def test_matmul_gives_the_product_in_every_form(dtype, prepared):
    for case, a, W, add in _cases(dtype):
        expected = a.double() @ W.double() + (0 if add is None else add.double())
        weight = onednn.prepare(W, a.shape[0]) if prepared else W
        got = onednn.matmul(a, weight, add)
        assert got.dtype == dtype and got.shape == expected.shape, case
        torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5, msg=case)


def test_outside_onednn_nothing_is_prepared_and_torch_mm_multiplies():
    W = torch.randn(4, 6, dtype=torch.float64)
    assert not onednn.usable(W) and onednn.prepare(W, 3) is W
    calls = matmul_calls(lambda: (onednn.matmul(torch.randn(3, 4, dtype=torch.float64), W),
                                  onednn.matmul(torch.randn(3, 4, dtype=torch.float64), W, torch.zeros(6, dtype=torch.float64))))
    assert [c[0] for c in calls] == ["mm", "addmm"]
    a, W32 = torch.randn(3, 4), torch.randn(4, 6)
    before = torch.backends.mkldnn.enabled
    with onednn.off():  # switched off, as torch.backends.mkldnn.flags(enabled=False) does
        assert not onednn.usable(a) and onednn.prepare(W32, 3) is W32
        assert [c[0] for c in matmul_calls(onednn.matmul, a, W32)] == ["mm"]
    assert torch.backends.mkldnn.enabled == before  # switched back on after the block


def test_what_autograd_records_is_multiplied_by_torch_mm_and_gets_its_gradient():
    """oneDNN's operators have no backward pass: an input that requires a gradient, with grad
    mode on, goes to torch.mm, whose gradient autograd knows; a prepared weight refuses it."""
    a, W = torch.randn(3, 4, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    assert [c[0] for c in matmul_calls(onednn.matmul, a, W, torch.zeros(6))] == ["addmm"]
    onednn.matmul(a, W).sum().backward()
    torch.testing.assert_close(a.grad, W.sum(1).expand(3, 4).detach())
    torch.testing.assert_close(W.grad, a.sum(0)[:, None].expand(4, 6).detach())
    if onednn.usable(torch.zeros(1)):
        packed = onednn.prepare(W.detach(), 3)
        with pytest.raises(ValueError, match="autograd does not record"):
            onednn.matmul(a, packed)


@needs_onednn
def test_in_float32_on_a_cpu_onednn_multiplies_and_its_flops_are_counted():
    """Every form goes to oneDNN's operator, and matmul_flops counts 2·m·k·n for each, the
    weight prepared or not, a matrix added or not (the two overloads record their arguments in
    different orders)."""
    m, k, n = 5, 7, 3
    a, W, add = torch.randn(m, k), torch.randn(k, n), torch.randn(m, n)
    packed = onednn.prepare(W, m)
    assert packed.is_mkldnn and tuple(packed.shape) == (n, k)
    calls = matmul_calls(lambda: [onednn.matmul(a, w, extra) for w in (W, packed) for extra in (None, add)])
    assert [c[0] for c in calls] == ["_linear_pointwise", "_linear_pointwise.binary"] * 2
    assert matmul_flops(calls) == 4 * 2 * m * k * n
    batched = matmul_calls(lambda: onednn.matmul(torch.randn(2, m, k), W))  # rows of every leading dim
    assert matmul_flops(batched) == 2 * 2 * m * k * n


def test_matmul_speeds_times_each_library_that_applies():
    shape = (4, 8, 16)
    speeds = matmul_speeds([shape], torch.float32, min_run_time=0.01, rounds=1)
    expected = {"torch.mm", "oneDNN"} if onednn.usable(torch.zeros(1)) else {"torch.mm"}
    assert set(speeds[shape]) == expected and all(v > 0 for v in speeds[shape].values())
    assert set(matmul_speeds([shape], torch.float64, min_run_time=0.01, rounds=1)[shape]) == {"torch.mm"}
