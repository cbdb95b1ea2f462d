"""The pipeline follows its model's label set: a warehouse model gives a warehouse map, scene
graph, costmap, report, metrics, viewer entities, ROS messages and PLY files; ground truth
is scored in the model's label set or refused; NYUv2-13 stays as it was."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from real3d.core import ConfigError, InputError
from real3d.core.labels import NYU13
from real3d.core.warehouse import WAREHOUSE, labels_from_instances
from real3d.eval.ground_truth import ground_truth_frame, ground_truth_scene
from real3d.eval.recorder import RunRecorder
from real3d.models import build_model
from real3d.pipeline import Pipeline, PipelineConfig
from real3d.scene.graph import SceneGraphConfig

FAST = dict(rgb_model=None, backend="torch", threads=1, graph_every=2, costmap_every=2, background_refresh=False)


@pytest.fixture(scope="module")
def warehouse():
    """Four rendered frames of a generated warehouse and its scene ground truth."""
    from real3d.synth import SyntheticStream

    stream = SyntheticStream(3, 4, size=(96, 128), kind="warehouse", noise=False)
    return [stream[i] for i in range(len(stream))], stream.scene


@pytest.fixture(scope="module")
def wh_net():
    torch.manual_seed(0)
    return build_model("rgbd-warehouse").eval()


@pytest.fixture(scope="module")
def wh_run(warehouse, wh_net):
    """A warehouse pipeline run over the frames, watched by a recorder fed ground truth in
    the warehouse set (as ``real3d run`` feeds it)."""
    frames, scene = warehouse
    pipe = Pipeline(PipelineConfig(**FAST), segmenter=wh_net)
    rec = RunRecorder(expected_frames=len(frames))

    def on_result(res, frame):
        rec.on_result(res, ground_truth_frame(frame, pipe.label_set, scene.objects))

    summary = pipe.run(frames, on_result=on_result)
    yield pipe, summary, rec
    pipe.close()


# ---------------------------------------------------------------------------- pipeline
def test_a_warehouse_model_sets_the_map_graph_and_costmap_label_set(wh_run):
    pipe, summary, _ = wh_run
    assert pipe.label_set is WAREHOUSE
    assert pipe.config.scene_graph.label_set == "warehouse"
    assert pipe.config.costmap.label_set == "warehouse"
    assert pipe.map.config.num_classes == len(WAREHOUSE.names)
    assert pipe.class_pixels.shape == (len(WAREHOUSE.names),)
    assert summary.counts["fused"] == 4
    assert pipe.class_pixels.sum() == 4 * 96 * 128
    graph = pipe.scene_graph
    assert graph.config.label_set == "warehouse"
    d = graph.to_dict()
    assert d["label_set"] == "warehouse"
    for n in d["nodes"]:
        if n["kind"] != "room":
            assert n["class_name"] == WAREHOUSE.names[n["label"]]
    # the costmap's floor is the warehouse floor (id 1, NYUv2-13's bed)
    assert pipe.costmap is not None
    assert pipe.config.costmap.projection().floor_label == WAREHOUSE.index("floor") == 1


def test_a_nyu13_pipeline_keeps_its_config(wh_net):
    cfg = PipelineConfig(**FAST)
    pipe = Pipeline(cfg, segmenter=build_model("rgbd-tiny").eval())
    assert pipe.config is cfg
    assert pipe.label_set is NYU13
    assert pipe.class_pixels.shape == (14,)
    pipe.close()


def test_segmenters_of_two_label_sets_are_refused(wh_net):
    rgb = build_model("rgb-tiny").eval()
    with pytest.raises(ConfigError, match="different label sets.*'warehouse'.*'nyu13'"):
        Pipeline(PipelineConfig(**FAST), segmenter=wh_net, rgb_segmenter=rgb)


def test_a_config_naming_another_label_set_is_refused(wh_net):
    cfg = PipelineConfig(**{**FAST, "scene_graph": SceneGraphConfig(label_set="warehouse")})
    with pytest.raises(ConfigError, match="scene_graph.label_set is 'warehouse'.*predicts 'nyu13'"):
        Pipeline(cfg, segmenter=build_model("rgbd-tiny").eval())
    with pytest.raises(ConfigError, match="map refiner predicts NYUv2-13"):
        Pipeline(PipelineConfig(**{**FAST, "map_refiner": "seg3d-tiny"}), segmenter=wh_net)


def test_without_a_model_the_graph_config_names_the_label_set(warehouse):
    frames, scene = warehouse
    cfg = PipelineConfig(**{**FAST, "model": None, "scene_graph": SceneGraphConfig(label_set="warehouse")})
    pipe = Pipeline(cfg)
    assert pipe.label_set is WAREHOUSE and pipe.config.costmap.label_set == "warehouse"
    # the engine's frames carry NYUv2-13 labels: not fused into a warehouse map
    r = pipe.step(frames[0])
    assert r.status == "skipped" and "'nyu13' ids, the map holds 'warehouse'" in r.reason
    with pytest.raises(InputError, match="'nyu13' ids"):
        pipe.fuse(frames[0])
    # relabelled in the warehouse set, they are
    g = ground_truth_frame(frames[1], "warehouse", scene.objects)
    r = pipe.step(g)
    assert r.status == "fused"
    fused = pipe.map.semantic_points().labels
    fused = fused[fused > 0]
    assert len(fused) and set(np.unique(fused)) <= set(np.unique(g.labels))
    pipe.close()


# ---------------------------------------------------------------------------- ground truth
def test_ground_truth_frames_are_relabelled_or_refused(warehouse):
    frames, scene = warehouse
    f = frames[0]
    g = ground_truth_frame(f, WAREHOUSE, scene.objects)
    assert g.label_set == "warehouse"
    np.testing.assert_array_equal(g.labels, labels_from_instances(f.instances, scene.objects))
    assert ground_truth_frame(f, NYU13, scene.objects) is f  # already in the set
    with pytest.raises(ConfigError, match="labels are 'nyu13' ids, the model predicts 'warehouse'.*scene objects"):
        ground_truth_frame(f, WAREHOUSE, None)
    with pytest.raises(ConfigError, match="without the instance image"):
        ground_truth_frame(f.replace(instances=None), WAREHOUSE, scene.objects)
    with pytest.raises(ConfigError, match="cannot be labelled in 'nyu40'"):
        ground_truth_frame(f, "nyu40", scene.objects)


def test_the_scene_ground_truth_is_relabelled(warehouse):
    _, scene = warehouse
    assert ground_truth_scene(scene, "nyu13") is scene
    s = ground_truth_scene(scene, WAREHOUSE)
    from real3d.core.labels import SYNTH
    from real3d.core.warehouse import SYNTH_TO_WAREHOUSE

    np.testing.assert_array_equal(s.mesh.face_label, SYNTH_TO_WAREHOUSE[scene.mesh.face_class])
    for fine, name in (("pallet", "pallet"), ("loose_box", "box"), ("lamp", "lamp")):
        these = [o for o in s.objects if o.class_name == fine]
        assert these and all(o.label == WAREHOUSE.index(name) for o in these)
    assert all(o.label == SYNTH_TO_WAREHOUSE[SYNTH.index(o.class_name)] for o in s.objects)
    assert scene.mesh.face_label.max() <= 13 and s.mesh is not scene.mesh  # the original is kept
    with pytest.raises(ConfigError, match="cannot be labelled in 'nyu40'"):
        ground_truth_scene(scene, "nyu40")


def test_scene_objects_to_find_follow_the_label_set(warehouse):
    from real3d.scene.evaluate import gt_objects

    _, scene = warehouse
    wh = ground_truth_scene(scene, WAREHOUSE)
    found = {o.class_name for o in gt_objects(wh, label_set="warehouse")}
    # barrels and lamps (ids 12, 13: NYUv2-13's wall and window) are objects to find, pillars are not
    assert "pillar" not in found and "floor" not in found
    assert {"pallet", "loose_box", "lamp"} <= found
    # NYUv2-13 as before: structure by its NYUv2-13 ids
    nyu_structure = {NYU13.index(n) for n in ("floor", "wall", "ceiling", "window")}
    want = {o.instance_id for o in scene.objects if o.label > 0 and o.label not in nyu_structure}
    assert {o.instance_id for o in gt_objects(scene)} == want


# ---------------------------------------------------------------------------- outputs
def test_run_outputs_use_the_warehouse_names(wh_run, warehouse, tmp_path, monkeypatch):
    import real3d.viz.plots as plots
    from real3d.viz.report import write_run_outputs

    pipe, summary, rec = wh_run
    _, scene = warehouse
    seen = {}
    bar_chart, label_legend = plots.bar_chart, plots.label_legend

    def spy_bar(values, *a, **kw):
        seen["histogram"] = list(values)
        return bar_chart(values, *a, **kw)

    def spy_legend(label_set=NYU13, *a, **kw):
        seen["legend"] = label_set
        return label_legend(label_set, *a, **kw)

    monkeypatch.setattr(plots, "bar_chart", spy_bar)
    monkeypatch.setattr(plots, "label_legend", spy_legend)
    res = write_run_outputs(tmp_path / "out", pipe, summary, rec, meta={"input": "warehouse"}, scene=scene)
    assert seen["histogram"] == list(WAREHOUSE.names[1:])
    assert seen["legend"] is WAREHOUSE
    gt = res["metrics"]["ground_truth"]
    assert list(gt["seg2d"]["iou"]) == list(WAREHOUSE.names[1:])
    assert gt["map3d"] is not None and set(gt["map3d"]["iou_per_class"]) <= set(WAREHOUSE.names[1:])
    assert gt["objects"] is not None
    files = res["files"]
    assert json.loads(open(files["scene_graph.json"]).read())["label_set"] == "warehouse"
    head = open(files["semantic_map.ply"], "rb").read(4000).split(b"end_header")[0].decode()
    assert "comment label_set warehouse" in head and "comment label 7 rack" in head
    # the recorder's samples hold warehouse ground truth
    assert all(s["gt"].max() <= 13 for s in rec.samples)


def test_topdown_labels_figure_names_the_warehouse_classes(wh_run):
    from real3d.viz.mapview import topdown_labels, topdown_labels_figure

    pipe, _, _ = wh_run
    fig = topdown_labels_figure(pipe.map, label_set=WAREHOUSE)
    names = {e.text for e in fig.legend} - {"nothing labelled"}
    assert names and names <= set(WAREHOUSE.names[1:])
    img = topdown_labels(pipe.map, label_set=WAREHOUSE)
    colours = {tuple(c) for c in img.reshape(-1, 3)} - {(255, 255, 255)}
    assert colours <= {tuple(int(v) for v in c) for c in WAREHOUSE.colors[1:]}
    with pytest.raises(InputError, match="expected label_set to be a LabelSet"):
        topdown_labels(pipe.map, label_set="warehouse")


def test_viewer_entities_take_the_warehouse_colours(wh_run):
    from real3d.viz.scene_entities import annotation_classes, map_points

    pipe, _, _ = wh_run
    ann = annotation_classes(WAREHOUSE)
    assert [a[1] for a in ann] == list(WAREHOUSE.names)
    assert ann[7] == (7, "rack", tuple(int(v) for v in WAREHOUSE.colors[7]))
    assert annotation_classes()[7][1] == "objects"  # NYUv2-13 by default
    mp = map_points(pipe.map, label_set=pipe.label_set)
    assert len(mp.points)
    np.testing.assert_array_equal(mp.colors, WAREHOUSE.colors[mp.class_ids])
    with pytest.raises(InputError):
        annotation_classes("warehouse")


def test_ros_messages_take_the_warehouse_colours(wh_run):
    from real3d.io.ros_write import label_image_msgs, marker_array_msg, point_cloud_msg

    pipe, _, _ = wh_run
    labels = np.arange(14, dtype=np.uint8).reshape(2, 7)
    _, colour = label_image_msgs(0, "camera", labels, label_set=WAREHOUSE)
    np.testing.assert_array_equal(np.asarray(colour.fields["data"]).reshape(2, 7, 3), WAREHOUSE.colors[labels])
    _, colour = label_image_msgs(0, "camera", labels)
    np.testing.assert_array_equal(np.asarray(colour.fields["data"]).reshape(2, 7, 3), NYU13.colors[labels])

    pts = pipe.map.semantic_points()
    cloud = point_cloud_msg(0, "map", pts.points, pts.labels, label_set="warehouse")
    rec = np.frombuffer(
        np.asarray(cloud.fields["data"]).tobytes(), dtype=[("xyz", "<f4", 3), ("rgb", "<u4"), ("label", "<u4")]
    )
    rgb = WAREHOUSE.colors[pts.labels].astype(np.uint32)
    np.testing.assert_array_equal(rec["rgb"], (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])

    node = {"id": 4, "kind": "object", "label": 7, "class_name": "rack", "centroid": [1.0, 2.0, 1.0]}
    node["box"] = {"center": [1.0, 2.0, 1.0], "size": [2.0, 1.0, 2.0], "yaw_rad": 0.0}
    graph = {"label_set": "warehouse", "nodes": [node], "edges": []}

    def cube_rgb(msg):
        (cube,) = [m.fields["color"].fields for m in msg.fields["markers"] if m.fields["ns"] == "object"]
        return [cube["r"], cube["g"], cube["b"]]

    # the graph's own label set by default (scene_graph.json names it), else the one given
    np.testing.assert_allclose(cube_rgb(marker_array_msg(0, "map", graph)), WAREHOUSE.colors[7] / 255.0)
    old = {k: v for k, v in graph.items() if k != "label_set"}
    np.testing.assert_allclose(cube_rgb(marker_array_msg(0, "map", old)), NYU13.colors[7] / 255.0)
    np.testing.assert_allclose(
        cube_rgb(marker_array_msg(0, "map", old, label_set=WAREHOUSE)), WAREHOUSE.colors[7] / 255.0
    )


def test_results_bag_and_export_take_the_label_set(wh_run, tmp_path):
    from real3d.io.ros_write import ResultsBag
    from real3d.mapping.export import export_mesh_ply

    pipe, _, _ = wh_run
    with ResultsBag(tmp_path / "bag", label_set=pipe.label_set) as bag:
        assert bag.label_set is WAREHOUSE
        bag.add_frame(0.0, np.full((4, 4), 7, np.uint8))
    with pytest.raises(ConfigError, match="unknown label set 'shelf'"):
        ResultsBag(tmp_path / "bag2", label_set="shelf")
    p = export_mesh_ply(pipe.map, tmp_path / "mesh.ply", label_set=pipe.label_set, colour="label")
    assert b"comment label_set warehouse" in p.read_bytes()[:4000]


@pytest.mark.slow
def test_nyu13_outputs_unchanged(tmp_path, warehouse):
    """A NYUv2-13 model over the same warehouse frames: scored against the engine's own
    NYUv2-13 ground truth, its report names the NYUv2-13 classes and its PLY says nyu13."""
    from real3d.viz.report import write_run_outputs

    frames, scene = warehouse
    pipe = Pipeline(PipelineConfig(**FAST), segmenter=build_model("rgbd-tiny").eval())
    rec = RunRecorder(expected_frames=len(frames))
    summary = pipe.run(frames, on_result=rec.on_result)
    res = write_run_outputs(tmp_path / "out", pipe, summary, rec, scene=scene)
    pipe.close()
    assert list(res["metrics"]["ground_truth"]["seg2d"]["iou"]) == list(NYU13.names[1:])
    assert "label set" not in res["metrics"]["settings"]
    head = open(res["files"]["semantic_map.ply"], "rb").read(4000)
    assert b"comment label_set nyu13" in head


# ---------------------------------------------------------------------------- command line
@pytest.mark.slow
def test_real3d_run_with_warehouse_weights(tmp_path, wh_net):
    from typer.testing import CliRunner

    from real3d.cli.main import app
    from real3d.models import save_weights
    from real3d.synth import generate_sequence, write_sequence

    seq = generate_sequence(5, 3, size=(48, 64), kind="warehouse")
    src = write_sequence(tmp_path / "seq", seq.frames, seq.scene, image_format="png")
    weights = save_weights(wh_net, tmp_path / "w" / "warehouse.safetensors")
    out = tmp_path / "out"
    args = ["run", str(src), "--out", str(out), "--model", str(weights), "--backend", "torch", "--threads", "1"]
    r = CliRunner().invoke(app, [*args, "--rgb-model", "none", "--viewer", "none"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["run"]["counts"]["fused"] == 3
    assert m["settings"]["label set"].startswith("warehouse")
    assert list(m["ground_truth"]["seg2d"]["iou"]) == list(WAREHOUSE.names[1:])
    assert json.loads((out / "scene_graph.json").read_text())["label_set"] == "warehouse"
    assert b"comment label_set warehouse" in (out / "semantic_map.ply").read_bytes()[:4000]
    # a NYUv2-13 RGB model beside a warehouse RGB-D model is refused before any frame
    r = CliRunner().invoke(app, [*args, "--rgb-model", "rgb-tiny", "--viewer", "none"])
    assert r.exit_code != 0
    assert isinstance(r.exception, ConfigError) and "different label sets" in str(r.exception)


def test_ground_truth_that_cannot_be_relabelled_is_left_unscored(tmp_path, wh_net, warehouse, capsys):
    """``real3d run``'s loop over frames whose NYUv2-13 ground truth has no scene objects to
    be relabelled from: the run goes on, unscored, and says why once."""
    from real3d.cli.run_cmd import _ground_truth_objects, execute
    from real3d.viz.rerun_log import ViewerOptions

    frames, _ = warehouse

    class Seq:
        info = dataclasses.make_dataclass("Info", [("format", str)])("folder")

    assert _ground_truth_objects(Seq(), frames[0], WAREHOUSE) is None
    assert _ground_truth_objects(Seq(), frames[0], NYU13) is None
    pipe = Pipeline(PipelineConfig(**FAST), segmenter=wh_net)
    try:
        res = execute(pipe, frames, tmp_path / "out", {"input": "rec"}, viewer=ViewerOptions(mode="none"))
    finally:
        pipe.close()
    assert res["metrics"]["run"]["counts"]["fused"] == len(frames)
    assert "seg2d" not in (res["metrics"].get("ground_truth") or {})
    err = capsys.readouterr().err
    assert err.count("ground truth not scored") == 1 and "its labels are 'nyu13' ids" in err
