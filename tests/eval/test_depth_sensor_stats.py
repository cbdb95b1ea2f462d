"""Depth sensor statistics: constructed depth maps with hand-computed answers, the sensor
model's quantiser recovered, bad input, and the real captures next to the repository."""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from real3d.core.errors import ConfigError, InputError
from real3d.eval.depth_stats import DepthStats, DepthStatsConfig, depth_stats, luminance, summarize

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def _step_edge(width: int = 640, hole_px: int = 6, far_left: bool = True) -> np.ndarray:
    """16 rows of 2 m (left) | hole_px invalid | 1 m (right), or mirrored. The hole spans rows
    1..14; in rows 0 and 15 its columns take the 2 m side's depth, so it touches no border."""
    z = np.zeros((16, width), np.float32)
    a = width // 16
    near, far = 1.0, 2.0
    z[:, :a] = far if far_left else near
    z[:, a + hole_px :] = near if far_left else far
    z[[0, -1], a : a + hole_px] = far
    return z


def test_step_edge_with_a_hole_band():
    s = depth_stats(_step_edge())
    # discontinuity pixels: u = 39 and 46 in rows 1..14 (the valid pixels either side of the
    # hole), u = 45 and 46 in rows 0 and 15; band +-3 px: every row of u = 36..49, 14 x 16
    # pixels, of which the 6 x 14 hole pixels are invalid
    assert s.edge_invalid_share == pytest.approx(84 / 224)
    assert s.nonedge_invalid_share == 0.0
    assert s.edge_px_share == pytest.approx(224 / (16 * 640))
    assert s.invalid_share == pytest.approx(84 / (16 * 640))
    # 16 jumping row pairs, 14 of them with the 6-pixel hole between, far side on the left
    assert s.edge_gap_share == pytest.approx(14 / 16) and s.edge_gap_median_px == 6.0
    assert s.edge_gap_far_left_share == 1.0
    assert depth_stats(_step_edge(far_left=False)).edge_gap_far_left_share == 0.0
    # one inner hole of 84 pixels
    assert s.border_invalid_share == 0.0
    assert s.blobs_per_mpx == pytest.approx(1e6 / (16 * 640)) and s.blob_median_px == 84.0


def test_pixel_figures_are_stated_at_the_reference_width():
    s = depth_stats(_step_edge(width=1280, hole_px=12))
    assert s.edge_gap_median_px == 6.0  # 12 image px = 6 px at 640
    # band +-6 image px around u = 79 and 92: u = 73..98, 26 columns, 12 of them hole
    assert s.edge_invalid_share == pytest.approx(12 * 14 / (26 * 16))
    assert s.blob_median_px == pytest.approx(12 * 14 / 4)


def test_holes_touching_the_border_are_counted_apart():
    z = np.full((16, 640), 1.0, np.float32)
    z[:, :20] = 0  # a frame-edge band, as registered depth leaves
    z[5:9, 300:304] = 0
    s = depth_stats(z)
    assert s.border_invalid_share == pytest.approx(20 / 640)
    assert s.nonedge_invalid_share == pytest.approx(16 / (16 * 620))
    assert s.blobs_per_mpx == pytest.approx(1e6 / (16 * 640)) and s.blob_median_px == 16.0


def test_no_jump_no_edge():
    # a hole between two pixels of the same depth is not a discontinuity; nor is a 3 % step
    z = np.full((16, 640), 1.0, np.float32)
    z[1:15, 100:106] = 0
    z[:, 300:] = 1.03
    s = depth_stats(z)
    assert s.edge_px_share == 0.0 and math.isnan(s.edge_invalid_share) and math.isnan(s.edge_gap_share)
    assert s.nonedge_invalid_share == pytest.approx(84 / (16 * 640))
    # a hole wider than edge_gap_px (32) hides the jump across it
    z = _step_edge(hole_px=40)
    assert depth_stats(z).edge_gap_share == 0.0  # only rows 0 and 15 jump, with no hole
    s = depth_stats(z, cfg=DepthStatsConfig(edge_gap_px=41))
    assert s.edge_gap_share == pytest.approx(14 / 16) and s.edge_gap_median_px == 40.0


def test_quantised_ramp_has_the_disparity_step():
    k = 350.0
    d = np.arange(int(k / 4.0), int(k / 0.5) + 1)[::-1]  # disparities of 0.5..4 m
    levels = (k / d).astype(np.float64)
    z = np.repeat(levels, 8)[None, :].repeat(20, axis=0)  # a ramp, each level 8 px wide
    s = depth_stats(z)
    for (lo, hi), step, kk in zip(DepthStatsConfig().depth_bins_m, s.step_mm, s.step_k_px_m, strict=True):
        in_bin = levels[(levels >= lo) & (levels < hi)]
        assert step == pytest.approx(1000 * np.median(np.diff(in_bin)))
        assert kk == pytest.approx(k, rel=0.01)
    # a millimetre grid (time of flight): 1 mm in every bin, K growing as z^2
    z = (np.arange(500, 4000) / 1000.0)[None, :].repeat(4, axis=0)
    s = depth_stats(z)
    assert s.step_mm == pytest.approx((1.0,) * 4)
    assert s.step_k_px_m[3] > 8 * s.step_k_px_m[0]


def test_noise_is_the_second_difference_on_smooth_rows():
    u = np.arange(640)
    ramp = 1.5 + 0.0005 * u  # linear: second difference 0
    s = depth_stats(np.repeat(ramp[None], 16, axis=0))
    assert s.noise_med_mm == pytest.approx((math.nan, 0.0, math.nan, math.nan), nan_ok=True, abs=1e-9)
    zigzag = 1.5 + 0.001 * (-1.0) ** u  # |z[u-1] - 2 z[u] + z[u+1]| = 4 mm everywhere
    s = depth_stats(np.repeat(zigzag[None], 16, axis=0))
    assert s.noise_med_mm[1] == pytest.approx(4.0) and s.noise_mean_mm[1] == pytest.approx(4.0)
    assert math.isnan(s.noise_mean_mm[0])  # too few pixels in 0.5-1 m


def test_dark_patch_with_holes():
    h, w = 64, 640
    z = np.full((h, w), 1.5, np.float32)
    rgb = np.full((h, w, 3), 200, np.uint8)
    rgb[10:50, 100:140] = 10
    holes = np.zeros((h, w), bool)
    holes[10:50:2, 100:140:2] = True  # 400 isolated one-pixel holes in the dark patch
    z[holes] = 0
    s = depth_stats(z, rgb)
    assert s.dark_invalid_share == pytest.approx(0.25) and s.bright_invalid_share == 0.0
    assert s.dark_px_share == pytest.approx(1600 / (h * w))
    assert s.blobs_per_mpx == pytest.approx(400 / (h * w) * 1e6) and s.blob_median_px == 1.0
    assert s.border_invalid_share == 0.0
    nan = depth_stats(z)
    assert math.isnan(nan.dark_invalid_share) and math.isnan(nan.dark_px_share)
    assert luminance(rgb)[0, 0] == pytest.approx(200 / 255, rel=1e-6)


def test_range_percentiles_and_far_share():
    z = np.ones((20, 640), np.float32)
    z[10:] = 5.0
    z[:, :64] = 0
    s = depth_stats(z)
    assert (s.p01_m, s.p50_m, s.p99_m) == (1.0, 3.0, 5.0)
    assert s.far_share == 0.5
    empty = depth_stats(np.zeros((4, 640), np.float32))
    assert empty.invalid_share == 1.0 and math.isnan(empty.p50_m) and math.isnan(empty.step_mm[1])


def test_summarize_means_and_skips_nan():
    a = depth_stats(_step_edge())
    b = depth_stats(_step_edge(far_left=False))
    m = summarize([a, b])
    assert isinstance(m, DepthStats)
    assert m.edge_gap_far_left_share == 0.5
    flat = depth_stats(np.ones((16, 640), np.float32))  # no hole, no edge: NaN figures
    assert math.isnan(flat.blob_median_px) and math.isnan(flat.edge_invalid_share)
    m = summarize([a, flat])
    assert m.blob_median_px == 84.0 and m.edge_invalid_share == a.edge_invalid_share
    assert m.invalid_share == pytest.approx(a.invalid_share / 2)
    assert math.isnan(summarize([flat, flat]).edge_invalid_share)
    one, ref = summarize([a]).to_dict(), a.to_dict()
    for key, value in ref.items():
        assert np.asarray(one[key]) == pytest.approx(np.asarray(value), nan_ok=True), key


@pytest.mark.slow  # importing the data engine takes about 6 s on its own
def test_the_sensor_model_quantiser_is_recovered():
    from real3d.core.camera import Intrinsics
    from real3d.synth.sensor import DepthSensorConfig, disparity_step_m, simulate_depth

    h, w = 48, 640
    intr = Intrinsics(500.0, 500.0, 320.0, 24.0, w, h)
    z = np.linspace(0.8, 3.9, w, dtype=np.float32)[None].repeat(h, axis=0)
    normals = np.zeros((h, w, 3), np.float32)
    normals[..., 2] = -1
    cfg = DepthSensorConfig.noise_only()
    noisy = simulate_depth(z, normals, intr, np.random.default_rng(0), cfg)
    s = depth_stats(noisy)
    k_model = 1.0 / float(disparity_step_m(1.0, 500.0, cfg))  # f*b*steps = 300 px m
    assert k_model == pytest.approx(300.0)
    for kk in s.step_k_px_m[1:]:
        assert kk == pytest.approx(k_model, rel=0.02)


@pytest.mark.parametrize(
    "depth",
    [
        np.ones((8, 8), np.uint16),  # millimetres, not metres
        np.ones((8, 8, 1), np.float32),
        np.ones((0, 8), np.float32),
        np.full((8, 8), -1.0, np.float32),
        np.full((8, 8), np.nan, np.float32),
        np.full((8, 8), np.inf, np.float64),
        [[1.0, 2.0]],
    ],
)
def test_bad_depth_raises(depth):
    with pytest.raises(InputError, match="depth"):
        depth_stats(depth)


def test_bad_rgb_and_config_raise():
    z = np.ones((8, 8), np.float32)
    with pytest.raises(InputError, match="rgb"):
        depth_stats(z, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(InputError, match="rgb"):
        depth_stats(z, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ConfigError):
        DepthStatsConfig(dark_luma=0.5, bright_luma=0.2)
    with pytest.raises(ConfigError):
        DepthStatsConfig(depth_bins_m=((2.0, 1.0),))
    with pytest.raises(InputError):
        summarize([])


@pytest.mark.skipif(not REAL.is_dir(), reason="no shared real captures next to the repository")
def test_real_kinect_v1_quantiser_and_kinect_v2(tmp_path):
    from real3d.io import open_sequence
    from real3d.io.nyu import NYU_DEPTH_INTRINSICS
    from real3d.io.real_samples import sample_options

    # NYU raw depth camera: disparity levels of f*b*8 with f the depth camera's focal length
    raw = tmp_path / "nyu_raw"
    raw.mkdir()
    shutil.copy(REAL / "single_frames" / "NYU_color.ppm", raw / "r-1.000000-1.ppm")
    shutil.copy(REAL / "single_frames" / "NYU_depth.pgm", raw / "d-1.000000-2.pgm")
    with open_sequence(raw, register=False) as seq:
        s = depth_stats(seq[0].depth_m)
    k = NYU_DEPTH_INTRINSICS.fx * 0.075 * 8
    assert np.nanmedian(s.step_k_px_m) == pytest.approx(k, rel=0.05)
    assert 0.02 < s.invalid_share < 0.3 and s.edge_invalid_share > 2 * s.nonedge_invalid_share
    # TUM (registered by the sensor): disparity levels kept
    with open_sequence(REAL / "tum_pair", **sample_options("tum_pair")) as seq:
        f = seq[0]
        s = depth_stats(f.depth_m, f.rgb)
    assert 320 < np.nanmedian(s.step_k_px_m[1:]) < 400 and 0 < s.invalid_share < 0.6
    # Kinect v2 (time of flight, millimetres): 1 mm steps at every depth
    with open_sequence(REAL / "sunrgbd") as seq:
        f = next(f for f in seq if f.depth_m.shape == (530, 730))
        s = depth_stats(f.depth_m, f.rgb)
    assert [x for x in s.step_mm if math.isfinite(x)] == pytest.approx([1.0] * 4, abs=1e-3)
