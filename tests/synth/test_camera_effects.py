from dataclasses import replace

import numpy as np
import pytest

from real3d.core import ConfigError, InputError
from real3d.synth.camera_effects import (
    CameraEffectsConfig,
    apply_camera_effects,
    fast_standard_normal,
    linear_to_srgb,
)

CLEAN = CameraEffectsConfig.none()
MID_GREY_U8 = int(np.rint(linear_to_srgb(0.18) * 255))  # 118


def _scene(h=48, w=64, seed=0):
    """Piecewise-constant coloured radiance with a bright 'window' (values > 1)."""
    rng = np.random.default_rng(seed)
    img = np.repeat(np.repeat(rng.random((h // 8, w // 8, 3)), 8, 0), 8, 1) * 0.5
    img[: h // 4, : w // 4] = 3.0
    return img.astype(np.float32)


def test_output_dtype_and_shape_for_many_draws():
    img = _scene()
    for seed in range(20):
        out = apply_camera_effects(img, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape == img.shape
    odd = np.full((7, 5, 3), 0.3, np.float32)
    assert apply_camera_effects(odd, np.random.default_rng(0)).shape == (7, 5, 3)


def test_input_is_not_modified():
    img = _scene()
    before = img.copy()
    apply_camera_effects(img, np.random.default_rng(1))
    assert np.array_equal(img, before)


def test_clean_config_is_deterministic_and_maps_median_to_mid_grey():
    img = _scene()
    a = apply_camera_effects(img, np.random.default_rng(0), CLEAN)
    b = apply_camera_effects(img, np.random.default_rng(123), CLEAN)
    assert np.array_equal(a, b)
    # uniform grey of any brightness -> mid grey, R = G = B
    for level in (0.01, 0.5, 40.0):
        flat = np.full((10, 12, 3), level, np.float32)
        out = apply_camera_effects(flat, np.random.default_rng(0), CLEAN)
        assert np.all(np.abs(out.astype(int) - MID_GREY_U8) <= 1), level
    # auto-exposure: scaling the radiance does not change the picture
    c = apply_camera_effects(img * 5.0, np.random.default_rng(0), CLEAN)
    assert np.abs(a.astype(int) - c.astype(int)).max() <= 1


def test_clean_tone_curve_is_monotone_in_brightness():
    ramp = np.geomspace(1e-4, 20.0, 400, dtype=np.float32)
    img = np.repeat(np.tile(ramp[None, :, None], (4, 1, 3)), 1, 0)
    img[..., 0] *= 0.7  # a tinted ramp: every channel on its own must still be monotone
    out = apply_camera_effects(img, np.random.default_rng(0), CLEAN).astype(int)
    assert np.all(np.diff(out, axis=1) >= 0)
    assert out[:, 0].max() <= 5 and out[:, -1].min() == 255


def test_random_tone_curves_are_monotone_too():
    ramp = np.geomspace(1e-3, 10.0, 300, dtype=np.float32)
    img = np.tile(ramp[None, :, None], (2, 1, 3))
    cfg = replace(CLEAN, p_tone=1.0)
    for seed in range(10):
        out = apply_camera_effects(img, np.random.default_rng(seed), cfg).astype(int)
        assert np.all(np.diff(out, axis=1) >= 0), seed


def test_default_config_same_seed_same_bytes_and_varies_between_seeds():
    img = _scene()
    a = apply_camera_effects(img, np.random.default_rng(7))
    b = apply_camera_effects(img, np.random.default_rng(7))
    assert a.tobytes() == b.tobytes()
    means = [apply_camera_effects(img, np.random.default_rng(s)).mean(axis=(0, 1)) for s in range(12)]
    means = np.array(means)
    assert means.std(axis=0).min() > 2.0  # exposure/white balance really change per frame


def test_noise_std_matches_the_shot_and_read_model():
    # var(y) = k*y + r^2 in linear units at exposure-normalised y = 0.18; through sRGB the
    # std scales with the slope of the encoding at 0.18.
    k, r = 1e-3, 1e-3
    cfg = replace(CLEAN, p_noise=1.0, shot_noise=(k, k), read_noise=(r, r))
    flat = np.full((200, 200, 3), 0.42, np.float32)
    out = apply_camera_effects(flat, np.random.default_rng(0), cfg).astype(float)
    y = 0.18
    slope = 1.055 / 2.4 * y ** (1 / 2.4 - 1)
    expect = 255 * slope * np.sqrt(k * y + r * r)
    assert out.std() == pytest.approx(expect, rel=0.1)
    assert out.mean() == pytest.approx(MID_GREY_U8, abs=1.0)


def test_white_balance_casts_colour_and_vignetting_darkens_corners():
    flat = np.full((60, 80, 3), 0.2, np.float32)
    cfg = replace(CLEAN, p_white_balance=1.0, wb_max_gain=1.5)
    spreads = []
    for seed in range(10):
        rgb = apply_camera_effects(flat, np.random.default_rng(seed), cfg).mean(axis=(0, 1))
        spreads.append(rgb.max() - rgb.min())
        # a colour cast, not an exposure change: green (most of luminance) stays near grey
        assert abs(rgb[1] - MID_GREY_U8) < 12
    assert np.median(spreads) > 10
    vig = apply_camera_effects(flat, np.random.default_rng(3), replace(CLEAN, p_vignetting=1.0, vignetting=(0.4, 0.4)))
    assert int(vig[0, 0, 1]) < int(vig[30, 40, 1]) - 20


def test_blur_and_jpeg_change_the_image_a_little():
    img = np.full((32, 32, 3), 0.05, np.float32)
    img[:, 16:] = 0.5  # a vertical step edge
    clean = apply_camera_effects(img, np.random.default_rng(0), CLEAN)
    blurred = apply_camera_effects(img, np.random.default_rng(0), replace(CLEAN, p_blur=1.0, blur_sigma_px=(1.5, 1.5)))
    assert len(np.unique(clean[16, :, 1])) == 2
    assert len(np.unique(blurred[16, :, 1])) > 4
    jpeg = apply_camera_effects(_scene(), np.random.default_rng(0), replace(CLEAN, p_jpeg=1.0, jpeg_quality=(30, 30)))
    ref = apply_camera_effects(_scene(), np.random.default_rng(0), CLEAN)
    diff = np.abs(jpeg.astype(int) - ref.astype(int))
    assert 0 < diff.mean() < 10


def test_motion_blur_smears_along_one_direction():
    img = np.full((40, 40, 3), 0.02, np.float32)
    img[20, 20] = 5.0
    cfg = replace(CLEAN, p_motion_blur=1.0, motion_blur_px=(7, 7), auto_exposure=False)
    out = apply_camera_effects(img, np.random.default_rng(2), cfg)[..., 1]
    lit = np.argwhere(out > out.min() + 5)
    extent = lit.max(axis=0) - lit.min(axis=0)
    assert extent.max() >= 5  # a streak, not a dot


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 3), np.float64),
        np.zeros((8, 8), np.float32),
        np.zeros((8, 8, 4), np.float32),
        np.zeros((0, 8, 3), np.float32),
        [[[0.1, 0.1, 0.1]]],
    ],
)
def test_bad_input_shapes_and_dtypes_raise(bad):
    with pytest.raises(InputError):
        apply_camera_effects(bad, np.random.default_rng(0))


@pytest.mark.parametrize("value", [np.nan, np.inf, -0.1])
def test_non_finite_or_negative_radiance_raises(value):
    img = np.full((8, 8, 3), 0.3, np.float32)
    img[3, 4, 1] = value
    with pytest.raises(InputError):
        apply_camera_effects(img, np.random.default_rng(0))


@pytest.mark.parametrize(
    "kw",
    [
        dict(p_blur=1.5),
        dict(gamma=(1.2, 0.8)),
        dict(contrast=(0, 1.0)),
        dict(jpeg_quality=(50, 120)),
        dict(read_noise=(0.0, 0.01)),
    ],
)
def test_bad_config_raises(kw):
    with pytest.raises(ConfigError):
        CameraEffectsConfig(**kw)


def test_fast_standard_normal_has_unit_moments():
    x = fast_standard_normal(np.random.default_rng(0), (300, 300))
    assert x.dtype == np.float32 and x.shape == (300, 300)
    assert abs(x.mean()) < 0.01 and x.std() == pytest.approx(1.0, abs=0.01)
    # roughly Gaussian: about 68 % within one sigma
    assert np.mean(np.abs(x) < 1.0) == pytest.approx(0.6827, abs=0.01)
