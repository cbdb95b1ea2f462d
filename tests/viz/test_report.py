import os

import numpy as np

from real3d.viz.report import (
    atomic_save_png,
    atomic_write_text,
    auto_goal,
    write_json,
)


def test_atomic_writes_leave_only_the_target(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "hello")
    write_json(tmp_path / "b.json", {"x": float("nan"), "y": np.float32(2.5), "z": np.arange(2)})
    atomic_save_png(np.zeros((4, 4, 3), np.uint8), tmp_path / "c.png")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.json", "c.png"]
    assert (tmp_path / "b.json").read_text().replace(" ", "").replace("\n", "") == '{"x":null,"y":2.5,"z":[0,1]}'
    assert oct((tmp_path / "a.txt").stat().st_mode & 0o777) != oct(0o600)


def test_auto_goal_is_the_farthest_reachable_cell():
    from real3d.mapping.grid2d import Grid2D
    from real3d.nav.costmap import CostmapConfig, costmap_from_grid

    occ = np.zeros((40, 40), bool)
    occ[:, 20] = True  # a wall splits the grid; the right half is unreachable
    free = ~occ
    grid = Grid2D(occ, free, (0.0, 0.0), 0.1, 0.1, 1.5)
    cm = costmap_from_grid(grid, CostmapConfig(robot_radius_m=0.1, safety_margin_m=0.0, inflation_m=0.0))
    goal = auto_goal(cm, (0.5, 0.5))
    assert goal is not None and goal[0] < 2.0  # on the start's side of the wall
    assert np.hypot(*(goal - 0.5)) > 2.5  # and far from the start


def test_outputs_of_a_run_that_fused_nothing(tmp_path):
    import json

    from real3d.models import build_model
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.synth import generate_sequence
    from real3d.viz.report import OUTPUT_FILES, RunRecorder, write_run_outputs

    frames = [f.replace(world_T_cam=None) for f in generate_sequence(1, 3, size=(36, 48))]
    pipe = Pipeline(PipelineConfig(rgb_model=None), segmenter=build_model("rgbd-tiny").eval())
    rec = RunRecorder(expected_frames=3)
    summary = pipe.run(frames, on_result=rec.on_result)
    assert summary.counts["skipped"] == 3
    res = write_run_outputs(tmp_path, pipe, summary, rec, meta={"input": "no poses"})
    for name in OUTPUT_FILES:
        assert (tmp_path / name).is_file(), name
    path = json.loads((tmp_path / "path.json").read_text())
    assert path["status"] == "no map" and path["waypoints"] == []
    assert res["metrics"]["map"]["voxels"] == 0
    assert "missing pose" in (tmp_path / "report.md").read_text()


def test_topdown_uncertainty_colours_sure_and_unsure_cells():
    from real3d.core import Intrinsics, look_at
    from real3d.mapping import SemanticMap
    from real3d.testing.toyscene import ToyRenderer, boxes_scene
    from real3d.viz.mapview import labels_and_uncertainty, topdown_uncertainty

    scene = boxes_scene([((0, 0, -0.05), (4, 4, 0.1), 0.0, 5, 1), ((0.0, 0.0, 0.25), (0.6, 0.4, 0.5), 0.3, 10, 2)])
    K = Intrinsics.from_fov(64, 48, np.radians(70))
    r = ToyRenderer(scene)
    frames = [
        r.render(K, look_at((1.5 * np.cos(a), 1.5 * np.sin(a), 1.2), (0, 0, 0.2)), index=i)
        for i, a in enumerate(np.linspace(0, 2 * np.pi, 6, endpoint=False))
    ]
    sure, unsure = SemanticMap(voxel_size_m=0.05), SemanticMap(voxel_size_m=0.05)
    even = np.zeros((14, 48, 64), np.float32)
    even[1:] = 1 / 13
    for f in frames:
        sure.integrate(f)  # the frames' own (ground-truth) labels: one class per voxel
        unsure.integrate(f, even)
    a, b = topdown_uncertainty(sure), topdown_uncertainty(unsure)
    drawn_a, drawn_b = (a != 255).any(axis=2), (b != 255).any(axis=2)
    assert drawn_a.any() and drawn_b.any()
    # sure cells are pale (high green), unsure ones dark red (low green)
    assert np.median(a[drawn_a][:, 1]) > 200 and np.median(b[drawn_b][:, 1]) < 40
    both = labels_and_uncertainty(sure)
    assert both.shape[1] > a.shape[1] and both.shape[2] == 3
