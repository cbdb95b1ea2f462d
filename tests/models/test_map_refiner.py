"""MapRefiner over a fused map and inside the pipeline."""

import numpy as np
import pytest
import torch

from real3d.core.errors import ConfigError, InputError
from real3d.mapping import SemanticMap
from real3d.models.map_refiner import MapRefiner
from real3d.models.seg3d import clean_islands, create_seg3d
from real3d.testing.toyscene import toy_sequence


@pytest.fixture(scope="module")
def toy():
    return toy_sequence(n_frames=6, size=(60, 80))


def _fused(frames):
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for f in frames:
        m.integrate(f.replace(instances=None))
    return m


def test_refiner_sets_labels_and_instances_on_the_map(toy):
    m = _fused(toy.frames)
    torch.manual_seed(0)
    refiner = MapRefiner(create_seg3d("seg3d-tiny"), min_instance_points=1)
    ref = refiner.refine(m)
    assert m.refinement is ref and len(ref) == len(m) and ref.map_version == m.version - 1
    assert ref.instances is not None and ref.instances.dtype == np.int32
    sp = m.semantic_points()
    lab, conf = ref.labels[sp.rows], ref.confidence[sp.rows]
    np.testing.assert_array_equal(sp.labels, lab)
    assert ((conf >= 0) & (conf <= 1)).all() and (conf[lab > 0] > 0).all()
    fused, _ = m.fused_labels()
    assert (ref.labels[fused == 0] == 0).all()  # no label where the fusion has no evidence
    # labels=False: the fusion's labels, the network's instances
    keep = MapRefiner(refiner.net, labels=False, min_instance_points=1).refine(m)
    np.testing.assert_array_equal(keep.labels, fused)
    assert keep.instances is not None
    # instances only on surface voxels of object classes
    assert (ref.instances[np.setdiff1d(np.arange(len(m)), sp.rows)] == 0).all()


def test_refiner_refuses_bad_maps(toy):
    refiner = MapRefiner("seg3d-tiny")
    with pytest.raises(InputError, match="empty"):
        refiner.refine(SemanticMap(voxel_size_m=0.05))
    with pytest.raises(InputError, match="voxels"):
        refiner.refine(_coarse(toy))
    with pytest.raises(InputError, match="SemanticMap"):
        refiner.refine(np.zeros((3, 3)))


def _coarse(toy):
    m = SemanticMap(voxel_size_m=0.1, truncation_m=0.3, pixel_stride=2)
    m.integrate(toy.frames[0])
    return m


def test_pipeline_runs_the_refiner_before_the_graph(toy):
    from real3d.models import build_model
    from real3d.pipeline import Pipeline, PipelineConfig

    torch.manual_seed(0)
    seg = build_model("rgbd-tiny").eval()
    calls = []

    class Counting(MapRefiner):
        def refine(self, semantic_map):
            calls.append(semantic_map.version)
            return super().refine(semantic_map)

    cfg = PipelineConfig(
        graph_every=3,
        costmap_every=3,
        refine_every=3,
        background_refresh=False,
        map=PipelineConfig().map.__class__(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2),
    )
    pipe = Pipeline(cfg, segmenter=seg, map_refiner=Counting("seg3d-tiny"))
    results = [pipe.step(f) for f in toy.frames]
    assert [r.status for r in results] == ["fused"] * 6
    assert len(calls) == 2 and "refine" in results[2].latency_ms
    assert pipe.map.refinement is not None
    # the on-demand graph refines again only when the map changed since
    pipe.scene_graph
    assert len(calls) == 2
    with pytest.raises(ConfigError, match="refine"):
        Pipeline(cfg, segmenter=seg, map_refiner=object())
    with pytest.raises(ConfigError, match="refine_every"):
        PipelineConfig(refine_every=0)


def test_shipped_3d_network_loads_with_its_card_and_refines(toy):
    net = create_seg3d("seg3d-default")
    card = net.card
    assert card["name"] == "seg3d-default" and "command" in card and "licence" in card
    e2e = card["metrics"]["end_to_end_held_out_homes"]["summary"]
    assert {"fusion", "refined", "gt"} <= set(e2e)
    m = _fused(toy.frames)
    ref = MapRefiner(net).refine(m)
    assert len(ref) == len(m) and ref.instances is not None


def test_incremental_refinement_reruns_changed_blocks_and_stays_close_to_a_whole_map_run():
    toy = toy_sequence(seed=2, n_frames=16, size=(60, 80))
    m = _fused(toy.frames[:10])
    net = create_seg3d("seg3d-default")
    inc = MapRefiner(net, block_voxels=8)
    inc.refine(m)
    assert inc.last_rows_run == len(m)  # first run: everything
    first = m.refinement
    inc.refine(m)  # nothing changed: nothing rerun, same answer
    assert inc.last_rows_run == 0
    np.testing.assert_array_equal(m.refinement.labels, first.labels)
    for f in toy.frames[10:12]:
        m.integrate(f.replace(instances=None))
    part = inc.refine(m)
    assert 0 < inc.last_rows_run < len(m)
    full = MapRefiner(net, incremental=False).refine(m)
    labelled = full.labels > 0
    assert (part.labels[labelled] == full.labels[labelled]).mean() > 0.97
    # another map: a whole run again
    other = _fused(toy.frames[:3])
    inc.refine(other)
    assert inc.last_rows_run == len(other)


def test_refiner_relabels_small_islands_of_its_labels(toy):
    m = _fused(toy.frames)
    net = create_seg3d("seg3d-default")
    raw = MapRefiner(net, min_island_voxels=0, incremental=False).refine(m)
    clean = MapRefiner(net, min_island_voxels=40, incremental=False).refine(m)
    sp = m.semantic_points()
    coords = m.voxel_arrays()["coords"]
    want = raw.labels.copy()
    want[sp.rows] = clean_islands(coords[sp.rows], raw.labels[sp.rows], 40)
    np.testing.assert_array_equal(clean.labels, want)
    assert (clean.labels != raw.labels).any()  # the toy map has islands to clean
    moved = clean.labels != raw.labels
    assert ((clean.confidence[moved] >= 0) & (clean.confidence[moved] <= 1)).all()
    with pytest.raises(InputError, match="min_island_voxels"):
        MapRefiner(net, min_island_voxels=-1)
