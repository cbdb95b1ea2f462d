import numpy as np
import pytest

from real3d.core.errors import InputError
from real3d.eval.calibration import (
    CalibrationStats,
    apply_temperature,
    calibration_error,
    fit_temperature,
    pixels_for_fit,
)


def _frame(p_rows, labels):
    """(K + 1, 1, N) probabilities with an empty void channel, (1, N) labels."""
    p = np.asarray(p_rows, np.float32).T[:, None, :]
    probs = np.concatenate([np.zeros((1,) + p.shape[1:], np.float32), p])
    return probs, np.asarray(labels, np.uint8)[None, :]


def test_ece_mce_brier_nll_against_a_hand_computed_case():
    # 4 labelled pixels, 2 classes, bins [0, .5) and [.5, 1]: every confidence lands in bin 1.
    probs, labels = _frame([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]], [1, 2, 1, 1])
    r = calibration_error(probs, labels, n_bins=2)
    # predicted: 1, 1, 1, 2; correct: yes, no, yes, no -> accuracy 0.5; mean confidence 0.75
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["confidence"] == pytest.approx(0.75)
    assert r["ece"] == pytest.approx(0.25) and r["mce"] == pytest.approx(0.25)
    # Brier: (0.1^2+0.1^2) + (0.9^2+0.9^2) + (0.4^2+0.4^2) + (0.6^2+0.6^2), over 4 pixels
    brier = (0.02 + 1.62 + 0.32 + 0.72) / 4
    assert r["brier"] == pytest.approx(brier, rel=1e-6)
    nll = -(np.log(0.9) + np.log(0.1) + np.log(0.6) + np.log(0.4)) / 4
    assert r["nll"] == pytest.approx(nll, rel=1e-6)
    assert r["bins"][0]["count"] == 0 and r["bins"][0]["accuracy"] is None
    assert r["bins"][1] == {"lo": 0.5, "hi": 1.0, "count": 4, "confidence": pytest.approx(0.75), "accuracy": 0.5}


def test_void_pixels_are_left_out_and_frames_accumulate():
    probs, labels = _frame([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], [1, 2, 0])
    stats = CalibrationStats(n_bins=10)
    stats.update(probs, labels)
    stats.update(probs, labels)
    r = stats.result()
    assert r["pixels"] == 4 and r["accuracy"] == 1.0
    assert r["ece"] == pytest.approx(1 - 0.85)


def test_a_perfectly_calibrated_sample_has_small_ece():
    rng = np.random.default_rng(0)
    n = 200_000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < conf
    y = np.where(correct, 0, 1)
    p = np.stack([conf, 1 - conf], 1)
    s = CalibrationStats(n_bins=15)
    s.add_pixels(p, y)
    assert s.result()["ece"] < 0.01


def test_temperature_scaling_lowers_ece_on_an_over_confident_model():
    rng = np.random.default_rng(1)
    n, k = 50_000, 5
    y = rng.integers(0, k, n)
    # True logits give calibrated probabilities; the model reports them 3x sharper.
    logits = rng.normal(0, 1.0, (n, k))
    logits[np.arange(n), y] += 1.5
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in true_p])  # labels drawn from the true p
    sharp = np.exp(3 * logits)
    sharp /= sharp.sum(1, keepdims=True)
    before = CalibrationStats()
    before.add_pixels(sharp, y)
    t = fit_temperature(sharp[: n // 2], y[: n // 2])
    assert t == pytest.approx(3.0, rel=0.1)
    fixed = apply_temperature(sharp[n // 2 :], t, axis=1).astype(np.float64)
    after = CalibrationStats()
    after.add_pixels(fixed, y[n // 2 :])
    assert before.result()["ece"] > 0.1
    assert after.result()["ece"] < 0.02
    assert after.result()["nll"] < before.result()["nll"]


def test_apply_temperature_keeps_the_void_channel_and_the_argmax():
    probs, _ = _frame([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [1, 3])
    out = apply_temperature(probs, 2.0)
    assert np.all(out[0] == 0)
    assert np.allclose(out.sum(0), 1, atol=1e-6)
    assert np.array_equal(out.argmax(0), probs.argmax(0))
    assert out[1:].max() < probs[1:].max()  # softer
    assert np.allclose(apply_temperature(probs, 1.0), probs, atol=1e-6)


def test_pixels_for_fit_draws_deterministically():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4), size=(6, 7)).transpose(2, 0, 1).astype(np.float32)
    probs = np.concatenate([np.zeros((1, 6, 7), np.float32), p])
    labels = rng.integers(0, 5, (6, 7)).astype(np.uint8)
    a = pixels_for_fit(probs, labels, max_pixels=10, seed=3)
    b = pixels_for_fit(probs, labels, max_pixels=10, seed=3)
    assert a[0].shape == (10, 4) and np.array_equal(a[1], b[1])
    assert a[1].max() <= 3 and a[1].min() >= 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: calibration_error(np.zeros((3, 2, 2), np.float32), np.zeros((2, 3), np.uint8)),
        lambda: calibration_error(np.zeros((3, 2, 2), np.float32), np.full((2, 2), 5, np.uint8)),
        lambda: calibration_error(np.zeros((3, 2, 2), np.int64), np.zeros((2, 2), np.uint8)),
        lambda: calibration_error(np.full((3, 1, 1), 0.5, np.float32), np.zeros((1, 1), np.uint8)),  # all void
        lambda: calibration_error(np.full((3, 1, 1), np.nan, np.float32), np.ones((1, 1), np.uint8)),
        lambda: CalibrationStats(n_bins=0),
        lambda: CalibrationStats(n_bins=True),
        lambda: CalibrationStats(max_pixels_per_frame=0),
        lambda: apply_temperature(np.ones((2, 1, 1)), 0.0),
        lambda: apply_temperature(np.ones((2, 1, 1)), float("nan")),
        lambda: fit_temperature(np.ones((3, 2)) / 2, np.array([0, 1, 2])),
        lambda: fit_temperature(np.ones((0, 2)), np.zeros(0, int)),
    ],
)
def test_bad_input_raises_input_error(call):
    with pytest.raises(InputError):
        call()
