"""A small MinkUNet-like sparse U-Net for per-voxel classification.

Level l runs at tensor stride 2**l: two submanifold conv-BN-ReLU blocks on the way down
(one at level 0 plus the stem), a kernel-2 stride-2 conv between levels, and on the way up
a kernel-2 transposed conv, concatenation with the skip of the same level and one
submanifold block. A linear head gives per-site logits.

The network runs either on a ``SparseTensor`` (kernel maps built and cached on the fly)
or on raw features with precomputed neighbour tables (``forward_tables``), which is the
form ``real3d.sparse.export`` exports to ONNX. Both use the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from real3d.core.errors import ConfigError
from real3d.sparse import ops
from real3d.sparse.modules import BatchNorm, StridedConv3d, SubmanifoldConv3d, TransposedConv3d
from real3d.sparse.tensor import SparseTensor


@dataclass(frozen=True)
class SparseUNetConfig:
    """Shape of ``SparseUNet``.

    Attributes:
        in_channels: input feature channels.
        num_classes: output logits per site.
        channels: feature channels per level; len(channels) - 1 downsamplings.
        kernel_size: odd submanifold kernel edge, in cells.
    """

    in_channels: int = 4
    num_classes: int = 14
    channels: tuple[int, ...] = (16, 32, 64)
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.num_classes < 1 or len(self.channels) < 1 or min(self.channels) < 1:
            raise ConfigError(f"SparseUNetConfig: channel counts must be >= 1, got {self}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"SparseUNetConfig: kernel_size must be odd, got {self.kernel_size}")


class _Block(nn.Module):
    """conv -> BatchNorm -> ReLU."""

    def __init__(self, conv: nn.Module, channels: int) -> None:
        super().__init__()
        self.conv, self.norm = conv, BatchNorm(channels)

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.relu(self.norm(self.conv(x)))

    def forward_table(self, feats: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        y = gather_conv(feats, table, self.conv.weight, self.conv.bias)
        return torch.relu(nn.BatchNorm1d.forward(self.norm, y))


def gather_conv(
    feats: torch.Tensor, table: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Sparse convolution through a neighbour table: one gather and one matmul.

    Args:
        feats: (N_in, C_in) float.
        table: (N_out, K) int64 from ``KernelMap.neighbour_table``; value N_in = no input.
        weight: (K, C_in, C_out).
        bias: optional (C_out,).

    Returns:
        (N_out, C_out). Each output row sums its K products inside one matmul, so the
        result does not depend on scatter order.
    """
    padded = torch.cat((feats, feats.new_zeros((1, feats.shape[1]))), dim=0)
    gathered = padded[table].reshape(table.shape[0], -1)
    out = gathered @ weight.reshape(-1, weight.shape[2])
    return out if bias is None else out + bias


class SparseUNet(nn.Module):
    """Per-site classifier: SparseTensor (N, in_channels) -> (N, num_classes) logits."""

    def __init__(self, config: SparseUNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SparseUNetConfig()
        ch, ks = cfg.channels, cfg.kernel_size
        self.stem = nn.ModuleList(
            [
                _Block(SubmanifoldConv3d(cfg.in_channels, ch[0], ks), ch[0]),
                _Block(SubmanifoldConv3d(ch[0], ch[0], ks), ch[0]),
            ]
        )
        self.down = nn.ModuleList()
        self.down_refine = nn.ModuleList()
        self.up = nn.ModuleList()
        self.up_refine = nn.ModuleList()
        for lo, hi in zip(ch[:-1], ch[1:]):
            self.down.append(_Block(StridedConv3d(lo, hi), hi))
            self.down_refine.append(_Block(SubmanifoldConv3d(hi, hi, ks), hi))
            self.up.append(_Block(TransposedConv3d(hi, lo), lo))
            self.up_refine.append(_Block(SubmanifoldConv3d(2 * lo, lo, ks), lo))
        self.head = nn.Linear(ch[0], cfg.num_classes)

    @property
    def levels(self) -> int:
        return len(self.config.channels)

    def forward(self, x: SparseTensor) -> torch.Tensor:
        return self.head(self.features(x).feats)

    def features(self, x: SparseTensor) -> SparseTensor:
        """The last decoder level's per-site features before the head: a stride-1
        SparseTensor on the sites of ``x`` (same order), (N, channels[0]) features."""
        for block in self.stem:
            x = block(x)
        skips = []
        for down, refine in zip(self.down, self.down_refine):
            skips.append(x)
            x = refine(down(x))
        for level in reversed(range(self.levels - 1)):
            x = self.up[level](x)
            x = self.up_refine[level](ops.cat(x, skips[level]))
        return x

    def kernel_tables(self, x: SparseTensor) -> list[torch.Tensor]:
        """Neighbour tables ``forward_tables`` needs for the sites of ``x`` (stride 1).

        Order: submanifold table of each level (stride 1, 2, 4, ...), then the down table
        of each level transition, then the up table of each transition.
        """
        ks = self.config.kernel_size
        subm, down, up = [], [], []
        level_x = x
        for level in range(self.levels):
            subm.append(ops.submanifold_map(level_x, ks).neighbour_table())
            if level + 1 < self.levels:
                kmap = ops.downsample_map(level_x)
                down.append(kmap.neighbour_table())
                up.append(kmap.transposed().neighbour_table())
                coarse = 2 * level_x.stride
                level_x = ops._at_stride(level_x, coarse, level_x.feats.new_zeros((kmap.num_out, 1)))
        return subm + down + up

    def forward_tables(self, feats: torch.Tensor, *tables: torch.Tensor) -> torch.Tensor:
        """Same network on raw (N, in_channels) features with ``kernel_tables`` output."""
        return self.head(self.features_tables(feats, *tables))

    def features_tables(self, feats: torch.Tensor, *tables: torch.Tensor) -> torch.Tensor:
        """``features`` on raw (N, in_channels) features with ``kernel_tables`` output:
        (N, channels[0])."""
        n = self.levels
        subm, down, up = tables[:n], tables[n : 2 * n - 1], tables[2 * n - 1 :]
        for block in self.stem:
            feats = block.forward_table(feats, subm[0])
        skips = []
        for level in range(n - 1):
            skips.append(feats)
            feats = self.down[level].forward_table(feats, down[level])
            feats = self.down_refine[level].forward_table(feats, subm[level + 1])
        for level in reversed(range(n - 1)):
            feats = self.up[level].forward_table(feats, up[level])
            feats = self.up_refine[level].forward_table(torch.cat((feats, skips[level]), dim=1), subm[level])
        return feats
