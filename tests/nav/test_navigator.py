import numpy as np
import pytest

from real3d.core import InputError, NoPathError, make_pose, transform_points
from real3d.nav import RobotNavigator, floor_alignment, ransac_plane
from real3d.nav.draw import save_topdown_png
from real3d.nav.evaluate import collides, evaluate_navigation
from real3d.testing.toyscene import toy_sequence


@pytest.fixture(scope="module")
def toy():
    return toy_sequence(0, n_frames=40, size=(120, 160))


def test_navigator_maps_and_plans_collision_free(toy, tmp_path):
    nav = RobotNavigator(replan_every=4)
    goal = (7.0, 1.8)  # in the second room, through the door
    n_paths = 0
    for f in toy:
        try:
            nav.navigate(f.rgb, f.depth_m, f.intrinsics, f.world_T_cam, goal, probs=f.labels)
            n_paths += 1
        except NoPathError:  # the goal room has not been seen yet
            pass
    assert n_paths >= 10  # once the second room is mapped, every frame returns a path
    assert len(nav.trajectory) == len(toy)
    nav.refresh_costmap()
    path = nav.plan(goal, (2.4, 2.0))
    assert np.allclose(path.waypoints[-1], goal)
    assert path.length_m >= np.linalg.norm(np.subtract(goal, (2.4, 2.0)))
    assert not collides(path.waypoints, toy.scene.occupancy, nav.costmap_config.robot_radius_m)
    m = evaluate_navigation(nav.costmap, toy.scene.occupancy, n_pairs=8, seed=1)
    assert m.n_pairs == 8 and m.success_rate >= 0.85 and m.collision_rate == 0.0
    assert m.length_ratio_mean < 1.25
    assert m.clearance == "raster"
    # The toy scene's mesh has no closed parts to take exact outlines from.
    assert (
        evaluate_navigation(nav.costmap, toy.scene.occupancy, n_pairs=2, seed=1, mesh=toy.scene.mesh).clearance
        == "raster"
    )
    png = save_topdown_png(tmp_path / "top.png", nav.costmap, path=path, trajectory=nav.trajectory, goal_xy=goal)
    assert png.stat().st_size > 1000
    with pytest.raises(NoPathError):
        nav.plan((40.0, 40.0), (2.4, 2.0))


def test_navigator_object_layer_adds_the_scene_graph_boxes(toy):
    plain, layered = RobotNavigator(), RobotNavigator(object_layer=True)
    for f in toy[:40]:
        plain.update(f, probs=f.labels)
        layered.update(f, probs=f.labels)
    a, b = plain.refresh_costmap(), layered.refresh_costmap()
    assert plain.scene_graph is None and layered.scene_graph.objects()
    assert (b.cost >= a.cost).all() and (b.cost > a.cost).any()
    assert layered.plan((3.0, 2.0), start_xy=(2.4, 2.0)).length_m > 0


def test_navigator_rejects_bad_input(toy):
    f = toy[0]
    nav = RobotNavigator()
    with pytest.raises(InputError):
        nav.navigate(f.rgb, f.depth_m, f.intrinsics, None, (1.0, 1.0))
    bad = f.depth_m.copy()
    bad[3, 3] = np.nan
    with pytest.raises(InputError):
        nav.navigate(f.rgb, bad, f.intrinsics, f.world_T_cam, (1.0, 1.0))
    with pytest.raises(InputError):
        nav.navigate(f.rgb, f.depth_m[:-1], f.intrinsics, f.world_T_cam, (1.0, 1.0))


def test_floor_alignment_recovers_gravity():
    rng = np.random.default_rng(0)
    floor = np.c_[rng.uniform(-3, 3, (3000, 2)), rng.normal(0, 0.003, 3000)]
    table = np.c_[rng.uniform(0, 1.5, (2500, 2)), 0.75 + rng.normal(0, 0.003, 2500)]
    wall = np.c_[rng.uniform(-3, 3, 1500), np.full(1500, 3.0), rng.uniform(0, 2.5, 1500)]
    pts = np.concatenate([floor, table, wall])
    a = 0.4
    R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    world_T_true = make_pose(R, [0.5, -1.0, 2.0])  # an arbitrary world frame
    pts_w = transform_points(world_T_true, pts)
    world_T_gravity, gravity_T_world = floor_alignment(pts_w, up_hint=world_T_true[:3, 2] + [0.2, 0, 0])
    assert np.allclose(world_T_gravity @ gravity_T_world, np.eye(4), atol=1e-9)
    q = transform_points(gravity_T_world, pts_w)
    assert np.abs(q[:3000, 2]).mean() < 0.005  # floor at z = 0
    assert np.mean(q[3000:5500, 2]) == pytest.approx(0.75, abs=0.01)  # table top above it
    fit = ransac_plane(pts_w, up_hint=world_T_true[:3, 2])
    assert fit.inliers[:3000].mean() > 0.95
    with pytest.raises(InputError):
        ransac_plane(np.zeros((2, 3)))


def test_navigator_aligns_a_tilted_world_to_the_floor(toy):
    # The same frames in a world frame that is rotated and shifted away from gravity.
    a = 0.3
    R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilted_T_world = make_pose(R, [1.0, -2.0, 0.5])
    frames = [f.replace(world_T_cam=tilted_T_world @ f.world_T_cam) for f in toy[:12]]
    nav = RobotNavigator()
    nav.align_to_floor(frames[:4])
    for f in frames:
        nav.update(f)
    p = nav.map.semantic_points()
    floor = p.points[p.labels == 5]
    assert len(floor) > 500
    assert np.median(np.abs(floor[:, 2])) < 0.02  # floor at z = 0 again
    # Camera heights come back too (the toy camera flies at 1.3 m).
    assert np.allclose(np.array(nav.trajectory)[:, 2], 1.3, atol=0.05)


def test_navigator_segments_with_a_model_or_a_callable(toy):
    import torch

    from real3d.models import build_model

    torch.manual_seed(0)
    net = build_model("rgbd-tiny").eval()
    calls = []

    def labels_of(rgb, depth_m):  # a plain callable: (rgb, depth) -> labels
        calls.append(rgb.shape)
        return np.full(depth_m.shape, 5, np.uint8)

    by_net, by_fn = RobotNavigator(segmenter=net), RobotNavigator(segmenter=labels_of)
    assert by_net.pipeline.segmenter is net and by_fn.pipeline.segmenter is None
    for f in toy[:2]:
        by_net.update(f)
        by_fn.update(f)
    assert len(calls) == 2
    assert set(np.unique(by_fn.map.semantic_points().labels)) <= {0, 5}
    ref = RobotNavigator()
    for f in toy[:2]:
        ref.update(f, probs=net.predict(f))
    np.testing.assert_array_equal(by_net.map.voxel_arrays()["log_evidence"], ref.map.voxel_arrays()["log_evidence"])
    with pytest.raises(InputError, match="Segmenter or a callable"):
        RobotNavigator(segmenter="rgbd-tiny")


def test_navigator_plans_from_its_last_position_and_keeps_its_costmap(toy):
    nav = RobotNavigator()
    with pytest.raises(NoPathError):
        nav.plan((2.0, 2.0))  # nothing fused: no position, empty map
    for f in toy[:20]:
        nav.update(f, probs=f.labels)
    cm = nav.refresh_costmap()
    before = cm.cost.copy()
    start = nav.trajectory[-1][:2]
    goal = (2.4, 2.0)
    a = nav.plan(goal)
    b = nav.plan(goal, start)
    assert np.allclose(a.waypoints[0], start) and np.allclose(a.waypoints[-1], goal)
    np.testing.assert_array_equal(a.waypoints, b.waypoints)
    assert nav.costmap is cm
    np.testing.assert_array_equal(cm.cost, before)  # the footprint is freed on a copy
