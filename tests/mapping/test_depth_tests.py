"""The depth tests that read neighbours through ``PaddedDepth`` against straightforward
per-pixel implementations with clamped indices (the fusion's earlier code), on random
depth images with holes and jumps, at every pixel (borders included) and steps 1-3."""

import numpy as np
import pytest

from real3d.core import Intrinsics
from real3d.mapping.depth_tests import (
    PaddedDepth,
    agrees_with_a_neighbour_px,
    between_surfaces_px,
    depth_discontinuity_px,
    incidence_cos_px,
    on_depth_edge_px,
)


def _clamped(depth, v, u, step):
    h, w = depth.shape
    vu, vd = np.maximum(v - step, 0), np.minimum(v + step, h - 1)
    ul, ur = np.maximum(u - step, 0), np.minimum(u + step, w - 1)
    return (vu, u), (vd, u), (v, ul), (v, ur)


def ref_incidence_cos(depth, K, v, u, d, min_cos=0.25, max_jump=0.05, step=2):
    (vu, _), (vd, _), (_, ul), (_, ur) = _clamped(depth, v, u, step)
    dl, dr, du, dd = depth[v, ul], depth[v, ur], depth[vu, u], depth[vd, u]
    ok = (ur > ul) & (vd > vu)
    for n in (dl, dr, du, dd):
        ok &= (n > 0) & (np.abs(n - d) < step * max_jump * d)

    def point(uu, vv, dd_):
        return np.stack([(uu - K.cx) / K.fx * dd_, (vv - K.cy) / K.fy * dd_, dd_], axis=1)

    n = np.cross(point(ur, v, dr) - point(ul, v, dl), point(u, vd, dd) - point(u, vu, du))
    ray = point(u, v, np.ones_like(d))
    num = np.abs((n * ray).sum(axis=1))
    den = np.linalg.norm(n, axis=1) * np.linalg.norm(ray, axis=1)
    cos = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return np.where(ok, np.maximum(cos, min_cos), 1.0)


def ref_on_depth_edge(depth, v, u, step, jump):
    d = depth[v, u]
    inv = 1.0 / np.maximum(d, 1e-6)
    (a, b, c, e) = (depth[p] for p in _clamped(depth, v, u, step))
    edge = np.zeros(v.shape[0], bool)
    for x, y in ((a, b), (c, e)):
        second = 1.0 / np.maximum(x, 1e-6) + 1.0 / np.maximum(y, 1e-6) - 2.0 * inv
        edge |= (x > 0) & (y > 0) & (np.abs(second) > jump * inv)
    return edge


def ref_between_surfaces(depth, v, u, step, rel):
    d = depth[v, u]
    (a, b, c, e) = (depth[p] for p in _clamped(depth, v, u, step))
    out = np.zeros(v.shape[0], bool)
    for x, y in ((a, b), (c, e)):
        lo, hi = np.minimum(x, y), np.maximum(x, y)
        out |= (lo > 0) & (d - lo > rel * d) & (hi - d > rel * d)
    return out


def ref_depth_discontinuity_image(depth, rel):
    d = depth
    out = np.zeros(d.shape, bool)
    dv = np.abs(d[1:] - d[:-1])
    both = (d[1:] > 0) & (d[:-1] > 0)
    out[1:] |= both & (dv > rel * d[1:])
    out[:-1] |= both & (dv > rel * d[:-1])
    du = np.abs(d[:, 1:] - d[:, :-1])
    both = (d[:, 1:] > 0) & (d[:, :-1] > 0)
    out[:, 1:] |= both & (du > rel * d[:, 1:])
    out[:, :-1] |= both & (du > rel * d[:, :-1])
    return out


def ref_agrees(depth, v, u, tol):
    d = depth[v, u]
    out = np.zeros(v.shape[0], bool)
    for nv, nu in _clamped(depth, v, u, 1):
        out |= ~((nv == v) & (nu == u)) & (np.abs(depth[nv, nu] - d) <= tol * d)
    return out


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(3)
    h, w = 23, 31
    yy, xx = np.mgrid[0:h, 0:w]
    depth = (1.5 + 0.03 * xx + 0.02 * yy).astype(np.float32)  # a tilted plane
    depth[5:12, 8:20] = 0.9  # a box in front: jumps
    depth += rng.normal(0, 0.004, depth.shape).astype(np.float32)
    plane = depth.copy()
    depth[rng.random(depth.shape) < 0.08] = 0.0  # holes
    depth[6:11, 4:7] = plane[6:11, 4:7]
    depth[6:11, 8:11] = 0.9
    depth[6:11, 7] = 1.4  # flying pixels between the box's edge and the plane behind
    depth[0, :] = np.where(rng.random(w) < 0.5, depth[0, :], 0.7)
    v, u = (a.ravel() for a in np.mgrid[0:h, 0:w])
    return depth, v, u


@pytest.mark.parametrize("step", [1, 2, 3])
def test_neighbour_tests_match_clamped_per_pixel_reads(image, step):
    depth, v, u = image
    K = Intrinsics(fx=30.0, fy=31.0, cx=15.2, cy=11.1, width=31, height=23)
    d = depth[v, u].astype(np.float64)
    np.testing.assert_array_equal(
        incidence_cos_px(depth, K, v, u, d, step=step), ref_incidence_cos(depth, K, v, u, d, step=step)
    )
    np.testing.assert_array_equal(on_depth_edge_px(depth, v, u, step, 0.05), ref_on_depth_edge(depth, v, u, step, 0.05))
    got = between_surfaces_px(depth, v, u, step, 0.05)
    np.testing.assert_array_equal(got, ref_between_surfaces(depth, v, u, step, 0.05))
    assert got.any() and on_depth_edge_px(depth, v, u, step, 0.05).any()


def test_discontinuity_and_agreement_match_the_image_versions(image):
    depth, v, u = image
    disc = depth_discontinuity_px(depth, v, u, 0.05)
    np.testing.assert_array_equal(disc, ref_depth_discontinuity_image(depth, 0.05)[v, u])
    assert disc.any() and not disc.all()
    agree = agrees_with_a_neighbour_px(depth, v, u, 0.025)
    np.testing.assert_array_equal(agree, ref_agrees(depth, v, u, 0.025))
    assert agree.any() and not agree.all()


def test_padded_depth_replicates_the_border():
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    pd = PaddedDepth(depth, 2)
    v, u = np.array([0, 2, 1]), np.array([0, 3, 1])
    around = pd.around(pd.index(v, u), 2)  # up, down, left, right, clamped
    np.testing.assert_array_equal(around[:, 0], [0, 8, 0, 2])
    np.testing.assert_array_equal(around[:, 1], [3, 11, 9, 11])
    np.testing.assert_array_equal(around[:, 2], [1, 9, 4, 7])
    np.testing.assert_array_equal(pd.at(pd.index(v, u)), [0, 11, 5])
    with pytest.raises(ValueError):
        pd.offsets(3)
