"""blocked_causal_attention: the explicit path's numbers and masks, over blocks of keys."""

from __future__ import annotations

import pytest
import torch

from dynadrop.core.attention import blocked_causal_attention, explicit_causal_attention
from dynadrop.core.hashed_masks import keep_mask
from tests.conftest import assert_fraction_close

SEEDS = torch.tensor([12345, -678], dtype=torch.int32)


def explicit_attention(q, k, v, rate, keep=None):
    """The model's explicit path, dropping by ``keep`` (scaled by 1/(1-rate)) when given."""
    causal = torch.ones(q.size(-2), q.size(-2), dtype=torch.bool).tril()
    dropout = None if keep is None else (lambda probabilities: probabilities * keep / (1 - rate))
    return explicit_causal_attention(q, k, v, causal, dropout)


def inputs(shape=(2, 3, 40, 8), dtype=torch.float32):
    return [torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3)]


@pytest.mark.parametrize("block", [7, 16, 40, 64])
def test_equals_fused_attention_at_rate_zero(block):
    q, k, v = inputs()
    out = blocked_causal_attention(q, k, v, torch.tensor(0.0), block=block)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("compiled", [False, True])
def test_equals_the_explicit_path_with_the_same_mask_forward_and_backward(compiled):
    """Same seeds -> the mask hashed_dropout would draw on the full probabilities, in both passes."""
    rate = torch.tensor(0.3)
    q, k, v = inputs()
    attention = torch.compile(blocked_causal_attention) if compiled else blocked_causal_attention
    out = attention(q, k, v, rate, block=16, seeds=SEEDS)
    grad = torch.randn_like(out)
    blocked_grads = torch.autograd.grad(out, (q, k, v), grad)
    keep = keep_mask(SEEDS, rate, torch.Size((2, 3, 40, 40)), torch.float32)
    expected = explicit_attention(q, k, v, rate, keep)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for got, want in zip(blocked_grads, torch.autograd.grad(expected, (q, k, v), grad), strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_gradients_pass_gradcheck_in_double_precision():
    q, k, v = inputs(shape=(1, 2, 6, 3), dtype=torch.float64)

    def attention(q, k, v):
        return blocked_causal_attention(q, k, v, torch.tensor(0.4, dtype=torch.float64), block=4,
                                        seeds=SEEDS)

    assert torch.autograd.gradcheck(attention, (q, k, v))


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_drops_the_rate_of_the_causal_probabilities(rate):
    """With v the identity, out[i, j] is the kept, rescaled probability P_ij (0 where dropped)."""
    time = 128
    q, k = torch.randn(2, 1, 4, time, time).unbind(0)
    v = torch.eye(time).expand_as(q)
    out = blocked_causal_attention(q, k, v, torch.tensor(rate), block=32)
    causal = torch.ones(time, time, dtype=torch.bool).tril().expand_as(out)
    alive = int(causal.sum())
    assert_fraction_close((out[causal] == 0).float().mean().item(), rate, alive)


def test_masks_follow_torch_manual_seed_and_differ_between_calls():
    q, k, v = (t.detach() for t in inputs())
    rate = torch.tensor(0.5)
    torch.manual_seed(7)
    first = blocked_causal_attention(q, k, v, rate)
    torch.manual_seed(7)
    assert torch.equal(blocked_causal_attention(q, k, v, rate), first)
    assert not torch.equal(blocked_causal_attention(q, k, v, rate), first)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"block": 0}, "block must be a positive number of keys, got 0"),
    ({"k": torch.zeros(2, 3, 39, 8)}, r"share one \(batch, head, time, dim\) shape"),
])
def test_bad_arguments_are_named(arguments, message):
    q, k, v = (t.detach() for t in inputs())
    call = {"q": q, "k": k, "v": v, "rate": torch.tensor(0.1), **arguments}
    with pytest.raises(ValueError, match=message):
        blocked_causal_attention(**call)
