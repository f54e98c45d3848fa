"""Each claim check: computed numbers agree with closed forms and show what the claim says."""

import numpy as np
import pytest
import torch

from dynadrop.theory import dropout_penalty, plain_loss, weight_decay_penalty
from dynadrop.theory.claims import (
    depth,
    invariance,
    label_dependence,
    negative_weights,
    zero_network,
)
from dynadrop.theory.claims.common import chain_network, uniform_network
from dynadrop.theory.claims.invariance import scale_input, scale_output, scale_unit
from dynadrop.theory.claims.zero_network import INPUTS, LABELS, zero_threshold_formula
from dynadrop.theory.networks import forward


def assert_columns_agree(table, computed, closed_form, rel=1e-9):
    pairs = [
        (a, b) for a, b in zip(table.column(computed), table.column(closed_form), strict=True) if a != "-"
    ]
    assert pairs, f"no computed values in column {computed!r}"
    for value, reference in pairs:
        assert value == pytest.approx(reference, rel=rel, abs=1e-12)


@pytest.fixture(scope="module")
def negative_result():
    return negative_weights(seeds=6, steps=2000)


def test_negative_weights_optimum_and_non_negative_bound(negative_result):
    optimum, _ = negative_result.tables
    assert_columns_agree(optimum, "J_D max-like net", "4(1-q)^2")
    assert_columns_agree(optimum, "J_D best >= 0 net", "4(1-q)/(1+q)")
    assert all(np.array(optimum.column("4(1-q)^2")) < np.array(optimum.column("4(1-q)/(1+q)")))


def test_dropout_training_beats_non_negative_nets_and_weight_decay_stays_non_negative(
    negative_result,
):
    _, training = negative_result.tables
    dropout_row, decay_row = training.rows
    beaten = int(dropout_row[2].split("/")[0])
    assert beaten >= 3, f"only {beaten}/6 dropout runs beat the best non-negative network"
    assert decay_row[2].startswith("0/") and decay_row[4].startswith("0/")


def test_depth_exact_and_formula_agree_and_weight_decay_is_near_linear():
    result = depth(depths=range(1, 9))
    (table,) = result.tables
    assert_columns_agree(table, "dropout exact", "dropout formula")
    assert_columns_agree(table, "inputs-only exact", "c^2(1-q)/q")
    assert_columns_agree(table, "least L2 cost", "L c^(2/L)")
    dropout = np.array(table.column("dropout formula"))
    decay = np.array(table.column("least L2 cost"))
    assert np.all(dropout[1:] / dropout[:-1] > 1.3)  # factor (1 + 1/2) per layer, minus a bit
    assert np.all(np.diff(decay) < 1.05)  # slope of L c^(2/L) tends to 1


def test_depth_beyond_exact_budget_uses_the_formula():
    (table,) = depth(depths=range(9, 11), max_exact_units=19).tables
    assert table.column("dropout exact") == [pytest.approx(table.rows[0][3]), "-"]


def test_chain_network_computes_the_uniform_networks_function():
    x = torch.linspace(-2, 3, 11, dtype=torch.float64)[:, None]
    for hidden in (1, 3):
        assert torch.allclose(
            forward(chain_network(hidden + 1, 2.0), x), forward(uniform_network(hidden, 2, 2.0), x)
        )


def test_invariance_ratios_match_and_weight_decay_changes():
    table, walk = invariance().tables
    assert_columns_agree(table, "J_D after / before", "expected", rel=1e-12)
    before, after = (
        np.array(table.column("L2 criterion before")),
        np.array(table.column("L2 criterion after")),
    )
    assert np.all(np.abs(after / before - np.array(table.column("expected"))) > 0.01)
    assert walk.rows[0][3] < 1e-12 and walk.rows[1][3] > 0.5


def test_rescalings_are_exact_for_random_networks_and_masks():
    generator = torch.Generator().manual_seed(21)
    weights = [
        torch.randn(n_out, n_in, generator=generator, dtype=torch.float64)
        for n_in, n_out in ((2, 3), (3, 3), (3, 1))
    ]
    X = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 1, generator=generator, dtype=torch.float64)
    reference = dropout_penalty(weights, X, y, 0.4, method="exact").value
    inputs_net, scaled_X = scale_input(weights, X, 1, -0.3)
    output_net, scaled_y = scale_output(weights, y, 2.0)
    assert dropout_penalty(inputs_net, scaled_X, y, 0.4).value == pytest.approx(reference)
    assert dropout_penalty(output_net, X, scaled_y, 0.4).value == pytest.approx(4 * reference)
    for layer, unit in ((1, 0), (2, 2)):
        rescaled = scale_unit(weights, layer, unit, 7.5)
        assert dropout_penalty(rescaled, X, y, 0.4).value == pytest.approx(reference)


def test_label_dependence_matches_closed_forms_and_turns_negative():
    (table,) = label_dependence().tables
    assert_columns_agree(table, "ReLU net penalty", "4q(1-q)(2-y)")
    assert_columns_agree(table, "linear net penalty", "2(1-q)/q")
    relu = np.array(table.column("ReLU net penalty"))
    assert relu.min() < 0 < relu.max()
    assert np.ptp(table.column("linear net penalty")) < 1e-12


def test_zero_network_threshold_and_dropout_shrinkage():
    (table,) = zero_network(layer_counts=range(3, 8)).tables
    assert_columns_agree(table, "lam* numeric", "lam* formula")
    assert_columns_agree(table, "dropout a* exact", "a* formula")
    thresholds = np.array(table.column("lam* formula"))
    scales = np.array(table.column("a* formula"))
    assert np.all(np.diff(thresholds) < 0) and np.all(np.diff(scales) < 0) and scales.min() > 0
    assert np.all(np.array(table.column("min J_D")) < np.array(table.column("J(zero net)")))


def test_zero_network_threshold_is_where_zero_beats_every_chain():
    # Just below lam*, some chain beats the zero net; just above, none on a fine grid does.
    X, y = np.array(INPUTS)[:, None], np.array(LABELS)
    s, r = np.mean(X[:, 0] ** 2), np.mean(X[:, 0] * y)
    threshold = zero_threshold_formula(4, s, r)

    def best_gain(lam):
        return max(
            np.mean(y**2)
            - plain_loss(chain_network(4, a), X, y).value
            - weight_decay_penalty(chain_network(4, a), lam).value
            for a in np.linspace(0.01, 1.5, 300)
        )

    assert best_gain(threshold * 0.99) > 0 > best_gain(threshold * 1.01)
