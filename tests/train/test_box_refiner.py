import numpy as np
import pytest

from real3d.core import NYU13, InputError
from real3d.scene.boxes import Box3D
from real3d.scene.refine import N_FEATURES, REFINE_CLASSES, ClusterView, apply_deltas
from real3d.train.box_refiner import estimate_detection, train_box_refiner

CHAIR = NYU13.index("chair")


def _samples(n, rng):
    """Chairs seen at half their depth (x): the whole chair is twice as deep, its centre
    half a box size behind the seen face (-e0)."""
    feats = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    feats[:, : len(REFINE_CLASSES)] = 0
    feats[:, REFINE_CLASSES.index("chair")] = 1
    size = np.stack([rng.uniform(0.2, 0.3, n), rng.uniform(0.4, 0.5, n), rng.uniform(0.8, 0.9, n)], 1)
    k0 = len(REFINE_CLASSES)
    feats[:, k0 : k0 + 3] = np.log(size)
    deltas = np.zeros((n, 6), np.float32)
    deltas[:, 0] = -0.5 * size[:, 0] / np.maximum(size[:, 0], 0.1)
    deltas[:, 3] = np.log(2)
    exists = rng.random(n) < 0.7
    feats[:, -1] = np.where(exists, 2.0, -2.0)  # a feature that tells real objects apart
    box = np.concatenate([rng.uniform(-2, 2, (n, 3)), size, rng.uniform(-1, 1, (n, 1))], 1)
    normal = np.stack([np.cos(box[:, 6]), np.sin(box[:, 6]), np.zeros(n)], 1) * 0.9
    views = [ClusterView(CHAIR, Box3D(b[:3], b[3:6], float(b[6])), nm, 50, 5) for b, nm in zip(box, normal)]
    gt = np.array(
        [[*apply_deltas(v, d).center, *apply_deltas(v, d).size, v.box.yaw_rad] for v, d in zip(views, deltas)]
    )
    return {
        "features": feats,
        "deltas": deltas,
        "has_gt": np.ones(n, bool),
        "exists": exists,
        "box": box,
        "normal": normal,
        "gt_box": gt,
        "label": np.full(n, CHAIR),
        "n_voxels": np.full(n, 50),
        "n_visible": np.full(n, int(exists.sum())),
        "snapshot": np.zeros(n, np.int64),
    }


def test_training_learns_a_class_size_prior_and_existence():
    rng = np.random.default_rng(0)
    tr, va = _samples(200, rng), _samples(60, rng)
    before = estimate_detection(va)
    ref = train_box_refiner(tr, hidden=16, epochs=300, seed=0)
    after = estimate_detection(va, ref, 0.5)
    assert before["mean_iou"] < 0.55  # half the chair: IoU 0.5
    assert after["mean_iou"] > 0.85
    assert after["precision"] > 0.95 > before["precision"]
    d, _ = ref.predict(va["features"])
    assert abs(float(np.median(d[:, 3])) - np.log(2)) < 0.15
    with pytest.raises(InputError):
        train_box_refiner({**tr, "features": tr["features"][:, :5]})


def test_samples_fingerprint_covers_engine_fusion_and_clustering(monkeypatch):
    import real3d.synth
    import real3d.train.box_refiner as fpmod

    fp = fpmod.samples_fingerprint()
    assert len(fp) == 12 and int(fp, 16) >= 0 and fp == fpmod.samples_fingerprint()
    # Another engine version gives another key.
    monkeypatch.setattr(real3d.synth, "engine_fingerprint", lambda: "0" * 12)
    assert fpmod.samples_fingerprint() != fp


def test_samples_fingerprint_hashes_fusion_clustering_and_sampling_code(monkeypatch):
    import real3d.train.box_refiner as fpmod

    seen = []
    monkeypatch.setattr(fpmod, "update_with_sources", lambda h, files, label: seen.extend(files))
    fpmod.samples_fingerprint()
    names = {f"{f.parent.name}/{f.name}" for f in seen}
    assert {"mapping/semantic_map.py", "scene/graph.py", "scene/refine.py", "train/box_refiner.py"} <= names
