"""Functional sparse ops on ``SparseTensor``: convolutions, normalisation, pooling, concat.

Convolutions run gather - matmul - scatter-add per kernel offset:
``out[out_rows[k]] += feats[in_rows[k]] @ weight[k]`` for k = 0..K-1 in a fixed order.
Within one offset every output row is written at most once, so the result does not depend
on how ``index_add_`` splits its work over threads, and the offsets are summed in the same
order every time: outputs are bitwise identical at any thread count. The identity offset
of a submanifold kernel is a plain matmul, and offsets without pairs are skipped.

Weights are (K, C_in, C_out) with K = kernel_size ** 3 in ``kernel_offsets`` order, which
is the flattened order of a ``Conv3d`` weight (see tests for the exact correspondence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from real3d.core.errors import InputError, describe_array
from real3d.sparse.kernel_map import build_downsample_map, build_submanifold_map
from real3d.sparse.tensor import KernelMap, SparseTensor


def apply_kernel_map(
    feats: torch.Tensor, kmap: KernelMap, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Sparse convolution of raw features through a kernel map (differentiable).

    Args:
        feats: (num_in, C_in) float features.
        kmap: rulebook with K offsets.
        weight: (K, C_in, C_out), same dtype as ``feats``.
        bias: optional (C_out,).

    Returns:
        (num_out, C_out) features.
    """
    out = _KernelMapConv.apply(feats, weight, kmap)
    return out if bias is None else out + bias


def _conv_forward(feats: torch.Tensor, kmap: KernelMap, weight: torch.Tensor) -> torch.Tensor:
    centre = kmap.identity_offset
    if centre >= 0:
        out = feats @ weight[centre]
    elif kmap.out_once:
        out = feats.new_empty((kmap.num_out, weight.shape[2]))
    else:
        out = feats.new_zeros((kmap.num_out, weight.shape[2]))
    # When every output row gets exactly one pair (transposed strided conv), rows are
    # written instead of accumulated: no zero fill, no read-modify-write.
    write = out.index_copy_ if kmap.out_once else out.index_add_
    for k in range(kmap.volume):
        rows_in = kmap.in_rows[k]
        if k == centre or rows_in.shape[0] == 0:
            continue
        write(0, kmap.out_rows[k], feats.index_select(0, rows_in) @ weight[k])
    return out


class _KernelMapConv(torch.autograd.Function):
    """Gather-matmul-scatter convolution with a hand-written backward.

    Autograd through the per-offset ops would allocate a full (num_in, C_in) gradient per
    offset and sum K of them. Here, per offset, the gathered output gradient serves both
    the input gradient (scattered through the transposed pairs) and the weight gradient
    (one deterministic sum of outer products). Offsets keep their fixed order.
    """

    @staticmethod
    def forward(ctx, feats: torch.Tensor, weight: torch.Tensor, kmap: KernelMap) -> torch.Tensor:
        ctx.save_for_backward(feats, weight)
        ctx.kmap = kmap
        return _conv_forward(feats, kmap, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        feats, weight = ctx.saved_tensors
        kmap: KernelMap = ctx.kmap
        grad_out = grad_out.contiguous()
        need_feats, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        centre = kmap.identity_offset
        grad_feats = grad_weight = None
        if need_feats:
            if centre >= 0:
                grad_feats = grad_out @ weight[centre].t()
            elif kmap.in_once:
                grad_feats = feats.new_empty(feats.shape)
            else:
                grad_feats = feats.new_zeros(feats.shape)
            write = grad_feats.index_copy_ if kmap.in_once and centre < 0 else grad_feats.index_add_
        if need_weight:
            grad_weight = torch.zeros_like(weight)
            if centre >= 0:
                grad_weight[centre] = _sum_of_outer_products(feats, grad_out)
        for k in range(kmap.volume):
            rows_in = kmap.in_rows[k]
            if k == centre or rows_in.shape[0] == 0:
                continue
            g = grad_out.index_select(0, kmap.out_rows[k])
            if need_feats:
                write(0, rows_in, g @ weight[k].t())
            if need_weight:
                grad_weight[k] = _sum_of_outer_products(feats.index_select(0, rows_in), g)
        return grad_feats, grad_weight, None


_CHUNK_ROWS = 512


def _sum_of_outer_products(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a.T @ b`` for (M, C_in) and (M, C_out), summed in an order fixed by M alone.

    A plain matmul with a long reduction may split that reduction over threads, which
    changes the bits with the thread count. Here fixed 512-row chunks each give one product
    (a batched matmul parallelises over chunks, the last partial chunk is a small matmul
    of its own) and the partial sums are added pairwise in elementwise ops.
    """
    m = a.shape[0]
    full = m // _CHUNK_ROWS
    parts = []
    if full:
        rows = full * _CHUNK_ROWS
        parts.append(
            torch.bmm(a[:rows].reshape(full, _CHUNK_ROWS, -1).transpose(1, 2), b[:rows].reshape(full, _CHUNK_ROWS, -1))
        )
    if m > full * _CHUNK_ROWS:
        parts.append((a[full * _CHUNK_ROWS :].t() @ b[full * _CHUNK_ROWS :]).unsqueeze(0))
    partial = parts[0] if len(parts) == 1 else torch.cat(parts)
    while partial.shape[0] > 1:
        half = partial.shape[0] // 2
        paired = partial[:half] + partial[half : 2 * half]
        partial = torch.cat((paired, partial[2 * half :])) if partial.shape[0] % 2 else paired
    return partial[0]


def _check_weight(x: SparseTensor, weight: torch.Tensor, where: str) -> None:
    if not isinstance(x, SparseTensor):
        raise InputError(f"{where}: expected a SparseTensor, got {type(x).__name__}")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 3 or weight.shape[1] != x.num_channels:
        raise InputError(
            f"{where}: expected weight (K, {x.num_channels}, C_out) for {x.num_channels} input channels, "
            f"got {describe_array(weight)}"
        )
    if weight.dtype != x.feats.dtype:
        raise InputError(f"{where}: weight dtype {weight.dtype} differs from feature dtype {x.feats.dtype}")


def _kernel_size(volume: int, where: str) -> int:
    ks = round(volume ** (1.0 / 3.0))
    if ks**3 != volume or ks % 2 == 0:
        raise InputError(f"{where}: weight must hold k**3 offsets for an odd k, got K = {volume}")
    return ks


def submanifold_map(x: SparseTensor, kernel_size: int = 3, dilation: int = 1) -> KernelMap:
    """The (cached) submanifold kernel map of ``x``'s sites."""
    return x.cache.get(
        ("subm", x.stride, kernel_size, dilation), lambda: build_submanifold_map(x.keys, kernel_size, dilation)
    )


def downsample_map(x: SparseTensor) -> KernelMap:
    """The (cached) kernel-2 stride-2 map from ``x``'s sites to the sites at twice its stride."""
    cache = x.cache

    def build() -> KernelMap:
        kmap, coords, keys = build_downsample_map(x.coords, 2)
        cache.register(2 * x.stride, coords, keys)
        return kmap

    return cache.get(("down", x.stride, 2, 1), build)


def submanifold_conv(
    x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None = None, dilation: int = 1
) -> SparseTensor:
    """Submanifold convolution: output sites = input sites, odd cubic kernel.

    Args:
        x: input with C_in channels.
        weight: (k**3, C_in, C_out), k odd.
        bias: optional (C_out,).
        dilation: spacing of the kernel taps, in cells of ``x``'s grid.
    """
    _check_weight(x, weight, "submanifold_conv")
    ks = _kernel_size(weight.shape[0], "submanifold_conv")
    return x.replace_feats(apply_kernel_map(x.feats, submanifold_map(x, ks, dilation), weight, bias))


def strided_conv(x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> SparseTensor:
    """Convolution with kernel 2 and stride 2: output sites are unique ``floor(xyz / 2)``.

    Args:
        x: input at stride s with C_in channels.
        weight: (8, C_in, C_out); offset k = (x%2 * 2 + y%2) * 2 + z%2 of the input site.
        bias: optional (C_out,).

    Returns:
        Tensor at stride 2 s sharing ``x``'s cache.
    """
    _check_weight(x, weight, "strided_conv")
    if weight.shape[0] != 8:
        raise InputError(f"strided_conv: expected weight (8, C_in, C_out) for kernel 2, got {describe_array(weight)}")
    kmap = downsample_map(x)
    out = apply_kernel_map(x.feats, kmap, weight, bias)
    return _at_stride(x, 2 * x.stride, out)


def transposed_conv(x: SparseTensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> SparseTensor:
    """Transposed convolution with kernel 2 and stride 2 back to the finer sites.

    The output sites are the sites at stride ``x.stride // 2`` recorded in ``x``'s cache,
    i.e. those of the tensor ``x`` was downsampled from; each of them receives
    ``x[parent] @ weight[offset]`` with the offset numbering of ``strided_conv``.

    Args:
        x: input at stride 2 s (s >= 1) with C_in channels.
        weight: (8, C_in, C_out).
        bias: optional (C_out,).
    """
    _check_weight(x, weight, "transposed_conv")
    if weight.shape[0] != 8:
        raise InputError(
            f"transposed_conv: expected weight (8, C_in, C_out) for kernel 2, got {describe_array(weight)}"
        )
    fine = x.stride // 2
    if x.stride % 2 or fine not in x.cache.coords:
        raise InputError(
            f"transposed_conv: no finer sites at stride {fine} in the cache of this stride-{x.stride} tensor "
            f"(known strides: {sorted(x.cache.coords)}); it must come from strided_conv"
        )
    fine_x = SparseTensor.__new__(SparseTensor)
    fine_x.coords, fine_x.stride, fine_x.cache = x.cache.coords[fine], fine, x.cache
    fine_x._keys = x.cache.keys[fine]
    kmap = downsample_map(fine_x).transposed()
    out = apply_kernel_map(x.feats, kmap, weight, bias)
    return _at_stride(x, fine, out)


def _at_stride(x: SparseTensor, stride: int, feats: torch.Tensor) -> SparseTensor:
    out = SparseTensor.__new__(SparseTensor)
    out.coords, out._keys = x.cache.coords[stride], x.cache.keys[stride]
    out.feats, out.stride, out.cache = feats, stride, x.cache
    return out


def relu(x: SparseTensor) -> SparseTensor:
    """ReLU of the features."""
    return x.replace_feats(torch.relu(x.feats))


def batch_norm(
    x: SparseTensor,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> SparseTensor:
    """Batch normalisation over all sites (statistics per channel), as ``F.batch_norm``."""
    return x.replace_feats(F.batch_norm(x.feats, running_mean, running_var, weight, bias, training, momentum, eps))


def global_pool(x: SparseTensor, mode: str = "mean", batch_size: int | None = None) -> torch.Tensor:
    """Per-batch pooling of the features.

    Args:
        x: input with C channels.
        mode: "mean" or "max".
        batch_size: rows of the result; defaults to ``x.batch_size``. A batch index
            without sites gets a zero row.

    Returns:
        (batch_size, C) features.
    """
    if mode not in ("mean", "max"):
        raise InputError(f"global_pool: mode must be 'mean' or 'max', got {mode!r}")
    b_total = x.batch_size if batch_size is None else batch_size
    if b_total < x.batch_size:
        raise InputError(f"global_pool: batch_size {b_total} is smaller than the tensor's {x.batch_size}")
    rows = []
    # Rows of a batch are contiguous (sites are sorted by key): reduce slices, which is
    # deterministic and differentiable without scatter.
    for _, lo, hi in x.batch_rows():
        seg = x.feats[lo:hi]
        if hi == lo:
            rows.append(x.feats.new_zeros(x.num_channels))
        else:
            rows.append(seg.mean(dim=0) if mode == "mean" else seg.amax(dim=0))
    rows.extend(x.feats.new_zeros(x.num_channels) for _ in range(b_total - x.batch_size))
    return torch.stack(rows)


def cat(*xs: SparseTensor) -> SparseTensor:
    """Concatenate features of tensors with identical sites (e.g. U-Net skips) along channels."""
    if not xs:
        raise InputError("cat: expected at least one SparseTensor, got none")
    first = xs[0]
    for i, x in enumerate(xs[1:], start=1):
        if not isinstance(x, SparseTensor):
            raise InputError(f"cat: argument {i} is a {type(x).__name__}, expected a SparseTensor")
        same = x.coords is first.coords or (
            x.coords.shape == first.coords.shape and torch.equal(x.coords, first.coords)
        )
        if not same or x.stride != first.stride:
            raise InputError(
                f"cat: argument {i} has {x.num_sites} sites at stride {x.stride}, expected the same "
                f"{first.num_sites} sites at stride {first.stride} as argument 0"
            )
    return first.replace_feats(torch.cat([x.feats for x in xs], dim=1))
