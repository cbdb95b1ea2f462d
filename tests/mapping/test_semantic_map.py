import numpy as np
import pytest

from real3d.core import NYU13, Frame, InputError, Intrinsics, look_at
from real3d.core.errors import FormatError
from real3d.mapping import FREE, OCCUPIED, UNKNOWN, SemanticMap
from real3d.mapping.evaluate import evaluate_map, observed_surface_points
from real3d.mapping.export import export_mesh_ply, export_point_cloud_ply, extract_mesh
from real3d.scene.boxes import Box3D, box_iou_3d, fit_box
from real3d.testing.toyscene import ToyRenderer, boxes_scene, toy_sequence

K = Intrinsics.from_fov(160, 120, 1.0)
FLOOR, TABLE = NYU13.index("floor"), NYU13.index("table")


def _orbit(center, radius, height, n):
    return [
        look_at((center[0] + radius * np.cos(a), center[1] + radius * np.sin(a), height), center)
        for a in np.linspace(0, 2 * np.pi, n, endpoint=False)
    ]


@pytest.fixture(scope="module")
def plane_and_box():
    # Floor plane (top face at z = 0) and a 0.6 x 0.4 x 0.5 m box rotated by 0.4 rad.
    box = ((0.0, 0.0, 0.25), (0.6, 0.4, 0.5), 0.4, TABLE, 2)
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1), box])
    r = ToyRenderer(scene)
    frames = [r.render(K, T, index=i) for i, T in enumerate(_orbit((0, 0, 0.25), 1.6, 1.2, 12))]
    m = SemanticMap(voxel_size_m=0.04, truncation_m=0.12, pixel_stride=1)
    for f in frames:
        m.integrate(f)
    return m, frames, Box3D(np.array(box[0]), np.array(box[1]), box[2])


def test_tsdf_stays_in_unit_range_and_weights_positive(plane_and_box):
    m, _, _ = plane_and_box
    a = m.voxel_arrays()
    assert len(m) > 1000
    assert a["tsdf"].min() >= -1.0 and a["tsdf"].max() <= 1.0
    assert (a["weight"] >= 0).all()
    assert (a["weight"] > 0).mean() > 0.9  # a few allocated voxels project onto no depth


def test_plane_and_box_geometry_is_recovered(plane_and_box):
    m, _, gt_box = plane_and_box
    p = m.semantic_points()
    floor = p.points[p.labels == FLOOR]
    # Floor points away from the box (and from the grazing-angle rim of the view) lie on
    # z = 0 to well under a voxel.
    r = np.linalg.norm(floor[:, :2], axis=1)
    ring = (r > 0.6) & (r < 2.5)
    assert ring.sum() > 1000
    assert np.abs(floor[ring, 2]).mean() < 0.01
    box_pts = p.points[p.labels == TABLE]
    assert len(box_pts) > 100
    fitted = fit_box(box_pts, trim=0.02)
    assert box_iou_3d(fitted, gt_box) > 0.75
    assert abs(((fitted.yaw_rad - 0.4 + np.pi / 4) % (np.pi / 2)) - np.pi / 4) < 0.08


def test_ternary_occupancy(plane_and_box):
    m, _, _ = plane_and_box
    q = np.array(
        [
            [0.8, 0.0, 0.72],  # on a viewing ray between a camera and the box: free
            [1.0, 1.0, -0.02],  # just under the floor surface: occupied
            [0.0, 0.0, 0.49],  # on the box's top face: occupied surface
            [30.0, 30.0, 5.0],
        ]
    )  # never seen: unknown
    assert m.query_occupancy(q).tolist() == [FREE, OCCUPIED, OCCUPIED, UNKNOWN]
    lab, conf = m.query_labels(np.array([[0.8, 0.0, 0.0], [0.0, 0.0, 0.49], [30.0, 30.0, 5.0]]))
    assert lab.tolist() == [FLOOR, TABLE, 0]
    assert conf[0] > 0.9 and conf[2] == 0.0


def test_memory_grows_with_surface_not_volume(plane_and_box):
    m, _, _ = plane_and_box
    vs = m.voxel_size_m
    # Seen floor area is a few m^2 at most; the band is 2 * truncation thick.
    n_band = 2 * m.config.truncation_m / vs + 1
    seen_area = 4.0 * 4.0
    assert len(m) < 2 * n_band * seen_area / vs**2
    bbox = np.ptp(m.voxel_centers(), axis=0)
    assert len(m) < 0.25 * np.prod(bbox / vs + 1)


def test_label_fusion_converges_to_majority_under_noise():
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1)])
    r = ToyRenderer(scene)
    rng = np.random.default_rng(0)
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for i, T in enumerate(_orbit((0, 0, 0), 1.5, 1.3, 16)):
        f = r.render(K, T, index=i)
        noisy = f.labels.copy()
        flip = rng.random(noisy.shape) < 0.4  # 40 % of pixels get a random wrong class
        noisy[flip] = rng.choice([c for c in range(1, 14) if c != FLOOR], size=int(flip.sum()))
        noisy[f.depth_m == 0] = 0
        m.integrate(f, noisy)
    p = m.semantic_points()
    seen = m.voxel_arrays()["class_weight"][p.rows]
    many = seen >= 10
    assert many.sum() > 300
    # 60 % of the votes against 12 rivals at ~3 % each: the posterior must settle on floor.
    assert (p.labels[many] == FLOOR).mean() > 0.97
    assert p.confidence[many].mean() > 0.9
    few = (seen >= 1) & (seen <= 2)
    assert (p.labels[few] == FLOOR).mean() < (p.labels[many] == FLOOR).mean()


def test_segmentation_layouts_fuse_alike(plane_and_box):
    from real3d.models import SegmentationResult

    _, frames, _ = plane_and_box
    h, w = frames[0].size_hw
    rng = np.random.default_rng(0)
    maps = {k: SemanticMap(voxel_size_m=0.05) for k in ("result", "chw", "chw13", "hwc13")}
    for f in frames[:3]:
        p = rng.random((14, h, w), dtype=np.float32)
        p[0] = 0
        p[1:] /= p[1:].sum(axis=0)
        r = SegmentationResult(labels=(p[1:].argmax(0) + 1).astype(np.uint8), probs=p)
        maps["result"].integrate(f, r)  # the canonical input: what predict returns
        maps["chw"].integrate(f, p)
        maps["chw13"].integrate(f, p[1:])
        maps["hwc13"].integrate(f, np.moveaxis(p[1:], 0, -1))  # the older channels-last layout
    ref = maps["hwc13"].voxel_arrays()
    assert ref["class_weight"].max() > 0
    for k in ("result", "chw", "chw13"):
        a = maps[k].voxel_arrays()
        for name in ("log_evidence", "class_weight", "tsdf"):
            np.testing.assert_array_equal(a[name], ref[name], err_msg=f"{k} {name}")
    with pytest.raises(InputError, match=r"\(14, H, W\)"):
        maps["chw"].integrate(frames[0], np.zeros((5, h, w), np.float32))


def test_probability_inputs_and_bad_inputs(plane_and_box):
    _, frames, _ = plane_and_box
    f = frames[0]
    h, w = f.size_hw
    m = SemanticMap(voxel_size_m=0.05)
    probs = np.zeros((h, w, 14), np.float32)
    probs[..., TABLE] = 1.0
    m.integrate(f, probs)
    m.integrate(f, probs[..., 1:].copy())  # 13 channels, no void
    p = m.semantic_points()
    assert (p.labels > 0).sum() > 100
    assert (p.labels[p.labels > 0] == TABLE).all()
    with pytest.raises(InputError):
        m.integrate(f, probs[:-1])
    with pytest.raises(InputError):
        m.integrate(f, np.zeros((h, w, 5), np.float32))
    bad = probs.copy()
    bad[..., TABLE] = np.nan  # at every pixel, so at those the map reads
    with pytest.raises(InputError, match="NaN"):
        m.integrate(f, bad)
    with pytest.raises(InputError):
        m.integrate(f, f.labels.astype(np.int32))
    with pytest.raises(InputError):
        m.integrate(f.replace(world_T_cam=None))
    with pytest.raises(InputError):
        m.integrate(f.replace(depth_m=None, depth_clean_m=None))
    with pytest.raises(InputError):
        m.integrate("not a frame")
    with pytest.raises(InputError):  # NaN depth cannot even become a Frame
        d = f.depth_m.copy()
        d[0, 0] = np.nan
        m.integrate(Frame(f.rgb, d, f.intrinsics, f.world_T_cam))
    with pytest.raises(InputError):
        m.query_labels(np.array([[np.nan, 0.0, 0.0]]))


def test_save_load_round_trip(tmp_path, plane_and_box):
    m, _, _ = plane_and_box
    path = m.save(tmp_path / "map.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["map.npz"]  # no temp file left behind
    m2 = SemanticMap.load(path)
    assert m2.config == m.config and len(m2) == len(m) and m2.num_free_cells == m.num_free_cells
    for k, v in m.voxel_arrays().items():
        assert np.array_equal(m2.voxel_arrays()[k], v), k
    q = np.random.default_rng(0).uniform(-2, 2, size=(2000, 3))
    assert np.array_equal(m2.query_occupancy(q), m.query_occupancy(q))
    assert np.array_equal(m2.query_labels(q)[0], m.query_labels(q)[0])
    (tmp_path / "junk.npz").write_bytes(b"not a map")
    with pytest.raises(FormatError):
        SemanticMap.load(tmp_path / "junk.npz")
    with pytest.raises(FormatError):
        SemanticMap.load(tmp_path / "missing.npz")


def test_exports_are_readable(tmp_path, plane_and_box):
    from real3d.geometry.o3d import import_open3d

    o3d = import_open3d()
    m, _, _ = plane_and_box
    pc = o3d.io.read_point_cloud(str(export_point_cloud_ply(m, tmp_path / "p.ply")))
    assert len(pc.points) == (m.semantic_points().labels > 0).sum()  # void points left out
    mesh = extract_mesh(m)
    assert len(mesh.triangles) > 100
    far = np.linalg.norm(mesh.vertices[:, :2], axis=1) > 0.7
    assert np.median(np.abs(mesh.vertices[far, 2])) < 0.01
    tm = o3d.io.read_triangle_mesh(str(export_mesh_ply(m, tmp_path / "m.ply")))
    assert len(tm.triangles) == len(mesh.triangles)
    assert not any(p.suffix == ".tmp" for p in tmp_path.iterdir())


def test_toy_scene_accuracy_against_labelled_mesh():
    seq = toy_sequence(0, n_frames=24, size=(120, 160), two_rooms=False)
    m = SemanticMap(pixel_stride=2)
    for f in seq:
        m.integrate(f)
    r = evaluate_map(m, seq.scene.mesh, observed_surface_points(seq.frames, stride=4))
    assert r.semantic_accuracy > 0.95
    assert r.accuracy_cm_mean < 2.0
    assert r.completeness > 0.85


def test_frame_without_valid_depth_changes_nothing(tmp_path):
    from real3d.scene import SceneGraph

    f = Frame(
        np.zeros((48, 64, 3), np.uint8),
        np.zeros((48, 64), np.float32),
        Intrinsics.from_fov(64, 48, 1.0),
        look_at((0, 0, 1), (1, 0, 1)),
    )
    m = SemanticMap()
    m.integrate(f)
    assert len(m) == 0 and m.num_free_cells == 0 and m.frames_integrated == 1
    assert m.query_occupancy(np.zeros((1, 3))).tolist() == [UNKNOWN]
    g = SceneGraph()
    g.update(m)
    assert not g.nodes
    assert len(SemanticMap.load(m.save(tmp_path / "empty.npz"))) == 0


def test_measured_points_fit_a_thin_object_better_than_voxel_centres():
    # A 7 cm bottle on 5 cm voxels: snapped voxel centres keep the grid's quantisation
    # across the surface, the per-voxel mean of the measured points does not.
    objects = NYU13.index("objects")
    box = ((0.031, -0.017, 0.125), (0.07, 0.07, 0.25), 0.3, objects, 2)
    scene = boxes_scene([((0, 0, -0.05), (8, 8, 0.1), 0.0, FLOOR, 1), box])
    r = ToyRenderer(scene)
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=1)
    for i, T in enumerate(_orbit((0.031, -0.017, 0.1), 1.0, 0.8, 12)):
        m.integrate(r.render(K, T, index=i))
    gt = Box3D(np.array(box[0]), np.array(box[1]), box[2])
    iou = {}
    for measured in (False, True):
        p = m.semantic_points(measured=measured)
        iou[measured] = box_iou_3d(fit_box(p.points[p.labels == objects], trim=0.02), gt)
    assert iou[True] > iou[False] + 0.05
    a = m.voxel_arrays()
    has = a["hit_weight"] > 0
    assert has.sum() > 100 and np.abs(a["hit_offset"][has]).max() <= 0.5 + 1e-5


def test_label_entropy_is_low_for_agreeing_evidence_and_high_for_even_evidence(plane_and_box):
    m_gt, frames, _ = plane_and_box
    h, w = frames[0].size_hw
    even = np.zeros((14, h, w), np.float32)
    even[1:] = 1.0 / 13
    unsure = SemanticMap(voxel_size_m=0.04, truncation_m=0.12, pixel_stride=1)
    for f in frames[:3]:
        unsure.integrate(f, even)
    sure = m_gt.label_entropy()
    has = m_gt.voxel_arrays()["class_weight"] > 0
    assert sure.shape == (len(m_gt),) and sure.dtype == np.float32
    assert np.all(sure[~has] == 1.0)  # no class evidence: as unsure as can be
    assert np.median(sure[has]) < 0.05  # ground-truth labels agree frame after frame
    e = unsure.label_entropy()
    assert np.all(e[unsure.voxel_arrays()["class_weight"] > 0] > 0.99)
    assert np.array_equal(m_gt.label_entropy(np.array([0, 1])), sure[:2])
    with pytest.raises(InputError):
        m_gt.label_entropy(np.array([len(m_gt)]))
    with pytest.raises(InputError):
        m_gt.label_entropy(np.array([0.5]))
