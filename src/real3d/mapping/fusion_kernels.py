"""Compiled passes of ``SemanticMap.integrate``: the chain of per-ray and per-voxel work of
a frame as a few loops instead of dozens of numpy passes with temporaries.

* ``fine_rays``: the depth tests of each kept pixel, its world ray, the cells of its
  samples within the truncation band, its endpoint agreement and incidence angle.
* ``distinct_cells``: the distinct cells of a batch of samples (each at its last
  occurrence) and their hash keys, through the owner's dense scratch grid.
* ``project_voxels``: the projective signed distance of each distinct voxel, which
  voxels take colour and classes, and the class probabilities (in any layout) of the
  pixels that the labelled voxels read.
* ``fuse_voxels``: the map update (endpoint hits, TSDF, colour, class evidence).
* ``free_cells``: the sparser rays of free-space carving and the distinct coarse cells
  they cross.

The passes whose reads land all over memory (the class probabilities, the map's arrays,
the hash table) ask the cache for the element a few iterations ahead (``_prefetch``).

Every kernel computes what the numpy formulation in ``real3d.mapping.depth_tests`` and the
history of ``semantic_map.py`` computed, operation for operation in the same precision
(float32 where the depth image's values meet Python scalars, as numpy 2 does), so the maps
are the same. The camera rotations are the exception that proves the rule: numpy's matrix
product goes through BLAS, whose x86-64 kernels sum the three products with fused
multiply-adds (``x2 * r2 + (x1 * r1 + x0 * r0)``, one rounding each), and ``_rot`` does
exactly that, so the ray cells and voxel projections stay bit-identical on such hosts.

All kernels are compiled with explicit signatures when this module is first imported
(``cache=True``: later processes load them from numba's cache), release the GIL
(``nogil``) so that the pipeline's segmentation and refresh threads run while a frame
fuses, and are single-threaded: the pipeline decides how the cores are used. Outputs go
into arrays the caller allocates; a kernel returns how many entries it wrote.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic

__all__ = [
    "distinct_cells",
    "free_cells",
    "fuse_voxels",
    "fine_rays",
    "project_voxels",
    "ray_cells",
]

_OFFSET = 1 << 16  # real3d.mapping.hashing: 17 bits per axis, coordinates + 2**16 >= 0

f4, f8, i8, b1 = types.float32, types.float64, types.int64, types.boolean
f4_1, f8_1, i8_1, b1_1, i4_1 = f4[::1], f8[::1], i8[::1], b1[::1], types.int32[::1]
f4_2, f8_2, b1_2, u1_2 = f4[:, ::1], f8[:, ::1], b1[:, ::1], types.uint8[:, ::1]
# Inputs the kernels only read (a frame's depth and colour, class probabilities): typed
# read-only, which takes writeable arrays too, so a reader's read-only frame is not copied.
f4_2r = types.Array(f4, 2, "C", readonly=True)
u1_2r = types.Array(types.uint8, 2, "C", readonly=True)
# Class probabilities (C', H * W) in any layout: (C, H, W) planes, or a view of
# channels-last memory (a pixel's values side by side: one or two cache lines, not C).
f4_2ar = types.Array(f4, 2, "A", readonly=True)
_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (llvm.fma.f64)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64")
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _prefetch(typingctx, arr, index):
    """Ask the cache for element ``index`` (an integer, or a tuple of one per axis) of
    ``arr`` ahead of its read (llvm.prefetch; no effect on results). Lowered in place:
    unlike a slice or a call of a compiled function, it takes no reference to the array,
    whose atomic count would serialise the loop."""
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        shape = cgutils.unpack_tuple(builder, ary.shape)
        strides = cgutils.unpack_tuple(builder, ary.strides)
        idx = cgutils.unpack_tuple(builder, args[1]) if isinstance(idxty, types.BaseTuple) else [args[1]]
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, shape, strides, aryty.layout, idx)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read, moderate locality (keep in the outer caches), data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


_AHEAD = 16  # iterations between a prefetch and the read it serves
_LAG = 16  # project_voxels: labelled voxels between a pixel's prefetch and its read


@njit(**_OPTS)
def _rot(x0, x1, x2, r0, r1, r2):
    """x . r as numpy's (N, 3) @ (3, 3) product computes it (see the module docstring)."""
    return _fma(x2, r2, _fma(x1, r1, x0 * r0))


@njit(**_OPTS)
def _clamp(i, n):
    """Index ``i`` clamped to 0..n - 1 (``PaddedDepth``'s border). The kernels index their
    arrays themselves: passing an array to a compiled function takes a reference to it, an
    atomic count update per call that stalls the loop around it."""
    return min(max(i, 0), n - 1)


@njit(**_OPTS)
def _on_depth_edge(d, up, down, left, right, jump):
    """``depth_tests.on_depth_edge`` of one pixel (float32 throughout)."""
    inv = np.float32(1.0) / max(d, np.float32(1e-6))
    lim = jump * inv
    a = (up, left)
    b = (down, right)
    for k in range(2):
        ia = np.float32(1.0) / max(a[k], np.float32(1e-6))
        ib = np.float32(1.0) / max(b[k], np.float32(1e-6))
        second = (ia + ib) - np.float32(2.0) * inv
        if a[k] > 0 and b[k] > 0 and abs(second) > lim:
            return True
    return False


@njit(i8(f8_2, i8, f8_1, f8, f8, i4_1, i8_1, i8_1, i8_1, i8_1, i8_1), **_OPTS)
def distinct_cells(cells, s, lo, ext1, ext2, grid, lin, at, last, at_idx, keys):
    """The distinct cells among the first ``s`` columns of ``cells`` (3, >= s) float64,
    all in the box from ``lo`` with extents (-, ext1, ext2) whose cells ``grid`` covers:
    ``last`` their last occurrences in increasing order, ``keys`` their hash keys
    (``hashing.keys_from_cells``), ``at_idx`` the index into ``last`` of the cell of each
    position in ``at``. ``lin`` (>= s) is scratch. Returns the number of distinct cells
    (``DistinctCells.last_occurrences``' result)."""
    e1, e2 = np.int64(ext1), np.int64(ext2)
    l0, l1, l2 = np.int64(lo[0]), np.int64(lo[1]), np.int64(lo[2])
    for i in range(s):
        x = (np.int64(cells[0, i]) - l0) * e1 + (np.int64(cells[1, i]) - l1)
        lin[i] = x * e2 + (np.int64(cells[2, i]) - l2)
        grid[lin[i]] = i  # the last writer of each cell stays
    m = 0
    for i in range(s):  # without a branch, as in fine_rays
        last[m] = i
        m += 1 if grid[lin[i]] == i else 0
    for j in range(m):
        i = last[j]
        c0 = np.int64(cells[0, i]) + _OFFSET
        c1 = np.int64(cells[1, i]) + _OFFSET
        c2 = np.int64(cells[2, i]) + _OFFSET
        keys[j] = (c0 << 34) | (c1 << 17) | c2
    if at.shape[0]:
        for j in range(m):
            grid[lin[last[j]]] = j
        for a in range(at.shape[0]):
            at_idx[a] = grid[lin[at[a]]]
    return m


@njit(**_OPTS)
def _sample_cell(j, n_side, vs, inv_vs, r, s):
    """Floor cell coordinate of sample ``j`` (-n_side..n_side voxels) along a ray with
    direction component ``r`` through ``s``."""
    return np.floor((np.float64(j - n_side) * vs * r + s) * inv_vs)


@njit(
    i8(
        f4_2r, i8_1, i8_1, f8_2, f8_2, b1_1, b1_2, f8_2, f8_1, f4, f4, f8, f8, i8, i8, f4, f4,
        i8_1, f8_1, f8_2, f8_1, b1_1, f8_2, f8_2, f8_2, i4_1, f8, i8_1, i8_1, i8_1, i8_1, i8_1, f8_2, i8_1,
    ),
    **_OPTS,
)  # fmt: skip
def fine_rays(
    depth, v, u, cam_dir, terms, sides, distinct, R, o, min_d, max_d, vs, inv_vs, n_side, edge_step, agree_tol,
    geom_jump, ok, d_out, surf, cos, agreed, hit_off, dirs, lohi, grid, max_cells, lin, last, ray, centre, keys,
    vcell, counts,
):  # fmt: skip
    """Per kept pixel (depth in (min_d, max_d)) of the ray grid: index into the grid
    ``ok``, depth ``d_out`` (float64), measured point ``surf`` (world), unit direction
    ``dirs`` (world), incidence cosine ``cos`` (``incidence_cos`` at step 2), ``agreed``
    (endpoint agrees with a neighbour and, with ``geom_jump`` > 0, lies between no two
    surfaces), ``hit_off`` (n, 3) the measured point's offset from the centre of its voxel
    in voxel units; ``lohi`` (2, 3) the bounds of the floor cells of the samples at
    -n_side..n_side voxels along the rays (``ray_cells``); ``counts[0]`` = n, the kept rays.

    Then the distinct cells of the samples, found in the scratch ``grid`` over their box
    (``lin`` scratch, one per sample; ``distinct_cells``' result): ``last`` their last
    occurrences, ``ray`` the ray of each, ``vcell`` (M, 3) their cell coordinates, ``keys``
    their hash keys,
    ``counts[1]`` = M and ``centre`` (n,) the index into ``last`` of each ray's measured
    point (sample n_side). Returns 0, or -1 when the samples' box is larger than ``grid``
    but holds at most ``max_cells`` cells (the caller grows the grid and calls again), -2
    when it holds more or lies outside the representable range (the caller finds the
    distinct cells of ``ray_cells`` itself)."""
    h, w = depth.shape
    n_off = 2 * n_side + 1
    lo0 = lo1 = lo2 = np.inf
    hi0 = hi1 = hi2 = -np.inf
    n = 0
    for g in range(v.shape[0]):
        vg, ug = v[g], u[g]
        d32 = depth[vg, ug]
        if not (d32 > min_d and d32 < max_d):
            continue
        ok[n] = g
        d = np.float64(d32)
        d_out[n] = d
        c0, c1, c2 = cam_dir[g, 0], cam_dir[g, 1], cam_dir[g, 2]
        r0 = _rot(c0, c1, c2, R[0, 0], R[0, 1], R[0, 2])
        r1 = _rot(c0, c1, c2, R[1, 0], R[1, 1], R[1, 2])
        r2 = _rot(c0, c1, c2, R[2, 0], R[2, 1], R[2, 2])
        norm = np.sqrt((r0 * r0 + r1 * r1) + r2 * r2)
        r0, r1, r2 = r0 / norm, r1 / norm, r2 / norm
        dirs[n, 0], dirs[n, 1], dirs[n, 2] = r0, r1, r2
        rs = d * norm
        s0, s1, s2 = o[0] + rs * r0, o[1] + rs * r1, o[2] + rs * r2
        surf[n, 0], surf[n, 1], surf[n, 2] = s0, s1, s2
        # The cells are monotonic along the ray (each step is a product, a sum and a floor,
        # all monotonic), so its first and last samples bound them.
        for j in (0, n_off - 1):
            x = _sample_cell(j, n_side, vs, inv_vs, r0, s0)
            y = _sample_cell(j, n_side, vs, inv_vs, r1, s1)
            z = _sample_cell(j, n_side, vs, inv_vs, r2, s2)
            lo0, hi0 = min(lo0, x), max(hi0, x)
            lo1, hi1 = min(lo1, y), max(hi1, y)
            lo2, hi2 = min(lo2, z), max(hi2, z)
        # The measured point's offset from the centre of its voxel (sample n_side), voxel units.
        hit_off[n, 0] = s0 * inv_vs - _sample_cell(n_side, n_side, vs, inv_vs, r0, s0) - 0.5
        hit_off[n, 1] = s1 * inv_vs - _sample_cell(n_side, n_side, vs, inv_vs, r1, s1) - 0.5
        hit_off[n, 2] = s2 * inv_vs - _sample_cell(n_side, n_side, vs, inv_vs, r2, s2) - 0.5
        # Endpoint agreement with a 4-neighbour one pixel away (agrees_with_a_neighbour).
        lim = agree_tol * d32
        a = (
            (distinct[0, g] and abs(depth[_clamp(vg - 1, h), ug] - d32) <= lim)
            or (distinct[1, g] and abs(depth[_clamp(vg + 1, h), ug] - d32) <= lim)
            or (distinct[2, g] and abs(depth[vg, _clamp(ug - 1, w)] - d32) <= lim)
            or (distinct[3, g] and abs(depth[vg, _clamp(ug + 1, w)] - d32) <= lim)
        )
        if a and geom_jump > 0:  # between_surfaces, neighbours edge_step away
            lim = geom_jump * d32
            pairs = (
                (depth[_clamp(vg - edge_step, h), ug], depth[_clamp(vg + edge_step, h), ug]),
                (depth[vg, _clamp(ug - edge_step, w)], depth[vg, _clamp(ug + edge_step, w)]),
            )
            for p in pairs:
                lo, hi = min(p[0], p[1]), max(p[0], p[1])
                if lo > 0 and d32 - lo > lim and hi - d32 > lim:
                    a = False
        agreed[n] = a
        # Incidence angle from the neighbours 2 pixels away (incidence_cos).
        du, dd = depth[_clamp(vg - 2, h), ug], depth[_clamp(vg + 2, h), ug]
        dl, dr = depth[vg, _clamp(ug - 2, w)], depth[vg, _clamp(ug + 2, w)]
        lim8 = 0.1 * d  # step * max_jump * d
        good = sides[g]
        for x32 in (du, dd, dl, dr):
            good = good and x32 > 0 and abs(np.float64(x32) - d) < lim8
        c = 1.0
        if good:
            cu, cv, cl, cr = terms[0, g], terms[1, g], terms[2, g], terms[3, g]
            cvu, cvd, ray_len = terms[4, g], terms[5, g], terms[6, g]
            fu, fd, fl, fr = np.float64(du), np.float64(dd), np.float64(dl), np.float64(dr)
            tu0 = cr * fr - cl * fl
            tu1 = cv * fr - cv * fl
            tu2 = fr - fl
            tv0 = cu * fd - cu * fu
            tv1 = cvd * fd - cvu * fu
            tv2 = fd - fu
            n0 = tu1 * tv2 - tu2 * tv1
            n1 = tu2 * tv0 - tu0 * tv2
            n2 = tu0 * tv1 - tu1 * tv0
            num = abs((n0 * cu + n1 * cv) + n2)
            den = np.sqrt((n0 * n0 + n1 * n1) + n2 * n2) * ray_len
            c = max(num / den if den > 0 else 1.0, 0.25)
        cos[n] = c
        n += 1
    lohi[0, 0], lohi[0, 1], lohi[0, 2] = lo0, lo1, lo2
    lohi[1, 0], lohi[1, 1], lohi[1, 2] = hi0, hi1, hi2
    counts[0], counts[1] = n, 0
    if n == 0:
        return 0
    e1, e2 = np.int64(hi1 - lo1 + 1.0), np.int64(hi2 - lo2 + 1.0)
    volume = (hi0 - lo0 + 1.0) * (hi1 - lo1 + 1.0) * (hi2 - lo2 + 1.0)
    if not (min(lo0, lo1, lo2) >= -_OFFSET and max(hi0, hi1, hi2) < _OFFSET and volume <= max_cells):
        return -2
    if volume > grid.shape[0]:
        return -1
    l0, l1, l2 = np.int64(lo0), np.int64(lo1), np.int64(lo2)
    # Row-major index of each sample's cell in the box; the last writer of each cell stays.
    s = 0
    for i in range(n):
        r0, r1, r2 = dirs[i, 0], dirs[i, 1], dirs[i, 2]
        s0, s1, s2 = surf[i, 0], surf[i, 1], surf[i, 2]
        for j in range(n_off):
            x = np.int64(_sample_cell(j, n_side, vs, inv_vs, r0, s0)) - l0
            y = np.int64(_sample_cell(j, n_side, vs, inv_vs, r1, s1)) - l1
            z = np.int64(_sample_cell(j, n_side, vs, inv_vs, r2, s2)) - l2
            lin[s] = (x * e1 + y) * e2 + z
            grid[lin[s]] = s
            s += 1
    # The last samples of their cells, kept without a branch (whether a sample is its
    # cell's last is unpredictable, and a mispredicted branch costs more than two stores);
    # their cells and keys are worked out afterwards, for the kept ones only.
    m = 0
    s = 0
    for i in range(n):
        for j in range(n_off):
            last[m] = s
            ray[m] = i
            m += 1 if grid[lin[s]] == s else 0
            s += 1
    for q in range(m):
        i = ray[q]
        j = last[q] - i * n_off
        x = _sample_cell(j, n_side, vs, inv_vs, dirs[i, 0], surf[i, 0])
        y = _sample_cell(j, n_side, vs, inv_vs, dirs[i, 1], surf[i, 1])
        z = _sample_cell(j, n_side, vs, inv_vs, dirs[i, 2], surf[i, 2])
        vcell[q, 0], vcell[q, 1], vcell[q, 2] = x, y, z
        ix, iy, iz = np.int64(x) + _OFFSET, np.int64(y) + _OFFSET, np.int64(z) + _OFFSET
        keys[q] = (ix << 34) | (iy << 17) | iz
    for j in range(m):
        grid[lin[last[j]]] = j
    for i in range(n):
        centre[i] = grid[lin[i * n_off + n_side]]
    counts[1] = m
    return 0


@njit(types.void(f8_2, f8_2, i8, i8, f8, f8, f8_2), **_OPTS)
def ray_cells(dirs, surf, n, n_side, vs, inv_vs, cells):
    """The floor cells (3, n * (2 n_side + 1)) of the samples of ``fine_rays``' first ``n``
    rays, ray by ray."""
    n_off = 2 * n_side + 1
    for i in range(n):
        for j in range(n_off):
            for k in range(3):
                cells[k, i * n_off + j] = _sample_cell(j, n_side, vs, inv_vs, dirs[i, k], surf[i, k])


@njit(
    i8(
        f8_2, i8_1, i8, f8_1, f8, f8_1, f8_2, f8, f8, f8, f8, f4_2r, f4, f8, f8, f8, f8, b1, i8, f4,
        i8_1, f8_1, i8_1, b1_1, b1_1, f4_2ar, f4, f4, i8_1, i8_1, f4_2, b1_1, i8_1,
    ),
    **_OPTS,
)  # fmt: skip
def project_voxels(
    vcell, ray, m, cos, vs, o, R, fx, fy, cx, cy, depth, geom_jump, min_d, max_d, trunc, band, labels,
    edge_step, edge_jump, vox, sdf_out, pix, near, labelled, probs, max_prob, min_prob, lab_pix, lab_vox, lab_p, use,
    counts,
):  # fmt: skip
    """The projective signed distance of the ``m`` distinct voxels (cells ``vcell`` (M, 3),
    allocated by the rays ``ray``):
    each centre projected into ``depth`` (pinhole fx, fy, cx, cy); the depth there (none
    across a depth discontinuity when ``geom_jump`` > 0) minus the centre's, along the
    pixel's ray, times the allocating ray's incidence cosine ``cos[ray]``. For
    each voxel updated (a valid depth there, sdf >= -trunc): ``vox`` its index, ``sdf_out``
    its sdf clipped at ``trunc`` (metres), ``pix`` the flat pixel, ``near`` within ``band``
    metres of the surface (takes colour), ``labelled`` near and, when ``labels``, not on a
    depth edge (takes classes and instances). Returns the count, U.

    The labelled ones, in order (L of them): ``lab_pix`` their flat pixels, ``lab_vox``
    their index into ``vox``. With class probabilities ``probs`` (C', H * W) float32, any
    strides (C' > 0; no rows: none read), ``lab_p`` (L, C) their probabilities at ``lab_pix``
    (a zero void channel first when C' = C - 1), raised to ``min_prob`` when that is > 0
    (``np.maximum(p, min_prob)``), and ``use`` whether a class is at least as likely as
    void (before raising). Each labelled pixel's C' cache lines are
    asked for when it is found and read ``_LAG`` labelled voxels later, so that their
    transfer from memory overlaps the projections in between. ``counts[0]`` = L,
    ``counts[1]`` = 1 when every probability read lies in [0, ``max_prob``] (else 0: NaN
    or out of range; the caller then names it).
    """
    h, w = depth.shape
    c_in, c = probs.shape[0], lab_p.shape[1]
    first = c - c_in
    good = True
    n = 0
    n_l = 0
    done = 0  # labelled voxels whose probabilities were read
    for i in range(m + 1):
        # Read the probabilities of the labelled voxels found _LAG or more voxels ago (all
        # of them after the last voxel).
        lag = _LAG if i < m else 0
        while c_in and done + lag < n_l:
            q = lab_pix[done]
            void = np.float32(0.0)
            if first:
                lab_p[done, 0] = max(void, min_prob)
            best = -np.float32(np.inf)
            for k in range(c_in):
                x = probs[k, q]
                lab_p[done, first + k] = max(x, min_prob) if min_prob > 0 else x
                good &= (x >= 0) & (x <= max_prob)
                if first + k == 0:
                    void = x
                else:
                    best = max(best, x)
            use[done] = best >= void
            done += 1
        if i == m:
            break
        p0 = (vcell[i, 0] + 0.5) * vs - o[0]
        p1 = (vcell[i, 1] + 0.5) * vs - o[1]
        p2 = (vcell[i, 2] + 0.5) * vs - o[2]
        z = _rot(p0, p1, p2, R[0, 2], R[1, 2], R[2, 2])
        if not z > 1e-6:
            continue
        xn = _rot(p0, p1, p2, R[0, 0], R[1, 0], R[2, 0]) / z
        yn = _rot(p0, p1, p2, R[0, 1], R[1, 1], R[2, 1]) / z
        fu = np.rint(fx * xn + cx)
        fv = np.rint(fy * yn + cy)
        if not (fu >= 0 and fu < w and fv >= 0 and fv < h):
            continue
        pu, pv = np.int64(fu), np.int64(fv)
        d32 = depth[pv, pu]
        dpx = np.float64(d32)
        if geom_jump > 0 and d32 > 0:  # depth_discontinuity: no update
            lim = geom_jump * d32
            around = (
                depth[_clamp(pv - 1, h), pu],
                depth[_clamp(pv + 1, h), pu],
                depth[pv, _clamp(pu - 1, w)],
                depth[pv, _clamp(pu + 1, w)],
            )
            for a in around:
                if a > 0 and abs(a - d32) > lim:
                    dpx = 0.0
        sdf = dpx - z
        sdf *= np.sqrt((1.0 + xn * xn) + yn * yn)  # z difference -> along the ray
        sdf *= cos[ray[i]]
        if not (dpx > min_d and dpx < max_d and sdf >= -trunc):
            continue
        sdf = min(sdf, trunc)
        vox[n] = i
        sdf_out[n] = sdf
        p = pv * w + pu
        pix[n] = p
        nr = abs(sdf) <= band
        near[n] = nr
        lab = (
            nr
            and labels
            and not _on_depth_edge(
                d32,
                depth[_clamp(pv - edge_step, h), pu],
                depth[_clamp(pv + edge_step, h), pu],
                depth[pv, _clamp(pu - edge_step, w)],
                depth[pv, _clamp(pu + edge_step, w)],
                edge_jump,
            )
        )
        labelled[n] = lab
        if lab:
            lab_pix[n_l] = p
            lab_vox[n_l] = n
            for k in range(c_in):
                _prefetch(probs, (k, p))
            n_l += 1
        n += 1
    counts[0], counts[1] = n_l, 1 if good else 0
    return n


@njit(
    types.void(
        i8_1, i8_1, b1_1, f8_2, f8_2, i8_1, f8_1, i8_1, b1_1, b1_1, b1_1, u1_2r, f4_2, f4, f8, b1, f4, f4,
        f4_1, f4_1, f4_2, f4_1, f4_1, f4_2, f4_1, f4_2, f4_1,
    ),
    **_OPTS,
)  # fmt: skip
def fuse_voxels(
    rows_u, hit_vox, agreed, hit_off, sums, vox, sdf, pix, near, labelled, use, rgb, lp, weight, inv_trunc, clip,
    max_weight, min_log_ev, tsdf, wt, color, color_weight, hits, hit_offset, hit_weight, logev, class_weight,
):  # fmt: skip
    """Change the map (see ``SemanticMap.integrate``): ``rows_u`` (M,) map rows of the
    frame's distinct voxels.

    * Endpoint hits: ``hit_vox`` (n,) index into ``rows_u`` of each ray's endpoint voxel,
      ``agreed`` (n,) whether it counts, ``hit_off`` (n, 3) its offset from the centre
      (voxel units); ``sums`` (>= M, 4) scratch (zeroed here). Each hit voxel counts once;
      its mean offset joins the running mean.
    * TSDF of the updated voxels ``vox`` (U,) with ``sdf`` (U,) metres: stored as
      ``sdf * inv_trunc`` (clipped to [-1, 1] when ``clip``), running mean.
    * Colour of the ``near`` ones from ``rgb`` (H * W, 3) at ``pix``.
    * Class evidence of the ``labelled`` ones whose ``use`` (one per labelled voxel, in
      order) holds: ``lp`` (one row per such voxel, weighted log-probabilities) added,
      renormalised to a maximum of 0, floored at ``min_log_ev``.

    Weights and counts gain ``weight``, capped at ``max_weight``; every value float32.
    """
    for j in range(rows_u.shape[0]):
        for k in range(4):
            sums[j, k] = 0.0
    for a in range(hit_vox.shape[0]):
        if not agreed[a]:
            continue
        j = hit_vox[a]
        sums[j, 0] += hit_off[a, 0]
        sums[j, 1] += hit_off[a, 1]
        sums[j, 2] += hit_off[a, 2]
        sums[j, 3] += 1.0
    m = rows_u.shape[0]
    for j in range(m):
        if j + _AHEAD < m and sums[j + _AHEAD, 3] != 0:
            q = rows_u[j + _AHEAD]
            _prefetch(hits, q)
            _prefetch(hit_weight, q)
            _prefetch(hit_offset, (q, 0))
        cnt = sums[j, 3]
        if cnt == 0:
            continue
        r = rows_u[j]
        hits[r] += weight
        hw = min(hit_weight[r] + weight, max_weight)
        for k in range(3):
            mean = np.float32(sums[j, k] / cnt)
            old = hit_offset[r, k]
            hit_offset[r, k] = old + ((mean - old) * weight) / hw
        hit_weight[r] = hw
    n_lab = 0
    n_use = 0
    for i in range(vox.shape[0]):
        if i + _AHEAD < vox.shape[0]:
            q = rows_u[vox[i + _AHEAD]]
            _prefetch(tsdf, q)
            _prefetch(wt, q)
            if near[i + _AHEAD]:
                _prefetch(color_weight, q)
                _prefetch(color, (q, 0))
                _prefetch(rgb, (pix[i + _AHEAD], 0))
                if labelled[i + _AHEAD]:
                    _prefetch(logev, (q, 0))
                    _prefetch(logev, (q, logev.shape[1] - 1))  # a row may span two lines
                    _prefetch(class_weight, q)
        r = rows_u[vox[i]]
        t = sdf[i] * inv_trunc
        if clip:
            t = min(max(t, -1.0), 1.0)
        t_new = np.float32(t)
        w_new = min(wt[r] + weight, max_weight)
        old = tsdf[r]
        tsdf[r] = old + ((t_new - old) * weight) / w_new
        wt[r] = w_new
        if not near[i]:
            continue
        cw = min(color_weight[r] + weight, max_weight)
        p = pix[i]
        for k in range(3):
            old = color[r, k]
            color[r, k] = old + ((np.float32(rgb[p, k]) - old) * weight) / cw
        color_weight[r] = cw
        if not labelled[i]:
            continue
        if n_lab < use.shape[0] and use[n_lab]:
            best = -np.inf
            for k in range(logev.shape[1]):
                logev[r, k] += lp[n_use, k]
                best = max(best, logev[r, k])
            best32 = np.float32(best)
            for k in range(logev.shape[1]):
                logev[r, k] = max(logev[r, k] - best32, min_log_ev)
            class_weight[r] += weight
            n_use += 1
        n_lab += 1


@njit(
    types.Tuple((i8, i8, f8_2, f8_2, i8_1))(f4_2r, i8, f8_2, f8_2, f8_1, f8, f8, f8, f8, f8, i4_1, f8),
    **_OPTS,
)  # fmt: skip
def free_cells(depth, stride, cam, R, origin, trunc, min_d, max_d, step, inv_cell, grid, max_cells):
    """The coarse cells (edge 1 / ``inv_cell``) that free-space rays cross: the rays of
    every ``stride``-th pixel (from ``stride // 2``, row by row; ``cam`` their camera-frame
    directions at z = 1) with depth in (min_d, max_d), sampled at (j + 0.5) ``step`` from
    the camera (``origin``, rotation ``R``) up to one truncation before the reading.

    Returns (status, S, cells (3, S) of the samples ray by ray, their bounds (2, 3), the
    keys of the distinct cells), status 0, or -1 / -2 as ``fine_rays`` when the caller
    finds the distinct cells itself (the keys are then empty).
    """
    h, w = depth.shape
    g = cam.shape[0]
    dirs = np.empty((g, 3))
    count = np.empty(g, np.int64)
    n = 0
    total = 0
    i = 0
    for v in range(stride // 2, h, stride):
        for u in range(stride // 2, w, stride):
            d = np.float64(depth[v, u])
            if d > min_d and d < max_d:
                c0, c1, c2 = cam[i, 0], cam[i, 1], cam[i, 2]
                r0 = _rot(c0, c1, c2, R[0, 0], R[0, 1], R[0, 2])
                r1 = _rot(c0, c1, c2, R[1, 0], R[1, 1], R[1, 2])
                r2 = _rot(c0, c1, c2, R[2, 0], R[2, 1], R[2, 2])
                ray_len = np.sqrt((r0 * r0 + r1 * r1) + r2 * r2)
                dirs[n, 0], dirs[n, 1], dirs[n, 2] = r0 / ray_len, r1 / ray_len, r2 / ray_len
                r = d * ray_len - trunc
                # Samples j = 0, 1, ... while (j + 0.5) step < r: from an estimate, moved to
                # the first j that fails the test (which holds for all j below it).
                j = max(np.int64(r / step), 0) if r > 0 else 0
                while j > 0 and not (np.float64(j - 1) + 0.5) * step < r:
                    j -= 1
                while (np.float64(j) + 0.5) * step < r:
                    j += 1
                count[n] = j
                total += j
                n += 1
            i += 1
    cells = np.empty((3, total))
    lohi = np.empty((2, 3))
    keys = np.empty(total, np.int64)
    for k in range(3):
        lohi[0, k] = np.inf
        lohi[1, k] = -np.inf
    s = 0
    for i in range(n):
        c = count[i]
        if c == 0:
            continue
        for k in range(3):
            dk, ok = dirs[i, k], origin[k]
            for j in range(c):
                cells[k, s + j] = np.floor((((np.float64(j) + 0.5) * step) * dk + ok) * inv_cell)
            # Monotonic along the ray (products, sums and floor are): its ends bound it.
            a, b = cells[k, s], cells[k, s + c - 1]
            lohi[0, k] = min(lohi[0, k], min(a, b))
            lohi[1, k] = max(lohi[1, k], max(a, b))
        s += c
    if s == 0:
        return 0, 0, cells, lohi, keys
    e1, e2 = lohi[1, 1] - lohi[0, 1] + 1.0, lohi[1, 2] - lohi[0, 2] + 1.0
    volume = (lohi[1, 0] - lohi[0, 0] + 1.0) * e1 * e2
    if not (lohi[0].min() >= -_OFFSET and lohi[1].max() < _OFFSET and volume <= max_cells):
        return -2, s, cells, lohi, keys[:0]
    if volume > grid.shape[0]:
        return -1, s, cells, lohi, keys[:0]
    last = np.empty(s, np.int64)
    m = distinct_cells(cells, s, lohi[0], e1, e2, grid, np.empty(s, np.int64), last[:0], last, last[:0], keys)
    return 0, s, cells, lohi, keys[:m]
