"""The JSON Schemas shipped in real3d/schemas, checked against the files a small run writes."""

import copy
import json

import jsonschema  # the [test] extra; never a runtime dependency
import numpy as np
import pytest

from real3d.scene.graph import SceneGraph, frame_header
from real3d.viz.outputs import SCHEMA_DIR

NAMES = ("scene_graph", "path", "metrics")


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def errors(name: str, doc) -> list[str]:
    v = jsonschema.Draft202012Validator(schema(name))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


@pytest.fixture(scope="module")
def run_outputs(tmp_path_factory):
    from real3d.pipeline import Pipeline, PipelineConfig
    from real3d.synth import generate_sequence
    from real3d.viz.report import RunRecorder, write_run_outputs

    # no network: the frames' own labels are fused, so the graph has objects with boxes
    seq = generate_sequence(1, 4, size=(48, 64))
    pipe = Pipeline(PipelineConfig(model=None, rgb_model=None))
    rec = RunRecorder(expected_frames=4)
    summary = pipe.run(seq.frames, on_result=rec.on_result)
    assert summary.counts["fused"] == 4
    out = tmp_path_factory.mktemp("run")
    write_run_outputs(out, pipe, summary, rec, meta={"input": "toy"})
    return {name: json.loads((out / f"{name}.json").read_text()) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_the_schemas_are_draft_2020_12_and_shipped(name):
    s = schema(name)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)


def test_the_frame_keys_are_described_alike_in_every_schema():
    keys = list(frame_header())
    ref = schema("path")
    for name in NAMES:
        s = schema(name)
        assert set(keys) <= set(s["required"]), name
        assert {k: s["properties"][k] for k in keys} == {k: ref["properties"][k] for k in keys}, name
        assert {k: s["$defs"][k] for k in ("transform", "units")} == {
            k: ref["$defs"][k] for k in ("transform", "units")
        }


@pytest.mark.parametrize("name", NAMES)
def test_a_run_writes_files_its_schemas_accept(run_outputs, name):
    doc = run_outputs[name]
    assert errors(name, doc) == []
    assert doc["frame_id"] == "map" and doc["units"] == {"length": "m", "angle": "rad", "time": "s"}
    assert np.allclose(doc["map_T_input"], np.eye(4))  # synthetic poses are z-up already
    assert doc["stamp_s"] is not None and doc["stamp_s"] >= 0


def test_the_run_has_objects_and_a_path_to_check(run_outputs):
    # the checks above mean something only if the files hold nodes, boxes and waypoints
    nodes = run_outputs["scene_graph"]["nodes"]
    assert any(n["box"] is not None for n in nodes)
    assert run_outputs["path"]["status"] == "ok" and len(run_outputs["path"]["waypoints"]) >= 2


@pytest.mark.parametrize(
    "name,change",
    [
        ("scene_graph", lambda d: d.pop("frame_id")),
        ("scene_graph", lambda d: d.update(frame_id="odom")),
        ("scene_graph", lambda d: d.update(map_T_input=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])),
        ("scene_graph", lambda d: d["nodes"].append(dict(d["nodes"][0], kind="thing"))),
        ("scene_graph", lambda d: d["nodes"].append(dict(d["nodes"][0], extra=1))),
        ("scene_graph", lambda d: d["nodes"].append(dict(d["nodes"][0], box={"center": [0, 0, 0], "size": [1, 1]}))),
        ("scene_graph", lambda d: d["edges"].append({"subject": 1, "predicate": "under", "object": 2})),
        ("scene_graph", lambda d: d.update(units={"length": "cm", "angle": "rad", "time": "s"})),
        ("path", lambda d: d.update(waypoints=[[0.0, 0.0, 0.0]])),
        ("path", lambda d: d.update(stamp_s="now")),
        ("path", lambda d: d.update(length_m=-1.0)),
        ("path", lambda d: d.update(velocity=1.0)),
        ("metrics", lambda d: d.pop("partial")),
        ("metrics", lambda d: d["map"].update(voxels=-1)),
    ],
)
def test_the_schemas_refuse_wrong_files(run_outputs, name, change):
    doc = copy.deepcopy(run_outputs[name])
    change(doc)
    assert errors(name, doc) != []


def test_a_graph_written_on_its_own_is_valid_too():
    d = json.loads(SceneGraph().to_json())
    assert errors("scene_graph", d) == [] and d["map_T_input"] is None and d["stamp_s"] is None


def test_frame_header_refuses_bad_transforms_and_times():
    from real3d.core.errors import InputError

    with pytest.raises(InputError):
        frame_header(np.eye(3))
    with pytest.raises(InputError):
        frame_header(np.full((4, 4), np.nan))
    with pytest.raises(InputError):
        frame_header(np.eye(4), stamp_s=float("inf"))
    assert frame_header(np.eye(4), "given", 2.5)["map_T_input"] == np.eye(4).tolist()
