"""The map's PLY: observed colour and label per point, class names in the header, no void."""

import numpy as np
import pytest

from real3d.core import NYU13, ConfigError, InputError, Intrinsics, look_at
from real3d.mapping import SemanticMap
from real3d.mapping.export import export_mesh_ply, export_point_cloud_ply, write_semantic_ply
from real3d.testing.toyscene import ToyRenderer, boxes_scene

PAINT = (10, 200, 30)  # every pixel's colour: the map's mean colour must come back exactly
TABLE = NYU13.index("table")


def read_ply(path):
    """(header lines, vertex records) of a binary little-endian PLY with float xyz, uchar rgb
    and optionally uchar label, written by real3d."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    n = int(next(ln for ln in header if ln.startswith("element vertex")).split()[2])
    kinds = {"float": "<f4", "uchar": "u1"}
    props = [ln.split()[1:] for ln in header if ln.startswith("property ") and "list" not in ln]
    dtype = [(name, kinds[kind]) for kind, name in props]
    return header, np.frombuffer(raw, dtype=dtype, count=n, offset=end)


@pytest.fixture(scope="module")
def painted_map():
    """A floor (labelled) and a table whose pixels are all void: the table's voxels get
    colour but no class evidence."""
    scene = boxes_scene([((0, 0, -0.05), (4, 4, 0.1), 0.0, 5, 1), ((0.0, 0.0, 0.25), (0.6, 0.4, 0.5), 0.3, TABLE, 2)])
    K = Intrinsics.from_fov(64, 48, np.radians(70))
    r = ToyRenderer(scene)
    m = SemanticMap(voxel_size_m=0.05)
    for i, a in enumerate(np.linspace(0, 2 * np.pi, 6, endpoint=False)):
        f = r.render(K, look_at((1.5 * np.cos(a), 1.5 * np.sin(a), 1.2), (0, 0, 0.2)), index=i)
        labels = np.where(f.labels == TABLE, 0, f.labels).astype(np.uint8)
        m.integrate(f.replace(rgb=np.broadcast_to(np.uint8(PAINT), f.rgb.shape).copy(), labels=labels))
    return m


def test_point_cloud_carries_the_observed_colour_and_the_label(tmp_path, painted_map):
    sp = painted_map.semantic_points()
    assert (sp.labels == 0).any() and (sp.labels > 0).any()  # the fixture has void points to leave out
    path = export_point_cloud_ply(painted_map, tmp_path / "map.ply", comments=["frame_id map"])
    header, v = read_ply(path)
    assert [ln for ln in header if ln.startswith("property")] == [
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
        "property uchar label",
    ]
    keep = sp.labels > 0
    assert len(v) == keep.sum()
    assert (v["label"] > 0).all() and set(np.unique(v["label"])) <= {5}
    # the table's points were void: none is left above the floor
    assert v["z"].max() < 0.1 and sp.points[~keep, 2].max() > 0.3
    assert np.allclose(np.stack([v["x"], v["y"], v["z"]], 1), sp.points[keep], atol=1e-6)
    assert (np.stack([v["red"], v["green"], v["blue"]], 1) == PAINT).all()
    comments = [ln[len("comment ") :] for ln in header if ln.startswith("comment ")]
    assert comments[0] == "frame_id map"
    assert "label_set nyu13" in comments and "colour rgb: the mean colour the camera observed" in comments
    for i, name in enumerate(NYU13.names):
        assert f"label {i} {name}" in comments
    from real3d.geometry.o3d import import_open3d

    o3d = import_open3d()
    assert np.allclose(np.asarray(o3d.io.read_point_cloud(str(path)).colors) * 255, PAINT)
    assert np.array_equal(o3d.t.io.read_point_cloud(str(path)).point["label"].numpy()[:, 0], v["label"])


def test_class_coloured_variant_and_its_errors(tmp_path, painted_map):
    header, v = read_ply(export_point_cloud_ply(painted_map, tmp_path / "c.ply", colour="label"))
    rgb = np.stack([v["red"], v["green"], v["blue"]], 1)
    assert (rgb == NYU13.colors[v["label"]]).all() and not (rgb == PAINT).all(axis=1).any()
    assert "comment colour label: the class colour of the label set" in header
    with pytest.raises(ConfigError, match="'rgb', 'label'"):
        export_point_cloud_ply(painted_map, tmp_path / "x.ply", colour="class")
    with pytest.raises(InputError, match=r"labels in \[0, 13\]"):
        write_semantic_ply(tmp_path / "y.ply", np.zeros((2, 3)), np.array([1, 14]))
    with pytest.raises(InputError, match=r"colors \(2, 3\)"):
        write_semantic_ply(tmp_path / "y.ply", np.zeros((2, 3)), np.array([1, 2]), colors=np.zeros((2, 4)))
    assert not (tmp_path / "x.ply").exists() and not (tmp_path / "y.ply").exists()


def test_mesh_keeps_its_vertices_with_observed_colour(tmp_path, painted_map):
    header, v = read_ply(export_mesh_ply(painted_map, tmp_path / "m.ply"))
    assert len(v) > 20 and "comment label 5 floor" in header
    assert (np.stack([v["red"], v["green"], v["blue"]], 1) == PAINT).all()
    assert set(np.unique(v["label"])) <= {0, 5} and (v["label"] == 5).any()
    assert int(next(ln for ln in header if ln.startswith("element face")).split()[2]) > 10
