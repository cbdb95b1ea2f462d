import dataclasses

import numpy as np
import pytest
from robust_frames import make_scene_frame

from real3d.core.errors import InputError
from real3d.robust import HealthConfig, check_health, corrupt
from real3d.robust.health import noise_sigma, sharpness_ratio


@pytest.fixture(scope="module")
def clean_frames():
    from real3d.testing.toyscene import toy_sequence

    seq = toy_sequence(0, n_frames=3, size=(120, 160))
    return [seq[i] for i in range(len(seq))]


def test_clean_generated_frames_pass(clean_frames):
    for f in clean_frames:
        h = check_health(f)
        assert not h.flagged, h.reason
        assert h.reason == "ok" and h.depth_ok
        assert 0.5 < h.valid_depth <= 1.0 and h.implausible_depth == 0.0


@pytest.mark.slow
def test_clean_synthetic_homes_pass():
    from real3d.synth import generate_sequence

    seq = generate_sequence(1, 2, size=(120, 160))
    for f in seq:
        h = check_health(f)
        assert not h.flagged, h.reason


def test_depth_removed_is_flagged(clean_frames):
    f = clean_frames[0]
    h = check_health(corrupt(f, "depth_missing", 5))
    assert h.depth_flag and not h.depth_ok and h.valid_depth == 0.0 and h.hole_share == 1.0
    assert "valid depth 0 %" in h.reason
    assert h.faults == ("depth",)
    h = check_health(f.replace(depth_m=None))
    assert h.depth_flag and not h.has_depth and "no depth" in h.reason


def test_implausible_depth_is_flagged(clean_frames):
    f = clean_frames[0]
    far = np.where(f.depth_m > 0, np.float32(40.0), np.float32(0.0))
    h = check_health(f.replace(depth_m=far))
    assert h.depth_flag and h.implausible_depth == 1.0 and "outside" in h.reason


def test_strong_blur_is_flagged_and_sharpness_falls(clean_frames):
    f = clean_frames[0]
    base = check_health(f).sharpness
    for name in ("motion_blur", "defocus_blur"):
        h = check_health(corrupt(f, name, 5))
        assert h.blur_flag and h.faults == ("blur",), h.reason
        assert h.sharpness < 0.5 * base


def test_under_exposure_is_flagged(clean_frames):
    h = check_health(corrupt(clean_frames[1], "low_light", 5))
    assert h.exposure_flag and "under-exposed" in h.reason and not h.depth_flag


def test_over_exposure_is_flagged():
    f = make_scene_frame(96, 128)
    assert not check_health(f).exposure_flag
    # an auto-exposure overshoot: 3x the light, clipped at white
    over = np.clip(f.rgb.astype(np.float32) * 3.0, 0, 255).astype(np.uint8)
    h = check_health(f.replace(rgb=over))
    assert h.exposure_flag and "over-exposed" in h.reason and h.overexposed > 0.35


def test_constant_images_exposure_and_blank_not_blur(clean_frames):
    f = clean_frames[0]
    white = check_health(f.replace(rgb=np.full_like(f.rgb, 255)))
    black = check_health(f.replace(rgb=np.zeros_like(f.rgb)))
    assert white.overexposed == 1.0 and white.exposure_flag and white.mean_luma == pytest.approx(1.0)
    assert black.underexposed == 1.0 and black.exposure_flag
    # no structure: blur cannot be judged and is not flagged
    assert not white.blur_flag and not black.blur_flag


def test_noise_is_flagged_and_estimate_matches_known_sigma():
    rng = np.random.default_rng(0)
    flat = np.full((240, 320), 0.5, np.float32)
    for sigma in (0.01, 0.05):
        est = noise_sigma(flat + rng.normal(0, sigma, flat.shape).astype(np.float32))
        assert est == pytest.approx(sigma, rel=0.05)
    # a smooth ramp has no noise (the operator cancels planes)
    v, u = np.mgrid[0:60, 0:80].astype(np.float32)
    assert noise_sigma(0.01 * u + 0.005 * v) == pytest.approx(0.0, abs=1e-6)
    f = make_scene_frame(96, 128)
    h = check_health(corrupt(f, "gaussian_noise", 5))
    assert h.noise_flag and "noise" in h.reason


def test_sharpness_is_gain_and_offset_invariant():
    rng = np.random.default_rng(1)
    img = rng.random((50, 60)).astype(np.float64)
    assert sharpness_ratio(0.3 * img + 0.2) == pytest.approx(sharpness_ratio(img), rel=1e-9)
    assert sharpness_ratio(np.zeros((10, 10))) == 0.0


def test_hole_share_hand_computed():
    f = make_scene_frame(48, 64)
    d = f.depth_m.copy()
    d[:16, :32] = 0.0  # 2 x 4 blocks of 8 x 8 out of 6 x 8
    h = check_health(f.replace(depth_m=d))
    assert h.hole_share == pytest.approx(8 / 48)
    assert h.valid_depth == pytest.approx(float((d > 0).mean()))


def test_real_captures_pass(real_captures):
    for name, f in real_captures:
        h = check_health(f)
        assert not h.flagged, f"{name}: {h.reason}"


def test_to_dict_and_flags():
    f = make_scene_frame(48, 64)
    d = check_health(corrupt(f, "depth_missing", 5)).to_dict()
    assert d["flagged"] is True and d["depth_flag"] is True and d["index"] == f.index


@pytest.mark.parametrize(
    "kw",
    [
        {"min_valid_depth": 1.5},
        {"max_noise_sigma": -0.1},
        {"min_sharpness": -1.0},
        {"depth_range_m": (2.0, 1.0)},
        {"depth_range_m": (1.0,)},
        {"mean_luma_range": (0.1, 1.5)},
        {"dark_luma": 0.9, "bright_luma": 0.5},
        {"max_overexposed": "0.3"},
        {"max_hole_share": True},
    ],
)
def test_bad_config_raises(kw):
    with pytest.raises(InputError):
        HealthConfig(**kw)


def test_bad_arguments_raise():
    with pytest.raises(InputError, match="Frame"):
        check_health(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="HealthConfig"):
        check_health(make_scene_frame(), config={"min_valid_depth": 0.1})


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HealthConfig().min_valid_depth = 0.5


def test_luma_and_shrink_match_their_definitions():
    from real3d.robust.health import _luma, _shrink

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    want = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]) / 255.0
    assert np.allclose(_luma(rgb), want, atol=1e-6)
    a = rng.random((7, 9)).astype(np.float32)
    assert np.allclose(_shrink(a, 2), a[:6, :8].reshape(3, 2, 4, 2).mean(axis=(1, 3)), atol=1e-6)
    assert _shrink(a, 1) is a
