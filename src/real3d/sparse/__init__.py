"""Sparse voxel tensors and sparse 3D convolution in plain torch (see docs/sparse.md)."""

from real3d.sparse.kernel_map import build_downsample_map, build_submanifold_map, kernel_offsets
from real3d.sparse.modules import (
    BatchNorm,
    GlobalPool,
    ReLU,
    StridedConv3d,
    SubmanifoldConv3d,
    TransposedConv3d,
)
from real3d.sparse.ops import (
    apply_kernel_map,
    batch_norm,
    cat,
    global_pool,
    relu,
    strided_conv,
    submanifold_conv,
    transposed_conv,
)
from real3d.sparse.tensor import KernelMap, KernelMapCache, SparseTensor, pack_keys, unpack_keys

__all__ = [
    "SparseTensor",
    "KernelMap",
    "KernelMapCache",
    "pack_keys",
    "unpack_keys",
    "kernel_offsets",
    "build_submanifold_map",
    "build_downsample_map",
    "apply_kernel_map",
    "submanifold_conv",
    "strided_conv",
    "transposed_conv",
    "batch_norm",
    "relu",
    "global_pool",
    "cat",
    "SubmanifoldConv3d",
    "StridedConv3d",
    "TransposedConv3d",
    "BatchNorm",
    "ReLU",
    "GlobalPool",
]
