"""Fault cases of bad poses, implausible depth and unbounded growth (issue 40: defects 1, 7,
the pose part of 10 and the trajectory part of 11). Every case ends in a skipped-and-reported
frame, a documented warning or a real3d error, and the derived grids stay bounded."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from real3d.core import ConfigError, Frame, InputError, Intrinsics
from real3d.core.labels import NYU13
from real3d.core.segmentation import SegmentationResult
from real3d.nav.costmap import CostmapConfig, build_costmap
from real3d.pipeline import Pipeline, PipelineConfig
from real3d.scene.clusters import _sparse_labels, components
from real3d.testing.toyscene import toy_sequence

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def toy():
    return toy_sequence(0, n_frames=24, size=(36, 48), two_rooms=False)


def geometry_only(**kw) -> Pipeline:
    """A pipeline without networks (frames fuse their own labels), no periodic refresh."""
    kw.setdefault("graph_every", 0)
    kw.setdefault("costmap_every", 0)
    return Pipeline(PipelineConfig(model=None, rgb_model=None, **kw))


def shifted(f: Frame, dx: float) -> Frame:
    T = f.world_T_cam.copy()
    T[0, 3] += dx
    return f.replace(world_T_cam=T)


# ---------------------------------------------------------------------------- defect 1
def test_a_700_m_jump_is_skipped_and_reported_and_the_costmap_stays_room_sized(toy):
    p = geometry_only()
    assert [p.step(f).status for f in toy.frames[:3]] == ["fused"] * 3
    voxels, version = len(p.map), p.map.version
    r = p.step(shifted(toy.frames[3], 700.0))
    assert r.status == "skipped" and "pose jump" in r.reason and "700" in r.reason
    assert len(p.map) == voxels and p.map.version == version  # nothing of it reached the map
    cm = p.costmap
    assert cm.cost.size < 200 * 200 and cm.cropped_from_xy is None
    # the next good frame is measured against the last accepted pose, not the jump
    assert p.step(toy.frames[4]).status == "fused"


def test_run_reports_the_jump_among_the_skipped_frames(toy):
    frames = list(toy.frames[:6])
    frames[3] = shifted(frames[3], 250.0)
    p = geometry_only()
    summary = p.run(frames)
    assert summary.counts["fused"] == 5 and [i for i, _ in summary.skipped] == [3]
    assert "pose jump" in summary.skipped[0][1]


def test_a_sustained_jump_reanchors_once_and_the_grids_are_capped(toy):
    p = geometry_only(pose_reanchor_after=3)
    for f in toy.frames[:3]:
        p.step(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [p.step(shifted(f, 700.0)) for f in toy.frames[3:10]]
        assert [r.status for r in results] == ["skipped"] * 3 + ["fused"] * 4
        assert "re-anchored" in results[3].reason and p.pose_reanchors == 1 and "pose" in p.notes
        cm = p.costmap  # the map now spans 700 m: a window around the camera, not 14000 x 90 cells
        graph = p.scene_graph
    cfg = CostmapConfig()
    side = int(cfg.max_extent_m / cfg.resolution_m)
    assert max(cm.cost.shape) <= side and cm.cost.size <= cfg.max_cells
    assert cm.cropped_from_xy is not None and cm.cropped_from_xy[2] - cm.cropped_from_xy[0] > 700
    camera = p.trajectory[-1][:2]
    assert cm.grid.inside(cm.world_to_cell(camera[None]))[0]  # the window holds the robot
    gs = graph.config
    assert max(graph.free_space.shape) <= int(gs.max_extent_m / gs.grid_resolution_m)
    messages = [str(w.message) for w in caught]
    assert sum("re-anchored" in m for m in messages) == 1
    assert sum("costmap covers" in m for m in messages) == 1
    # planning from the camera works on the cropped costmap, and its picture stays bounded
    p.plan(camera + 0.1)
    from real3d.nav.draw import render_topdown

    assert max(render_topdown(cm, trajectory=np.asarray(p.trajectory)).size) <= 4096


def test_build_costmap_refuses_explicit_bounds_over_the_limit(toy):
    p = geometry_only()
    p.step(toy.frames[0])
    with pytest.raises(InputError, match="max_extent_m"):
        build_costmap(p.map, CostmapConfig(), bounds_xy=(0.0, 0.0, 250.0, 250.0))
    with pytest.raises(InputError, match="max_cells"):
        build_costmap(p.map, CostmapConfig(max_cells=0))


def test_components_of_far_apart_points_match_the_dense_labelling():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(0, 1.5, (300, 3)), rng.uniform(0, 0.3, (40, 3)) + [0.0, 2.0, 0.0]])
    dense = components(pts, 0.1)
    cell = np.floor(pts / 0.1).astype(np.int64)
    ids = _sparse_labels(cell - cell.min(axis=0))
    sparse = [np.flatnonzero(ids == k) for k in range(1, ids.max() + 1)]
    assert len(sparse) == len(dense) and all(np.array_equal(a, b) for a, b in zip(dense, sparse))
    # 700 m apart: a dense volume would be 7000 x 20 x 15 cells per class; found all the same
    far = pts.copy()
    far[:40] += [700.0, 0.0, 0.0]
    groups = components(far, 0.1)
    assert sum(len(g) for g in groups) == len(far) and len(groups) >= 2


# ---------------------------------------------------------------------------- defect 10
def test_a_pose_damaged_after_the_frame_was_built_is_skipped(toy):
    p = geometry_only()
    p.step(toy.frames[0])
    f = toy.frames[1].replace()
    f.world_T_cam[:3, :3] *= 3  # scaled in place, after Frame validated it
    r = p.step(f)
    assert r.status == "skipped" and "not a rigid transform" in r.reason
    g = toy.frames[2].replace()
    g.world_T_cam[3] = [0.0, 0.0, 0.1, 1.0]
    assert "bottom row" in p.step(g).reason
    h = toy.frames[3].replace()
    object.__setattr__(h, "world_T_cam", h.world_T_cam.astype(np.complex128))
    assert "real-valued" in p.step(h).reason
    with pytest.raises(InputError, match="rigid"):
        p.fuse(f)


def test_a_5_km_pose_reports_the_maps_own_limit(toy):
    p = geometry_only()
    r = p.step(shifted(toy.frames[0], 5000.0))  # the first frame: no earlier pose to jump from
    assert r.status == "skipped" and "outside the map's range" in r.reason and "3276.8" in r.reason
    assert "cells span" not in r.reason and len(p.map) == 0
    with pytest.raises(InputError, match="3276.8"):
        p.fuse(shifted(toy.frames[0], -5000.0))


def test_without_timestamps_the_per_frame_limit_applies(toy):
    p = geometry_only(pose_max_jump_m=0.5)
    frames = [shifted(f, 0.7 * k).replace(timestamp_s=0.0) for k, f in enumerate(toy.frames[:3])]
    assert [p.step(f).status for f in frames] == ["fused"] * 3  # 0.7 m per frame: keyframes
    r = p.step(shifted(toy.frames[3], 10.0).replace(timestamp_s=0.0))
    assert r.status == "skipped" and "without usable timestamps" in r.reason
    assert geometry_only(pose_max_speed_mps=None).step(shifted(toy.frames[0], 900.0)).status == "fused"


def _posed_frames(poses, stamps):
    """Tiny depth-less frames: only the pose check can object to them."""
    K = Intrinsics(fx=8.0, fy=8.0, cx=4.0, cy=4.0, width=8, height=8)
    rgb = np.zeros((8, 8, 3), np.uint8)
    return [
        Frame(rgb=rgb, depth_m=None, intrinsics=K, world_T_cam=T, timestamp_s=float(t), index=i)
        for i, (T, t) in enumerate(zip(poses, stamps))
    ]


@pytest.mark.parametrize("mode", ["robot", "handheld"])
def test_generated_camera_paths_pass_the_pose_check(mode):
    from real3d.synth.scene import generate_home
    from real3d.synth.trajectory import trajectory

    scene = generate_home(3)
    poses, stamps = trajectory(scene, 300, np.random.default_rng(1), mode=mode, fps=30.0, speed_mps=1.5)
    p = geometry_only()
    reasons = [p.step(f).reason for f in _posed_frames(poses, stamps)]
    assert not [r for r in reasons if "pose" in r], reasons[:3]


def test_real_captures_pass_the_pose_check():
    from real3d.io import open_sequence

    folders = {
        "joinmap_kinect_seq": Intrinsics(fx=518.0, fy=519.0, cx=325.5, cy=253.5, width=640, height=480),
        "iclnuim_synthetic_seq": None,
    }
    if not all((REAL / name).is_dir() for name in folders):
        pytest.skip("the real captures are not here")
    for name, K in folders.items():
        seq = open_sequence(REAL / name, **({"intrinsics": K} if K else {}))
        poses = [f.world_T_cam for f in seq]
        stamps = [f.timestamp_s for f in seq]
        p = geometry_only()
        for zero_stamps in (False, True):  # with the reader's timestamps, and without any
            reasons = [p.step(f).reason for f in _posed_frames(poses, [0.0] * len(poses) if zero_stamps else stamps)]
            assert not [r for r in reasons if "pose" in r], (name, reasons)
            p.reset()


# ---------------------------------------------------------------------------- defect 7
class FixedSegmenter:
    """A ``Segmenter`` that answers "floor" everywhere, at no cost."""

    label_set, input_hw, exportable, quantizable, supports_guided, uses_rgb = NYU13, (8, 8), False, False, False, True

    def __init__(self, uses_depth: bool):
        self.uses_depth, self.name = uses_depth, "rgbd-fixed" if uses_depth else "rgb-fixed"

    def predict(self, frame, **_):
        h, w = frame.rgb.shape[:2]
        probs = np.zeros((14, h, w), np.float32)
        probs[NYU13.index("floor")] = 1.0
        return SegmentationResult(probs.argmax(axis=0).astype(np.uint8), probs)


def test_millimetre_depth_goes_down_the_rgb_path_with_one_warning(toy):
    p = Pipeline(
        PipelineConfig(graph_every=0, costmap_every=0),
        segmenter=FixedSegmenter(True),
        rgb_segmenter=FixedSegmenter(False),
    )
    assert p.step(toy.frames[0]).status == "fused"
    voxels = len(p.map)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [p.step(f.replace(depth_m=np.round(f.depth_m * 1000).astype(np.float32))) for f in toy.frames[1:4]]
    assert all(r.status == "rgb_only" and r.model == "rgb" for r in results)
    assert "millimetres" in results[0].reason and "median" in results[0].reason
    assert len(p.map) == voxels
    assert sum("implausible" in str(w.message) for w in caught) == 1 and "depth" in p.notes
    # depth scaled the other way (metres / 1000) too
    tiny = toy.frames[4].replace(depth_m=toy.frames[4].depth_m / 1000)
    assert p.step(tiny).status == "rgb_only"
    # and a normal frame after them is fused as before
    assert p.step(toy.frames[5]).status == "fused"


# ---------------------------------------------------------------------------- defect 11
def test_the_trajectory_stays_bounded_and_ends_at_the_latest_position(toy):
    p = geometry_only(trajectory_max_points=8)
    for k in range(60):  # looping the room: every frame moves
        p.fuse(toy.frames[k % len(toy.frames)])
    assert 2 <= len(p.trajectory) <= 8
    assert np.allclose(p.trajectory[-1], toy.frames[59 % len(toy.frames)].world_T_cam[:3, 3])
    still = geometry_only()
    for _ in range(50):  # standing still: no growth
        still.fuse(toy.frames[0])
    assert len(still.trajectory) <= 2
    every = geometry_only(trajectory_step_m=0.0, trajectory_max_points=None)
    for _ in range(5):
        every.fuse(toy.frames[0])
    assert len(every.trajectory) == 5


def test_config_refuses_bad_pose_and_trajectory_settings():
    for bad in (
        {"pose_max_speed_mps": 0.0},
        {"pose_max_jump_m": -1.0},
        {"pose_max_step_m": 0.0},
        {"pose_reanchor_after": 0},
        {"pose_reanchor_after": True},
        {"min_median_depth_m": 30.0},
        {"trajectory_step_m": -0.1},
        {"trajectory_max_points": 1},
    ):
        with pytest.raises(ConfigError):
            PipelineConfig(**bad)
