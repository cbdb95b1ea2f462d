"""Kernel-map (rulebook) construction from sorted packed voxel keys.

A submanifold map pairs every site with its neighbours at each kernel offset: the
neighbour's key is the site's key plus a constant (see ``tensor.key_delta``), so each
offset is one add and a ``torch.searchsorted`` into the sorted keys. Offsets come in
pairs ``d``, ``-d`` whose pairs are the same with input and output swapped, so only half
of them are looked up, and the offsets along z of one (dx, dy) column share one search.

A stride-``f`` map with kernel ``f`` needs no search at all: a site's output is
``floor(c / f)`` and its kernel offset is ``c mod f``; ``torch.unique`` over the parent
keys gives the output sites (sorted) and each input's output row.
"""

from __future__ import annotations

import itertools

import torch

from real3d.core.errors import InputError
from real3d.sparse.tensor import KernelMap, key_delta, pack_keys, unpack_keys


def kernel_offsets(kernel_size: int, dilation: int = 1) -> list[tuple[int, int, int]]:
    """Offsets (dx, dy, dz) of an odd cubic kernel in the order of ``Conv3d`` weights.

    The order is lexicographic (x slowest, z fastest), so offset ``k`` multiplies
    ``weight[k]`` exactly where a dense ``Conv3d`` would use ``weight[:, :, i, j, l]``
    with ``k = (i * ks + j) * ks + l``.
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_offsets: expected an odd kernel size >= 1, got {kernel_size!r}")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise InputError(f"kernel_offsets: expected an integer dilation >= 1, got {dilation!r}")
    r = kernel_size // 2
    span = [dilation * i for i in range(-r, r + 1)]
    return list(itertools.product(span, span, span))


def build_submanifold_map(keys: torch.Tensor, kernel_size: int = 3, dilation: int = 1) -> KernelMap:
    """Kernel map of a submanifold convolution (output sites = input sites).

    Args:
        keys: (N,) int64 sorted unique packed keys (``SparseTensor.keys``).
        kernel_size: odd edge of the cubic kernel, in cells of the tensor's grid.
        dilation: spacing of the kernel taps, in cells.

    Returns:
        KernelMap with ``kernel_size ** 3`` offsets in ``kernel_offsets`` order; the centre
        offset is the identity.
    """
    offsets = kernel_offsets(kernel_size, dilation)
    n = keys.shape[0]
    volume = len(offsets)
    centre = volume // 2
    in_rows: list[torch.Tensor | None] = [None] * volume
    out_rows: list[torch.Tensor | None] = [None] * volume
    # Offsets k and volume-1-k are negatives of each other: look up the first half only.
    for k, (hit, pos) in enumerate(_lookup_first_half(keys, offsets[:centre], dilation)):
        rows = torch.nonzero(hit).squeeze(1)
        nbr = pos[rows]
        # Site ``rows[j]`` has its neighbour at offset d in row ``nbr[j]``; seen from that
        # neighbour, the site is at offset -d. Both index lists are ascending.
        in_rows[k], out_rows[k] = nbr, rows
        in_rows[volume - 1 - k], out_rows[volume - 1 - k] = rows, nbr
    in_rows[centre] = out_rows[centre] = torch.arange(n, dtype=torch.int64)
    return KernelMap(tuple(in_rows), tuple(out_rows), n, n, identity_offset=centre)


def _lookup_first_half(keys: torch.Tensor, offsets: list[tuple[int, int, int]], dilation: int):
    """Yield (hit (N,) bool, row (N,) int64) per offset: whether site + offset exists, and where.

    Sites that differ only in z are adjacent in key order, so with dilation 1 the
    offsets of one (dx, dy) column need one binary search: if ``p`` is the insertion
    point of ``q``, the insertion point of ``q + 1`` is ``p + (keys[p] == q)``.
    """
    n = keys.shape[0]
    last = n - 1
    i = 0
    while i < len(offsets):
        dx, dy, dz0 = offsets[i]
        j = i
        while j < len(offsets) and offsets[j][:2] == (dx, dy):
            j += 1
        query = keys + key_delta((dx, dy, dz0))
        if dilation == 1:
            pos = torch.searchsorted(keys, query)
            for step in range(j - i):
                clamped = pos.clamp(max=last)
                hit = keys[clamped] == query
                yield hit, clamped
                if step + 1 < j - i:
                    pos = pos + hit
                    query = query + 1
        else:
            for k in range(i, j):
                q = keys + key_delta(offsets[k])
                clamped = torch.searchsorted(keys, q).clamp_(max=last)
                yield keys[clamped] == q, clamped
        i = j


def build_downsample_map(coords: torch.Tensor, factor: int = 2) -> tuple[KernelMap, torch.Tensor, torch.Tensor]:
    """Kernel map of a convolution with kernel = stride = ``factor``.

    Args:
        coords: (N, 4) int32 (batch, x, y, z) sites of the fine tensor.
        factor: kernel edge and stride, in fine cells.

    Returns:
        (map with ``factor ** 3`` offsets in ``Conv3d`` weight order, coarse coords (M, 4)
        int32 = unique ``floor(xyz / factor)`` sorted by key, their (M,) int64 keys).
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
        raise InputError(f"build_downsample_map: expected an integer factor >= 2, got {factor!r}")
    xyz = coords[:, 1:].to(torch.int64)
    parent = torch.div(xyz, factor, rounding_mode="floor")
    rem = xyz - parent * factor
    offset = (rem[:, 0] * factor + rem[:, 1]) * factor + rem[:, 2]
    parent_coords = torch.cat((coords[:, :1].to(torch.int64), parent), dim=1)
    out_keys, inverse = torch.unique(pack_keys(parent_coords), sorted=True, return_inverse=True)
    # One stable sort by offset groups the rows of each offset; within an offset the input
    # rows stay ascending, and each coarse site has at most one child per offset.
    order = torch.argsort(offset, stable=True)
    counts = torch.bincount(offset, minlength=factor**3).tolist()
    in_rows = torch.split(order, counts)
    out_rows = torch.split(inverse[order], counts)
    kmap = KernelMap(tuple(in_rows), tuple(out_rows), coords.shape[0], out_keys.shape[0], in_once=True)
    return kmap, unpack_keys(out_keys), out_keys
