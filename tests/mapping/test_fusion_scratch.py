"""What ``SemanticMap.integrate`` keeps between frames to allocate nothing per frame: its
work arrays (``_FrameScratch``), whose contents must never reach the next frame's map,
and the compiled re-placement of a growing voxel hash, which must lay the table out as
the vectorised rounds it replaces did (the rows new voxels get depend on that layout)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from real3d.mapping import SemanticMap
from real3d.mapping import hashing
from real3d.mapping.hashing import VoxelHash

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("make_fusion_reference", DATA / "make_fusion_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


@pytest.fixture(scope="module")
def frames():
    with np.load(DATA / "fusion_reference.npz") as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("frames/")}


def _same_maps(a: SemanticMap, b: SemanticMap) -> None:
    x, y = ref.map_arrays(a), ref.map_arrays(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def _poison(m: SemanticMap) -> None:
    """Fill every work array of ``m`` with values no frame computes."""
    for a in vars(m._scratch).values():
        if isinstance(a, np.ndarray):
            a[...] = True if a.dtype == np.bool_ else (-7 if a.dtype.kind == "i" else np.nan)


def test_work_arrays_left_from_an_earlier_frame_do_not_reach_the_map(frames):
    fs = ref.make_frames(frames, with_truth=True)
    probs = [ref.class_probs(frames["labels"][i], i) for i in range(len(fs))]
    clean, poisoned = SemanticMap(pixel_stride=2), SemanticMap(pixel_stride=2)
    for i, f in enumerate(fs):
        clean.integrate(f, probs[i])
        if poisoned._scratch is not None:
            _poison(poisoned)
        poisoned.integrate(f, probs[i])
    assert len(clean) > 100 and (clean.voxel_arrays()["hits"] > 0).any()
    _same_maps(clean, poisoned)


def test_work_arrays_are_kept_between_frames_and_grow_for_a_wider_truncation(frames):
    fs = ref.make_frames(frames, with_truth=True)
    m = SemanticMap(pixel_stride=2)
    m.integrate(fs[0])
    kept = m._scratch
    m.integrate(fs[1])
    assert m._scratch is kept
    m.integrate(fs[2], truncation_m=2 * m.config.truncation_m)  # more samples per ray
    assert m._scratch is not kept and m._scratch.samples > kept.samples
    wide = m._scratch
    m.integrate(fs[0])  # fewer samples fit the larger arrays
    assert m._scratch is wide
    fresh = SemanticMap(pixel_stride=2)
    fresh.integrate(fs[0])
    fresh.integrate(fs[1])
    fresh.integrate(fs[2], truncation_m=2 * m.config.truncation_m)
    fresh._scratch = None  # as if new: the last frame allocates its arrays again
    fresh.integrate(fs[0])
    _same_maps(m, fresh)


def _place_by_rounds(tk: np.ndarray, tr: np.ndarray, bits: int, keys: np.ndarray, rows: np.ndarray) -> None:
    """The vectorised re-placement ``VoxelHash`` used before it was compiled."""
    mask = np.int64((1 << bits) - 1)
    pending = np.arange(keys.shape[0])
    slot = ((keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).astype(np.int64)
    while pending.size:
        s = slot[pending]
        free = tk[s] == -1
        sf, pf = s[free], pending[free]
        tk[sf] = keys[pf]
        won = tk[sf] == keys[pf]
        tr[sf[won]] = rows[pf[won]]
        placed = np.zeros(pending.shape[0], dtype=bool)
        placed[np.flatnonzero(free)[won]] = True
        pending = pending[~placed]
        slot[pending] = (s[~placed] + 1) & mask


@pytest.mark.parametrize("n, bits", [(0, 4), (7, 4), (500, 10), (3000, 12)])
def test_compiled_placement_lays_the_table_out_as_the_vectorised_rounds(n, bits):
    rng = np.random.default_rng(n)
    keys = rng.choice(1 << 40, size=n, replace=False).astype(np.int64)
    rows = rng.permutation(n).astype(np.int64)
    want_k, want_r = np.full(1 << bits, -1, np.int64), np.full(1 << bits, -1, np.int64)
    _place_by_rounds(want_k, want_r, bits, keys, rows)
    got_k, got_r = np.full(1 << bits, -1, np.int64), np.full(1 << bits, -1, np.int64)
    hashing._place_kernel(got_k, got_r, bits, keys, rows)
    np.testing.assert_array_equal(got_k, want_k)
    np.testing.assert_array_equal(got_r, want_r)
    if n >= 500:  # load 0.5-0.73: keys collided and probed on
        assert (got_k >= 0).sum() == n


def test_a_hash_grown_batch_by_batch_finds_every_key_at_its_row():
    rng = np.random.default_rng(1)
    keys = rng.choice(1 << 40, size=5000, replace=False).astype(np.int64)
    h = VoxelHash(16)
    for b in np.split(keys, [900, 2400]):
        rows = h.insert(b)
        np.testing.assert_array_equal(h.lookup(b), rows)
    assert h.table_size >= 2 * len(h) and len(h) == 5000
    np.testing.assert_array_equal(np.sort(h.keys), np.sort(keys))
    np.testing.assert_array_equal(h.lookup(h.keys), np.arange(5000))


def test_the_placement_kernel_is_compiled_once_without_the_gil():
    k = hashing._place_kernel
    assert k.targetoptions["nogil"] is True and not k.targetoptions.get("parallel")
    assert len(k.signatures) == 1
    VoxelHash.from_keys(np.arange(100, dtype=np.int64) * 7919)
    assert len(k.signatures) == 1
