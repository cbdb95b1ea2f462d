import numpy as np
import pytest
from robust_frames import make_scene_frame

from real3d.core.errors import ConfigError, InputError
from real3d.robust import CORRUPTIONS, GROUPS, corrupt, parse_corruptions
from real3d.robust import depth as depth_mod

NAMES = list(CORRUPTIONS)


@pytest.fixture(scope="module")
def frame():
    # big enough that the pixel sizes scaled from a 240-pixel side are not all below a pixel
    return make_scene_frame(96, 128)


def distance(a, b) -> float:
    """Mean absolute colour change (0-255) plus ten times the mean depth change (metres) plus
    the share of labels changed: every corruption moves at least one of them."""
    d = np.abs(a.rgb.astype(np.float64) - b.rgb).mean() + 10 * np.abs(a.depth_m - b.depth_m).mean()
    return float(d + (a.labels != b.labels).mean())


def test_registry_lists_every_group():
    assert [n for g in GROUPS.values() for n in g] == NAMES
    assert len(NAMES) == len(set(NAMES)) == 20


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed_and_frame(frame, name):
    a = corrupt(frame, name, 4, seed=3)
    b = CORRUPTIONS[name](frame, 4, seed=3)
    for field in ("rgb", "depth_m", "labels", "instances", "normals_cam"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.intrinsics == b.intrinsics
    assert a.meta["corruption"] == {"name": name, "severity": 4, "seed": 3}
    assert "corruption" not in frame.meta  # the input is untouched


@pytest.mark.parametrize("name", ["gaussian_noise", "depth_noise", "depth_block_dropout", "depth_flying_pixels"])
def test_other_seeds_and_frames_draw_otherwise(frame, name):
    base = corrupt(frame, name, 5, seed=0)
    other_seed = corrupt(frame, name, 5, seed=1)
    other_frame = corrupt(frame.replace(index=frame.index + 1), name, 5, seed=0)
    for c in (other_seed, other_frame):
        assert not (np.array_equal(base.rgb, c.rgb) and np.array_equal(base.depth_m, c.depth_m))


@pytest.mark.parametrize("name", NAMES)
def test_change_grows_with_severity(frame, name):
    d = [distance(corrupt(frame, name, s, seed=2), frame) for s in range(1, 6)]
    assert all(b >= a - 1e-9 for a, b in zip(d, d[1:])), d
    assert d[-1] > 0, f"{name} leaves the frame unchanged at severity 5"


@pytest.mark.parametrize("name", NAMES)
def test_keeps_the_frame_contract(frame, name):
    for s in (1, 5):
        c = corrupt(frame, name, s, seed=5)
        assert c.rgb.dtype == np.uint8 and c.rgb.shape == frame.rgb.shape
        assert c.depth_m.dtype == np.float32 and c.depth_m.shape == frame.size_hw
        assert np.isfinite(c.depth_m).all() and (c.depth_m >= 0).all()
        assert c.labels.dtype == np.uint8 and c.instances.dtype == np.int32
        assert c.normals_cam.dtype == np.float32
        assert c.intrinsics.size_hw == c.size_hw == frame.size_hw
        assert c.depth_clean_m is None and c.world_T_cam.shape == (4, 4)
        if name in GROUPS["depth"]:
            # invalid depth stays invalid; depth corruptions touch nothing else
            assert (c.depth_m[frame.depth_m == 0] == 0).all()
            assert np.array_equal(c.rgb, frame.rgb) and np.array_equal(c.labels, frame.labels)
        if name in GROUPS["rgb"]:
            assert np.array_equal(c.depth_m, frame.depth_m) and c.intrinsics == frame.intrinsics


def test_depth_stays_in_metres():
    # a constant 2 m wall: quantisation steps and biases stay within their stated size
    f = make_scene_frame(96, 128).replace(depth_m=np.full((96, 128), 2.0, np.float32))
    q = corrupt(f, "depth_quantisation", 5).depth_m
    assert np.abs(q - 2.0).max() <= 0.5 * depth_mod.QUANT_STEP_PER_M[4] * 2.0**2 * 1.01
    b = corrupt(f, "depth_scale_bias", 5).depth_m
    assert np.allclose(np.abs(b - 2.0), 2.0 * depth_mod.SCALE_BIAS[4], rtol=1e-5)


def test_depth_holes_follow_the_colour_cues(frame):
    dark = corrupt(frame, "depth_holes_dark", 1).depth_m
    assert (dark[:10, :20] == 0).all()  # the black patch
    assert (dark[frame.depth_m > 0] > 0).mean() > 0.9  # little else
    spec = corrupt(frame, "depth_holes_specular", 1).depth_m
    assert (spec[48:54, 96:104] == 0).all()  # the white highlight
    assert (spec[frame.depth_m > 0] > 0).mean() > 0.9


def test_flying_pixels_lie_between_the_surfaces(frame):
    c = corrupt(frame, "depth_flying_pixels", 5).depth_m
    moved = c != frame.depth_m
    assert moved.any()
    # every moved pixel is within the band of the box's edge, between box (1.5 m) and wall (3-4 m)
    assert (c[moved] >= 1.5 - 1e-6).all() and (c[moved] <= 4.0 + 1e-6).all()
    assert moved[:, :20].sum() == 0  # far from the edges nothing moves


def test_depth_missing_at_severity_5_always():
    for i in range(5):
        f = make_scene_frame(index=i)
        assert not corrupt(f, "depth_missing", 5).depth_m.any()


def test_roll_moves_intrinsics_pose_and_labels_consistently(frame):
    c = corrupt(frame, "roll", 5, seed=0)
    assert c.intrinsics == frame.intrinsics
    R = np.linalg.inv(frame.world_T_cam) @ c.world_T_cam
    angle = np.degrees(np.arctan2(R[1, 0], R[0, 0]))
    assert abs(abs(angle) - 15.0) < 1e-6 and np.allclose(R[:3, 3], 0)
    # the principal point stays where it was; a corner rotates in from outside: void, no depth
    cu, cv = round(frame.intrinsics.cx), round(frame.intrinsics.cy)
    assert c.labels[cv, cu] == frame.labels[cv, cu]
    assert c.depth_m[0, 0] == 0 and c.labels[0, 0] == 0 and (c.rgb[0, 0] == 0).all()
    # a point's pixel in the new camera is K R K^-1 of its old one (R^-1 = world_T_old^-1 world_T_new)
    box_old = np.argwhere(frame.labels == 7).mean(axis=0)
    box_new = np.argwhere(c.labels == 7).mean(axis=0)
    K = frame.intrinsics.K
    p = K @ np.linalg.inv(R[:3, :3]) @ np.linalg.inv(K) @ np.array([box_old[1], box_old[0], 1.0])
    assert np.allclose(p[[1, 0]] / p[2], box_new, atol=1.0)


def test_field_of_view_is_a_longer_lens(frame):
    c = corrupt(frame, "field_of_view", 5)
    keep = 0.5
    assert c.intrinsics.fx == pytest.approx(frame.intrinsics.fx / keep, rel=0.02)
    assert c.intrinsics.hfov_rad < frame.intrinsics.hfov_rad
    # a 3D point seen near the centre projects where the new intrinsics say
    u, v = 70, 50
    z = frame.depth_m[v, u]
    x, y = (u - frame.intrinsics.cx) / frame.intrinsics.fx * z, (v - frame.intrinsics.cy) / frame.intrinsics.fy * z
    u2 = c.intrinsics.fx * x / z + c.intrinsics.cx
    v2 = c.intrinsics.fy * y / z + c.intrinsics.cy
    assert c.depth_m[round(v2), round(u2)] == pytest.approx(z, abs=1e-6)


def test_resolution_keeps_size_and_labels(frame):
    c = corrupt(frame, "resolution", 5)
    assert c.size_hw == frame.size_hw and c.intrinsics == frame.intrinsics
    assert np.array_equal(c.labels, frame.labels)
    assert not np.array_equal(c.rgb, frame.rgb)


def test_bad_names_severities_and_frames_raise(frame):
    with pytest.raises(ConfigError, match="valid: gaussian_noise"):
        corrupt(frame, "fog", 3)
    for bad in (0, 6, 2.5, True, "3", None):
        with pytest.raises(InputError, match="severity in 1..5"):
            corrupt(frame, "jpeg", bad)
    with pytest.raises(InputError, match="seed"):
        corrupt(frame, "jpeg", 3, seed=-1)
    with pytest.raises(InputError, match="Frame"):
        corrupt(frame.rgb, "jpeg", 3)
    with pytest.raises(InputError, match="has none"):
        corrupt(frame.replace(depth_m=None), "depth_noise", 3)
    # colour and geometry work without depth
    assert corrupt(frame.replace(depth_m=None), "roll", 3).depth_m is None


def test_parse_corruptions():
    assert parse_corruptions("jpeg,roll,jpeg") == ("jpeg", "roll")
    assert parse_corruptions("geometry") == ("roll", "field_of_view", "resolution")
    assert parse_corruptions("all") == tuple(NAMES)
    with pytest.raises(ConfigError, match="valid"):
        parse_corruptions("jpeg,snow")
