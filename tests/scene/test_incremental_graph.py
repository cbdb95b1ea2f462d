"""The scene graph's updates reuse what did not change (box fits, each class's clusters,
the free-space grid of the rooms); after every partial update the graph equals one rebuilt
from the whole map with the same id history."""

import numpy as np
import pytest

from real3d.core import NYU13
from real3d.mapping import SemanticMap
from real3d.scene import SceneGraph, SceneGraphConfig
from real3d.testing.toyscene import toy_sequence


@pytest.fixture(scope="module")
def frames():
    return toy_sequence(1, n_frames=24, size=(60, 80), depth_noise_m=0.005).frames


def _same(a: SceneGraph, b: SceneGraph) -> None:
    assert a.to_dict() == b.to_dict()  # nodes (ids, labels, boxes, rooms) and relations
    assert np.array_equal(a.room_map, b.room_map)
    assert np.array_equal(a.free_space.free, b.free_space.free)
    assert np.array_equal(a.free_space.occupied, b.free_space.occupied)


def _rebuilt(b: SceneGraph, m: SemanticMap) -> None:
    """Update ``b`` from the whole map: nothing reused but the ids of its previous nodes."""
    b._builder.reset_caches()
    b.update(m, force=True)


@pytest.mark.parametrize("refine", [False, True])
def test_partial_updates_equal_a_rebuild_with_stable_ids(frames, refine):
    m = SemanticMap(pixel_stride=2)
    cfg = SceneGraphConfig(refine_boxes=refine)
    inc, full = SceneGraph(cfg), SceneGraph(cfg)
    reused, ids = 0, []
    for i, f in enumerate(frames):
        m.integrate(f)
        if i % 3 == 2:
            inc.update(m)
            _rebuilt(full, m)
            _same(inc, full)
            reused += inc._builder.reused_labels
            ids.append({n.id: n.label for n in inc.objects()})
    assert reused > 0  # the partial path ran
    # Ids are stable: an object seen at two consecutive updates keeps its id and class.
    assert any(set(a) & set(b) for a, b in zip(ids, ids[1:]))
    for a, b in zip(ids, ids[1:]):
        assert all(a[k] == b[k] for k in set(a) & set(b))


def test_relabelled_and_vanished_voxels_are_seen(frames):
    m = SemanticMap(pixel_stride=2)
    for f in frames[:15]:
        m.integrate(f)
    cfg = SceneGraphConfig(refine_boxes=False)
    inc, full = SceneGraph(cfg), SceneGraph(cfg)
    inc.update(m)
    _rebuilt(full, m)
    objs = inc.objects()
    assert objs
    # The largest object becomes a table, and a quarter of the floor voxels vanish (carved).
    target = max(objs, key=lambda n: n.n_voxels)
    arr = m.voxel_arrays()
    rows = np.flatnonzero(m.instances_of_rows(np.arange(len(m))) == target.map_instance)
    if target.map_instance is None or not len(rows):
        rows = m.lookup_rows(inc.cluster_points()[target.id])
    table = NYU13.index("table") if target.label != NYU13.index("table") else NYU13.index("chair")
    arr["log_evidence"][rows] = -10.0
    arr["log_evidence"][rows, table] = 0.0
    floor_rows = np.flatnonzero(m.fused_labels()[0] == NYU13.index("floor"))
    arr["weight"][floor_rows[::4]] = 0.0
    m.version += 1
    inc.update(m)
    _rebuilt(full, m)
    _same(inc, full)
    assert any(n.label == table for n in inc.objects())
    for f in frames[15:]:
        m.integrate(f)
    inc.update(m)
    _rebuilt(full, m)
    _same(inc, full)
