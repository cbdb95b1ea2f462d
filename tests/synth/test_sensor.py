import numpy as np
import pytest

from real3d.core import ConfigError, InputError, Intrinsics
from real3d.synth.sensor import (
    DepthSensorConfig,
    axial_noise_sigma_m,
    disparity_step_m,
    simulate_depth,
)

H, W = 240, 320
K = Intrinsics.from_fov(W, H, np.deg2rad(57.0))
FX_NATIVE = K.fx * 640 / W
NOISE_ONLY = DepthSensorConfig.noise_only(axial_angle_m=0.0)


def _rays():
    u = (np.arange(W) - K.cx) / K.fx
    v = (np.arange(H) - K.cy) / K.fy
    r = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((H, W))), -1)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)


def _facing_normals(theta_deg=0.0):
    """Unit normals making angle theta with the (reversed) viewing ray at every pixel."""
    r = _rays()
    side = np.cross(r, np.array([0.0, 1.0, 0.0]))
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    t = np.deg2rad(theta_deg)
    return (-np.cos(t) * r + np.sin(t) * side).astype(np.float32)


def _wall(z):
    return np.full((H, W), z, np.float32), _facing_normals(0.0)


def _run(depth, normals, seed=0, cfg=DepthSensorConfig(), **kw):
    return simulate_depth(depth, normals, K, np.random.default_rng(seed), cfg, **kw)


@pytest.mark.parametrize("z", [1.0, 3.0])
def test_axial_noise_std_follows_the_kinect_model(z):
    depth, normals = _wall(z)
    out = _run(depth, normals, cfg=NOISE_ONLY)
    assert (out > 0).all()
    expect = 0.0012 + 0.0019 * (z - 0.4) ** 2  # Nguyen et al. 2012, total error
    assert expect == pytest.approx(float(axial_noise_sigma_m(z, NOISE_ONLY)))
    assert out.std() == pytest.approx(expect, rel=0.05)
    assert abs(out.mean() - z) < 0.1 * expect + 0.25 * disparity_step_m(z, FX_NATIVE)


def test_noise_grows_with_depth():
    stds = [_run(*_wall(z), cfg=NOISE_ONLY).std() for z in (0.8, 1.5, 2.5, 4.0)]
    assert np.all(np.diff(stds) > 0)


def test_quantised_depths_are_whole_disparity_steps():
    cfg = DepthSensorConfig.noise_only(axial_a_m=0.0, axial_b_per_m=0.0, axial_angle_m=0.0)
    # a plane receding from 1 m to 3 m across the image
    depth = np.tile(np.linspace(1.0, 3.0, W, dtype=np.float32), (H, 1))
    out = _run(depth, _facing_normals(0.0), cfg=cfg)
    k = FX_NATIVE * 0.075 * 8  # f*b in 1/8 pixel units at the native 640 px width
    disparity = k / out.astype(np.float64)
    assert np.allclose(disparity, np.rint(disparity), atol=1e-3)
    assert np.allclose(out, k / np.rint(k / depth.astype(np.float64)), rtol=1e-6)
    # neighbouring distinct values near 2 m are one step apart: z^2 / (f*b*8)
    vals = np.unique(out[0])
    near2 = vals[np.argmin(np.abs(vals - 2.0))]
    nxt = vals[np.searchsorted(vals, near2) + 1]
    assert nxt - near2 == pytest.approx(disparity_step_m(2.0, FX_NATIVE), rel=0.02)


def test_out_of_range_gives_zero():
    for z in (9.0, 0.3):
        assert not _run(*_wall(z)).any()
    cfg = DepthSensorConfig.noise_only(max_range_m=(4.0, 4.0))
    assert not _run(*_wall(5.0), cfg=cfg).any()
    assert _run(*_wall(3.0), cfg=cfg).all()


def test_invalid_input_pixels_stay_invalid():
    depth, normals = _wall(2.0)
    depth[:, :50] = 0.0
    out = _run(depth, normals)
    assert not out[:, :50].any()


def test_grazing_surfaces_drop_out_more_than_frontal_ones():
    cfg = DepthSensorConfig(holes_per_frame=0.0)
    depth = np.full((H, W), 2.0, np.float32)
    frontal = _run(depth, _facing_normals(0.0), cfg=cfg)
    oblique = _run(depth, _facing_normals(60.0), cfg=cfg)
    grazing = _run(depth, _facing_normals(87.0), cfg=cfg)
    assert (frontal == 0).mean() < 0.01
    assert (oblique == 0).mean() < 0.01
    assert (grazing == 0).mean() > 0.3


def test_dark_surfaces_drop_out_more_than_bright_ones():
    cfg = DepthSensorConfig(holes_per_frame=0.0, dark_signal=(0.02, 0.02))
    depth, normals = _wall(4.0)
    bright = _run(depth, normals, cfg=cfg, albedo=np.full((H, W), 0.8, np.float32))
    dark = _run(depth, normals, cfg=cfg, albedo=np.full((H, W), 0.005, np.float32))
    assert (bright == 0).mean() < 0.01
    assert (dark == 0).mean() > 0.5


def test_specular_pixels_drop_out_in_blobs():
    cfg = DepthSensorConfig(holes_per_frame=0.0, p_specular=(0.7, 0.7))
    depth, normals = _wall(2.0)
    spec = np.zeros((H, W), bool)
    spec[:, W // 2 :] = True
    out = _run(depth, normals, cfg=cfg, specular_mask=spec)
    assert (out[:, : W // 2] == 0).mean() < 0.01
    lost = out[:, W // 2 :] == 0
    assert lost.mean() > 0.5
    # blobs, not salt and pepper: a lost pixel's right neighbour is usually lost too
    assert (lost[:, 1:] & lost[:, :-1]).sum() / lost[:, 1:].sum() > 0.8


def _box_scene():
    depth = np.full((H, W), 3.0, np.float32)
    depth[80:160, 100:160] = 1.5
    return depth, _facing_normals(0.0)


@pytest.mark.parametrize("side", [1, -1])
def test_projector_shadow_band_has_the_geometric_width(side):
    depth, normals = _box_scene()
    cfg = DepthSensorConfig.noise_only(
        projector_side=side, shadow=True, subpixel_steps=0, axial_a_m=0.0, axial_b_per_m=0.0, axial_angle_m=0.0
    )
    out = _run(depth, normals, cfg=cfg)
    row = out[120]
    width = K.fx * 0.075 * (1 / 1.5 - 1 / 3.0)  # disparity difference in pixels
    left = np.flatnonzero(row[:100] == 0)
    right = np.flatnonzero(row[160:] == 0)
    if side == 1:  # projector right of the camera: band on the left of the box
        # background u is hidden iff u - f*b/3 > 100 - f*b/1.5 (first box column's ray)
        assert np.array_equal(left, np.arange(int(np.floor(100 - width)) + 1, 100))
        assert right.size == 0
    else:  # mirrored: hidden iff u + f*b/3 < 159 + f*b/1.5
        assert left.size == 0
        assert np.array_equal(right + 160, np.arange(160, int(np.ceil(159 + width))))
    assert (out[80:160, 100:160] > 0).all()  # the box itself is lit


def test_flying_pixels_lie_between_foreground_and_background():
    depth, normals = _box_scene()
    cfg = DepthSensorConfig.noise_only(p_flying=1.0, axial_a_m=0.0, axial_b_per_m=0.0, subpixel_steps=0)
    out = _run(depth, normals, cfg=cfg)
    mixed = (out > 1.5 + 1e-4) & (out < 3.0 - 1e-4)
    assert mixed.sum() > 100
    # only next to the box outline
    ys, xs = np.nonzero(mixed)
    assert ys.min() >= 79 and ys.max() <= 160 and xs.min() >= 99 and xs.max() <= 160


def test_random_holes_appear():
    cfg = DepthSensorConfig.noise_only(holes_per_frame=20.0)
    out = _run(*_wall(2.0), cfg=cfg)
    assert 0.001 < (out == 0).mean() < 0.3


def test_output_is_never_nan_or_negative_on_junk_input():
    rng = np.random.default_rng(5)
    depth = rng.uniform(0.0, 12.0, (H, W)).astype(np.float32)
    depth[rng.random((H, W)) < 0.2] = 0.0
    normals = rng.normal(size=(H, W, 3)).astype(np.float32)  # not even unit length
    albedo = rng.random((H, W), dtype=np.float32)
    spec = rng.random((H, W)) < 0.1
    for seed in range(5):
        out = simulate_depth(depth, normals, K, np.random.default_rng(seed), albedo=albedo, specular_mask=spec)
        assert out.dtype == np.float32 and out.shape == (H, W)
        assert np.isfinite(out).all() and out.min() >= 0.0
        assert out.max() <= 8.0


def test_same_seed_same_bytes():
    depth, normals = _box_scene()
    albedo = np.full((H, W), 0.3, np.float32)
    a = _run(depth, normals, seed=4, albedo=albedo)
    b = _run(depth, normals, seed=4, albedo=albedo)
    c = _run(depth, normals, seed=5, albedo=albedo)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_input_is_not_modified():
    depth, normals = _box_scene()
    d0, n0 = depth.copy(), normals.copy()
    _run(depth, normals, albedo=np.full((H, W), 0.3, np.float32))
    assert np.array_equal(depth, d0) and np.array_equal(normals, n0)


@pytest.mark.parametrize(
    "what",
    [
        "depth_shape",
        "depth_dtype",
        "normals_shape",
        "normals_dtype",
        "albedo_shape",
        "mask_dtype",
        "nan",
        "negative",
        "intrinsics",
        "nan_normals",
    ],
)
def test_bad_inputs_raise(what):
    depth, normals = _wall(2.0)
    kw = {}
    intr = K
    if what == "depth_shape":
        depth = depth[:, :-1]
    elif what == "depth_dtype":
        depth = depth.astype(np.float64)
    elif what == "normals_shape":
        normals = normals[:-1]
    elif what == "normals_dtype":
        normals = normals.astype(np.float64)
    elif what == "albedo_shape":
        kw["albedo"] = np.zeros((H, W + 1), np.float32)
    elif what == "mask_dtype":
        kw["specular_mask"] = np.zeros((H, W), np.uint8)
    elif what == "nan":
        depth[5, 5] = np.nan
    elif what == "negative":
        depth[5, 5] = -1.0
    elif what == "intrinsics":
        intr = K.scaled(2.0)
    elif what == "nan_normals":
        normals[1, 1, 0] = np.inf
    with pytest.raises(InputError):
        simulate_depth(depth, normals, intr, np.random.default_rng(0), **kw)


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_range_m=(8.0, 4.0)),
        dict(min_range_m=5.0),
        dict(projector_side=0),
        dict(p_flying=2.0),
        dict(grazing_start_deg=(80.0, 95.0)),
    ],
)
def test_bad_config_raises(kw):
    with pytest.raises(ConfigError):
        DepthSensorConfig(**kw)
