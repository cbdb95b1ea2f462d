"""The compiled fusion passes (``real3d.mapping.fusion_kernels``) against the numpy depth
tests and distinct-cell search they replace, their contract (explicit signatures, GIL
released, no parallel threads), and maps that take the kernels' rarer paths: the sorting
fallback for a frame too large for the scratch grid, frames without valid depth, class
probabilities without a void channel."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from real3d.core import Intrinsics
from real3d.core.segmentation import SegmentationResult
from real3d.mapping import SemanticMap
from real3d.mapping import fusion_kernels as fk
from real3d.mapping.depth_tests import (
    PaddedDepth,
    agrees_with_a_neighbour,
    between_surfaces,
    camera_terms,
    depth_discontinuity,
    incidence_cos,
    neighbours_distinct,
    on_depth_edge,
)
from real3d.mapping import hashing
from real3d.mapping.hashing import DistinctCells, keys_from_cells

DATA = Path(__file__).with_name("data")
_spec = importlib.util.spec_from_file_location("make_fusion_reference", DATA / "make_fusion_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

KERNELS = [
    fk.fine_rays, fk.ray_cells, fk.distinct_cells, fk.project_voxels, fk.fuse_voxels, fk.free_cells,
    hashing._lookup_kernel, hashing._claim_kernel,
]  # fmt: skip


@pytest.fixture(scope="module")
def frames():
    with np.load(DATA / "fusion_reference.npz") as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("frames/")}


def _rough_depth(rng, h=40, w=56):
    """Planes at a few depths with holes, jumps and single flying pixels."""
    d = np.full((h, w), 2.0, np.float32) + np.linspace(0, 1, w, dtype=np.float32)[None, :]
    d[10:25, 15:35] = 1.2
    d[rng.random((h, w)) < 0.05] = 0.0
    fly = rng.random((h, w)) < 0.03
    d[fly] = rng.uniform(1.0, 3.5, fly.sum()).astype(np.float32)
    return d


@pytest.mark.parametrize("edge_step", [1, 2, 3])
def test_fine_rays_match_the_numpy_depth_tests(edge_step):
    rng = np.random.default_rng(edge_step)
    depth = _rough_depth(rng)
    h, w = depth.shape
    K = Intrinsics(fx=50.0, fy=52.0, cx=27.5, cy=19.5, width=w, height=h)
    vv, uu = np.mgrid[0:h, 0:w]
    v, u = vv.ravel(), uu.ravel()  # every pixel, borders included
    terms, sides = camera_terms(K, v, u, h, w, 2)
    distinct = neighbours_distinct(v, u, h, w)
    cam_dir = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones(v.shape[0])], axis=1)
    g, n_side = v.shape[0], 3
    n_off = 2 * n_side + 1
    out = [np.empty(g, np.int64), np.empty(g), np.empty((g, 3)), np.empty(g), np.empty(g, bool), np.empty((g, 3))]
    s = g * n_off
    dirs, lohi, vcell = np.empty((g, 3)), np.empty((2, 3)), np.empty((s, 3))
    last, ray, centre, keys = np.empty(s, np.int64), np.empty(s, np.int64), np.empty(g, np.int64), np.empty(s, np.int64)
    counts, grid = np.zeros(2, np.int64), np.empty(1 << 20, np.int32)
    R, o = np.eye(3), np.zeros(3)

    def run(grid):
        return fk.fine_rays(
            depth, v, u, cam_dir, np.ascontiguousarray(terms), sides, np.ascontiguousarray(distinct), R, o,
            np.float32(0.1), np.float32(6.0), 0.05, 1.0 / 0.05, n_side, edge_step, np.float32(0.025), np.float32(0.05),
            *out, dirs, lohi, grid, float(1 << 23), np.empty(s, np.int64), last, ray, centre, keys, vcell, counts,
        )  # fmt: skip

    assert run(grid) == 0
    n, m = counts
    ok, d, surf, cos, agreed, hit_off = (a[:n] for a in out)
    want_ok = np.flatnonzero((depth.ravel() > 0.1) & (depth.ravel() < 6.0))
    np.testing.assert_array_equal(ok, want_ok)
    pd = PaddedDepth(depth, 3)
    idx = pd.index(v[ok], u[ok])
    d32 = pd.at(idx)
    np.testing.assert_array_equal(d, d32.astype(np.float64))
    want_cos = incidence_cos(d, pd.around(idx, 2), terms[:, ok], sides[ok], step=2)
    np.testing.assert_array_equal(cos, want_cos)
    want_agreed = agrees_with_a_neighbour(d32, pd.around(idx, 1), distinct[:, ok], 0.025)
    want_agreed &= ~between_surfaces(d32, pd.around(idx, edge_step), 0.05)
    np.testing.assert_array_equal(agreed, want_agreed)
    assert 0 < agreed.sum() < n and (cos < 1).any()  # the tests decide something here
    # The samples' cells as the numpy fusion formed them, their bounds and distinct cells.
    offs = np.arange(-n_side, n_side + 1, dtype=np.float64) * 0.05
    c = np.stack([np.floor((offs[None, :] * dirs[:n, k, None] + surf[:, k, None]) * (1.0 / 0.05)) for k in range(3)])
    c = c.reshape(3, -1)
    cells = np.empty((3, n * n_off))
    fk.ray_cells(dirs, np.ascontiguousarray(surf), n, n_side, 0.05, 1.0 / 0.05, cells)
    np.testing.assert_array_equal(cells, c)
    np.testing.assert_array_equal(lohi, np.stack([c.min(axis=1), c.max(axis=1)]))
    np.testing.assert_array_equal(hit_off, surf * (1.0 / 0.05) - c[:, n_side::n_off].T - 0.5)
    at = np.arange(n) * n_off + n_side
    want_last, want_centre = DistinctCells._by_sorting(keys_from_cells(c.T), at)
    assert m == want_last.shape[0]
    np.testing.assert_array_equal(last[:m], want_last)
    np.testing.assert_array_equal(ray[:m], want_last // n_off)
    np.testing.assert_array_equal(vcell[:m], c[:, want_last].T)
    np.testing.assert_array_equal(centre[:n], want_centre)
    np.testing.assert_array_equal(keys[:m], keys_from_cells(c[:, want_last].T))
    # A scratch grid too small for the box: the caller is told to grow it.
    assert run(grid[:10]) == -1


def test_projection_tests_match_the_numpy_depth_tests():
    """``project_voxels``' discontinuity and depth-edge tests against ``depth_discontinuity``
    and ``on_depth_edge``: voxel centres placed to project onto every pixel."""
    rng = np.random.default_rng(7)
    depth = _rough_depth(rng)
    h, w = depth.shape
    K = Intrinsics(fx=50.0, fy=50.0, cx=28.0, cy=20.0, width=w, height=h)
    vs = 0.01
    vv, uu = np.mgrid[0:h, 0:w]
    v, u = vv.ravel(), uu.ravel()
    z = 0.5  # centres at 0.5 m: every valid pixel lies behind them, sdf > 0
    cells = np.stack(
        [((u - K.cx) / K.fx * z) / vs - 0.5, ((v - K.cy) / K.fy * z) / vs - 0.5, np.full(u.size, z / vs - 0.5)]
    )
    m = cells.shape[1]
    out = [np.empty(m, np.int64), np.empty(m), np.empty(m, np.int64), np.empty(m, bool), np.empty(m, bool)]
    no_probs = (np.empty((0, 0), np.float32), np.float32(1.0), np.float32(0.0))
    lab = (np.empty(m, np.int64), np.empty(m, np.int64), np.empty((0, 0), np.float32), np.empty(m, bool))
    counts = np.empty(2, np.int64)
    n = fk.project_voxels(
        np.ascontiguousarray(cells.T), np.zeros(m, np.int64), m, np.ones(1), vs, np.zeros(3), np.eye(3),
        K.fx, K.fy, K.cx, K.cy, depth, np.float32(0.05), 0.1, 6.0, 10.0, 10.0, True, 2, np.float32(0.05), *out,
        *no_probs, *lab, counts,
    )  # fmt: skip
    vox, _, pix, near, labelled = (a[:n] for a in out)
    np.testing.assert_array_equal(pix, v[vox] * w + u[vox])
    pd = PaddedDepth(depth, 2)
    idx = pd.index(v, u)
    dpx = pd.at(idx).astype(np.float64)
    dpx[depth_discontinuity(pd.at(idx), pd.around(idx, 1), 0.05)] = 0.0
    np.testing.assert_array_equal(vox, np.flatnonzero((dpx > 0.1) & (dpx < 6.0)))
    assert near.all()
    np.testing.assert_array_equal(labelled, ~on_depth_edge(pd.at(idx[vox]), pd.around(idx[vox], 2), 0.05))
    assert 0 < labelled.sum() < n
    # The labelled ones in order: their pixels and positions among the updated voxels.
    n_lab = int(counts[0])
    np.testing.assert_array_equal(lab[0][:n_lab], pix[labelled])
    np.testing.assert_array_equal(lab[1][:n_lab], np.flatnonzero(labelled))


@pytest.mark.parametrize("extent", [8, 300])
def test_distinct_cells_match_the_sorting_search(extent):
    rng = np.random.default_rng(extent)
    s = 5000
    cells = np.vstack([rng.integers(-extent, extent, size=(2, s)), rng.integers(-3, 3, size=(1, s))]).astype(np.float64)
    at = rng.integers(0, s, 300)
    want_last, want_at = DistinctCells._by_sorting(keys_from_cells(cells.T), at)
    lo, hi = cells.min(axis=1), cells.max(axis=1)
    ext = hi - lo + 1
    grid = np.empty(int(np.prod(ext)), np.int32)
    last, at_idx, keys = np.empty(s, np.int64), np.empty(300, np.int64), np.empty(s, np.int64)
    m = fk.distinct_cells(cells, s, lo, ext[1], ext[2], grid, np.empty(s, np.int64), at, last, at_idx, keys)
    np.testing.assert_array_equal(last[:m], want_last)
    np.testing.assert_array_equal(at_idx, want_at)
    np.testing.assert_array_equal(keys[:m], keys_from_cells(cells[:, want_last].T))


def test_kernels_are_compiled_once_without_the_gil_and_single_threaded(frames):
    for k in KERNELS:
        assert k.targetoptions["nogil"] is True, k.py_func.__name__
        assert not k.targetoptions.get("parallel"), k.py_func.__name__
        assert len(k.signatures) == 1, k.py_func.__name__
    ref.fuse_case(frames, "pipeline")
    ref.fuse_case(frames, "wide_band_no_edges")
    for k in KERNELS:  # fusion's calls fit the declared types: nothing compiled on the way
        assert len(k.signatures) == 1, k.py_func.__name__


def _same_maps(a: SemanticMap, b: SemanticMap) -> None:
    x, y = ref.map_arrays(a), ref.map_arrays(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_the_sorting_fallback_for_a_large_frame_gives_the_same_map(frames):
    fs = ref.make_frames(frames, with_truth=True)
    grid, sorting = SemanticMap(pixel_stride=2), SemanticMap(pixel_stride=2)
    sorting._distinct.max_grid_cells = 10  # every batch's box is larger: the sorting path
    for f in fs:
        grid.integrate(f)
        sorting.integrate(f)
    assert len(grid) > 100 and sorting._distinct._grid.shape[0] == 0
    _same_maps(grid, sorting)


def test_a_frame_without_valid_depth_changes_only_the_camera_record(frames):
    f = ref.make_frames(frames, with_truth=True)[0]
    m = SemanticMap()
    m.integrate(f.replace(depth_m=np.zeros_like(f.depth_m)))
    assert len(m) == 0 and m.num_free_cells == 0 and m.frames_integrated == 1
    m.integrate(f.replace(depth_m=np.full_like(f.depth_m, 9.0)))  # beyond max_depth_m
    assert len(m) == 0 and m.frames_integrated == 2


def test_probabilities_without_void_fuse_as_with_a_zero_void_channel(frames):
    fs = ref.make_frames(frames, with_truth=False)
    with_void, without = SemanticMap(pixel_stride=3), SemanticMap(pixel_stride=3)
    for i, f in enumerate(fs):
        p = ref.class_probs(frames["labels"][i], i)
        assert (p[0] == 0).all()
        with_void.integrate(f, SegmentationResult(labels=p.argmax(axis=0).astype(np.uint8), probs=p))
        without.integrate(f, np.ascontiguousarray(p[1:]))
    assert (with_void.semantic_points().labels > 0).any()
    _same_maps(with_void, without)


def test_void_that_wins_keeps_a_pixel_out_of_the_class_evidence(frames):
    f = ref.make_frames(frames, with_truth=False)[0]
    p = ref.class_probs(frames["labels"][0], 0)
    p_void = p.copy()
    p_void[0] = 1.0  # void beats every class everywhere
    m = SemanticMap(pixel_stride=2)
    m.integrate(f, p_void)
    a = m.voxel_arrays()
    assert len(m) > 100 and (a["class_weight"] == 0).all() and (a["log_evidence"] == 0).all()
    assert (a["color_weight"] > 0).any()


def test_maps_fused_in_two_threads_at_once_equal_those_fused_one_after_the_other(frames):
    """The kernels release the GIL and keep no state outside the map they are given."""
    import threading

    fs = ref.make_frames(frames, with_truth=False)
    probs = [ref.class_probs(frames["labels"][i], i) for i in range(len(fs))]

    def fuse(m: SemanticMap, order: list[int]) -> None:
        for _ in range(3):
            for i in order:
                m.integrate(fs[i], probs[i])

    orders = [list(range(len(fs))), list(reversed(range(len(fs))))]
    alone = [SemanticMap(pixel_stride=2) for _ in orders]
    for m, order in zip(alone, orders):
        fuse(m, order)
    together = [SemanticMap(pixel_stride=2) for _ in orders]
    threads = [threading.Thread(target=fuse, args=(m, order)) for m, order in zip(together, orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        assert len(a) > 100
        _same_maps(a, b)
    assert len(alone[0]) != len(alone[1]) or not np.array_equal(alone[0]._hash.keys, alone[1]._hash.keys)
