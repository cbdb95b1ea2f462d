"""A run's output set says which frame it is in, and the way back to the input's frame."""

import json

import numpy as np
import pytest

from real3d.nav.nav2 import OCC_FREE, OCC_OCCUPIED, OCC_UNKNOWN, read_nav2_map


def _rigid(yaw, roll, t):
    cz, sz, cx, sx = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rz @ rx, t
    return m


#: the input's frame: the synthetic home turned so that its up is (nearly) the input's +y,
#: and moved
INPUT_T_HOME = _rigid(0.4, -np.pi / 2, (1.0, -2.0, 0.5))


@pytest.fixture(scope="module")
def tilted_run(tmp_path_factory):
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.synth import generate_sequence
    from real3d.viz.report import RunRecorder, write_run_outputs

    seq = generate_sequence(1, 6, size=(96, 128))
    frames = [
        f.replace(world_T_cam=INPUT_T_HOME @ f.world_T_cam, timestamp_s=100.0 + 0.5 * i)
        for i, f in enumerate(seq.frames)
    ]
    # no network (the frames' own labels), the map frame fitted to the first frame with a
    # convincing floor; the frames before it wait, unfused
    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None, gravity="floor"))
    rec = RunRecorder(expected_frames=len(frames))
    summary = pipe.run(frames, on_result=rec.on_result)
    assert summary.counts["fused"] >= 2
    assert all("waiting for a floor" in r for _, r in summary.rgb_only)
    assert summary.counts["fused"] + len(summary.rgb_only) == len(frames)
    out = tmp_path_factory.mktemp("tilted")
    write_run_outputs(out, pipe, summary, rec, meta={"input": "tilted"})
    return out, pipe, frames


def test_every_json_output_carries_the_frame_and_the_time(tilted_run):
    out, pipe, frames = tilted_run
    for name in ("scene_graph.json", "path.json", "metrics.json"):
        d = json.loads((out / name).read_text())
        assert d["frame_id"] == "map" and d["units"] == {"length": "m", "angle": "rad", "time": "s"}, name
        assert "counter-clockwise" in d["yaw"] and "+z" in d["yaw"], name
        assert np.allclose(d["map_T_input"], pipe.gravity_T_world, atol=1e-12), name
        assert d["stamp_s"] == frames[-1].timestamp_s, name
        assert d["alignment"].startswith("floor plane fitted"), name


def test_map_T_input_takes_input_poses_into_the_map(tilted_run):
    out, pipe, frames = tilted_run
    path = json.loads((out / "path.json").read_text())
    map_T_input = np.array(path["map_T_input"])
    rot = map_T_input[:3, :3]
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rot), 1.0)
    # the map's +z is the home's up (a floor fit on one small frame: within a few degrees),
    # which is nearly the input's +y and not its +z
    up_in_input = rot.T @ (0, 0, 1)
    assert up_in_input @ INPUT_T_HOME[:3, 2] > np.cos(np.radians(5)) and abs(up_in_input[2]) < 0.5
    # the path starts where the last camera was, expressed in the map frame
    last = map_T_input @ frames[-1].world_T_cam
    assert np.allclose(path["start_xy"], last[:2, 3], atol=1e-9)


def test_the_ply_header_names_the_frame_and_open3d_still_reads_it(tilted_run):
    out, pipe, frames = tilted_run
    raw = (out / "semantic_map.ply").read_bytes()
    header = raw[: raw.index(b"end_header\n")].decode("ascii").splitlines()
    comments = {ln.split()[1]: ln.split(" ", 2)[2] for ln in header if ln.startswith("comment ")}
    assert comments["frame_id"] == "map" and comments["stamp_s"] == repr(frames[-1].timestamp_s)
    t = np.array([float(v) for v in comments["map_T_input"].split()]).reshape(4, 4)
    assert np.array_equal(t, pipe.gravity_T_world)
    from real3d.mapping.semantic_map import SemanticMap  # noqa: F401 (Open3D needs libusb first)
    import open3d as o3d

    pc = o3d.io.read_point_cloud(str(out / "semantic_map.ply"))
    assert len(pc.points) == (pipe.map.semantic_points().labels > 0).sum() > 0  # void points left out


def test_the_nav2_map_is_the_costmap(tilted_run):
    out, pipe, frames = tilted_run
    m = read_nav2_map(out / "map.yaml")
    g = pipe.costmap.grid
    assert m.resolution_m == g.resolution_m and m.origin == (g.origin_xy[0], g.origin_xy[1], 0.0)
    occ = m.occupancy()
    assert occ.shape == g.shape
    assert (occ == OCC_OCCUPIED).sum() == g.occupied.sum() > 0
    assert (occ[g.unknown] == OCC_UNKNOWN).all() and (occ[g.free] == OCC_FREE).all()
    text = (out / "map.yaml").read_text()
    assert "# frame_id map\n" in text and f"# stamp_s {frames[-1].timestamp_s!r}\n" in text
