"""SemanticMap refinement: a 3D network's labels beside the fusion's, never over them."""

import numpy as np
import pytest

from real3d.core import NYU13, InputError, Intrinsics, look_at
from real3d.mapping import MapRefinement, SemanticMap
from real3d.testing.toyscene import ToyRenderer, boxes_scene

K = Intrinsics.from_fov(120, 90, 1.0)
FLOOR, TABLE, CHAIR = NYU13.index("floor"), NYU13.index("table"), NYU13.index("chair")


@pytest.fixture()
def fused():
    scene = boxes_scene([((0, 0, -0.05), (6, 6, 0.1), 0.0, FLOOR, 1), ((0, 0, 0.25), (0.6, 0.4, 0.5), 0.3, TABLE, 2)])
    r = ToyRenderer(scene)
    poses = [look_at((1.5 * np.cos(a), 1.5 * np.sin(a), 1.0), (0, 0, 0.25)) for a in np.linspace(0, 6, 6)]
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=1)
    for i, T in enumerate(poses[:4]):
        m.integrate(r.render(K, T, index=i))
    return m, r, poses


def test_refined_labels_replace_the_fusion_in_queries_but_not_its_evidence(fused):
    m, r, poses = fused
    assert not (m.semantic_points().labels == CHAIR).any()
    evidence = m.voxel_arrays()["log_evidence"].copy()
    n = len(m)
    labels = np.full(n, CHAIR, np.uint8)
    v = m.version
    m.set_refinement(MapRefinement(labels, np.full(n, 0.7, np.float32), np.arange(n, dtype=np.int32), v, "test"))
    assert m.version == v + 1 and m.refinement.source == "test"
    after = m.semantic_points()
    assert (after.labels == CHAIR).all() and np.allclose(after.confidence, 0.7)
    np.testing.assert_array_equal(m.voxel_arrays()["log_evidence"], evidence)
    np.testing.assert_array_equal(m.instances_of_rows(after.rows), after.rows)
    # rows fused after the refinement keep the fusion's labels and get no refined instance
    for i, T in enumerate(poses[4:]):
        m.integrate(r.render(K, T, index=10 + i))
    grown = m.semantic_points()
    new = grown.rows >= n
    assert new.any()
    assert (grown.labels[~new] == CHAIR).all() and not (grown.labels[new] == CHAIR).any()
    assert (m.instances_of_rows(grown.rows[new]) == 0).all()
    m.set_refinement(None)
    assert not (m.semantic_points().labels == CHAIR).any()


def test_bad_refinements_are_refused(fused):
    m, _, _ = fused
    n = len(m)
    ok = np.ones(n, np.uint8)
    with pytest.raises(InputError, match="covers"):
        m.set_refinement(MapRefinement(np.ones(n + 1, np.uint8), np.ones(n + 1, np.float32), None, 0))
    with pytest.raises(InputError, match="num_classes"):
        m.set_refinement(MapRefinement(np.full(n, 40, np.uint8), np.ones(n, np.float32), None, 0))
    with pytest.raises(InputError, match="confidence"):
        MapRefinement(ok, np.ones(n, np.float64), None, 0)
    with pytest.raises(InputError, match="instances"):
        MapRefinement(ok, np.ones(n, np.float32), np.ones(n, np.int64), 0)
    with pytest.raises(InputError, match="MapRefinement or None"):
        m.set_refinement({"labels": ok})
