"""hashed_dropout: the compiled path's masks drop at the rate, independently, reproducibly."""

import pytest
import torch

import dynadrop as dd
from dynadrop.core import hashed_masks
from dynadrop.core.hashed_masks import _MULTIPLIERS, _SHIFTS, _mix32, hashed_dropout
from tests.conftest import assert_fraction_close

SHAPE = (64, 1024)
NUMEL = SHAPE[0] * SHAPE[1]


def dropped(rate: float, dropout=hashed_dropout) -> torch.Tensor:
    """Where ``dropout`` zeroes a tensor of ones (which it can only zero by dropping)."""
    return dropout(torch.ones(SHAPE), torch.tensor(rate)) == 0


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_drops_the_rate_and_rescales_eager_and_compiled(rate):
    for dropout in (hashed_dropout, torch.compile(hashed_dropout, fullgraph=True)):
        out = dropout(torch.ones(SHAPE), torch.tensor(rate))
        assert_fraction_close((out == 0).float().mean().item(), rate, NUMEL)
        torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - rate)))


def test_huge_tensors_fall_back_to_float32_uniforms(monkeypatch):
    """Past the counter's range the mask comes from rand_like, in float32 even for bf16 inputs."""
    monkeypatch.setattr(hashed_masks, "MAX_MASK_ELEMENTS", 16)
    draws_before = hashed_masks._SEED_DRAWS.item()
    out = hashed_dropout(torch.ones(SHAPE, dtype=torch.bfloat16), torch.tensor(0.001))
    assert hashed_masks._SEED_DRAWS.item() == draws_before  # no hashed mask was drawn
    assert_fraction_close((out == 0).float().mean().item(), 0.001, NUMEL)  # bf16 uniforms: ~0.003


def test_neighbours_and_successive_calls_are_independent():
    """P(both dropped) ~ p**2 for adjacent elements, and for one element in two calls."""
    first, second = dropped(0.3), dropped(0.3)
    flat = first.flatten()
    assert_fraction_close((flat[1:] & flat[:-1]).float().mean().item(), 0.09, NUMEL - 1)
    assert_fraction_close((first & second).float().mean().item(), 0.09, NUMEL)


def test_one_graph_dropping_the_same_tensor_twice_draws_two_masks():
    """The seed op is impure, so the compiler cannot merge two identical-looking calls."""

    def twice(x, rate):
        return hashed_dropout(x, rate), hashed_dropout(x, rate)

    first, second = torch.compile(twice, fullgraph=True)(torch.ones(SHAPE), torch.tensor(0.5))
    assert_fraction_close(((first == 0) & (second == 0)).float().mean().item(), 0.25, NUMEL)


def test_masks_follow_torch_manual_seed():
    compiled = torch.compile(hashed_dropout, fullgraph=True)
    torch.manual_seed(7)
    first = dropped(0.5, compiled)
    torch.manual_seed(7)
    assert torch.equal(dropped(0.5, compiled), first)
    assert not torch.equal(dropped(0.5, compiled), first)


def reference_mix(bits: torch.Tensor) -> torch.Tensor:
    """The mixer in exact int64 arithmetic on values in [0, 2**32): what int32 wrapping must equal."""
    low32 = 0xFFFFFFFF
    for multiplier, shift in zip(_MULTIPLIERS, _SHIFTS[:2], strict=True):
        bits = bits ^ (bits >> shift)
        bits = (bits * multiplier) & low32
    return bits ^ (bits >> _SHIFTS[2])


@pytest.mark.parametrize("compiled", [False, True])
def test_mixer_wraps_exactly_and_is_a_bijection(compiled):
    """Counters across the sign boundary, an odd count (vector tails): int32 products must wrap."""
    counters = torch.arange(-(2**19), 2**19 + 3, dtype=torch.int32)
    mix = torch.compile(_mix32, fullgraph=True) if compiled else _mix32
    mixed = mix(counters).to(torch.int64) & 0xFFFFFFFF
    assert torch.equal(mixed, reference_mix(counters.to(torch.int64) & 0xFFFFFFFF))
    assert mixed.unique().numel() == counters.numel()


@pytest.mark.parametrize("compiled", [False, True])
def test_backward_regenerates_the_forward_mask(compiled):
    dropout = torch.compile(hashed_dropout, fullgraph=True) if compiled else hashed_dropout
    x = (torch.rand(SHAPE) + 1.0).requires_grad_()
    out = dropout(x, torch.tensor(0.25))
    upstream = torch.rand(SHAPE) + 1.0
    out.backward(upstream)
    kept = out != 0
    assert_fraction_close(1 - kept.float().mean().item(), 0.25, NUMEL)
    torch.testing.assert_close(out, x.detach() * kept / 0.75)
    torch.testing.assert_close(x.grad, upstream * kept / 0.75)


def test_compiled_scheduled_dropout_draws_hashed_masks_at_its_current_rate():
    layer = dd.ScheduledDropout(0.3)
    compiled_layer = torch.compile(layer, fullgraph=True)
    compiled_dropout = torch.compile(hashed_dropout, fullgraph=True)
    for rate in (0.3, 0.1):
        layer.p = rate
        torch.manual_seed(rate * 10)
        from_layer = compiled_layer(torch.ones(SHAPE))
        torch.manual_seed(rate * 10)
        assert torch.equal(from_layer, compiled_dropout(torch.ones(SHAPE), torch.tensor(rate)))
