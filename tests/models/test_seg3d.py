"""Seg3DNet: encodings, row order, the evidence skip, instances, weights, bad input."""

import numpy as np
import pytest
import torch

from real3d.core.errors import ConfigError, FormatError, InputError
from real3d.models.seg3d import (
    ENCODINGS,
    NUM_CLASSES,
    PRESETS3D,
    Seg3DConfig,
    Seg3DNet,
    clean_islands,
    cluster_instances,
    create_seg3d,
    encode_voxels,
    evidence_prior,
    load_seg3d,
    observed_free,
    save_seg3d,
    widen_encoding,
    with_encoding,
)


def _arrays(n=300, seed=0):
    rng = np.random.default_rng(seed)
    # unique voxels of a 10 x 10 x 6 block, in a random order
    cells = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(6), indexing="ij"), -1).reshape(-1, 3)
    coords = cells[rng.permutation(len(cells))[:n]].astype(np.int32)
    ev = rng.normal(size=(n, NUM_CLASSES)).astype(np.float32) * 3
    cw = rng.integers(0, 4, n).astype(np.float32)
    return {
        "coords": coords,
        "tsdf": rng.uniform(-1, 1, n).astype(np.float32),
        "weight": rng.uniform(0, 30, n).astype(np.float32),
        "color": rng.uniform(0, 255, (n, 3)).astype(np.float32),
        "log_evidence": ev - ev.max(axis=1, keepdims=True),
        "class_weight": cw,
        "observed_free": rng.random(n) < 0.3,
    }


def test_encodings_have_the_declared_channels():
    a = _arrays()
    for name, c in ENCODINGS.items():
        assert encode_voxels(a, (name,)).shape == (300, c)
    x = encode_voxels(a, ("geometry", "color", "evidence"))
    assert x.shape == (300, Seg3DConfig().in_channels) and x.dtype == np.float32
    ev = encode_voxels(a, ("evidence",))
    unseen = a["class_weight"] == 0
    np.testing.assert_allclose(ev[unseen, :NUM_CLASSES], 1 / NUM_CLASSES, rtol=1e-6)
    np.testing.assert_allclose(ev[:, :NUM_CLASSES].sum(1), 1, rtol=1e-5)
    assert (ev[:, -1] == (~unseen)).all()
    with pytest.raises(ConfigError, match="unknown 3D input encoding"):
        encode_voxels(a, ("normals",))


def test_outputs_follow_the_input_row_order_and_batches_agree():
    torch.manual_seed(0)
    net = Seg3DNet(PRESETS3D["seg3d-tiny"]).eval()
    a = _arrays()
    out = net.predict(a)
    perm = np.random.default_rng(1).permutation(300)
    b = {k: v[perm] for k, v in a.items()}
    out2 = net.predict(b)
    np.testing.assert_allclose(out2.probs, out.probs[perm], atol=1e-5)
    np.testing.assert_allclose(out2.offsets, out.offsets[perm], atol=1e-5)
    assert out.labels.dtype == np.uint8 and 1 <= out.labels.min() and out.labels.max() <= NUM_CLASSES
    assert out.features.shape == (300, net.feature_dim)
    # two samples in one batch give what each gives alone
    x, prior, order = net.input_batch([a, b])
    with torch.no_grad():
        both = net(x, prior)["logits"]
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    probs = torch.softmax(both, 1).numpy()[inv]
    np.testing.assert_allclose(probs[:300], out.probs, atol=1e-5)
    np.testing.assert_allclose(probs[300:], out2.probs, atol=1e-5)


def test_evidence_skip_starts_from_the_fusion():
    a = _arrays()
    a["log_evidence"] *= 5  # confident evidence everywhere it was seen
    net = Seg3DNet(PRESETS3D["seg3d-tiny"]).eval()  # untrained: the head starts at zero
    out = net.predict(a)
    seen = a["class_weight"] > 0
    np.testing.assert_array_equal(out.labels[seen], a["log_evidence"][seen].argmax(1) + 1)
    assert (evidence_prior(a)[~seen] == 0).all() and evidence_prior(a).min() >= -10


def test_geometry_only_preset_has_no_skip():
    net = create_seg3d("seg3d-geometry")
    assert net.evidence_scale is None and net.config.in_channels == 3
    assert net.predict(_arrays()).labels.shape == (300,)
    with pytest.raises(ConfigError, match="evidence_skip"):
        Seg3DConfig(encoding=("geometry",))
    assert with_encoding(Seg3DConfig(), "geometry").evidence_skip is False


def test_cluster_instances_groups_points_by_their_shifted_centres():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0.5], [0.3, 0, 0.5], [3, 3, 0.5]])
    pts = np.concatenate([c + rng.normal(scale=0.2, size=(50, 3)) for c in centres])
    labels = np.repeat([4, 4, 10], 50).astype(np.uint8)
    perfect = np.repeat(centres, 50, axis=0) - pts
    inst = cluster_instances(pts, perfect, labels, radius_m=0.05, min_points=10)
    assert len(np.unique(inst)) == 3 and (inst > 0).all()
    for k in range(3):
        assert len(np.unique(inst[50 * k : 50 * (k + 1)])) == 1
    # without offsets the two touching chairs merge (or fall apart): never three clean groups
    raw = cluster_instances(pts, np.zeros_like(pts), labels, radius_m=0.05, min_points=10)
    clean = len(np.unique(raw)) == 3 and all(
        len(np.unique(raw[50 * k : 50 * (k + 1)])) == 1 and raw[50 * k] > 0 for k in range(3)
    )
    assert not clean
    # structure classes get no instance
    assert (cluster_instances(pts, perfect, np.full(150, 12, np.uint8)) == 0).all()
    with pytest.raises(InputError):
        cluster_instances(pts, perfect[:10], labels)


def test_weights_round_trip_and_bad_files(tmp_path):
    net = create_seg3d("seg3d-tiny")
    p = save_seg3d(net, tmp_path / "m.safetensors", {"note": "test"})
    back = load_seg3d(p)
    assert back.card["note"] == "test" and back.config == net.config
    a = _arrays()
    np.testing.assert_allclose(back.predict(a).probs, net.eval().predict(a).probs, atol=1e-6)
    assert create_seg3d(str(p)).name == "seg3d-tiny"
    with pytest.raises(FormatError):
        load_seg3d(tmp_path / "missing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    (tmp_path / "bad.json").write_text('{"kind": "seg3d", "config": {"name": "x"}}')
    with pytest.raises(FormatError):
        load_seg3d(tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match="unknown 3D model"):
        create_seg3d("seg3d-huge")


def test_bad_voxel_arrays_are_refused():
    net = create_seg3d("seg3d-tiny")
    a = _arrays()
    with pytest.raises(InputError, match="log_evidence"):
        net.predict({**a, "log_evidence": a["log_evidence"][:, :5]})
    with pytest.raises(InputError, match="NaN"):
        net.predict({**a, "tsdf": np.full(300, np.nan, np.float32)})
    with pytest.raises(InputError, match="coords"):
        net.predict({**a, "coords": a["coords"].astype(np.float32)})
    with pytest.raises(InputError, match="no voxel"):
        net.predict({k: v[:0] for k, v in a.items()})
    with pytest.raises(InputError):
        net.predict("a map")


def test_adjacent_grouping_splits_touching_objects_where_their_centres_differ():
    # two boxes of one class side by side (touching), each point told its own box's centre
    g = np.stack(np.meshgrid(np.arange(0, 0.5, 0.05), np.arange(0, 0.5, 0.05), [0.0], indexing="ij"), -1).reshape(-1, 3)
    a, b = g, g + [0.5, 0, 0]
    pts = np.concatenate([a, b])
    off = np.concatenate([a.mean(0) - a, b.mean(0) - b]) + np.random.default_rng(0).normal(scale=0.02, size=pts.shape)
    lab = np.full(len(pts), 4, np.uint8)
    inst = cluster_instances(pts, off, lab, radius_m=0.1, min_points=10, adjacency_m=0.08)
    assert len(np.unique(inst)) == 2 and len(np.unique(inst[:100])) == 1 and inst[0] != inst[100]
    # without offsets the touching boxes are one region
    one = cluster_instances(pts, np.zeros_like(pts), lab, radius_m=0.1, min_points=10, adjacency_m=0.08)
    assert len(np.unique(one)) == 1
    with pytest.raises(InputError):
        cluster_instances(pts, off, lab, adjacency_m=0.0)


def test_clean_islands_gives_small_islands_their_neighbours_class():
    # an 8 x 8 floor of class 5 with a 2-voxel speck of class 3, a 12-voxel patch of class 9,
    # an unlabelled voxel, and a lone voxel of class 7 far away (no neighbour to take from)
    cells = np.stack(np.meshgrid(np.arange(8), np.arange(8), [0], indexing="ij"), -1).reshape(-1, 3)
    coords = np.concatenate((cells, [[20, 20, 20]])).astype(np.int32)
    labels = np.full(len(coords), 5, np.uint8)
    xy = coords[:, :2]
    speck = (xy[:, 0] == 2) & np.isin(xy[:, 1], (2, 3))
    patch = (xy[:, 0] >= 5) & (xy[:, 1] >= 4) & (coords[:, 2] == 0)  # 3 x 4 = 12 voxels
    labels[speck], labels[patch], labels[-1] = 3, 9, 7
    labels[0] = 0
    out = clean_islands(coords, labels, 10)
    assert out.dtype == labels.dtype and out is not labels
    assert (out[speck] == 5).all()  # speck -> the floor around it
    assert (out[patch] == 9).all()  # 12 >= 10 voxels: kept
    assert out[-1] == 7 and out[0] == 0  # no neighbour to vote: kept; unlabelled stays 0
    np.testing.assert_array_equal(clean_islands(coords, labels, 0), labels)
    assert (clean_islands(coords, labels, 13)[patch] == 5).all()
    with pytest.raises(InputError, match="min_voxels"):
        clean_islands(coords, labels, -1)
    with pytest.raises(InputError, match="coords"):
        clean_islands(coords[:, :2], labels, 10)
    with pytest.raises(InputError, match="labels"):
        clean_islands(coords, labels[:-1], 10)


def test_ternary_encoding_marks_occupied_free_and_unknown_voxels():
    a = {
        "coords": np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]], np.int32),
        "tsdf": np.array([-0.5, 0.0, 0.7, 0.0, -0.2], np.float32),
        "weight": np.array([3, 2, 5, 0, 0], np.float32),
        "observed_free": np.array([False, True, False, True, False]),
    }
    t = encode_voxels(a, ("ternary",))
    # occupied (seen, tsdf <= 0) even inside a free cell; free (seen in front, or an unseen
    # voxel in a free cell); unknown (unseen, no free-space evidence)
    np.testing.assert_array_equal(t, [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(InputError, match="observed_free"):
        encode_voxels({k: v for k, v in a.items() if k != "observed_free"}, ("ternary",))


def test_observed_free_looks_voxels_up_in_the_coarse_free_cells():
    coords = np.array([[0, 0, 0], [1, 1, 1], [2, 0, 0], [-1, 0, 0], [5, 5, 5]], np.int32)
    # 0.05 m voxels, 0.1 m free cells: voxels 0, 1 -> cell 0, voxel 2 -> cell 1, voxel -1 -> cell -1
    free = np.array([[0, 0, 0], [-1, 0, 0]], np.int32)
    np.testing.assert_array_equal(observed_free(coords, 0.05, free, 0.1), [True, True, False, True, False])
    assert observed_free(coords, 0.05, np.zeros((0, 3), np.int32), 0.1).sum() == 0


def test_voxel_arrays_of_a_map_carry_its_free_space():
    from real3d.mapping import SemanticMap
    from real3d.models.seg3d import voxel_arrays
    from real3d.testing.toyscene import toy_sequence

    toy = toy_sequence(n_frames=3, size=(60, 80))
    m = SemanticMap(voxel_size_m=0.05, truncation_m=0.15, pixel_stride=2)
    for f in toy.frames:
        m.integrate(f.replace(instances=None))
    a = voxel_arrays(m)
    assert a["observed_free"].dtype == bool and a["observed_free"].shape == (len(m),)
    assert a["observed_free"].any()
    t = encode_voxels(a, ("ternary",))
    np.testing.assert_array_equal(t.sum(axis=1), 1)


def test_widen_encoding_adds_inputs_that_start_at_zero():
    torch.manual_seed(0)
    net = Seg3DNet(PRESETS3D["seg3d-tiny"]).eval()
    with torch.no_grad():  # a non-trivial head, so the outputs depend on the weights
        net.backbone.head.weight.normal_()
    wide = widen_encoding(net, ("geometry", "ternary", "color", "evidence"))
    assert wide.config.in_channels == net.config.in_channels + ENCODINGS["ternary"]
    a = _arrays()
    np.testing.assert_allclose(wide.predict(a).probs, net.predict(a).probs, atol=1e-6)
    with pytest.raises(ConfigError, match="lacks"):
        widen_encoding(net, ("geometry", "ternary"))
