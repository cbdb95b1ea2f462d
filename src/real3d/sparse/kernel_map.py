"""Kernel-map (rulebook) construction from sorted packed voxel keys.

A submanifold map pairs every site with its neighbours at each kernel offset: the
neighbour's key is the site's key plus a constant (see ``tensor.key_delta``), so each
offset is one add and the lookup for all offsets is one ``torch.searchsorted`` into the
sorted keys. Offsets come in pairs ``d``, ``-d`` whose pairs are the same with input and
output swapped, so only half of them are searched.

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
    # Offsets k and volume-1-k are negatives of each other: search the first half only.
    deltas = torch.tensor([key_delta(o) for o in offsets[:centre]], dtype=torch.int64)
    in_rows: list[torch.Tensor | None] = [None] * volume
    out_rows: list[torch.Tensor | None] = [None] * volume
    if centre:
        queries = keys.unsqueeze(0) + deltas.unsqueeze(1)  # (centre, N): each row stays sorted
        pos = torch.searchsorted(keys, queries).clamp_(max=n - 1)
        found = keys[pos] == queries
        for k in range(centre):
            rows = torch.nonzero(found[k]).squeeze(1)
            nbr = pos[k, rows]
            # Site ``rows[j]`` has its neighbour at offset d in row ``nbr[j]``; seen from
            # that neighbour, the site is at offset -d.
            in_rows[k], out_rows[k] = nbr, rows
            in_rows[volume - 1 - k], out_rows[volume - 1 - k] = rows, nbr
    all_rows = torch.arange(n, dtype=torch.int64)
    in_rows[centre] = out_rows[centre] = all_rows
    return KernelMap(tuple(in_rows), tuple(out_rows), n, n, identity_offset=centre)


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
    kmap = KernelMap(tuple(in_rows), tuple(out_rows), coords.shape[0], out_keys.shape[0])
    return kmap, unpack_keys(out_keys), out_keys
