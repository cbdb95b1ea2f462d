"""Baselines for 3D segmentation on the map, beside the sparse U-Net of ``Seg3DNet``.

Three networks that read the same voxels and answer with the same contract as ``Seg3DNet``
(``input_batch``, ``forward`` -> ``logits`` (N, 13) and ``features`` (N, F), ``predict`` ->
``Seg3DOutput``; no instance head):

* ``DenseChunkNet``: a dense U-Net of ``torch.nn.Conv3d`` run fully convolutionally over
  the map's voxel grid in sliding chunks. Each chunk is a core box of ``chunk_cells`` cells
  per axis plus a halo of ``halo_cells`` on every side; the window is densified (zeros at
  empty cells), run, and only the active voxels of the core are written back. With a halo
  at least the network's receptive radius and chunk boxes aligned to its largest stride,
  the chunked result equals one run over the whole grid (padded by the halo).
* ``MultiResNet``: coarse to fine, the octree idea on sparse sites. The input is averaged
  onto the occupied cells at strides ``strides`` (e.g. 4, 2, 1: 20 cm, 10 cm, 5 cm for a
  5 cm map); the coarsest level predicts from its own cells, and each finer level refines
  only its occupied cells, from their own input and their parent cell's features, adding
  its logits to the parent's (submanifold convolutions of ``real3d.sparse``).
* ``PointNet2``: PointNet++ on voxel centres in plain torch: farthest-point sampling, ball
  query, set abstraction (shared MLP, max over each ball), feature propagation (inverse
  distance interpolation from the three nearest coarse points) back to every voxel.

Inputs are the ``Seg3DNet`` encodings (``real3d.models.seg3d.ENCODINGS``) and, with
``evidence_skip``, the same evidence skip (``logits = head(features) + s * prior``, head
zero-initialised). Frames and units: voxel ``coords`` are integer indices on the map's grid
(world frame, z up); PointNet++ works in metres (voxel centres ``(coords + 0.5) *
voxel_size_m``).

Bad input (wrong shapes or dtypes, no voxel, a wrong channel count, a missing prior)
raises ``InputError``; an inconsistent configuration or unknown name ``ConfigError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from real3d.core.errors import ConfigError, InputError, describe_array
from real3d.models.seg3d import (
    forward_rows,
    predict_voxels,
    sparse_batch,
    ENCODINGS,
    NUM_CLASSES,
    Seg3DOutput,
    expand_encoding,
)
from real3d.sparse import ops
from real3d.sparse.modules import BatchNorm, SubmanifoldConv3d
from real3d.sparse.tensor import SparseTensor

_DEFAULT_ENCODING = ("geometry", "color", "evidence")


def _check_common(cfg, where: str) -> None:
    if not isinstance(cfg.name, str) or not cfg.name:
        raise ConfigError(f"{where}.name: expected a non-empty string, got {cfg.name!r}")
    object.__setattr__(cfg, "encoding", expand_encoding(cfg.encoding))
    if not isinstance(cfg.evidence_skip, bool):
        raise ConfigError(f"{where}.evidence_skip: expected true or false, got {cfg.evidence_skip!r}")
    if cfg.evidence_skip and "evidence" not in cfg.encoding:
        raise ConfigError(f"{cfg.name}: evidence_skip needs the 'evidence' encoding, got {cfg.encoding}")
    v = cfg.voxel_size_m
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{where}.voxel_size_m: expected a finite value > 0, got {v!r}")


def _check_ints(values, where: str, low: int = 1) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not values:
        raise ConfigError(f"{where}: expected a non-empty tuple of integers >= {low}, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ConfigError(f"{where}: expected integers >= {low}, got {values!r}")
    return tuple(int(v) for v in values)


def _in_channels(encoding: tuple[str, ...]) -> int:
    return sum(ENCODINGS[n] for n in encoding)


# ------------------------------------------------------------------------------ shared
class _VoxelBaseline(nn.Module):
    """The ``Seg3DNet`` contract around a backbone ``features(x) -> (N, F)``.

    Subclasses set ``self.config`` (with ``name``, ``encoding``, ``evidence_skip``), build
    their layers, set ``feature_dim`` and call ``_init_head``.
    """

    config: object
    feature_dim: int

    def _init_head(self) -> None:
        self.head = nn.Linear(self.feature_dim, NUM_CLASSES)
        self.evidence_scale = nn.Parameter(torch.ones(())) if self.config.evidence_skip else None
        if self.config.evidence_skip:
            # a fresh network answers exactly what the fusion says (as Seg3DNet does)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def in_channels(self) -> int:
        return _in_channels(self.config.encoding)

    def input_batch(self, batch: list[dict]) -> tuple[SparseTensor, torch.Tensor | None, np.ndarray]:
        """As ``Seg3DNet.input_batch``: encoded voxels of voxel-array dicts (batch index =
        position) as a stride-1 ``SparseTensor``, the evidence prior in its row order (None
        without ``evidence_skip``), and ``order`` (tensor row r = input row ``order[r]``)."""
        return sparse_batch(batch, self.config.encoding, self.config.evidence_skip, self.name)

    def features(self, x: SparseTensor) -> torch.Tensor:
        """(N, F) per-voxel features of the stride-1 sites of ``x`` (row-aligned)."""
        return self.features_and_logits(x)[0]

    def features_and_logits(self, x: SparseTensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, F) features and (N, 13) logits the backbone adds to the head's (or None)."""
        raise NotImplementedError

    def forward(self, x: SparseTensor, prior: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x: stride-1 sites with ``in_channels`` features; prior: (N, 13) evidence skip in
        the same row order, required with ``evidence_skip``. Returns logits (N, 13) and
        features (N, F)."""
        if not isinstance(x, SparseTensor):
            raise InputError(f"{self.name}: expected a SparseTensor, got {type(x).__name__}")
        if x.stride != 1:
            raise InputError(f"{self.name}: expected voxels at tensor stride 1, got stride {x.stride}")
        if x.feats.shape[1] != self.in_channels:
            raise InputError(f"{self.name}: expected {self.in_channels} input channels, got {x.feats.shape[1]}")
        f, extra = self.features_and_logits(x)
        logits = self.head(f) if extra is None else self.head(f) + extra
        if self.evidence_scale is not None:
            if prior is None or tuple(prior.shape) != tuple(logits.shape):
                raise InputError(
                    f"{self.name}: evidence prior expected ({len(f)}, {NUM_CLASSES}), got "
                    f"{None if prior is None else tuple(prior.shape)}"
                )
            logits = logits + self.evidence_scale * prior
        return {"logits": logits, "features": f}

    def forward_arrays(self, arrays: dict) -> dict[str, torch.Tensor]:
        """``forward`` on one dict of voxel arrays; outputs row-aligned with ``arrays``."""
        return forward_rows(self, arrays)

    @torch.no_grad()
    def predict(self, source) -> Seg3DOutput:
        """Labels, probabilities and features for every voxel of ``source`` (a
        ``SemanticMap``, a ``MapSample`` or voxel arrays), in the source's row order;
        ``offsets`` is None (no instance head)."""
        return predict_voxels(self, source)


# -------------------------------------------------------------------------- dense chunks
@dataclass(frozen=True)
class DenseChunkConfig:
    """Shape and chunking of a ``DenseChunkNet``.

    Attributes:
        name: model name.
        encoding: input channel groups (``Seg3DNet`` encodings).
        evidence_skip: add the fusion's log-evidence to the logits (needs ``evidence``).
        channels: feature channels per U-Net level (len - 1 downsamplings by 2).
        chunk_cells: edge of a chunk's core box, voxels; a multiple of the largest stride
            ``2 ** (len(channels) - 1)``.
        halo_cells: context added on every side of a core box at inference, voxels; None =
            the receptive radius rounded up to the largest stride (exact chunking).
        train_halo_cells: padding around a training crop, which runs as one window.
        voxel_size_m: the map voxel size, metres (informational).
    """

    name: str = "dense-chunk"
    encoding: tuple[str, ...] = _DEFAULT_ENCODING
    evidence_skip: bool = True
    channels: tuple[int, ...] = (16, 32, 48)
    chunk_cells: int = 64
    halo_cells: int | None = None
    train_halo_cells: int = 4
    voxel_size_m: float = 0.05

    def __post_init__(self) -> None:
        _check_common(self, "DenseChunkConfig")
        object.__setattr__(self, "channels", _check_ints(self.channels, "DenseChunkConfig.channels"))
        a = self.align
        for field_name in ("chunk_cells", "halo_cells", "train_halo_cells"):
            v = getattr(self, field_name)
            if v is None and field_name == "halo_cells":
                continue
            low = 1 if field_name == "chunk_cells" else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < low or v % a:
                raise ConfigError(
                    f"DenseChunkConfig.{field_name}: expected a multiple of the largest stride {a} "
                    f"({'> 0' if low else '>= 0'}), got {v!r}"
                )

    @property
    def align(self) -> int:
        """Largest stride of the U-Net, voxels: windows start and end on multiples of it."""
        return 2 ** (len(self.channels) - 1)


class _MaskedBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose training statistics come from the active cells only.

    A dense grid of a room is mostly empty; statistics over all cells would describe empty
    space. At inference the running statistics apply to every cell, as in ``BatchNorm3d``.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if not self.training:
            return super().forward(x)
        rows = x.permute(0, 2, 3, 4, 1)[mask[:, 0]]
        if rows.shape[0] < 2:
            return super().forward(x)
        mean = rows.mean(dim=0)
        var = rows.var(dim=0, unbiased=False)
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            n = rows.shape[0]
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
            self.num_batches_tracked += 1
        shape = (1, -1, 1, 1, 1)
        scale = self.weight / torch.sqrt(var + self.eps)
        return x * scale.view(shape) + (self.bias - mean * scale).view(shape)


class _DenseBlock(nn.Module):
    """conv -> masked BatchNorm -> ReLU on a dense (B, C, X, Y, Z) grid."""

    def __init__(self, conv: nn.Module, channels: int) -> None:
        super().__init__()
        self.conv, self.norm = conv, _MaskedBatchNorm3d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x), mask))


class DenseUNet3d(nn.Module):
    """Dense twin of ``real3d.sparse.unet.SparseUNet``: (B, C_in, X, Y, Z) -> (B, F, X, Y, Z).

    Level l runs at stride 2**l: two 3x3x3 conv blocks at level 0, then per level a
    kernel-2 stride-2 conv block and one 3x3x3 block; on the way up a kernel-2 transposed
    conv block, concatenation with the skip and one 3x3x3 block. X, Y, Z must be multiples
    of ``2 ** (levels - 1)``. ``mask`` (B, 1, X, Y, Z) bool marks the active cells whose
    statistics BatchNorm uses in training.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        ch = channels
        self.channels = ch
        self.stem = nn.ModuleList(
            [
                _DenseBlock(nn.Conv3d(in_channels, ch[0], 3, padding=1, bias=False), ch[0]),
                _DenseBlock(nn.Conv3d(ch[0], ch[0], 3, padding=1, bias=False), ch[0]),
            ]
        )
        self.down, self.down_refine, self.up, self.up_refine = (nn.ModuleList() for _ in range(4))
        for lo, hi in zip(ch[:-1], ch[1:]):
            self.down.append(_DenseBlock(nn.Conv3d(lo, hi, 2, stride=2, bias=False), hi))
            self.down_refine.append(_DenseBlock(nn.Conv3d(hi, hi, 3, padding=1, bias=False), hi))
            self.up.append(_DenseBlock(nn.ConvTranspose3d(hi, lo, 2, stride=2, bias=False), lo))
            self.up_refine.append(_DenseBlock(nn.Conv3d(2 * lo, lo, 3, padding=1, bias=False), lo))

    @property
    def levels(self) -> int:
        return len(self.channels)

    def receptive_radius_cells(self) -> int:
        """How far (voxels, per axis) beyond its own cell an output cell reads the input,
        through the deepest path: a 3x3x3 conv at stride s reaches s further; a stride-2
        conv adds nothing beyond the coarse cell it fills; a transposed conv to stride s
        reaches over its parent's other half (s). With the window aligned to the largest
        stride, zero padding this far away or farther changes no output."""
        r = 2  # stem: two 3x3x3 convs at stride 1
        for level in range(1, self.levels):
            r += 2**level  # refine conv after each downsampling
        for level in reversed(range(self.levels - 1)):
            r += 2 * 2**level  # transposed conv + refine conv at stride 2**level
        return r

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masks = [mask]
        for _ in range(self.levels - 1):
            masks.append(F.max_pool3d(masks[-1].to(x.dtype), 2).bool())
        for block in self.stem:
            x = block(x, masks[0])
        skips = []
        for level, (down, refine) in enumerate(zip(self.down, self.down_refine)):
            skips.append(x)
            x = refine(down(x, masks[level + 1]), masks[level + 1])
        for level in reversed(range(self.levels - 1)):
            x = self.up[level](x, masks[level])
            x = self.up_refine[level](torch.cat((x, skips[level]), dim=1), masks[level])
        return x


def chunk_windows(xyz: torch.Tensor, chunk_cells: int, halo_cells: int, align: int):
    """Sliding chunks over voxels ``xyz`` (N, 3) int64 grid indices.

    The aligned bounding box ``[lo, hi)`` (multiples of ``align``) is cut into core boxes
    of ``chunk_cells`` per axis (the last one per axis ends at ``hi``); each non-empty
    core gets the window ``core +- halo_cells``, aligned when ``chunk_cells`` and
    ``halo_cells`` are multiples of ``align``.

    Yields:
        (core_rows (M,) int64 voxels in the core, window_rows (W,) int64 voxels in the
        window, window origin (3,) int64, window shape (3,) int64).
    """
    lo = torch.div(xyz.amin(dim=0), align, rounding_mode="floor") * align
    hi = (torch.div(xyz.amax(dim=0), align, rounding_mode="floor") + 1) * align
    chunk = torch.div(xyz - lo, chunk_cells, rounding_mode="floor")
    ids, inverse = torch.unique(chunk, dim=0, return_inverse=True)
    for c in range(ids.shape[0]):
        core_lo = lo + ids[c] * chunk_cells
        core_hi = torch.minimum(core_lo + chunk_cells, hi)
        win_lo = core_lo - halo_cells
        win_hi = core_hi + halo_cells
        inside = ((xyz >= win_lo) & (xyz < win_hi)).all(dim=1)
        yield torch.nonzero(inverse == c).squeeze(1), torch.nonzero(inside).squeeze(1), win_lo, win_hi - win_lo


class DenseChunkNet(_VoxelBaseline):
    """Dense 3D CNN over sliding chunks of the voxel grid (see the module docstring)."""

    def __init__(self, config: DenseChunkConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DenseChunkConfig()
        self.backbone = DenseUNet3d(self.in_channels, cfg.channels)
        self.feature_dim = cfg.channels[0]
        self._init_head()

    @property
    def halo_cells(self) -> int:
        """Halo used at inference: the configured one, or the receptive radius rounded up."""
        if self.config.halo_cells is not None:
            return self.config.halo_cells
        a = self.config.align
        return -(-self.backbone.receptive_radius_cells() // a) * a

    def features_and_logits(self, x: SparseTensor) -> tuple[torch.Tensor, None]:
        return self.chunked_features(x), None

    def chunked_features(
        self, x: SparseTensor, chunk_cells: int | None = None, halo_cells: int | None = None
    ) -> torch.Tensor:
        """(N, F) features of the sites of ``x``. In training mode each batch item runs as
        one window padded by ``train_halo_cells``; otherwise in chunks of ``chunk_cells``
        with ``halo_cells`` (defaults from the config; pass a huge ``chunk_cells`` for one
        window)."""
        cfg = self.config
        if self.training and chunk_cells is None and halo_cells is None:
            chunk, halo = 1 << 20, cfg.train_halo_cells
        else:
            chunk = cfg.chunk_cells if chunk_cells is None else chunk_cells
            halo = self.halo_cells if halo_cells is None else halo_cells
        a = cfg.align
        if chunk < 1 or chunk % a or halo < 0 or halo % a:
            raise InputError(f"{self.name}: chunk and halo must be multiples of {a}, got {chunk}, {halo}")
        rows_out, feats_out = [], []
        for _, start, end in x.batch_rows():
            xyz = x.coords[start:end, 1:].to(torch.int64)
            feats = x.feats[start:end]
            for core, window, origin, shape in chunk_windows(xyz, chunk, halo, a):
                grid_feats = self.run_window(xyz[window] - origin, feats[window], tuple(shape.tolist()))
                rel = xyz[core] - origin
                flat = (rel[:, 0] * shape[1] + rel[:, 1]) * shape[2] + rel[:, 2]
                feats_out.append(grid_feats.index_select(0, flat))
                rows_out.append(core + start)
        rows = torch.cat(rows_out)
        out = torch.cat(feats_out)
        return out.new_zeros((x.num_sites, out.shape[1])).index_copy(0, rows, out)

    def run_window(self, rel: torch.Tensor, feats: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Densify voxels at window indices ``rel`` (W, 3) int64 with ``feats`` (W, C) into a
        grid of ``shape``, run the dense U-Net, return (X*Y*Z, F) features in row-major order."""
        nx, ny, nz = shape
        flat = (rel[:, 0] * ny + rel[:, 1]) * nz + rel[:, 2]
        grid = feats.new_zeros((nx * ny * nz, feats.shape[1])).index_copy(0, flat, feats)
        grid = grid.t().reshape(1, feats.shape[1], nx, ny, nz)
        mask = torch.zeros(nx * ny * nz, dtype=torch.bool)
        mask[flat] = True
        out = self.backbone(grid, mask.reshape(1, 1, nx, ny, nz))
        return out.reshape(out.shape[1], -1).t()


# ------------------------------------------------------------------------ multi-resolution
@dataclass(frozen=True)
class MultiResConfig:
    """Shape of a ``MultiResNet``.

    Attributes:
        name: model name.
        encoding: input channel groups (``Seg3DNet`` encodings).
        evidence_skip: add the fusion's log-evidence to the logits (needs ``evidence``).
        strides: tensor strides of the levels, coarse to fine, each half the previous,
            ending at 1 (4, 2, 1 = 20, 10, 5 cm cells on a 5 cm map).
        channels: feature channels per level, same order.
        blocks: submanifold conv blocks per level, same order.
        kernel_size: odd submanifold kernel edge, cells of the level.
        voxel_size_m: the map voxel size, metres (informational).
    """

    name: str = "multires"
    encoding: tuple[str, ...] = _DEFAULT_ENCODING
    evidence_skip: bool = True
    strides: tuple[int, ...] = (4, 2, 1)
    channels: tuple[int, ...] = (48, 32, 16)
    blocks: tuple[int, ...] = (3, 2, 2)
    kernel_size: int = 3
    voxel_size_m: float = 0.05

    def __post_init__(self) -> None:
        _check_common(self, "MultiResConfig")
        for f in ("strides", "channels", "blocks"):
            object.__setattr__(self, f, _check_ints(getattr(self, f), f"MultiResConfig.{f}"))
        s = self.strides
        if s[-1] != 1 or any(a != 2 * b for a, b in zip(s[:-1], s[1:])):
            raise ConfigError(f"MultiResConfig.strides: expected halving powers of two ending at 1, got {s}")
        if not len(self.channels) == len(self.blocks) == len(s):
            raise ConfigError(
                f"MultiResConfig: strides, channels and blocks need one entry per level, got "
                f"{s}, {self.channels}, {self.blocks}"
            )
        if isinstance(self.kernel_size, bool) or not isinstance(self.kernel_size, int) or self.kernel_size % 2 == 0:
            raise ConfigError(f"MultiResConfig.kernel_size: expected an odd integer, got {self.kernel_size!r}")


class _SubmBlock(nn.Module):
    def __init__(self, cin: int, cout: int, ks: int) -> None:
        super().__init__()
        self.conv, self.norm = SubmanifoldConv3d(cin, cout, ks), BatchNorm(cout)

    def forward(self, x: SparseTensor) -> SparseTensor:
        return ops.relu(self.norm(self.conv(x)))


def parent_rows(x: SparseTensor) -> tuple[SparseTensor, torch.Tensor]:
    """The occupied cells at twice ``x``'s stride (sharing its cache) and, for each site of
    ``x``, the (N,) int64 row of its parent cell; the coarse features are the mean of the
    children's."""
    kmap = ops.downsample_map(x)
    parent = torch.empty(x.num_sites, dtype=torch.int64)
    for i, o in zip(kmap.in_rows, kmap.out_rows):
        parent[i] = o
    counts = torch.bincount(parent, minlength=kmap.num_out).to(x.feats.dtype)
    pooled = x.feats.new_zeros((kmap.num_out, x.num_channels)).index_add(0, parent, x.feats) / counts[:, None]
    stride = 2 * x.stride
    coarse = SparseTensor(x.cache.coords[stride], pooled, stride, x.cache, _keys=x.cache.keys[stride])
    return coarse, parent


class MultiResNet(_VoxelBaseline):
    """Coarse-to-fine prediction on occupied cells (see the module docstring)."""

    def __init__(self, config: MultiResConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MultiResConfig()
        cin = self.in_channels
        self.levels = nn.ModuleList()
        self.level_heads = nn.ModuleList()
        prev = 0
        for c, n in zip(cfg.channels, cfg.blocks):
            blocks = [_SubmBlock(cin + prev, c, cfg.kernel_size)]
            blocks += [_SubmBlock(c, c, cfg.kernel_size) for _ in range(n - 1)]
            self.levels.append(nn.Sequential(*blocks))
            prev = c
        # coarse levels' logits; the finest level's head is ``self.head`` (evidence skip)
        for c in cfg.channels[:-1]:
            self.level_heads.append(nn.Linear(c, NUM_CLASSES))
        self.feature_dim = cfg.channels[-1]
        self._init_head()
        if cfg.evidence_skip:
            for head in self.level_heads:  # the coarse logits start at 0 too
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    def features_and_logits(self, x: SparseTensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, F) finest-level features and the coarse levels' summed logits, each coarse
        cell's copied to its children down to the sites of ``x``."""
        pyramid = [(x, None)]
        for _ in self.config.strides[1:]:
            coarse, parent = parent_rows(pyramid[-1][0])
            pyramid.append((coarse, parent))
        pyramid.reverse()  # coarse to fine; entry l holds the parent rows of level l - 1's sites
        feats = logits = None
        for level, block in enumerate(self.levels):
            inp, _ = pyramid[level]
            if feats is None:
                h = inp
            else:
                parent = pyramid[level - 1][1]
                h = inp.replace_feats(torch.cat((inp.feats, feats.index_select(0, parent)), dim=1))
                logits = logits.index_select(0, parent)
            h = block(h)
            feats = h.feats
            if level < len(self.level_heads):
                lvl = self.level_heads[level](feats)
                logits = lvl if logits is None else logits + lvl
        return feats, logits


# ------------------------------------------------------------------------------ PointNet++
@dataclass(frozen=True)
class PointNet2Config:
    """Shape of a ``PointNet2``.

    Attributes:
        name: model name.
        encoding: input channel groups (``Seg3DNet`` encodings).
        evidence_skip: add the fusion's log-evidence to the logits (needs ``evidence``).
        ratios: per set abstraction, the fraction of the previous level's points kept as
            centres (farthest-point sampling).
        radii_m: ball radius per set abstraction, metres.
        nsample: neighbours per ball.
        sa_channels: output channels of each set abstraction's shared MLP (two layers).
        fp_channels: output channels of each feature propagation, coarse to fine; the last
            is the per-voxel feature size.
        fps_block_m: farthest-point sampling runs independently in columns of this edge
            (metres, x and y; full height), all columns at once; None = over each whole
            batch item (exact, one loop step per centre: slow on a room).
        voxel_size_m: the map voxel size, metres (voxel centres are ``(coords + 0.5) *
            voxel_size_m``).
    """

    name: str = "pointnet2"
    encoding: tuple[str, ...] = _DEFAULT_ENCODING
    evidence_skip: bool = True
    ratios: tuple[float, ...] = (0.25, 0.25, 0.25)
    radii_m: tuple[float, ...] = (0.1, 0.2, 0.4)
    nsample: tuple[int, ...] = (16, 16, 16)
    sa_channels: tuple[int, ...] = (32, 48, 64)
    fp_channels: tuple[int, ...] = (48, 32, 16)
    fps_block_m: float | None = 0.5
    voxel_size_m: float = 0.05

    def __post_init__(self) -> None:
        _check_common(self, "PointNet2Config")
        n = len(self.ratios) if isinstance(self.ratios, (tuple, list)) else -1
        for f in ("nsample", "sa_channels", "fp_channels"):
            object.__setattr__(self, f, _check_ints(getattr(self, f), f"PointNet2Config.{f}"))
        for f, hi in (("ratios", 1.0), ("radii_m", math.inf)):
            v = getattr(self, f)
            if not isinstance(v, (tuple, list)) or any(
                isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= hi for r in v
            ):
                raise ConfigError(f"PointNet2Config.{f}: expected numbers in (0, {hi}], got {v!r}")
            object.__setattr__(self, f, tuple(float(r) for r in v))
        b = self.fps_block_m
        if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b < math.inf):
            raise ConfigError(f"PointNet2Config.fps_block_m: expected None or a finite value > 0, got {b!r}")
        if n < 1 or not len(self.radii_m) == len(self.nsample) == len(self.sa_channels) == len(self.fp_channels) == n:
            raise ConfigError(
                "PointNet2Config: ratios, radii_m, nsample, sa_channels and fp_channels need one entry per "
                f"level, got {self.ratios}, {self.radii_m}, {self.nsample}, {self.sa_channels}, {self.fp_channels}"
            )


def farthest_point_sample(xyz: torch.Tensor, m: int, start: int = 0) -> torch.Tensor:
    """Farthest-point sampling: ``m`` rows of ``xyz``, each the farthest from those before.

    Args:
        xyz: (N, 3) float points (any unit).
        m: samples, 1 <= m <= N.
        start: first sample's row.

    Returns:
        (m,) int64 rows; ties go to the lowest row.
    """
    if not isinstance(xyz, torch.Tensor) or xyz.ndim != 2 or xyz.shape[1] != 3 or not xyz.is_floating_point():
        raise InputError(f"farthest_point_sample: expected xyz (N, 3) float, got {describe_array(xyz)}")
    n = xyz.shape[0]
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= n:
        raise InputError(f"farthest_point_sample: expected 1 <= m <= {n} samples, got {m!r}")
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < n:
        raise InputError(f"farthest_point_sample: start row {start!r} outside [0, {n})")
    planar = xyz.detach().t().unsqueeze(1).contiguous()  # (3, 1, N)
    picks = _lockstep_fps(planar, torch.ones((1, n), dtype=torch.bool), torch.tensor([start]), m)
    return picks[0]


def _lockstep_fps(planar: torch.Tensor, valid: torch.Tensor, start: torch.Tensor, m: int) -> torch.Tensor:
    """Farthest-point sampling in G padded groups at once.

    Args:
        planar: (3, G, P) float coordinates, x, y, z planes (contiguous rows are fast).
        valid: (G, P) bool real points (padding is never picked).
        start: (G,) int64 first pick per group.
        m: picks per group.

    Returns:
        (G, m) int64 columns; a group with fewer than m points repeats its picks.
    """
    g = planar.shape[1]
    dist = torch.where(valid, math.inf, -math.inf).to(planar.dtype)
    picks = torch.empty((g, m), dtype=torch.int64)
    last = start.clone()
    rows = torch.arange(g)
    d = torch.empty_like(dist)
    tmp = torch.empty_like(dist)
    for i in range(m):
        picks[:, i] = last
        c = planar[:, rows, last]  # (3, G)
        torch.sub(planar[0], c[0, :, None], out=d).square_()
        torch.sub(planar[1], c[1, :, None], out=tmp)
        d.addcmul_(tmp, tmp)
        torch.sub(planar[2], c[2, :, None], out=tmp)
        d.addcmul_(tmp, tmp)
        torch.minimum(dist, d, out=dist)
        last = torch.argmax(dist, dim=1)
    return picks


def grouped_farthest_point_sample(xyz: torch.Tensor, groups: torch.Tensor, ratio: float) -> torch.Tensor:
    """Farthest-point sampling within each group of points, all groups in lockstep.

    Group ``j`` with ``n_j`` points gives ``max(1, round(ratio * n_j))`` picks, starting at
    its lowest row; the groups run together, so the Python loop runs as many times as the
    largest group has picks (not the total).

    Args:
        xyz: (N, 3) float points.
        groups: (N,) int64 group id per point (e.g. batch item and spatial column).
        ratio: fraction of each group kept, in (0, 1].

    Returns:
        (M,) int64 rows of ``xyz``, sorted by group, then pick order.
    """
    xyz = xyz.detach()
    ids, inv, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    order = torch.argsort(inv, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(xyz.shape[0]) - starts[inv[order]]
    g, width = ids.shape[0], int(counts.max())
    planar = xyz.new_zeros((3, g, width))
    planar[:, inv[order], pos] = xyz[order].t()
    valid = torch.zeros((g, width), dtype=torch.bool)
    valid[inv[order], pos] = True
    rowmap = torch.zeros((g, width), dtype=torch.int64)
    rowmap[inv[order], pos] = order
    want = torch.clamp(torch.round(counts.to(torch.float64) * ratio).to(torch.int64), min=1)
    picks = _lockstep_fps(planar, valid, torch.zeros(g, dtype=torch.int64), int(want.max()))
    keep = torch.arange(picks.shape[1])[None, :] < want[:, None]
    return rowmap.gather(1, picks)[keep]


_NEIGHBOUR_CELLS = torch.tensor([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
_CANDIDATES_PER_CHUNK = 1 << 22


def _grid_candidates(
    query: torch.Tensor, query_batch: torch.Tensor, points: torch.Tensor, points_batch: torch.Tensor, cell: float
):
    """Points in the 27 grid cells (edge ``cell``) around each query, same batch only.

    Every point within ``cell`` of a query is among its candidates. Yields, per chunk of
    queries: (query rows (Q,) int64, candidate rows (Q, K) int64 into ``points``, valid
    (Q, K) bool).
    """
    qc = torch.floor(query / cell).to(torch.int64)
    pc = torch.floor(points / cell).to(torch.int64)
    lo = torch.minimum(qc.amin(dim=0), pc.amin(dim=0)) - 1
    dims = torch.maximum(qc.amax(dim=0), pc.amax(dim=0)) - lo + 2
    d1, d2 = int(dims[1]), int(dims[2])

    def key(c: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        c = c - lo
        return ((b * int(dims[0]) + c[:, 0]) * d1 + c[:, 1]) * d2 + c[:, 2]

    pkey = key(pc, points_batch)
    pkey_sorted, perm = torch.sort(pkey, stable=True)
    ukeys, counts = torch.unique_consecutive(pkey_sorted, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    delta = (_NEIGHBOUR_CELLS[:, 0] * d1 + _NEIGHBOUR_CELLS[:, 1]) * d2 + _NEIGHBOUR_CELLS[:, 2]
    qkey = key(qc, query_batch)
    maxc = int(counts.max())
    step = max(1, _CANDIDATES_PER_CHUNK // (27 * maxc))
    last = ukeys.shape[0] - 1
    for lo_q in range(0, query.shape[0], step):
        rows = torch.arange(lo_q, min(lo_q + step, query.shape[0]))
        nk = qkey[rows, None] + delta[None, :]
        pos = torch.searchsorted(ukeys, nk).clamp_(max=last)
        found = ukeys[pos] == nk
        start = torch.where(found, starts[pos], 0)
        cnt = torch.where(found, counts[pos], 0)
        width = max(1, int(cnt.max()))
        ar = torch.arange(width)
        cand = (start[..., None] + ar).clamp_(max=points.shape[0] - 1)
        valid = ar < cnt[..., None]
        yield rows, perm[cand].reshape(len(rows), -1), valid.reshape(len(rows), -1)


def _check_points(name: str, xyz, batch) -> torch.Tensor:
    if not isinstance(xyz, torch.Tensor) or xyz.ndim != 2 or xyz.shape[1] != 3 or not xyz.is_floating_point():
        raise InputError(f"{name}: expected (N, 3) float points, got {describe_array(xyz)}")
    if xyz.shape[0] == 0:
        raise InputError(f"{name}: expected at least one point, got (0, 3)")
    if batch is None:
        return torch.zeros(xyz.shape[0], dtype=torch.int64)
    if not isinstance(batch, torch.Tensor) or batch.shape != (xyz.shape[0],) or batch.is_floating_point():
        raise InputError(f"{name}: expected a ({xyz.shape[0]},) integer batch index, got {describe_array(batch)}")
    return batch.to(torch.int64)


def ball_query(
    centres: torch.Tensor,
    points: torch.Tensor,
    radius: float,
    k: int,
    centres_batch: torch.Tensor | None = None,
    points_batch: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``k`` points (lowest rows) within ``radius`` of each centre, as PointNet++'s
    ball query; a ball with fewer repeats its first point.

    Args:
        centres: (M, 3) float; points: (N, 3) float, same unit as ``radius``.
        radius: ball radius (> 0), inclusive.
        k: neighbours per ball (>= 1).
        centres_batch, points_batch: optional (M,) / (N,) integer batch indices; a ball
            only holds points of its centre's batch.

    Returns:
        ((M, k) int64 rows of ``points``, (M,) int64 number of distinct points found,
        capped at k).

    Raises:
        InputError: bad shapes, or a centre with no point within ``radius``.
    """
    cb = _check_points("ball_query centres", centres, centres_batch)
    pb = _check_points("ball_query points", points, points_batch)
    if not (isinstance(radius, (int, float)) and not isinstance(radius, bool) and radius > 0):
        raise InputError(f"ball_query: expected a radius > 0, got {radius!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"ball_query: expected k >= 1 neighbours, got {k!r}")
    centres, points = centres.detach(), points.detach()
    n = points.shape[0]
    out = torch.empty((centres.shape[0], k), dtype=torch.int64)
    found = torch.empty(centres.shape[0], dtype=torch.int64)
    r2 = float(radius) ** 2
    for rows, cand, valid in _grid_candidates(centres, cb, points, pb, float(radius)):
        d2 = (points[cand] - centres[rows, None]).square().sum(-1)
        ok = valid & (d2 <= r2)
        order_key = torch.where(ok, cand, n)
        if order_key.shape[1] < k:
            order_key = F.pad(order_key, (0, k - order_key.shape[1]), value=n)
        first = torch.topk(order_key, k, dim=1, largest=False, sorted=True).values
        cnt = (first < n).sum(dim=1)
        if bool((cnt == 0).any()):
            bad = int(rows[torch.nonzero(cnt == 0)[0, 0]])
            raise InputError(f"ball_query: centre {bad} has no point within radius {radius}")
        first = torch.where(first < n, first, first[:, :1])
        out[rows], found[rows] = first, cnt
    return out, found


def three_nn(
    query: torch.Tensor,
    points: torch.Tensor,
    cell: float,
    query_batch: torch.Tensor | None = None,
    points_batch: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The three nearest ``points`` of each query, searched in the 27 grid cells of edge
    ``cell`` around it (exact whenever the third nearest lies within ``cell``; queries
    with no point there fall back to all points of their batch).

    Returns:
        ((Q, 3) float distances, (Q, 3) int64 rows); with fewer than three candidates the
        missing columns have distance inf and repeat a found row.
    """
    qb = _check_points("three_nn query", query, query_batch)
    pb = _check_points("three_nn points", points, points_batch)
    query, points = query.detach(), points.detach()
    dist = torch.full((query.shape[0], 3), math.inf, dtype=query.dtype)
    idx = torch.zeros((query.shape[0], 3), dtype=torch.int64)
    for rows, cand, valid in _grid_candidates(query, qb, points, pb, float(cell)):
        d2 = (points[cand] - query[rows, None]).square().sum(-1).masked_fill(~valid, math.inf)
        if d2.shape[1] < 3:
            d2 = F.pad(d2, (0, 3 - d2.shape[1]), value=math.inf)
            cand = F.pad(cand, (0, 3 - cand.shape[1]), value=0)
        v, j = torch.topk(d2, 3, dim=1, largest=False, sorted=True)
        dist[rows], idx[rows] = v.sqrt(), cand.gather(1, j)
    lonely = torch.nonzero(torch.isinf(dist[:, 0])).squeeze(1)
    for q in lonely.tolist():
        same = torch.nonzero(pb == qb[q]).squeeze(1)
        if same.numel() == 0:
            raise InputError(f"three_nn: query {q} has no point in its batch {int(qb[q])}")
        d = (points[same] - query[q]).square().sum(-1)
        v, j = torch.topk(d, min(3, same.numel()), largest=False, sorted=True)
        dist[q, : v.numel()], idx[q, : v.numel()] = v.sqrt(), same[j]
    # missing neighbours repeat the nearest (weight 0 through the inf distance)
    idx = torch.where(torch.isinf(dist), idx[:, :1], idx)
    return dist, idx


class _SharedMLP(nn.Sequential):
    """Linear -> BatchNorm1d -> ReLU per layer, applied to the last dimension of any shape."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        layers = []
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU()]
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        shape = x.shape
        return super().forward(x.reshape(-1, shape[-1])).reshape(*shape[:-1], -1)


class PointNet2(_VoxelBaseline):
    """PointNet++ segmentation on voxel centres (see the module docstring)."""

    def __init__(self, config: PointNet2Config | None = None) -> None:
        super().__init__()
        self.config = cfg = config or PointNet2Config()
        cin = self.in_channels
        self.sa = nn.ModuleList()
        prev = cin
        for c in cfg.sa_channels:
            self.sa.append(_SharedMLP((prev + 3, c, c)))
            prev = c
        # feature propagation, coarse to fine: interpolated coarse features + skip of the finer level
        skips = (cin, *cfg.sa_channels[:-1])
        self.fp = nn.ModuleList()
        prev = cfg.sa_channels[-1]
        for skip, c in zip(reversed(skips), cfg.fp_channels):
            self.fp.append(_SharedMLP((prev + skip, c, c)))
            prev = c
        self.feature_dim = cfg.fp_channels[-1]
        self._init_head()

    def features_and_logits(self, x: SparseTensor) -> tuple[torch.Tensor, None]:
        cfg = self.config
        xyz = (x.coords[:, 1:].to(torch.float32) + 0.5) * float(cfg.voxel_size_m)
        batch = x.coords[:, 0].to(torch.int64)
        levels = [(xyz, batch, x.feats)]
        for ratio, radius, k, mlp in zip(cfg.ratios, cfg.radii_m, cfg.nsample, self.sa):
            p, b, f = levels[-1]
            groups = b
            if cfg.fps_block_m is not None:
                col = torch.floor(p[:, :2] / cfg.fps_block_m).to(torch.int64)
                col = col - col.amin(dim=0)
                groups = (b * (int(col[:, 0].max()) + 1) + col[:, 0]) * (int(col[:, 1].max()) + 1) + col[:, 1]
            centres = grouped_farthest_point_sample(p, groups, ratio)
            cp, cb = p[centres], b[centres]
            nbr, _ = ball_query(cp, p, radius, k, cb, b)
            grouped = torch.cat(((p[nbr] - cp[:, None]) / radius, f[nbr]), dim=-1)
            levels.append((cp, cb, mlp(grouped).amax(dim=1)))
        feats = levels[-1][2]
        for i, mlp in enumerate(self.fp):
            coarse_p, coarse_b, _ = levels[-1 - i]
            fine_p, fine_b, fine_f = levels[-2 - i]
            dist, idx = three_nn(fine_p, coarse_p, cfg.radii_m[-1 - i], fine_b, coarse_b)
            w = 1.0 / (dist + 1e-8)
            w = w / w.sum(dim=1, keepdim=True)
            interp = (feats[idx] * w[..., None]).sum(dim=1)
            feats = mlp(torch.cat((interp, fine_f), dim=1))
        return feats, None


# ------------------------------------------------------------------------------ registry
BASELINES = {
    "dense-chunk": DenseChunkConfig(),
    "multires": MultiResConfig(),
    "pointnet2": PointNet2Config(),
}
_BUILDERS = {DenseChunkConfig: DenseChunkNet, MultiResConfig: MultiResNet, PointNet2Config: PointNet2}


def create_baseline(spec: str | DenseChunkConfig | MultiResConfig | PointNet2Config) -> _VoxelBaseline:
    """A baseline by name (``BASELINES``) or config, randomly initialised."""
    if isinstance(spec, str):
        if spec not in BASELINES:
            raise ConfigError(f"unknown 3D baseline {spec!r}; valid: {', '.join(BASELINES)}")
        spec = BASELINES[spec]
    builder = _BUILDERS.get(type(spec))
    if builder is None:
        raise ConfigError(f"create_baseline: expected a name or a baseline config, got {type(spec).__name__}")
    return builder(spec)
