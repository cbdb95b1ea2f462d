"""``nn.Module`` twins of the functional ops in ``real3d.sparse.ops`` (they hold the weights)."""

from __future__ import annotations

import math

import torch
from torch import nn

from real3d.sparse import ops
from real3d.sparse.tensor import SparseTensor


class _ConvBase(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, volume: int, bias: bool) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weight = nn.Parameter(torch.empty(volume, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        # He initialisation over the full receptive field (K * C_in inputs per output).
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / (volume * in_channels)))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}"


class SubmanifoldConv3d(_ConvBase):
    """Submanifold convolution (output sites = input sites); weight (k**3, C_in, C_out)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1, bias: bool = False
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size**3, bias)
        self.kernel_size, self.dilation = kernel_size, dilation

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.submanifold_conv(x, self.weight, self.bias, self.dilation)


class StridedConv3d(_ConvBase):
    """Kernel-2 stride-2 convolution to the sites ``floor(xyz / 2)``; weight (8, C_in, C_out)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, 8, bias)

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.strided_conv(x, self.weight, self.bias)


class TransposedConv3d(_ConvBase):
    """Kernel-2 stride-2 transposed convolution back to the finer sites; weight (8, C_in, C_out)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, 8, bias)

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.transposed_conv(x, self.weight, self.bias)


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm over the sites of a SparseTensor (statistics per channel)."""

    def forward(self, x: SparseTensor) -> SparseTensor:  # type: ignore[override]
        return x.replace_feats(super().forward(x.feats))


class ReLU(nn.Module):
    """ReLU of the features."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.relu(x)


class GlobalPool(nn.Module):
    """Per-batch mean or max pooling: SparseTensor -> (batch_size, C)."""

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: SparseTensor, batch_size: int | None = None) -> torch.Tensor:
        return ops.global_pool(x, self.mode, batch_size)
