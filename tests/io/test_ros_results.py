"""A run's results written as a ROS 2 bag with MCAP storage (``ResultsBag``), read back
message by message with rosbags."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from real3d.core import InputError, make_pose
from real3d.core.labels import NYU13
from real3d.io.ros_write import (
    CLOUD_TOPIC,
    COSTMAP_TOPIC,
    LABELS_COLOR_TOPIC,
    LABELS_TOPIC,
    MARKERS_TOPIC,
    PATH_TOPIC,
    ResultsBag,
)

GRAPH = {
    "nodes": [
        {
            "id": 3,
            "kind": "object",
            "label": 4,
            "class_name": "chair",
            "centroid": [1.0, 2.0, 0.4],
            "box": {"center": [1.0, 2.0, 0.45], "size": [0.5, 0.6, 0.9], "yaw_rad": 0.5},
        },
        {
            "id": 7,
            "kind": "object",
            "label": 10,
            "class_name": "table",
            "centroid": [2.0, 2.0, 0.7],
            "box": {"center": [2.0, 2.0, 0.375], "size": [1.2, 0.8, 0.75], "yaw_rad": 0.0},
        },
        {"id": 9, "kind": "room", "label": 0, "class_name": "room", "centroid": [1.5, 2, 0], "box": None},
    ],
    "edges": [{"subject": 3, "predicate": "next_to", "object": 7}],
}


def _write(path):
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 14, (12, 16)).astype(np.uint8) for _ in range(3)]
    poses = [make_pose(np.eye(3), [0.1 * k, 0.0, 1.2]) for k in range(3)]
    occ = np.full((4, 5), -1, np.int8)
    occ[1:3, 1:4] = 0
    occ[2, 3] = 100
    points = rng.uniform(-1, 3, (50, 3))
    plabels = rng.integers(1, 14, 50)
    with ResultsBag(path) as bag:
        for k in range(3):
            bag.add_frame(10.0 + 0.1 * k, labels[k], poses[k] if k != 1 else None)
        bag.add_results(
            10.3,
            occupancy=occ,
            resolution_m=0.05,
            origin_xy=(-0.1, 0.2),
            path_xy=np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]),
            graph=GRAPH,
            points=points,
            point_labels=plabels,
        )
    return labels, poses, occ, points, plabels


def _read(path):
    out = {}
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with AnyReader([path], default_typestore=ts) as r:
        for conn, t, raw in r.messages():
            out.setdefault(conn.topic, []).append((t, r.deserialize(raw, conn.msgtype)))
        storage = {type(x).__name__ for x in r.readers}
    return out, storage


def test_results_read_back_field_by_field(tmp_path):
    path = tmp_path / "results"
    labels, poses, occ, points, plabels = _write(path)
    assert (path / "metadata.yaml").is_file() and list(path.glob("*.mcap"))
    msgs, _ = _read(path)
    # labels: mono8 ids and their colours, one per frame, stamped at capture time
    got = msgs[LABELS_TOPIC]
    assert [t for t, _ in got] == [10_000_000_000, 10_100_000_000, 10_200_000_000]
    for (_, m), lab in zip(got, labels):
        assert (m.encoding, m.height, m.width, m.header.frame_id) == ("mono8", 12, 16, "camera")
        np.testing.assert_array_equal(np.asarray(m.data).reshape(12, 16), lab)
    _, c = msgs[LABELS_COLOR_TOPIC][2]
    np.testing.assert_array_equal(np.asarray(c.data).reshape(12, 16, 3), NYU13.colorize(labels[2]))
    # tf only where the pose is known
    tf = msgs["/tf"]
    assert len(tf) == 2
    tr = tf[1][1].transforms[0]
    assert (tr.header.frame_id, tr.child_frame_id) == ("map", "camera")
    assert (tr.transform.translation.x, tr.transform.translation.z) == pytest.approx((0.2, 1.2))
    # costmap
    ((_, g),) = msgs[COSTMAP_TOPIC]
    assert (g.info.width, g.info.height, g.header.frame_id) == (5, 4, "map")
    assert g.info.resolution == pytest.approx(0.05)
    assert (g.info.origin.position.x, g.info.origin.position.y) == pytest.approx((-0.1, 0.2))
    np.testing.assert_array_equal(np.asarray(g.data, np.int8).reshape(4, 5), occ)
    # path: waypoints and headings along it
    ((_, p),) = msgs[PATH_TOPIC]
    xy = [(q.pose.position.x, q.pose.position.y) for q in p.poses]
    assert xy == [(0, 0), (1, 0), (1, 1)]
    q = p.poses[2].pose.orientation
    assert 2 * np.arctan2(q.z, q.w) == pytest.approx(np.pi / 2)
    # markers: a cube and a label per box, one line list of relations
    ((_, ma),) = msgs[MARKERS_TOPIC]
    cubes = {m.id: m for m in ma.markers if m.type == 1}
    assert sorted(cubes) == [3, 7] and cubes[3].ns == "object"
    chair = cubes[3]
    assert (chair.scale.x, chair.scale.y, chair.scale.z) == pytest.approx((0.5, 0.6, 0.9))
    assert 2 * np.arctan2(chair.pose.orientation.z, chair.pose.orientation.w) == pytest.approx(0.5)
    assert (chair.color.r, chair.color.g, chair.color.b) == pytest.approx(tuple(NYU13.colors[4] / 255))
    texts = sorted(m.text for m in ma.markers if m.type == 9)
    assert texts == ["chair", "table"]
    (rel,) = [m for m in ma.markers if m.type == 5]
    assert [(pt.x, pt.y) for pt in rel.points] == [(1.0, 2.0), (2.0, 2.0)]
    # point cloud: x, y, z, rgb, label
    ((_, pc),) = msgs[CLOUD_TOPIC]
    assert [f.name for f in pc.fields] == ["x", "y", "z", "rgb", "label"] and pc.point_step == 20
    rec = np.frombuffer(
        np.asarray(pc.data, np.uint8).tobytes(), dtype=[("xyz", "<f4", 3), ("rgb", "<u4"), ("label", "<u4")]
    )
    np.testing.assert_allclose(rec["xyz"], points.astype(np.float32))
    np.testing.assert_array_equal(rec["label"], plabels)
    rgb = NYU13.colors[plabels].astype(np.uint32)
    np.testing.assert_array_equal(rec["rgb"], (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])


def test_a_failed_write_leaves_the_earlier_bag(tmp_path):
    path = tmp_path / "results"
    _write(path)
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(InputError, match="labels expected"):
        with ResultsBag(path) as bag:
            bag.add_frame(1.0, np.zeros((4, 4), np.float32))
    assert sorted(p.name for p in path.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no temporaries
    msgs, _ = _read(path)
    assert len(msgs[LABELS_TOPIC]) == 3


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"occupancy": np.zeros((2, 2), np.int16), "resolution_m": 0.1, "origin_xy": (0, 0)}, "int8"),
        ({"occupancy": np.full((2, 2), 50, np.int8), "resolution_m": 0.1, "origin_xy": (0, 0)}, "-1, 0 or 100"),
        ({"points": np.zeros((3, 2)), "point_labels": np.zeros(3)}, r"points expected \(N, 3\)"),
        ({"graph": {"edges": []}}, "scene_graph.json"),
    ],
)
def test_bad_results_are_refused(tmp_path, kw, match):
    with pytest.raises(InputError, match=match):
        with ResultsBag(tmp_path / "r") as bag:
            bag.add_results(1.0, **kw)
    assert not (tmp_path / "r").exists()


def test_refuses_to_replace_what_is_no_bag(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(InputError, match="no ROS 2 bag folder"):
        ResultsBag(tmp_path / "notes")


def test_real3d_run_bag_out(tmp_path):
    import json

    from typer.testing import CliRunner

    from real3d.cli.main import app
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(4, 3, size=(48, 64))
    src = write_sequence(tmp_path / "seq", seq.frames, seq.scene, image_format="png")
    out, bag = tmp_path / "out", tmp_path / "results"
    args = ["run", str(src), "--out", str(out), "--model", "rgbd-tiny", "--rgb-model", "rgb-tiny"]
    r = CliRunner().invoke(app, [*args, "--bag-out", str(out / "bag")])
    assert isinstance(r.exception, InputError) and "outside --out" in str(r.exception)
    r = CliRunner().invoke(app, [*args, "--bag-out", str(bag)])
    assert r.exit_code == 0, r.output
    msgs, _ = _read(bag)
    assert len(msgs[LABELS_TOPIC]) == 3 and len(msgs["/tf"]) == 3
    path = json.loads((out / "path.json").read_text())
    ((_, p),) = msgs[PATH_TOPIC]
    np.testing.assert_allclose(
        [(q.pose.position.x, q.pose.position.y) for q in p.poses], path.get("waypoints") or np.zeros((0, 2))
    )
    ((_, g),) = msgs[COSTMAP_TOPIC]
    occ = np.asarray(g.data, np.int8).reshape(g.info.height, g.info.width)
    assert set(np.unique(occ)) <= {-1, 0, 100} and (occ == 100).any() and (occ == 0).any()
    graph = json.loads((out / "scene_graph.json").read_text())
    ((_, ma),) = msgs[MARKERS_TOPIC]
    assert sorted(m.id for m in ma.markers if m.type == 1) == sorted(n["id"] for n in graph["nodes"] if n["box"])
    ((_, pc),) = msgs[CLOUD_TOPIC]
    assert pc.width > 100
