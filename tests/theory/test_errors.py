"""Bad input gets a clear error naming the bad value and what is allowed."""

import numpy as np
import pytest
from torch import nn

from dynadrop.theory import MAX_EXACT_MASKS, dropout_criterion, dropout_penalty, plain_loss
from dynadrop.theory import weight_decay_penalty as decay

WEIGHTS = [np.ones((3, 2)), np.ones((1, 3))]
X = np.ones((4, 2))
Y = np.zeros(4)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, float("nan"), "0.5", True])
def test_drop_probability_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"p must be a drop probability in \[0, 1\); got"):
        dropout_criterion(WEIGHTS, X, Y, p)


def test_weight_matrices_that_do_not_chain():
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(1, 4\): its 4 inputs do not"):
        plain_loss([np.ones((3, 2)), np.ones((1, 4))], X, Y)


def test_weight_that_is_not_a_matrix_and_empty_network():
    with pytest.raises(ValueError, match=r"weights\[0\] must be a 2-D matrix.*got shape \(3,\)"):
        plain_loss([np.ones(3)], X, Y)
    with pytest.raises(ValueError, match="at least one weight matrix"):
        plain_loss([], X, Y)


def test_inputs_with_the_wrong_number_of_features():
    with pytest.raises(ValueError, match="X has 5 features but the first weight matrix expects 2"):
        dropout_criterion(WEIGHTS, np.ones((4, 5)), Y, 0.5)


def test_labels_with_the_wrong_shape_or_count():
    with pytest.raises(ValueError, match=r"y has 3 rows but X has 4"):
        plain_loss(WEIGHTS, X, np.zeros(3))
    with pytest.raises(ValueError, match=r"y has shape \(4, 2\).*\(N,\) or \(N, 1\)"):
        plain_loss(WEIGHTS, X, np.zeros((4, 2)))


def test_sequential_with_bias_or_other_layers():
    with pytest.raises(ValueError, match=r"module 0 \(Linear 2->3\) has a bias.*bias=False"):
        plain_loss(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)), X, Y)
    with pytest.raises(ValueError, match="module 1 is Tanh; expected nn.ReLU"):
        plain_loss(
            nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh(), nn.Linear(3, 1, bias=False)),
            X,
            Y,
        )
    with pytest.raises(ValueError, match="must end with an nn.Linear output layer"):
        plain_loss(nn.Sequential(nn.Linear(2, 1, bias=False), nn.ReLU()), X, Y)
    with pytest.raises(TypeError, match="got Linear"):
        plain_loss(nn.Linear(2, 1, bias=False), X, Y)


def test_too_many_masks_for_exact():
    wide = [np.ones((1, 25))]
    with pytest.raises(ValueError, match=r"2\^25 masks \(25 dropped units\); the limit is 2\^24"):
        dropout_criterion(wide, np.ones((1, 25)), np.ones(1), 0.5, method="exact")
    assert MAX_EXACT_MASKS == 2**24


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("everything", r"where must be 'all', 'inputs', 'hidden' or a list.*got 'everything'"),
        ([3], r"where names layer 3; it must be .* in 0\.\.1"),
        ([0, 0], r"where names a layer twice: \[0, 0\]"),
        ([], "where selects no layers"),
        ([0.5], "got the entry 0.5"),
    ],
)
def test_bad_where(where, message):
    with pytest.raises(ValueError, match=message):
        dropout_penalty(WEIGHTS, X, Y, 0.5, where=where)


def test_hidden_dropout_on_a_network_without_hidden_layers():
    with pytest.raises(ValueError, match="no hidden layers"):
        dropout_criterion([np.ones((1, 2))], X, Y, 0.5, where="hidden")


def test_bad_method_and_samples():
    with pytest.raises(ValueError, match=r"must be one of 'auto', 'exact', 'mc'; got 'mcmc'"):
        dropout_criterion(WEIGHTS, X, Y, 0.5, method="mcmc")
    with pytest.raises(ValueError, match=r"samples must be an integer >= 2.*got 1"):
        dropout_criterion(WEIGHTS, X, Y, 0.5, method="mc", samples=1)
    with pytest.raises(ValueError, match=r"samples=100 only applies to method='mc'"):
        dropout_criterion(WEIGHTS, X, Y, 0.5, method="exact", samples=100)


def test_bad_weight_decay_strength():
    with pytest.raises(ValueError, match=r"lam must be a finite weight-decay strength >= 0; got"):
        decay(WEIGHTS, -1.0)
