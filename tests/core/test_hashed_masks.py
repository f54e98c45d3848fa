"""hashed_keep_mask: the compiled path's masks drop at the rate, independently, reproducibly."""

import pytest
import torch

import dynadrop as dd
from dynadrop.core.hashed_masks import _mix32, hashed_keep_mask
from tests.conftest import assert_fraction_close

SHAPE = (64, 1024)
NUMEL = SHAPE[0] * SHAPE[1]


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_drops_the_rate_eager_and_compiled(rate):
    x = torch.empty(SHAPE)
    for mask_fn in (hashed_keep_mask, torch.compile(hashed_keep_mask, fullgraph=True)):
        dropped = (~mask_fn(x, torch.tensor(rate))).float().mean().item()
        assert_fraction_close(dropped, rate, NUMEL)


def test_neighbours_and_successive_calls_are_independent():
    """P(both dropped) ~ p**2 for adjacent elements, for the same element in two calls."""
    rate = torch.tensor(0.3)
    first = ~hashed_keep_mask(torch.empty(SHAPE), rate)
    second = ~hashed_keep_mask(torch.empty(SHAPE), rate)
    flat = first.flatten()
    assert_fraction_close((flat[1:] & flat[:-1]).float().mean().item(), 0.09, NUMEL - 1)
    assert_fraction_close((first & second).float().mean().item(), 0.09, NUMEL)


def test_one_graph_dropping_the_same_tensor_twice_draws_two_masks():
    """The seed op is impure, so the compiler cannot merge two identical-looking calls."""

    def twice(x, rate):
        return hashed_keep_mask(x, rate), hashed_keep_mask(x, rate)

    first, second = torch.compile(twice, fullgraph=True)(torch.empty(SHAPE), torch.tensor(0.5))
    assert_fraction_close((~first & ~second).float().mean().item(), 0.25, NUMEL)


def test_masks_follow_torch_manual_seed():
    compiled = torch.compile(hashed_keep_mask, fullgraph=True)
    x, rate = torch.empty(SHAPE), torch.tensor(0.5)
    torch.manual_seed(7)
    first = compiled(x, rate)
    torch.manual_seed(7)
    assert torch.equal(compiled(x, rate), first)
    assert not torch.equal(compiled(x, rate), first)


def test_mixer_is_a_bijection_on_a_block_of_counters():
    counters = torch.arange(2**20, dtype=torch.int64) + 2**32 - 2**19
    mixed = _mix32(counters & 0xFFFFFFFF)
    assert mixed.min() >= 0 and mixed.max() < 2**32
    assert mixed.unique().numel() == counters.numel()


def test_compiled_dropout_gradient_uses_the_forward_mask():
    layer = dd.ScheduledDropout(0.25)
    compiled = torch.compile(layer, fullgraph=True)
    x = (torch.rand(SHAPE) + 1.0).requires_grad_()
    out = compiled(x)
    upstream = torch.rand(SHAPE) + 1.0
    out.backward(upstream)
    kept = out != 0
    assert_fraction_close(1 - kept.float().mean().item(), 0.25, NUMEL)
    torch.testing.assert_close(out, x.detach() * kept / 0.75)
    torch.testing.assert_close(x.grad, upstream * kept / 0.75)
