import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.eval.curves import LearningCurve, fit_learning_curve


def test_the_fit_recovers_known_parameters():
    n = np.array([50, 100, 200, 400, 800, 1600], float)
    a, b, c = 120.0, 0.45, 88.0
    rng = np.random.default_rng(0)
    y = c - a * n ** (-b) + rng.normal(0, 0.05, n.shape)
    fit = fit_learning_curve(n, y)
    assert fit.b == pytest.approx(b, rel=0.05)
    assert fit.c == pytest.approx(c, abs=0.5)
    assert fit.a == pytest.approx(a, rel=0.15)
    assert fit.rmse < 0.1 and fit.n_range == (50.0, 1600.0)
    # predicting a larger run from the smaller ones
    small = fit_learning_curve(n[:4], y[:4])
    assert small.predict(1600) == pytest.approx(c - a * 1600 ** (-b), abs=0.5)


def test_frames_for_inverts_predict():
    curve = LearningCurve(a=100.0, b=0.5, c=90.0, rmse=0.0, n_range=(10.0, 1000.0))
    n = curve.frames_for(80.0)
    assert n == pytest.approx(100.0)
    assert curve.predict(n) == pytest.approx(80.0)
    assert curve.frames_for(90.0) == float("inf") and curve.frames_for(95.0) == float("inf")


def test_a_curve_that_does_not_grow_is_a_line_at_the_mean():
    fit = fit_learning_curve([10, 20, 40, 80], [71.0, 70.5, 70.0, 69.5])
    assert fit.a == 0.0 and fit.c == pytest.approx(70.25)


@pytest.mark.parametrize(
    "n, y",
    [
        ([10, 20], [1.0, 2.0]),
        ([10, 10, 10], [1.0, 2.0, 3.0]),
        ([0, 10, 20], [1.0, 2.0, 3.0]),
        ([10, 20, 40], [1.0, np.nan, 3.0]),
        ([10, 20, 40], [1.0, 2.0]),
    ],
)
def test_bad_points_raise_input_error(n, y):
    with pytest.raises(InputError):
        fit_learning_curve(n, y)


def test_bad_queries_raise_input_error():
    curve = LearningCurve(a=1.0, b=0.5, c=1.0, rmse=0.0, n_range=(1.0, 2.0))
    with pytest.raises(InputError):
        curve.predict([0.0])
    with pytest.raises(InputError):
        curve.frames_for(float("nan"))
