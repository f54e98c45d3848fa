"""fused_causal_attention: the explicit path's numbers and masks, in one C++ kernel."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F

import dynadrop as dd
from dynadrop.core import native
from dynadrop.core.fused_attention import fused_attention_keep_mask, fused_causal_attention
from dynadrop.core.hashed_masks import keep_mask
from tests.conftest import assert_fraction_close
from tests.core.test_blocked_attention import explicit_attention

SEEDS = torch.tensor([12345, -678], dtype=torch.int32)
# (batch, head, time, dim): one block, a partial last block, several blocks, odd sizes, one
# token, a head wider than one 64-column tile
SHAPES = [(2, 3, 64, 32), (2, 2, 100, 24), (1, 2, 130, 64), (3, 1, 17, 8), (1, 1, 1, 16), (1, 2, 70, 80)]


def gpt_layout_inputs(shape):
    """q, k, v as the GPT makes them: (batch, head, time, dim) views of one (batch, time, 3*C) tensor."""
    batch, heads, time, dim = shape
    qkv = torch.randn(batch, time, 3 * heads * dim, requires_grad=True)
    return [t.view(batch, time, heads, dim).transpose(1, 2) for t in qkv.split(heads * dim, dim=2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5])
def test_equals_the_explicit_path_with_the_same_mask_forward_and_backward(shape, rate):
    q, k, v = gpt_layout_inputs(shape)
    rate_tensor = torch.tensor(rate)
    out = fused_causal_attention(q, k, v, rate_tensor, seeds=SEEDS)
    grad = torch.randn_like(out)
    fused_grads = torch.autograd.grad(out, (q, k, v), grad)
    batch, heads, time, _ = shape
    keep = keep_mask(SEEDS, rate_tensor, torch.Size((batch, heads, time, time)), torch.float32)
    expected = explicit_attention(q, k, v, rate, keep)
    torch.testing.assert_close(out, expected, atol=2e-5, rtol=2e-5)
    for got, want in zip(fused_grads, torch.autograd.grad(expected, (q, k, v), grad), strict=True):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=2e-5)


def test_without_a_rate_equals_sdpa_forward_and_backward():
    q, k, v = gpt_layout_inputs((2, 3, 70, 16))
    out = fused_causal_attention(q, k, v)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    grad = torch.randn_like(out)
    for got, want in zip(torch.autograd.grad(out, (q, k, v), grad),
                         torch.autograd.grad(expected, (q, k, v), grad), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def identity_values_attention(rate: float, batch: int = 8, time: int = 64):
    """With q = k = 0 and v = I, output row i is the dropped probabilities of query i: 1/(i+1) each."""
    q = torch.zeros(batch, 4, time, time)
    v = torch.eye(time).expand(batch, 4, time, time).contiguous().requires_grad_()
    return fused_causal_attention(q, q, v, torch.tensor(rate)), v


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_drops_the_fraction_rate_of_probabilities_and_scales_the_rest(rate):
    out, _ = identity_values_attention(rate)
    time = out.size(-1)
    causal = torch.ones(time, time, dtype=torch.bool).tril().expand_as(out)
    kept = out[causal] != 0
    assert_fraction_close(1 - kept.float().mean().item(), rate, kept.numel())
    uniform = (1 / torch.arange(1, time + 1, dtype=torch.float32)).view(-1, 1).expand_as(out)[causal]
    torch.testing.assert_close(out[causal][kept], uniform[kept] / (1 - rate))
    assert not out[~causal].any()


def test_backward_uses_the_forward_mask():
    """dL/dv = dropped probabilities^T @ dL/dout, with the mask read off the forward's output."""
    out, v = identity_values_attention(0.4, batch=2)
    grad = torch.randn_like(out)
    (grad_v,) = torch.autograd.grad(out, v, grad)
    torch.testing.assert_close(grad_v, out.detach().transpose(-2, -1) @ grad, atol=1e-5, rtol=1e-5)


def test_manual_seed_reproduces_the_masks_and_successive_calls_differ():
    q, k, v = gpt_layout_inputs((2, 2, 32, 16))
    rate = torch.tensor(0.5)
    torch.manual_seed(7)
    first, second = fused_causal_attention(q, k, v, rate), fused_causal_attention(q, k, v, rate)
    torch.manual_seed(7)
    again = fused_causal_attention(q, k, v, rate)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert not torch.allclose(first, second)


def test_compiled_draws_the_eager_masks_and_one_graph_serves_every_rate(monkeypatch):
    monkeypatch.setattr(torch._dynamo.config, "fail_on_recompile_limit_hit", True)
    torch._dynamo.reset()
    compiled = torch.compile(fused_causal_attention, fullgraph=True)
    q, k, v = gpt_layout_inputs((2, 2, 48, 16))
    for rate in (0.4, 0.3, 0.1):
        torch.manual_seed(int(rate * 10))
        out = compiled(q, k, v, torch.tensor(rate))
        grads = torch.autograd.grad(out.square().sum(), (q, k, v))
        torch.manual_seed(int(rate * 10))
        expected = fused_causal_attention(q, k, v, torch.tensor(rate))
        torch.testing.assert_close(out, expected, atol=0, rtol=0)
        for got, want in zip(grads, torch.autograd.grad(expected.square().sum(), (q, k, v)), strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_bad_inputs_are_refused_with_what_is_allowed():
    q = torch.randn(1, 2, 8, 4)
    with pytest.raises(ValueError, match=r"share one \(batch, head, time, dim\) shape"):
        fused_causal_attention(q, q[:, :1], q)
    with pytest.raises(ValueError, match="CPU float32 tensors, got torch.float64"):
        fused_causal_attention(q.double(), q.double(), q.double())
    long = torch.zeros(1, 1, 46_341, 1).expand(1, 1, 46_341, 1)  # 46341**2 counters overflow int32
    with pytest.raises(ValueError, match="the mask counters allow fewer than 2147483648"):
        fused_causal_attention(long, long, long)


def test_a_missing_compiler_is_reported_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    monkeypatch.setenv("DYNADROP_CACHE_DIR", str(tmp_path))
    native.load_kernel.cache_clear()
    try:
        with pytest.raises(native.KernelUnavailable, match=r"no C\+\+ compiler found.*no-such-compiler"):
            native.load_kernel("fused_attention")
    finally:
        native.load_kernel.cache_clear()


def test_a_failed_build_shows_the_compiler_error_and_leaves_no_library(monkeypatch, tmp_path):
    sources = tmp_path / "csrc"
    sources.mkdir()
    (sources / "broken.cpp").write_text("this is not C++\n")
    monkeypatch.setattr(native, "SOURCES", sources)
    monkeypatch.setenv("DYNADROP_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(native.KernelUnavailable, match="building broken.cpp with .* failed:\n.*error"):
        native.load_kernel("broken")
    assert list((tmp_path / "cache").iterdir()) == []
    native.load_kernel.cache_clear()


def test_a_built_kernel_is_cached_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNADROP_CACHE_DIR", str(tmp_path))
    native.load_kernel.cache_clear()
    try:
        native.load_kernel("fused_attention")
        (library,) = tmp_path.iterdir()
        built = library.stat().st_mtime_ns
        native.load_kernel.cache_clear()
        native.load_kernel("fused_attention")
        assert list(tmp_path.iterdir()) == [library] and library.stat().st_mtime_ns == built
    finally:
        native.load_kernel.cache_clear()


def test_the_probe_sees_the_mask_the_kernel_applied():
    """record_dropout_masks regenerates the kernel's mask from its seeds: the very zeros of its output."""
    seeds = torch.tensor([99, 100], dtype=torch.int32)
    q = torch.zeros(2, 4, 64, 64)
    v = torch.eye(64).expand(2, 4, 64, 64).contiguous()
    with dd.record_dropout_masks() as draws:
        out = fused_causal_attention(q, q, v, torch.tensor(0.3), seeds=seeds)
    keep = fused_attention_keep_mask(q.shape, torch.tensor(0.3), seeds)
    causal = torch.ones(64, 64, dtype=torch.bool).tril()
    assert torch.equal(out[..., causal] != 0, keep)
    (draw,) = draws
    assert draw.requested_rate == pytest.approx(0.3)
    assert draw.numel == keep.numel()
    assert draw.dropped_fraction == pytest.approx(1 - keep.float().mean().item())
    with dd.record_dropout_masks() as draws:
        fused_causal_attention(q, q, v)  # no rate: no mask
    assert draws == []


def test_an_unwritable_cache_directory_is_reported_with_the_variable_to_set(monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("DYNADROP_CACHE_DIR", str(blocked / "kernels"))
    native.load_kernel.cache_clear()
    try:
        with pytest.raises(native.KernelUnavailable, match="could not write .* set DYNADROP_CACHE_DIR"):
            native.load_kernel("fused_attention")
    finally:
        native.load_kernel.cache_clear()


def test_without_the_kernel_the_gpt_warns_and_takes_the_explicit_path(monkeypatch, tmp_path):
    from dynadrop.core import fused_attention
    from dynadrop.gpt.model import GPT, GPTConfig

    monkeypatch.setenv("CXX", "no-such-compiler-here")
    monkeypatch.setenv("DYNADROP_CACHE_DIR", str(tmp_path))
    for cached in (native.load_kernel, fused_attention._kernel, fused_attention.fused_kernel_available):
        cached.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="fused attention kernel is unavailable.*no C\\+\\+ compiler"):
            model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.3))
        assert not model.blocks[0].attn.fused
        with dd.record_dropout_masks() as draws:
            model(torch.randint(0, 20, (2, 8)))
        assert len(draws) == 4  # embedding, attention (bernoulli on the explicit path), residual, mlp
    finally:
        for cached in (native.load_kernel, fused_attention._kernel, fused_attention.fused_kernel_available):
            cached.cache_clear()
