"""Shift-aware calibration (real3d.models.calibrated) with the calibration measures
(real3d.eval.calibration): constructed cases whose answer is known."""

import numpy as np
import pytest
import torch

from real3d.core import Frame, Intrinsics
from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.eval.calibration import CalibrationStats, calibration_error, reliability_diagram
from real3d.models import build_model
from real3d.models.calibrated import (
    FeatureDensity,
    FeatureTap,
    ShiftCalibration,
    apply_pixel_temperature,
    fit_feature_density,
    fit_shift_calibration,
    fit_shift_temperature,
    predict_calibrated,
    predict_with_scores,
    shift_scores,
)


def _stats(p, y, bins=10):
    s = CalibrationStats(n_bins=bins)
    s.add_pixels(np.asarray(p, np.float64), np.asarray(y))
    return s.result()


def test_ece_of_a_hand_computed_case_with_two_bins():
    # bin [0.5, 1): confidences 0.6, 0.6 (one right) -> |0.5 - 0.6| = 0.1 over 2 of 4 pixels;
    # bin [0.9, 1]: 0.95, 0.95 both right -> |1 - 0.95| = 0.05 over 2 of 4: ECE = 0.075
    p = [[0.6, 0.4], [0.4, 0.6], [0.95, 0.05], [0.05, 0.95]]
    y = [0, 0, 0, 1]
    r = _stats(p, y, bins=10)
    assert r["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.05)
    assert r["mce"] == pytest.approx(0.1)
    assert r["accuracy"] == pytest.approx(0.75)


def _overconfident(n, rng, conf=0.95, acc=0.6, k=4):
    """(n, k) probabilities with confidence ``conf`` on class 0 and true classes right a
    fraction ``acc`` of the time."""
    p = np.full((n, k), (1 - conf) / (k - 1))
    p[:, 0] = conf
    y = np.where(rng.random(n) < acc, 0, rng.integers(1, k, n))
    return p, y


def test_a_global_temperature_lowers_ece_on_an_overconfident_example():
    rng = np.random.default_rng(0)
    p, y = _overconfident(4000, rng)
    before = _stats(p, y)["ece"]
    a, w, _, _ = fit_shift_temperature(p, y, {})
    assert w == {} and np.exp(a) > 1.5  # softens
    q = apply_pixel_temperature(np.concatenate([np.zeros((1, 1, len(p))), p.T[:, None]]).astype(np.float32), np.exp(a))
    after = _stats(q[1:, 0].T, y)["ece"]
    assert before == pytest.approx(0.35, abs=0.03)
    assert after < 0.03


def _gaussian_case(rng, n=3000, d=4):
    """Two classes, features N(class mean, I), means 8 sigma apart along the first axis;
    far features are the same shifted 20 sigma further along it."""
    means = np.array([[0.0] * d, [8.0] + [0.0] * (d - 1)])
    cls = rng.integers(0, 2, n)
    x_in = means[cls] + rng.standard_normal((n, d))
    x_far = x_in + np.array([20.0] + [0.0] * (d - 1))
    return means, cls, x_in, x_far


def test_the_density_correction_lowers_confidence_far_from_the_fitted_features_only():
    rng = np.random.default_rng(1)
    _, cls, x_in, x_far = _gaussian_case(rng)
    density = fit_feature_density(x_in, cls)
    s_in, s_far = density.score(x_in), density.score(x_far)
    assert np.percentile(s_far, 1) > np.percentile(s_in, 99)  # far is far
    p_in, y_in = _overconfident(len(x_in), rng, conf=0.9, acc=0.9)
    p_far, y_far = _overconfident(len(x_far), rng, conf=0.9, acc=0.5)
    p, y = np.concatenate([p_in, p_far]), np.concatenate([y_in, y_far])
    a, w, c, sc = fit_shift_temperature(p, y, {"density": np.concatenate([s_in, s_far])})
    assert w["density"] > 0
    cal = ShiftCalibration(("density",), a, (w["density"],), (c["density"],), (sc["density"],), density=density)
    fresh_in = density.score(x_in[:500] + 0.01)
    fresh_far = density.score(x_far[:500] + 0.01)
    probs = np.concatenate([np.zeros((1, 1, 500)), p_in[:500].T[:, None]]).astype(np.float32)
    conf_in = cal.apply(probs, {"density": fresh_in[None]})[1:].max(0).mean()
    conf_far = cal.apply(probs, {"density": fresh_far[None]})[1:].max(0).mean()
    assert conf_in == pytest.approx(0.9, abs=0.04)  # in distribution: nearly unchanged
    assert conf_far == pytest.approx(0.5, abs=0.12)  # far: about its accuracy
    # and the whole set is better calibrated than before
    q = np.concatenate(
        [
            cal.apply(
                np.concatenate([np.zeros((1, 1, len(p_in))), p_in.T[:, None]]).astype(np.float32),
                {"density": s_in[None]},
            ),
            cal.apply(
                np.concatenate([np.zeros((1, 1, len(p_far))), p_far.T[:, None]]).astype(np.float32),
                {"density": s_far[None]},
            ),
        ],
        axis=2,
    )
    assert _stats(q[1:, 0].T, y)["ece"] < 0.5 * _stats(p, y)["ece"]


def test_pixel_temperature_keeps_labels_void_and_sums():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 6, 7)) * 3
    p = np.exp(logits) / np.exp(logits).sum(0)
    probs = np.concatenate([np.zeros((1, 6, 7)), p]).astype(np.float32)
    t = rng.uniform(0.5, 5.0, (6, 7))
    q = apply_pixel_temperature(probs, t)
    assert np.all(q[0] == 0)
    np.testing.assert_allclose(q[1:].sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(q.argmax(0), probs.argmax(0))
    # against softmax(logits / T) at one pixel
    ref = np.exp(logits[:, 2, 3] / t[2, 3])
    np.testing.assert_allclose(q[1:, 2, 3], ref / ref.sum(), rtol=1e-4)


def _tiny_frame(seed, labels=True):
    rng = np.random.default_rng(seed)
    h, w = 64, 80
    lab = np.zeros((h, w), np.uint8)
    lab[: h // 2] = 12
    lab[h // 2 :] = 5
    rgb = (rng.random((h, w, 3)) * 60 + np.where(lab[..., None] == 12, 150, 40)).astype(np.uint8)
    depth = np.where(lab == 12, 3.0, 1.5).astype(np.float32)
    return Frame(
        rgb=rgb,
        depth_m=depth,
        intrinsics=Intrinsics.from_fov(w, h, np.radians(60.0)),
        labels=lab if labels else None,
        index=seed,
    )


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    m = build_model("rgbd-small")
    m.eval()
    return m


def test_fit_save_load_and_predict_calibrated_on_a_network(tiny_model, tmp_path):
    frames = [_tiny_frame(i) for i in range(3)]
    cal = fit_shift_calibration(tiny_model, frames, density_frames=frames[:2], pixels_per_frame=300)
    assert cal.scores == ("energy", "frame_energy", "frame_density") and cal.density is not None
    path = cal.save(tmp_path / "cal.json")
    back = ShiftCalibration.load(path)
    assert back.scores == cal.scores and back.weights == pytest.approx(cal.weights)
    plain = tiny_model.predict(frames[0])
    a, b = predict_calibrated(tiny_model, frames[0], cal), predict_calibrated(tiny_model, frames[0], back)
    np.testing.assert_array_equal(a.labels, plain.labels)  # labels never change
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    # one forward pass: the hooks see exactly one call, and are gone afterwards
    calls = []
    h = tiny_model.register_forward_hook(lambda *_: calls.append(1))
    predict_with_scores(tiny_model, frames[0], cal.density, cal.scores)
    h.remove()
    assert len(calls) == 1
    assert not tiny_model._forward_hooks and not tiny_model.decoder.smooth8._forward_hooks


def test_scores_grow_for_features_unlike_the_fitted_ones(tiny_model):
    frame = _tiny_frame(0)
    with FeatureTap(tiny_model) as tap:
        tiny_model.predict(frame)
    feats = tap.features[0].reshape(tap.features.shape[1], -1).T.numpy()
    h8 = tap.features.shape[2]
    rows = np.repeat(np.arange(h8), tap.features.shape[3])
    density = fit_feature_density(feats, (rows >= h8 // 2).astype(np.int64), min_count=5)  # wall / floor halves
    near = shift_scores(tap.logits, tap.features, (64, 80), density, ("density", "frame_density"))
    far = shift_scores(tap.logits, tap.features * 5.0 + 3.0, (64, 80), density, ("density", "frame_density"))
    assert near["density"].shape == (64, 80)
    assert far["frame_density"] > near["frame_density"] + 10


def test_bad_inputs_raise_the_documented_errors(tiny_model, tmp_path):
    density = FeatureDensity(np.zeros((1, 2)), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ConfigError):
        ShiftCalibration(("nope",), 0.0, (1.0,), (0.0,), (1.0,))
    with pytest.raises(InputError):  # a density score without a density
        ShiftCalibration(("density",), 0.0, (1.0,), (0.0,), (1.0,))
    with pytest.raises(InputError):  # one weight for two scores
        ShiftCalibration(("energy", "frame_energy"), 0.0, (1.0,), (0.0,), (1.0,))
    with pytest.raises(InputError):
        ShiftCalibration(("energy",), 0.0, (1.0,), (0.0,), (0.0,))  # zero scale
    with pytest.raises(InputError):
        density.score(np.zeros((3, 5)))
    with pytest.raises(InputError):
        fit_feature_density(np.zeros((10, 2)), np.zeros(9, np.int64))
    with pytest.raises(InputError):
        fit_shift_temperature(np.full((3, 2), 0.5), np.array([0, 1, 2]), {})
    with pytest.raises(InputError):
        apply_pixel_temperature(np.full((3, 2, 2), 0.5, np.float32), np.zeros((2, 2)))
    with pytest.raises(InputError):
        fit_shift_calibration(tiny_model, [_tiny_frame(0, labels=False)], scores=("energy",))
    with pytest.raises(InputError):  # density scores without density frames
        fit_shift_calibration(tiny_model, [_tiny_frame(0)])
    with pytest.raises(InputError):
        FeatureTap(object())
    other = ShiftCalibration(("energy",), 0.0, (1.0,), (0.0,), (1.0,), model="rgb-default")
    with pytest.raises(ConfigError):  # fitted for another model
        predict_calibrated(tiny_model, _tiny_frame(0), other)
    with pytest.raises(ConfigError):
        FeatureTap(tiny_model, "decoder.nothing")
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(FormatError):
        ShiftCalibration.load(tmp_path / "bad.json")
    with pytest.raises(FormatError):
        ShiftCalibration.load(tmp_path / "missing.json")
    with pytest.raises(InputError):
        reliability_diagram({}, "empty")


def test_reliability_diagram_draws_one_panel_per_result():
    probs = np.concatenate([np.zeros((1, 1, 4)), np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]]).T[:, None]])
    r = calibration_error(probs.astype(np.float32), np.array([[1, 2, 1, 1]], np.uint8), n_bins=5)
    img = reliability_diagram({"a": r, "b": r}, "two panels", size=(300, 320))
    assert img.size == (600, 348)
    px = np.asarray(img)
    assert (px == [0, 114, 178]).all(-1).any()  # accuracy bars drawn
