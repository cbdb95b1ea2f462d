"""The scene graph and costmap over a map holding warehouse label ids."""

import json

import numpy as np
import pytest

from real3d.core import ConfigError, FormatError, Intrinsics, look_at
from real3d.core.labels import NYU13
from real3d.core.warehouse import WAREHOUSE
from real3d.mapping import SemanticMap
from real3d.nav.costmap import CostmapConfig
from real3d.scene import SceneGraph, SceneGraphConfig
from real3d.scene.roles import NYU13_ROLES, ClassRoles, roles_for
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(160, 120, 1.0)
W = {n: WAREHOUSE.index(n) for n in ("floor", "pillar", "pallet", "package", "barrel")}


@pytest.fixture(scope="module")
def warehouse_map():
    scene = boxes_scene(
        [
            ((0, 0, -0.05), (10, 10, 0.1), 0.0, W["floor"], 1),
            ((-1.2, 0.8, 1.5), (0.4, 0.4, 3.0), 0.0, W["pillar"], 2),
            ((0.3, -0.2, 0.075), (1.2, 0.8, 0.15), 0.1, W["pallet"], 3),
            ((0.3, -0.2, 0.35), (0.45, 0.45, 0.4), 0.1, W["package"], 4),
            ((1.3, 1.0, 0.45), (0.6, 0.6, 0.9), 0.0, W["barrel"], 5),
        ]
    )
    r = ToyRenderer(scene)
    m = SemanticMap(pixel_stride=2)
    for i, a in enumerate(np.linspace(0, 2 * np.pi, 12, endpoint=False)):
        m.integrate(r.render(K, look_at((3.0 * np.cos(a), 3.0 * np.sin(a), 1.6), (0, 0, 0.4)), index=i))
    return m


def test_warehouse_roles_name_the_nodes_and_relations(warehouse_map):
    g = SceneGraph(SceneGraphConfig(label_set="warehouse"))
    g.update(warehouse_map)
    kinds = {n.class_name: n.kind for n in g.nodes.values() if n.kind != "room"}
    assert kinds.get("pillar") == "structure" and kinds.get("floor") == "structure"
    assert {k for k, v in kinds.items() if v == "object"} == {"pallet", "package", "barrel"}
    by_id = {n.id: n.class_name for n in g.nodes.values()}
    on = {(by_id[e.subject], by_id[e.object]) for e in g.relations("on")}
    assert ("package", "pallet") in on
    # The same ids read as NYUv2-13 are other classes: id 6 is furniture, an object there.
    nyu = SceneGraph(SceneGraphConfig(refine_boxes=False))
    nyu.update(warehouse_map)
    assert NYU13.names[W["pillar"]] == "furniture"
    assert "furniture" in {n.class_name for n in nyu.objects()}


def test_warehouse_graph_json_round_trip_keeps_its_label_set(warehouse_map):
    g = SceneGraph(SceneGraphConfig(label_set="warehouse"))
    g.update(warehouse_map)
    d = json.loads(g.to_json())
    assert d["label_set"] == "warehouse"
    back = SceneGraph.from_dict(d)
    assert back.config.label_set == "warehouse"
    assert {n.class_name for n in back.nodes.values()} == {n.class_name for n in g.nodes.values()}
    with pytest.raises(FormatError, match="label set"):
        SceneGraph.from_dict(d, config=SceneGraphConfig())
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    schema = json.loads(files("real3d").joinpath("schemas/scene_graph.schema.json").read_text())
    jsonschema.validate(d, schema)
    d.pop("label_set")  # files written before the key are NYUv2-13
    assert SceneGraph.from_dict(d).config.label_set == "nyu13"


def test_costmap_takes_the_label_sets_floor_and_structure():
    nyu, ware = CostmapConfig().projection(), CostmapConfig(label_set="warehouse").projection()
    assert nyu.floor_label == NYU13.index("floor") and ware.floor_label == WAREHOUSE.index("floor")
    assert {WAREHOUSE.names[i] for i in ware.structure_labels} == {
        "floor",
        "wall",
        "ceiling",
        "window",
        "door",
        "pillar",
    }
    assert {NYU13.names[i] for i in nyu.structure_labels} == {"floor", "wall", "ceiling", "window"}


def test_bad_label_sets_and_roles_are_refused():
    with pytest.raises(ConfigError, match="unknown label set"):
        roles_for("nyu14")
    with pytest.raises(ConfigError, match="no scene-graph roles"):
        roles_for("synth")
    with pytest.raises(ConfigError, match="no scene-graph roles"):
        SceneGraph(SceneGraphConfig(label_set="synth"))
    with pytest.raises(ConfigError, match="no scene-graph roles"):
        CostmapConfig(label_set="synth").projection()
    with pytest.raises(ConfigError, match="not classes"):
        ClassRoles(NYU13, structure=("floor", "rack"))
    with pytest.raises(ConfigError, match="floor"):
        ClassRoles(NYU13, structure=("wall",))
    assert roles_for("nyu13") is NYU13_ROLES


def test_the_nyu_box_refiner_is_refused_for_warehouse_graphs():
    refiner = SceneGraph().refiner
    assert refiner is not None
    with pytest.raises(ConfigError, match="NYUv2-13"):
        SceneGraph(SceneGraphConfig(label_set="warehouse"), refiner=refiner)
    assert SceneGraph(SceneGraphConfig(label_set="warehouse")).refiner is None
